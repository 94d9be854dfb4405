package mirrorset

import (
	"fmt"
	"strings"
	"testing"

	configv1 "github.com/openshift/api/config/v1"
	operatorv1alpha1 "github.com/openshift/api/operator/v1alpha1"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// wantErrors checks that errs hold exactly the wanted paths, each mentioning its text.
func wantErrors(t *testing.T, errs field.ErrorList, want map[string]string) {
	t.Helper()
	got := map[string]string{}
	for _, e := range errs {
		got[e.Field] = e.Error()
	}
	for path, text := range want {
		msg, ok := got[path]
		if !ok {
			t.Errorf("no error at %s; got %v", path, errs)
			continue
		}
		if !strings.Contains(msg, text) {
			t.Errorf("error at %s is %q, want it to mention %q", path, msg, text)
		}
	}
	for path, msg := range got {
		if _, ok := want[path]; !ok {
			t.Errorf("unexpected error: %s", msg)
		}
	}
}

func TestValidateAcceptsTheReferenceObjects(t *testing.T) {
	for _, f := range []string{"icsp-ubi8repo.yaml", "icsp-ubi8repo-scopes.yaml", "icsp-mirror-ocp.yaml", "icsp-bastion.yaml", "icsp-redhat-operator-index.yaml"} {
		if errs := ValidateICSP(loadICSP(t, f)); len(errs) > 0 {
			t.Errorf("%s: %v", f, errs)
		}
	}
	for _, f := range []string{"idms-ubi9repo.yaml", "idms-wildcard.yaml"} {
		if errs := ValidateIDMS(loadIDMS(t, f)); len(errs) > 0 {
			t.Errorf("%s: %v", f, errs)
		}
	}
	if errs := ValidateITMS(loadITMS(t, "itms-ubi9repo-tag.yaml")); len(errs) > 0 {
		t.Errorf("itms-ubi9repo-tag.yaml: %v", errs)
	}
}

func TestValidateICSP(t *testing.T) {
	tests := []struct {
		name string
		icsp *operatorv1alpha1.ImageContentSourcePolicy
		want map[string]string
	}{
		{"a repository source with a host:port mirror is valid",
			icsp("a", rdm("quay.io/openshift-release-dev/ocp-release", "mirror.registry.com:443/ocp/release")), nil},
		{"a wildcard source is valid, as the MCO accepts it",
			icsp("a", rdm("*.redhat.io", "mirror.local/redhat")), nil},
		{"an entry without mirrors is valid",
			icsp("a", rdm("quay.io/x")), nil},
		{"a name is required",
			icsp("", rdm("quay.io/x", "m.example.com/x")), map[string]string{"metadata.name": "Required"}},
		{"an ICSP without entries mirrors nothing",
			icsp("a"), map[string]string{"spec.repositoryDigestMirrors": "mirrors nothing"}},
		{"a source is required",
			icsp("a", rdm("", "m.example.com/x")), map[string]string{"spec.repositoryDigestMirrors[0].source": "Required"}},
		{"a source with a tag names the tag",
			icsp("a", rdm("quay.io/x:latest", "m.example.com/x")), map[string]string{"spec.repositoryDigestMirrors[0].source": "must not contain a tag or digest"}},
		{"a mirror with a digest names the digest",
			icsp("a", rdm("quay.io/x", "m.example.com/x", "m.example.com/y@sha256:0123")), map[string]string{"spec.repositoryDigestMirrors[0].mirrors[1]": "must not contain a tag or digest"}},
		{"a mirror with a wildcard is refused",
			icsp("a", rdm("quay.io/x", "*.example.com")), map[string]string{"spec.repositoryDigestMirrors[0].mirrors[0]": "must not contain a wildcard"}},
		{"an empty mirror is refused",
			icsp("a", rdm("quay.io/x", "")), map[string]string{"spec.repositoryDigestMirrors[0].mirrors[0]": "Required"}},
		{"errors in several entries are all reported",
			icsp("a", rdm("quay.io/x", "m.example.com/x"), rdm("https://quay.io/y", "m.example.com/Y")),
			map[string]string{"spec.repositoryDigestMirrors[1].source": "URL scheme", "spec.repositoryDigestMirrors[1].mirrors[0]": "lowercase path"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			wantErrors(t, ValidateICSP(tc.icsp), tc.want)
		})
	}
}

func TestValidateIDMS(t *testing.T) {
	tests := []struct {
		name string
		idms *configv1.ImageDigestMirrorSet
		want map[string]string
	}{
		{"AllowContactingSource may list the source as a mirror",
			idms("a", idm("quay.io/x", configv1.AllowContactingSource, "m.example.com/x", "quay.io/x")), nil},
		{"an IDMS without entries is valid, as its CRD allows",
			idms("a"), nil},
		{"a registry with a port and a nested path is a valid source",
			idms("a", idm("registry.example.com:5000/a/b/c", "", "m.example.com")), nil},
		{"a name is required",
			idms("", idm("quay.io/x", "", "m.example.com/x")), map[string]string{"metadata.name": "Required"}},
		{"mirrors are a set",
			idms("a", idm("quay.io/x", "", "m.example.com/x", "n.example.com/x", "m.example.com/x")), map[string]string{"spec.imageDigestMirrors[0].mirrors[2]": "Duplicate"}},
		{"the policy is one of two values",
			idms("a", idm("quay.io/x", "Never", "m.example.com/x")), map[string]string{"spec.imageDigestMirrors[0].mirrorSourcePolicy": `supported values: "NeverContactSource", "AllowContactingSource"`}},
		{"NeverContactSource must not list the source as a mirror",
			idms("a", idm("quay.io/x", configv1.NeverContactSource, "m.example.com/x", "quay.io/x")), map[string]string{"spec.imageDigestMirrors[0].mirrors[1]": "must not be the source itself"}},
		{"NeverContactSource needs a mirror",
			idms("a", idm("quay.io/x", configv1.NeverContactSource)), map[string]string{"spec.imageDigestMirrors[0].mirrors": "needs at least one mirror"}},
		{"a source with a digest is refused",
			idms("a", idm("quay.io/x@sha256:abcd", "", "m.example.com/x")), map[string]string{"spec.imageDigestMirrors[0].source": "must not contain a tag or digest"}},
		{"a host with a tag instead of a port is refused",
			idms("a", idm("quay.io:latest", "", "m.example.com/x")), map[string]string{"spec.imageDigestMirrors[0].source": "must not contain a tag or digest"}},
		{"a wildcard with a path is refused",
			idms("a", idm("*.example.com/ns", "", "m.example.com/x")), map[string]string{"spec.imageDigestMirrors[0].source": "leftmost label"}},
		{"a wildcard inside a name is refused",
			idms("a", idm("registry.*.com", "", "m.example.com/x")), map[string]string{"spec.imageDigestMirrors[0].source": "leftmost label"}},
		{"a trailing slash is refused",
			idms("a", idm("quay.io/x/", "", "m.example.com/x")), map[string]string{"spec.imageDigestMirrors[0].source": "must not end with /"}},
		{"a mirror with a tag is refused",
			idms("a", idm("quay.io/x", "", "m.example.com/x:v1")), map[string]string{"spec.imageDigestMirrors[0].mirrors[0]": "must not contain a tag or digest"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			wantErrors(t, ValidateIDMS(tc.idms), tc.want)
		})
	}
}

func TestValidateITMS(t *testing.T) {
	tests := []struct {
		name string
		itms *configv1.ImageTagMirrorSet
		want map[string]string
	}{
		{"a tag mirror that never contacts its source is valid",
			itms("a", itm("registry.access.redhat.com/ubi9/ubi-minimal", configv1.NeverContactSource, "example.io/example/ubi-minimal-tag")), nil},
		{"mirrors are a set",
			itms("a", itm("quay.io/x", "", "m.example.com/x", "m.example.com/x")), map[string]string{"spec.imageTagMirrors[0].mirrors[1]": "Duplicate"}},
		{"NeverContactSource needs a mirror other than the source",
			itms("a", itm("quay.io/x", configv1.NeverContactSource, "quay.io/x")), map[string]string{"spec.imageTagMirrors[0].mirrors[0]": "must not be the source itself"}},
		{"the policy is one of two values",
			itms("a", itm("quay.io/x", "allowcontactingsource", "m.example.com/x")), map[string]string{"spec.imageTagMirrors[0].mirrorSourcePolicy": "Unsupported value"}},
		{"a wildcard mirror is refused",
			itms("a", itm("*.example.com", "", "*.mirror.example.com")), map[string]string{"spec.imageTagMirrors[0].mirrors[0]": "must not contain a wildcard"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			wantErrors(t, ValidateITMS(tc.itms), tc.want)
		})
	}
}

func TestValidateAgreesWithTheCRDPatterns(t *testing.T) {
	// Values the CRD patterns accept or refuse, checked against our regexps.
	tests := []struct {
		value          string
		source, mirror bool
	}{
		{"quay.io", true, true},
		{"quay.io:443", true, true},
		{"localhost:5000/ns/repo", true, true},
		{"mirror.registry.com:443/ocp/release", true, true},
		{"registry.example.com/a_b/c__d/e-f/g.h", true, true},
		{"*.example.com", true, false},
		{"*", false, false},
		{"*.example.com:443", false, false},
		{"Quay.IO/ns", true, true},
		{"quay.io/NS", false, false},
		{"quay.io/ns:tag", false, false},
		{"-quay.io", false, false},
	}
	for _, tc := range tests {
		t.Run(tc.value, func(t *testing.T) {
			if got := len(validateSource(field.NewPath("source"), tc.value)) == 0; got != tc.source {
				t.Errorf("source valid = %v, want %v", got, tc.source)
			}
			if got := len(validateMirror(field.NewPath("mirror"), tc.value)) == 0; got != tc.mirror {
				t.Errorf("mirror valid = %v, want %v", got, tc.mirror)
			}
		})
	}
}

func TestConflicts(t *testing.T) {
	never := configv1.NeverContactSource
	allow := configv1.AllowContactingSource
	tests := []struct {
		name  string
		icsps []*operatorv1alpha1.ImageContentSourcePolicy
		idmss []*configv1.ImageDigestMirrorSet
		itmss []*configv1.ImageTagMirrorSet
		want  map[string]string
	}{
		{"an unset policy agrees with AllowContactingSource",
			[]*operatorv1alpha1.ImageContentSourcePolicy{icsp("c", rdm("quay.io/x", "m.example.com/x"))},
			[]*configv1.ImageDigestMirrorSet{idms("a", idm("quay.io/x", allow, "n.example.com/x")), idms("b", idm("quay.io/x", "", "o.example.com/x"))},
			nil, nil},
		{"NeverContactSource in two objects agrees",
			nil,
			[]*configv1.ImageDigestMirrorSet{idms("a", idm("quay.io/x", never, "m.example.com/x")), idms("b", idm("quay.io/x", never, "n.example.com/x"))},
			nil, nil},
		{"nested and different sources do not conflict",
			nil,
			[]*configv1.ImageDigestMirrorSet{idms("a", idm("quay.io", never, "m.example.com"), idm("quay.io/x", allow, "n.example.com/x"), idm("*.quay.io", allow, "o.example.com"))},
			nil, nil},
		{"an ICSP counts as AllowContactingSource against a NeverContactSource IDMS",
			[]*operatorv1alpha1.ImageContentSourcePolicy{icsp("mirror-ocp", rdm("quay.io/openshift-release-dev/ocp-release", "mirror.registry.com:443/ocp/release"))},
			[]*configv1.ImageDigestMirrorSet{idms("release", idm("quay.io/openshift-release-dev/ocp-release", never, "mirror.registry.com:443/ocp/release"))},
			nil,
			map[string]string{"ImageDigestMirrorSet[release].spec.imageDigestMirrors[0].mirrorSourcePolicy": "AllowContactingSource at ImageContentSourcePolicy[mirror-ocp].spec.repositoryDigestMirrors[0]"}},
		{"two entries of one IDMS conflict",
			nil,
			[]*configv1.ImageDigestMirrorSet{idms("a", idm("quay.io/x", "", "m.example.com/x"), idm("quay.io/x", never, "n.example.com/x"))},
			nil,
			map[string]string{"ImageDigestMirrorSet[a].spec.imageDigestMirrors[1].mirrorSourcePolicy": "ImageDigestMirrorSet[a].spec.imageDigestMirrors[0]"}},
		{"an entry without mirrors still counts",
			nil,
			[]*configv1.ImageDigestMirrorSet{idms("a", idm("quay.io/x", "")), idms("b", idm("quay.io/x", never, "n.example.com/x"))},
			nil,
			map[string]string{"ImageDigestMirrorSet[b].spec.imageDigestMirrors[0].mirrorSourcePolicy": "ImageDigestMirrorSet[a].spec.imageDigestMirrors[0]"}},
		{"tag and digest objects share one policy per source, as in the MCO",
			nil,
			[]*configv1.ImageDigestMirrorSet{idms("digests", idm("registry.access.redhat.com/ubi9/ubi-minimal", allow, "example.io/example/ubi-minimal"))},
			[]*configv1.ImageTagMirrorSet{itms("tags", itm("registry.access.redhat.com/ubi9/ubi-minimal", never, "example.io/example/ubi-minimal-tag"))},
			map[string]string{"ImageTagMirrorSet[tags].spec.imageTagMirrors[0].mirrorSourcePolicy": "ImageDigestMirrorSet[digests].spec.imageDigestMirrors[0]"}},
		{"two tag objects conflict",
			nil, nil,
			[]*configv1.ImageTagMirrorSet{itms("a", itm("docker.io/library", never, "m.example.com/library")), itms("b", itm("docker.io/library", "", "n.example.com/library"))},
			map[string]string{"ImageTagMirrorSet[a].spec.imageTagMirrors[0].mirrorSourcePolicy": "ImageTagMirrorSet[b].spec.imageTagMirrors[0]"}},
		{"one error per source, counting the other places",
			[]*operatorv1alpha1.ImageContentSourcePolicy{icsp("c", rdm("quay.io/x", "m.example.com/x"))},
			[]*configv1.ImageDigestMirrorSet{idms("a", idm("quay.io/x", never, "n.example.com/x")), idms("b", idm("quay.io/x", never, "o.example.com/x"))},
			nil,
			map[string]string{"ImageDigestMirrorSet[a].spec.imageDigestMirrors[0].mirrorSourcePolicy": "and 1 more place(s)"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			errs := Conflicts(tc.icsps, tc.idmss, tc.itmss)
			wantErrors(t, errs, tc.want)
			for _, e := range errs {
				if !strings.Contains(e.Error(), "Machine Config Operator") {
					t.Errorf("error %q does not say why it matters", e.Error())
				}
			}
		})
	}
}

func TestConflictsAreReportedInSourceOrder(t *testing.T) {
	var sets []*configv1.ImageDigestMirrorSet
	for _, s := range []string{"c.example.com", "a.example.com", "b.example.com"} {
		sets = append(sets, idms("allow-"+s, idm(s, "", "m.example.org")), idms("never-"+s, idm(s, configv1.NeverContactSource, "m.example.org")))
	}
	errs := Conflicts(nil, sets, nil)
	var got []string
	for _, e := range errs {
		got = append(got, e.Field)
	}
	want := []string{
		"ImageDigestMirrorSet[never-a.example.com].spec.imageDigestMirrors[0].mirrorSourcePolicy",
		"ImageDigestMirrorSet[never-b.example.com].spec.imageDigestMirrors[0].mirrorSourcePolicy",
		"ImageDigestMirrorSet[never-c.example.com].spec.imageDigestMirrors[0].mirrorSourcePolicy",
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("conflict fields = %q, want %q", got, want)
	}
}
