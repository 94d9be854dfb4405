package mirrorset

import (
	"fmt"
	"strings"
	"testing"

	configv1 "github.com/openshift/api/config/v1"
	operatorv1alpha1 "github.com/openshift/api/operator/v1alpha1"
)

const digest = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

func sourcesString(r *Resolution) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s in %q\n", r.Image, r.Registry)
	for _, s := range r.Sources {
		verdict := "use"
		switch {
		case s.Blocked:
			verdict = "blocked"
		case !s.Used:
			verdict = "skip"
		}
		if s.Insecure {
			verdict += ",insecure"
		}
		fmt.Fprintf(&b, "%s %s: %s\n", verdict, s.Reference, s.Why)
	}
	return b.String()
}

func TestResolve(t *testing.T) {
	cfg := Config{
		IDMSs: []*configv1.ImageDigestMirrorSet{
			idms("release", idm("quay.io/openshift-release-dev/ocp-release", configv1.NeverContactSource, "mirror.example.com:5000/ocp/release")),
		},
		ITMSs: []*configv1.ImageTagMirrorSet{
			itms("ubi", itm("registry.redhat.io/ubi9", "", "tags.example.com/ubi9")),
		},
		ICSPs: []*operatorv1alpha1.ImageContentSourcePolicy{
			icsp("ubi-digests", rdm("registry.redhat.io/ubi9", "digests.example.com/ubi9")),
		},
		Image: image([]string{"tags.example.com"}, []string{"docker.io"}),
	}
	conf := mustRender(t, cfg)
	tests := []struct {
		name, image, want string
	}{
		{"NeverContactSource: the digest mirror, then the blocked source", "quay.io/openshift-release-dev/ocp-release@" + digest,
			"quay.io/openshift-release-dev/ocp-release@" + digest + ` in "quay.io/openshift-release-dev/ocp-release"
use mirror.example.com:5000/ocp/release@` + digest + `: mirror 1 of quay.io/openshift-release-dev/ocp-release
blocked quay.io/openshift-release-dev/ocp-release@` + digest + `: blocked: the source is never contacted (NeverContactSource or blockedRegistries)
`},
		{"a digest-only mirror is skipped for a tag, and then nothing is left", "quay.io/openshift-release-dev/ocp-release:4.16.3",
			`quay.io/openshift-release-dev/ocp-release:4.16.3 in "quay.io/openshift-release-dev/ocp-release"
skip mirror.example.com:5000/ocp/release:4.16.3: skipped: digest-only mirror, and this is a tag reference
blocked quay.io/openshift-release-dev/ocp-release:4.16.3: blocked: the source is never contacted (NeverContactSource or blockedRegistries)
`},
		{"a tag uses the tag-only mirror (insecure) and skips the digest one", "registry.redhat.io/ubi9/ubi:9.4",
			`registry.redhat.io/ubi9/ubi:9.4 in "registry.redhat.io/ubi9"
skip digests.example.com/ubi9/ubi:9.4: skipped: digest-only mirror, and this is a tag reference
use,insecure tags.example.com/ubi9/ubi:9.4: mirror 2 of registry.redhat.io/ubi9
use registry.redhat.io/ubi9/ubi:9.4: the source, tried after every mirror
`},
		{"a digest skips the tag-only mirror", "registry.redhat.io/ubi9/ubi@" + digest,
			"registry.redhat.io/ubi9/ubi@" + digest + ` in "registry.redhat.io/ubi9"
use digests.example.com/ubi9/ubi@` + digest + `: mirror 1 of registry.redhat.io/ubi9
skip tags.example.com/ubi9/ubi@` + digest + `: skipped: tag-only mirror, and this is a digest reference
use registry.redhat.io/ubi9/ubi@` + digest + `: the source, tried after every mirror
`},
		{"no tag means latest; a blocked registry", "docker.io/library/busybox",
			`docker.io/library/busybox:latest in "docker.io"
blocked docker.io/library/busybox:latest: blocked: the source is never contacted (NeverContactSource or blockedRegistries)
`},
		{"no entry: the source only", "example.org/team/app:v1",
			`example.org/team/app:v1 in ""
use example.org/team/app:v1: no [[registry]] entry matches: the source only
`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, err := Resolve("expected", conf, tt.image)
			if err != nil {
				t.Fatal(err)
			}
			if got := sourcesString(r); got != tt.want {
				t.Errorf("got\n%s\nwant\n%s\nregistries.conf:\n%s", got, tt.want, conf)
			}
		})
	}
}

func TestResolveRejectsAShortName(t *testing.T) {
	if _, err := Resolve("expected", BaseRegistriesConf(), "ubi9"); err == nil || !strings.Contains(err.Error(), `pull spec "ubi9"`) {
		t.Errorf("error %v", err)
	}
}

func TestResolveAMirrorSharedByAnIDMSAndAnITMS(t *testing.T) {
	// What oc-mirror and oc mirror lite print: one mirror, digest-only through the IDMS and
	// tag-only through the ITMS.
	conf := mustRender(t, Config{
		IDMSs: []*configv1.ImageDigestMirrorSet{idms("digests", idm("registry.redhat.io/ubi9", "", "mirror.example.com/ubi9"))},
		ITMSs: []*configv1.ImageTagMirrorSet{itms("tags", itm("registry.redhat.io/ubi9", "", "mirror.example.com/ubi9"))},
		Image: image(nil, nil),
	})
	tests := []struct{ image, want string }{
		{"registry.redhat.io/ubi9/ubi:9.4", `registry.redhat.io/ubi9/ubi:9.4 in "registry.redhat.io/ubi9"
skip mirror.example.com/ubi9/ubi:9.4: skipped: digest-only mirror, and this is a tag reference
use mirror.example.com/ubi9/ubi:9.4: mirror 2 of registry.redhat.io/ubi9
use registry.redhat.io/ubi9/ubi:9.4: the source, tried after every mirror
`},
		{"registry.redhat.io/ubi9/ubi@" + digest, "registry.redhat.io/ubi9/ubi@" + digest + ` in "registry.redhat.io/ubi9"
use mirror.example.com/ubi9/ubi@` + digest + `: mirror 1 of registry.redhat.io/ubi9
skip mirror.example.com/ubi9/ubi@` + digest + `: skipped: tag-only mirror, and this is a digest reference
use registry.redhat.io/ubi9/ubi@` + digest + `: the source, tried after every mirror
`},
	}
	for _, tt := range tests {
		r, err := Resolve("expected", conf, tt.image)
		if err != nil {
			t.Fatal(err)
		}
		if got := sourcesString(r); got != tt.want {
			t.Errorf("%s: got\n%s\nwant\n%s\nregistries.conf:\n%s", tt.image, got, tt.want, conf)
		}
	}
}

func TestResolveAMirrorIsInsecureByItsOwnEntry(t *testing.T) {
	// An insecure scope inside the mirror's repository is a [[registry]] of its own that matches
	// the rewritten reference, but containers/image connects to a mirror with the mirror
	// endpoint's own insecure setting.
	conf := mustRender(t, Config{
		IDMSs: []*configv1.ImageDigestMirrorSet{idms("digests", idm("registry.redhat.io/ubi9", "", "mirror.example.com/ubi9"))},
		Image: image([]string{"mirror.example.com/ubi9/ubi"}, nil),
	})
	r, err := Resolve("expected", conf, "registry.redhat.io/ubi9/ubi@"+digest)
	if err != nil {
		t.Fatal(err)
	}
	want := "registry.redhat.io/ubi9/ubi@" + digest + ` in "registry.redhat.io/ubi9"
use mirror.example.com/ubi9/ubi@` + digest + `: mirror 1 of registry.redhat.io/ubi9
use registry.redhat.io/ubi9/ubi@` + digest + `: the source, tried after every mirror
`
	if got := sourcesString(r); got != want {
		t.Errorf("got\n%s\nwant\n%s\nregistries.conf:\n%s", got, want, conf)
	}
}
