package release

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/containers/image/v5/docker/reference"
	"github.com/opencontainers/go-digest"

	"github.com/airgap-ocp/oc-plugins/internal/testenv"
	"github.com/airgap-ocp/oc-plugins/pkg/plan"
	"github.com/airgap-ocp/oc-plugins/pkg/retry"
)

func TestReadPayloadFromReleaseImageLayers(t *testing.T) {
	reg := testenv.StartRegistry(t)
	for _, tc := range []struct {
		name    string
		spec    testenv.ReleaseSpec
		archExt string
	}{
		{"x86_64 release", testenv.ReleaseSpec{Version: "4.16.3", Components: 5}, "-x86_64"},
		{"aarch64 release", testenv.ReleaseSpec{Version: "4.17.1", Components: 4, Arch: "arm64", ReleaseRepo: "arm/release", ComponentRepo: "arm/art"}, "-aarch64"},
		{"multi-arch release is a manifest list", testenv.ReleaseSpec{Version: "4.18.0", Components: 3, Arches: []string{"amd64", "arm64"}, ReleaseRepo: "multi/release", ComponentRepo: "multi/art"}, "-multi"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rel := reg.PushRelease(t, tc.spec)
			p, err := ReadPayload(context.Background(), reg.SystemContext(), rel.Tag)
			if err != nil {
				t.Fatal(err)
			}
			if p.Version != tc.spec.Version || p.Metadata.Version != tc.spec.Version || p.Metadata.Kind != "cincinnati-metadata-v0" {
				t.Errorf("version %q, metadata %+v; want %s", p.Version, p.Metadata, tc.spec.Version)
			}
			if p.Digest != rel.Digest || p.PullSpec() != rel.PullSpec {
				t.Errorf("digest %s (%s), want %s", p.Digest, p.PullSpec(), rel.PullSpec)
			}
			if got := p.ArchExt(); got != tc.archExt {
				t.Errorf("ArchExt() = %q, want %q", got, tc.archExt)
			}
			if len(p.Components) != tc.spec.Components {
				t.Fatalf("%d components, want %d", len(p.Components), tc.spec.Components)
			}
			for _, c := range p.Components {
				if c.PullSpec != rel.Components[c.Name] {
					t.Errorf("component %s is %s, want %s", c.Name, c.PullSpec, rel.Components[c.Name])
				}
			}
		})
	}
}

func TestPlanFollowsOcAdmReleaseMirror(t *testing.T) {
	repo, _ := reference.ParseNormalizedNamed("quay.io/openshift-release-dev/ocp-release")
	p := &Payload{
		Repo: repo, Digest: digest.Digest("sha256:" + strings.Repeat("a", 64)), Architecture: "amd64", Version: "4.16.3",
		Components: []Component{
			{Name: "cli", PullSpec: "quay.io/openshift-release-dev/ocp-v4.0-art-dev@sha256:" + strings.Repeat("1", 64)},
			{Name: "installer", PullSpec: "quay.io/openshift-release-dev/ocp-v4.0-art-dev@sha256:" + strings.Repeat("2", 64)},
		},
	}
	const to = "mirror.example.com:5000/ocp/release"
	pl, err := p.Plan(to, "")
	if err != nil {
		t.Fatal(err)
	}
	type mapping struct {
		kind         plan.Kind
		source, dest string
	}
	want := []mapping{
		{plan.ReleaseImage, "quay.io/openshift-release-dev/ocp-release@sha256:" + strings.Repeat("a", 64), to + ":4.16.3-x86_64"},
		{plan.ReleaseComponent, p.Components[0].PullSpec, to + ":4.16.3-x86_64-cli"},
		{plan.ReleaseComponent, p.Components[1].PullSpec, to + ":4.16.3-x86_64-installer"},
	}
	if len(pl.Items) != len(want) {
		t.Fatalf("plan %+v, want %+v", pl.Items, want)
	}
	for i, it := range pl.Items {
		dest, err := it.Dest("", 0)
		if got := (mapping{it.Kind, it.Source, dest}); err != nil || got != want[i] {
			t.Errorf("item %d: %+v (%v), want %+v", i, got, err, want[i])
		}
	}
	if len(pl.Releases) != 1 || pl.Releases[0].Digest != p.Digest || pl.Releases[0].Tag != "4.16.3-x86_64" {
		t.Errorf("releases %+v, want the one release with its tag", pl.Releases)
	}

	t.Run("--to-release-image puts the release elsewhere", func(t *testing.T) {
		pl, err := p.Plan(to, "mirror.example.com:5000/ocp/release-images:4.16.3")
		if err != nil {
			t.Fatal(err)
		}
		if dest, _ := pl.Items[0].Dest("", 0); dest != "mirror.example.com:5000/ocp/release-images:4.16.3" {
			t.Errorf("release goes to %s", dest)
		}
		if dest, _ := pl.Items[1].Dest("", 0); dest != to+":4.16.3-x86_64-cli" {
			t.Errorf("a component goes to %s", dest)
		}
	})
	t.Run("a component by tag is refused, as oc refuses it", func(t *testing.T) {
		bad := *p
		bad.Components = []Component{{Name: "cli", PullSpec: "quay.io/openshift-release-dev/ocp-v4.0-art-dev:cli"}}
		if _, err := bad.Plan("mirror.example.com/ocp", ""); !errors.Is(err, ErrNotRelease) || !strings.Contains(err.Error(), "cli") {
			t.Errorf("want a not-a-release error naming cli, got %v", err)
		}
	})
}

func TestReadPayloadOfAnOrdinaryImageIsNotARelease(t *testing.T) {
	reg := testenv.StartRegistry(t)
	reg.MustPushImage(t, "apps/ubi:9", testenv.Image{Layers: []testenv.Layer{{Files: []testenv.File{{Name: "etc/os-release", Data: []byte("ID=rhel\n")}}}}})
	_, err := ReadPayload(context.Background(), reg.SystemContext(), reg.Ref("apps/ubi:9"))
	if !errors.Is(err, ErrNotRelease) || !strings.Contains(err.Error(), ImageReferencesFile) {
		t.Errorf("want ErrNotRelease naming %s, got %v", ImageReferencesFile, err)
	}
}

// TestReadingTheReleaseImageRetriesTransientFailures reads a release image
// through a proxy that answers every second request with 500 (the first
// reads of the manifest, config and layers each fail once): the read
// retries each request under pkg/retry's policy and gets the whole payload;
// resolving the digest does the same.
func TestReadingTheReleaseImageRetriesTransientFailures(t *testing.T) {
	reg := testenv.StartRegistry(t)
	rel := reg.PushRelease(t, testenv.ReleaseSpec{Version: "4.16.3", Components: 3})
	named, err := reference.ParseNormalizedNamed(rel.Tag)
	if err != nil {
		t.Fatal(err)
	}
	path := reference.Path(named) + ":" + named.(reference.Tagged).Tag()

	proxy := reg.StartFaultProxy(t, testenv.Faults{ServerErrorEvery: 2})
	via := proxy.Registry()
	p, err := ReadPayload(context.Background(), via.SystemContext(), via.Ref(path))
	if err != nil {
		t.Fatalf("reading through 500s: %v", err)
	}
	if p.Version != "4.16.3" || len(p.Components) != 3 || p.Digest != rel.Digest {
		t.Errorf("read %s with %d components, digest %s; want 4.16.3, 3, %s", p.Version, len(p.Components), p.Digest, rel.Digest)
	}
	if proxy.Errors.Load() == 0 {
		t.Fatal("the proxy injected no failure: the test proves nothing")
	}

	// Resolving a tag is one manifest request: the second resolve meets a 500.
	proxy = reg.StartFaultProxy(t, testenv.Faults{ServerErrorEvery: 2})
	via = proxy.Registry()
	for i := range 2 {
		d, err := ResolveDigest(context.Background(), via.SystemContext(), via.Ref(path), WithRetry(retry.Policy{Attempts: 3, Base: 10 * time.Millisecond}))
		if err != nil || d != rel.Digest {
			t.Fatalf("resolve %d: %s, %v; want %s", i+1, d, err, rel.Digest)
		}
	}
	if proxy.Errors.Load() != 1 {
		t.Errorf("%d failures injected into two resolves, want 1", proxy.Errors.Load())
	}

	// A failure that does not pass is retried only as the policy allows:
	// two attempts meet two 500s, and the error says what the registry said.
	proxy = reg.StartFaultProxy(t, testenv.Faults{ServerErrorEvery: 1})
	via = proxy.Registry()
	_, err = ReadPayload(context.Background(), via.SystemContext(), via.Ref(path), WithRetry(retry.Policy{Attempts: 2, Base: 10 * time.Millisecond}))
	if err == nil || !strings.Contains(err.Error(), "500") && !strings.Contains(strings.ToLower(err.Error()), "internal server error") {
		t.Errorf("every request failing: %v, want the 500", err)
	}
	if got := proxy.Errors.Load(); got != 2 {
		t.Errorf("%d requests with two attempts allowed, want 2", got)
	}
}
