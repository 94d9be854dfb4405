package mirror_test

import (
	"context"
	"strings"
	"testing"

	"github.com/containers/image/v5/types"

	"github.com/airgap-ocp/oc-plugins/internal/testenv"
	"github.com/airgap-ocp/oc-plugins/pkg/mirror"
	"github.com/airgap-ocp/oc-plugins/pkg/release"
	"github.com/airgap-ocp/oc-plugins/pkg/retry"
)

// TestRememberedChallengeSavesThePing: a run keeps how each registry
// asked to be authenticated, and the next run's first request to it goes
// without a ping, with Basic credentials as with a token service. The
// checks that start with it wait for its connection and share it (HTTP/2)
// rather than each dial one.
func TestRememberedChallengeSavesThePing(t *testing.T) {
	for _, tc := range []struct {
		scheme string
		opts   []testenv.RegistryOption
	}{
		{"basic", nil},
		{"bearer", []testenv.RegistryOption{testenv.WithTokenAuth()}},
	} {
		t.Run(tc.scheme, func(t *testing.T) {
			src := testenv.StartRegistry(t, tc.opts...)
			dst := testenv.StartRegistry(t, tc.opts...)
			sys := testenv.CombinedSystemContext(t, src, dst)
			dir := t.TempDir()
			images := spread(t, src, dst, []string{"apps/a", "apps/b", "apps/c", "apps/d", "apps/e", "apps/f"}, false)
			rerun(t, src, dst, images, mirror.Options{SourceCtx: sys, DestCtx: sys, ChallengeDir: dir})
			for _, reg := range sides(src, dst) {
				requests, pings := reg.r.Traffic().Requests()
				conns := reg.r.Traffic().Connections()
				t.Logf("re-run, %s: %d requests, %d pings, %d connections", reg.name, requests, pings, conns)
				if pings != 0 {
					t.Errorf("re-run, %s: %d pings, want none: the first run kept the challenge", reg.name, pings)
				}
				if requests > 0 && conns != 1 {
					t.Errorf("re-run, %s: %d connections for %d requests, want one", reg.name, conns, requests)
				}
				if got := mirror.KeptChallenge(dir, reg.r.Host); !strings.EqualFold(got, tc.scheme) {
					t.Errorf("%s: challenge kept %q, want %q", reg.name, got, tc.scheme)
				}
			}
		})
	}
}

// TestRefusedChallengeIsAskedAgain: a registry that now asks for
// something other than what a run before kept (a token service where it
// took Basic credentials; Basic where the token service it named is
// gone) refuses the first request made on the kept challenge. The read
// of a release image is made again at once after a ping, with no retry
// of the run's; the new challenge is kept.
func TestRefusedChallengeIsAskedAgain(t *testing.T) {
	for _, tc := range []struct {
		name, kept, now string
		params          map[string]string
		opts            []testenv.RegistryOption
	}{
		{"basic kept, tokens now", "Basic", "bearer", nil, []testenv.RegistryOption{testenv.WithTokenAuth()}},
		{"token service gone, basic now", "Bearer", "basic", map[string]string{"realm": "https://127.0.0.1:1/token", "service": "gone"}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			src := testenv.StartRegistry(t, tc.opts...)
			rel := src.PushRelease(t, testenv.ReleaseSpec{Components: 2})
			sys := src.SystemContext()
			dir := t.TempDir()
			mirror.KeepChallenge(dir, src.Host, tc.kept, tc.params)
			src.Traffic().Reset()

			clients := mirror.NewClients(mirror.Options{ChallengeDir: dir})
			defer clients.Close()
			p, err := release.ReadPayload(ctx, sys, rel.Tag, release.WithRetry(retry.Policy{Attempts: 1}),
				release.WithOpen(func(ctx context.Context, ref types.ImageReference) (types.ImageSource, error) {
					return clients.OpenSource(ctx, sys, ref)
				}))
			if err != nil {
				t.Fatalf("reading the release after its registry refused the kept challenge: %v", err)
			}
			if p.Digest != rel.Digest {
				t.Errorf("read %s, want %s", p.Digest, rel.Digest)
			}
			if _, pings := src.Traffic().Requests(); pings != 1 {
				t.Errorf("%d pings, want the one after the refusal", pings)
			}
			if got := mirror.KeptChallenge(dir, src.Host); !strings.EqualFold(got, tc.now) {
				t.Errorf("challenge kept %q, want %q", got, tc.now)
			}
		})
	}
}
