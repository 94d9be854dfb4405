package retire

import (
	"context"
	"errors"
	"fmt"
)

// Outcome is what became of one manifest of a plan.
type Outcome string

// The outcomes.
const (
	Deleted Outcome = "deleted"
	// Gone: not in the registry any more when read back (an earlier,
	// interrupted run deleted it); nothing to do.
	Gone Outcome = "already gone"
	// Changed: a tag of it names another manifest now; it was left alone.
	Changed Outcome = "changed since planned, left alone"
	Failed  Outcome = "failed"
)

// Result is the outcome for one manifest.
type Result struct {
	Manifest Manifest
	Outcome  Outcome
	Err      error
}

// Execute deletes the plan's manifests in order, each by digest, each read
// back first: a manifest whose tag names another digest now is left alone,
// one already gone is skipped, so a run stopped half-way is safe to repeat.
// report, when set, is told each result as it happens. A registry that
// refuses deletes stops the run (a *DeletesRefusedError, with the results
// so far); any other failure is a Failed result and the others go on.
func (p *Plan) Execute(ctx context.Context, o Options, report func(Result)) ([]Result, error) {
	var out []Result
	for _, m := range p.Delete {
		if err := ctx.Err(); err != nil {
			return out, err
		}
		res := Result{Manifest: m}
		res.Outcome, res.Err = deleteOne(ctx, o, m)
		var refused *DeletesRefusedError
		if errors.As(res.Err, &refused) {
			return out, refused
		}
		out = append(out, res)
		if report != nil {
			report(res)
		}
	}
	return out, nil
}

func deleteOne(ctx context.Context, o Options, m Manifest) (Outcome, error) {
	for _, tag := range m.Tags {
		f, err := o.getManifest(ctx, m.Repository+":"+tag)
		switch {
		case errors.Is(err, ErrNotFound):
			continue
		case err != nil:
			return Failed, err
		case f.digest != m.Digest:
			return Changed, fmt.Errorf("the tag %s names %s now", tag, f.digest)
		}
	}
	f, err := o.getManifest(ctx, m.Ref())
	switch {
	case errors.Is(err, ErrNotFound):
		return Gone, nil
	case err != nil:
		return Failed, err
	case f.digest != m.Digest:
		return Failed, fmt.Errorf("%s: the registry served a manifest of digest %s", m.Ref(), f.digest)
	}
	if err := o.deleteManifest(ctx, m.Repository, m.Digest); err != nil {
		return Failed, err
	}
	return Deleted, nil
}
