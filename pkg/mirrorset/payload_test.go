package mirrorset

import (
	"strings"
	"testing"

	configv1 "github.com/openshift/api/config/v1"
)

func TestProtectPayload(t *testing.T) {
	const release = "quay.io/openshift-release-dev/ocp-release@" + digest
	mirror := idms("release", idm("quay.io/openshift-release-dev/ocp-release", "", "mirror.example.com/ocp/release"))
	tests := []struct {
		name        string
		cfg         Config
		wantBlocked []string
		wantDropped []string
	}{
		{"the payload's registry blocked without a mirror is dropped",
			Config{Image: image(nil, []string{"quay.io", "docker.io"})},
			[]string{"docker.io"}, []string{"quay.io"}},
		{"with an unblocked digest mirror it stays blocked",
			Config{IDMSs: []*configv1.ImageDigestMirrorSet{mirror}, Image: image(nil, []string{"quay.io", "docker.io"})},
			[]string{"quay.io", "docker.io"}, nil},
		{"a mirror that is blocked too does not count",
			Config{IDMSs: []*configv1.ImageDigestMirrorSet{mirror}, Image: image(nil, []string{"quay.io", "mirror.example.com"})},
			[]string{"mirror.example.com"}, []string{"quay.io"}},
		{"a tag mirror does not count (the payload is pulled by digest)",
			Config{ITMSs: []*configv1.ImageTagMirrorSet{itms("t", itm("quay.io/openshift-release-dev/ocp-release", "", "mirror.example.com/ocp/release"))}, Image: image(nil, []string{"quay.io/openshift-release-dev"})},
			nil, []string{"quay.io/openshift-release-dev"}},
		{"a scope beside the payload is kept",
			Config{Image: image(nil, []string{"quay.io/other"})},
			[]string{"quay.io/other"}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := append([]string(nil), tt.cfg.Image.Spec.RegistrySources.BlockedRegistries...)
			out, dropped, err := tt.cfg.ProtectPayload(release)
			if err != nil {
				t.Fatal(err)
			}
			if got := strings.Join(out.Image.Spec.RegistrySources.BlockedRegistries, " "); got != strings.Join(tt.wantBlocked, " ") {
				t.Errorf("blocked %q, want %q", got, tt.wantBlocked)
			}
			if got := strings.Join(dropped, " "); got != strings.Join(tt.wantDropped, " ") {
				t.Errorf("dropped %q, want %q", got, tt.wantDropped)
			}
			if got := strings.Join(tt.cfg.Image.Spec.RegistrySources.BlockedRegistries, " "); got != strings.Join(before, " ") {
				t.Errorf("the input changed: %q", got)
			}
		})
	}
	if _, _, err := (Config{Image: image(nil, []string{"quay.io"})}).ProtectPayload("not a pull spec!"); err == nil {
		t.Error("a bad release image is accepted")
	}
	if out, dropped, err := (Config{}).ProtectPayload(release); err != nil || dropped != nil || out.Image != nil {
		t.Errorf("no image config: %v %v %v", out, dropped, err)
	}
}
