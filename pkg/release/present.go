package release

import (
	"context"
	"fmt"

	"github.com/containers/image/v5/docker"
	"github.com/containers/image/v5/docker/reference"
	"github.com/containers/image/v5/manifest"
	"github.com/containers/image/v5/types"
)

// Present checks that the registry serves pullspec, which must be by
// digest, and that what it serves has that digest: the check that a release
// a cluster is about to be offered really is in its mirror. Requests are
// retried as ReadPayload's are.
func Present(ctx context.Context, sys *types.SystemContext, pullspec string, opts ...ReadOption) error {
	o := newReadOptions(opts)
	named, err := parse(pullspec)
	if err != nil {
		return err
	}
	c, ok := named.(reference.Canonical)
	if !ok {
		return fmt.Errorf("image %q: not by digest", pullspec)
	}
	ref, err := docker.NewReference(named)
	if err != nil {
		return fmt.Errorf("image %q: %w", pullspec, err)
	}
	src, err := o.openSource(ctx, ref, sys)
	if err != nil {
		return fmt.Errorf("reading %s: %w", pullspec, err)
	}
	defer src.Close()
	raw, _, err := getManifest(ctx, src, nil, o.retry)
	if err != nil {
		return fmt.Errorf("reading %s: %w", pullspec, err)
	}
	if ok, err := manifest.MatchesDigest(raw, c.Digest()); err != nil || !ok {
		return fmt.Errorf("reading %s: the registry served a manifest of another digest", pullspec)
	}
	return nil
}
