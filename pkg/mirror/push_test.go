package mirror_test

import (
	"context"
	"slices"
	"strings"
	"testing"

	"github.com/containers/image/v5/docker"

	"github.com/airgap-ocp/oc-plugins/internal/testenv"
	"github.com/airgap-ocp/oc-plugins/pkg/mirror"
)

// TestPushesGoThroughTheKeptClient: an image's manifests and blobs are
// pushed through the destination's kept client, not through
// containers/image clients of their own (a ping and two TLS handshakes
// each before the first request: one per image's manifests, one per
// blob worker). A registry that hands out Bearer tokens gives one for
// pushing to the repository, fetched with the one ping's challenge.
// Twelve images in one repository: the destination sees one ping.
func TestPushesGoThroughTheKeptClient(t *testing.T) {
	for _, tc := range []struct {
		name string
		opts []testenv.RegistryOption
	}{
		{"basic auth", nil},
		{"token auth", []testenv.RegistryOption{testenv.WithTokenAuth()}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			src := testenv.StartRegistry(t)
			dst := testenv.StartRegistry(t, tc.opts...)
			sys := testenv.CombinedSystemContext(t, src, dst)
			images := spread(t, src, dst, slices.Repeat([]string{"apps/a"}, 12), false)
			dst.Traffic().Reset()
			res := mirror.Copy(context.Background(), images, mirror.Options{SourceCtx: sys, DestCtx: sys, Parallel: 2})
			checkAllCopied(t, res, mirror.StatusCopied)
			requests, pings := dst.Traffic().Requests()
			t.Logf("%d images pushed: %d requests, %d pings, %d tokens", len(images), requests, pings, dst.Traffic().Tokens())
			if pings != 1 {
				t.Errorf("%d pings at the destination for %d images, want the kept client's one", pings, len(images))
			}
			if got := dst.Traffic().ManifestPuts(); got != len(images) {
				t.Errorf("%d manifests stored, want %d", got, len(images))
			}
		})
	}
}

// TestPushByDigestTagsNothing: an image mirrored by digest (a
// destination whose digest is known once pushed, as for operators) is
// pushed by its digest: its repository gets no tag, not even "latest".
func TestPushByDigestTagsNothing(t *testing.T) {
	ctx := context.Background()
	src := testenv.StartRegistry(t)
	dst := testenv.StartRegistry(t)
	sys := testenv.CombinedSystemContext(t, src, dst)
	images := spread(t, src, dst, []string{"apps/a", "apps/b"}, true)
	checkAllCopied(t, mirror.Copy(ctx, images, mirror.Options{SourceCtx: sys, DestCtx: sys}), mirror.StatusCopied)
	for _, im := range images {
		tags, err := docker.GetRepositoryTags(ctx, sys, im.Dest)
		if err != nil && !strings.Contains(err.Error(), "not known to registry") { // no tag: NAME_UNKNOWN
			t.Fatal(err)
		}
		if len(tags) != 0 {
			t.Errorf("%s: tags %v after a push by digest, want none", im.Dest.StringWithinTransport(), tags)
		}
	}
}
