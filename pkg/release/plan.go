package release

import (
	"encoding/json"
	"fmt"

	"github.com/containers/image/v5/docker/reference"

	"github.com/airgap-ocp/oc-plugins/pkg/plan"
)

// Plan places p as `oc adm release mirror --to` does: every component into
// the repository path, tagged <version><archExt>-<component>, and the
// release image tagged <version><archExt>, or at releaseAt (REPO:TAG) when
// given. path is below the destination root (or a whole REGISTRY/REPO for a
// root of ""). Component references that are not by digest are refused, as
// oc refuses them.
func (p *Payload) Plan(path, releaseAt string) (*plan.Plan, error) {
	prefix := p.Version + p.ArchExt()
	if !validTag(prefix) {
		return nil, fmt.Errorf("%w: version %q does not make a valid tag", ErrNotRelease, p.Version)
	}
	origin := "release " + prefix
	rel := plan.Item{Source: p.PullSpec(), Digest: p.Digest, Path: path, Tag: prefix, Kind: plan.ReleaseImage, Origin: origin}
	if releaseAt != "" {
		r, err := reference.ParseNormalizedNamed(releaseAt)
		if err != nil {
			return nil, fmt.Errorf("release destination %q: %w", releaseAt, err)
		}
		if _, ok := r.(reference.Digested); ok {
			return nil, fmt.Errorf("release destination %q: a digest cannot be a destination; give a tag", releaseAt)
		}
		r = reference.TagNameOnly(r)
		rel.Path, rel.Tag = r.Name(), r.(reference.Tagged).Tag()
	}
	meta, err := json.Marshal(p.Metadata)
	if err != nil {
		return nil, err
	}
	out := &plan.Plan{
		Name: "release-" + prefix,
		Releases: []plan.Release{{
			Version: p.Version, ArchExt: p.ArchExt(), Digest: p.Digest,
			Source: p.PullSpec(), Tag: rel.Tag, Metadata: meta,
		}},
	}
	items := []plan.Item{rel}
	for _, c := range p.Components {
		named, err := reference.ParseNormalizedNamed(c.PullSpec)
		if err != nil {
			return nil, fmt.Errorf("%w: component %s: %q: %v", ErrNotRelease, c.Name, c.PullSpec, err)
		}
		d, ok := named.(reference.Digested)
		if !ok {
			return nil, fmt.Errorf("%w: component %s: %q is not a reference by digest", ErrNotRelease, c.Name, c.PullSpec)
		}
		tag := prefix + "-" + c.Name
		if !validTag(tag) {
			return nil, fmt.Errorf("%w: component %s: %q is not a valid tag", ErrNotRelease, c.Name, tag)
		}
		items = append(items, plan.Item{Source: c.PullSpec, Digest: d.Digest(), Path: path, Tag: tag, Kind: plan.ReleaseComponent, Origin: origin})
	}
	if err := out.Add(items...); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrNotRelease, err)
	}
	return out, nil
}

func validTag(tag string) bool {
	_, err := reference.WithTag(mustParse("example.com/x"), tag)
	return err == nil
}

func mustParse(s string) reference.Named {
	n, err := reference.ParseNormalizedNamed(s)
	if err != nil {
		panic(err)
	}
	return n
}
