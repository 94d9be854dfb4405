package release

import (
	"context"
	"strings"
	"testing"

	"github.com/airgap-ocp/oc-plugins/internal/testenv"
)

func TestNormalizeArch(t *testing.T) {
	for in, want := range map[string]string{
		"amd64": "x86_64", "x86_64": "x86_64", "arm64": "aarch64", "AARCH64": "aarch64",
		"ppc64le": "ppc64le", "s390x": "s390x", "multi": "multi",
	} {
		got, err := NormalizeArch(in)
		if err != nil || got != want {
			t.Errorf("NormalizeArch(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	if _, err := NormalizeArch("i386"); err == nil {
		t.Error("i386 accepted")
	}
}

func TestTarget(t *testing.T) {
	tests := []struct {
		name, arg, repo, arch, want, err string
	}{
		{name: "a version uses the default repository", arg: "4.16.3", arch: "amd64",
			want: "quay.io/openshift-release-dev/ocp-release:4.16.3-x86_64"},
		{name: "a release candidate is a version", arg: "4.17.0-rc.2", arch: "multi",
			want: "quay.io/openshift-release-dev/ocp-release:4.17.0-rc.2-multi"},
		{name: "a version with a mirror repository", arg: "4.16.3", repo: "mirror.example:5000/ocp/release", arch: "arm64",
			want: "mirror.example:5000/ocp/release:4.16.3-aarch64"},
		{name: "a pull spec by tag is kept", arg: "quay.io/openshift-release-dev/ocp-release:4.16.3-x86_64", arch: "x86_64",
			want: "quay.io/openshift-release-dev/ocp-release:4.16.3-x86_64"},
		{name: "a pull spec by digest is kept, whatever the arch", arg: "quay.io/x/y@sha256:" + strings.Repeat("a", 64), arch: "nonsense",
			want: "quay.io/x/y@sha256:" + strings.Repeat("a", 64)},
		{name: "an unknown arch for a version", arg: "4.16.3", arch: "mips", err: "unknown architecture"},
		{name: "a pull spec that does not parse", arg: "Quay.io/UPPER:tag", arch: "x86_64", err: "Quay.io/UPPER:tag"},
		{name: "a leading v is a version", arg: "v4.16.3", arch: "x86_64",
			want: "quay.io/openshift-release-dev/ocp-release:4.16.3-x86_64"},
		{name: "an architecture suffix names the architecture", arg: "4.16.3-x86_64", arch: "x86_64",
			want: "quay.io/openshift-release-dev/ocp-release:4.16.3-x86_64"},
		{name: "an architecture suffix wins over the default", arg: "v4.16.3-arm64", arch: "x86_64",
			want: "quay.io/openshift-release-dev/ocp-release:4.16.3-aarch64"},
		{name: "a release candidate with an architecture", arg: "4.17.0-rc.2-multi", arch: "x86_64",
			want: "quay.io/openshift-release-dev/ocp-release:4.17.0-rc.2-multi"},
		{name: "a minor version is not a release", arg: "4.16", arch: "x86_64", err: `release "4.16": want a version X.Y.Z`},
		{name: "a channel is not a release", arg: "stable-4.16", arch: "x86_64", err: "or a fully qualified pull spec"},
		{name: "a short name would mean Docker Hub", arg: "ocp-release:4.16.3", arch: "x86_64", err: `release "ocp-release:4.16.3"`},
		{name: "a repository without its registry", arg: "4.16.3", repo: "ocp/release", arch: "x86_64", err: "give it with its registry"},
		{name: "a version too long for a tag", arg: "4.16.3-" + strings.Repeat("a", 130), arch: "x86_64", err: "is not a valid tag"},
		{name: "a repository that does not parse", arg: "4.16.3", repo: "bad repo", arch: "x86_64", err: "release repository"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Target(tt.arg, tt.repo, tt.arch)
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("Target() = %q, %v; want an error containing %q", got, err, tt.err)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("Target() = %q, %v; want %q", got, err, tt.want)
			}
		})
	}
}

func TestResolveDigest(t *testing.T) {
	reg := testenv.StartRegistry(t)
	ctx := context.Background()
	img := testenv.Image{Layers: []testenv.Layer{{Files: []testenv.File{{Name: "release-manifests/release-metadata", Data: []byte(`{"kind":"cincinnati-metadata-v0","version":"4.16.3"}`)}}}}}
	want := reg.MustPushImage(t, "ocp/release:4.16.3-x86_64", img)

	got, err := ResolveDigest(ctx, reg.SystemContext(), reg.Ref("ocp/release:4.16.3-x86_64"))
	if err != nil || got != want {
		t.Fatalf("by tag: ResolveDigest = %s, %v; want %s", got, err, want)
	}

	// A version resolves through the repository the same way.
	spec, err := Target("4.16.3", reg.Ref("ocp/release"), "amd64")
	if err != nil {
		t.Fatal(err)
	}
	if got, err := ResolveDigest(ctx, reg.SystemContext(), spec); err != nil || got != want {
		t.Fatalf("by version: ResolveDigest(%s) = %s, %v; want %s", spec, got, err, want)
	}

	// By digest, the registry is not asked: even a registry that does not
	// exist answers.
	byDigest := "unreachable.invalid/ocp/release@" + want.String()
	if got, err := ResolveDigest(ctx, reg.SystemContext(), byDigest); err != nil || got != want {
		t.Fatalf("by digest: ResolveDigest = %s, %v; want %s", got, err, want)
	}

	// A tag that does not exist is an error naming the pull spec.
	missing := reg.Ref("ocp/release:4.99.0-x86_64")
	if _, err := ResolveDigest(ctx, reg.SystemContext(), missing); err == nil || !strings.Contains(err.Error(), missing) {
		t.Fatalf("missing tag: err = %v", err)
	}

	// Without credentials the registry refuses, and the error never carries
	// the password.
	anon := reg.SystemContext()
	anon.AuthFilePath = t.TempDir() + "/none.json"
	_, err = ResolveDigest(ctx, anon, reg.Ref("ocp/release:4.16.3-x86_64"))
	if err == nil {
		t.Fatal("anonymous resolve succeeded against a registry that requires auth")
	}
	if strings.Contains(err.Error(), reg.Password) {
		t.Fatalf("error leaks the password: %v", err)
	}
}

// A multi-arch release resolves to its manifest list's digest, the one the
// cluster pulls (and the one signatures are made for), not one platform's.
func TestResolveDigestOfAManifestList(t *testing.T) {
	reg := testenv.StartRegistry(t)
	ctx := context.Background()
	var imgs []testenv.Image
	for _, arch := range []string{"amd64", "arm64"} {
		imgs = append(imgs, testenv.Image{Architecture: arch, Layers: []testenv.Layer{{Files: []testenv.File{{Name: "arch", Data: []byte(arch)}}}}})
	}
	want, err := reg.PushImageList(ctx, "ocp/release:4.16.3-multi", imgs)
	if err != nil {
		t.Fatal(err)
	}
	spec, err := Target("4.16.3", reg.Ref("ocp/release"), "multi")
	if err != nil {
		t.Fatal(err)
	}
	got, err := ResolveDigest(ctx, reg.SystemContext(), spec)
	if err != nil || got != want {
		t.Fatalf("ResolveDigest(%s) = %s, %v; want the list's %s", spec, got, err, want)
	}
	for _, img := range imgs {
		built, err := img.Build()
		if err != nil {
			t.Fatal(err)
		}
		if got == built.Digest {
			t.Fatalf("resolved to the %s image, not the list", img.Architecture)
		}
	}
}
