package mirrorset

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	configv1 "github.com/openshift/api/config/v1"
	operatorv1alpha1 "github.com/openshift/api/operator/v1alpha1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/yaml"
)

func TestConvertICSPKeepsIdentityAndDropsServerFields(t *testing.T) {
	in := loadICSP(t, "icsp-redhat-operator-index.yaml")
	in.OwnerReferences = []metav1.OwnerReference{{APIVersion: "v1", Kind: "ConfigMap", Name: "owner", UID: "1"}}
	in.Finalizers = []string{"example.com/cleanup"}
	out := ConvertICSP(in)

	got, err := yaml.Marshal(out)
	if err != nil {
		t.Fatal(err)
	}
	want := `apiVersion: config.openshift.io/v1
kind: ImageDigestMirrorSet
metadata:
  annotations:
    example.com/owner-team: platform
  labels:
    operators.openshift.org/catalog: "true"
  name: redhat-operator-index
spec:
  imageDigestMirrors:
  - mirrors:
    - local.registry:5000
    source: registry.redhat.io
status: {}
`
	if string(got) != want {
		t.Errorf("converted object:\n%s", Diff("want", "got", []byte(want), got))
	}
	out.Labels["changed"] = "yes"
	if _, ok := in.Labels["changed"]; ok {
		t.Error("the converted object shares its labels map with the ICSP")
	}
}

func TestConvertICSPWithOnlyTheLastAppliedAnnotationHasNoAnnotations(t *testing.T) {
	in := icsp("a", rdm("quay.io/x", "m.example.com/x"))
	in.Annotations = map[string]string{lastAppliedAnnotation: "{}"}
	if out := ConvertICSP(in); out.Annotations != nil {
		t.Errorf("annotations = %v, want none", out.Annotations)
	}
	if ConvertICSP(nil) != nil {
		t.Error("ConvertICSP(nil) is not nil")
	}
}

func TestConvertedReferenceICSPsAreValidIDMSs(t *testing.T) {
	for _, f := range []string{"icsp-ubi8repo.yaml", "icsp-ubi8repo-scopes.yaml", "icsp-mirror-ocp.yaml", "icsp-bastion.yaml", "icsp-redhat-operator-index.yaml"} {
		if errs := ValidateIDMS(ConvertICSP(loadICSP(t, f))); len(errs) > 0 {
			t.Errorf("%s converts to an invalid IDMS: %v", f, errs)
		}
	}
}

func TestConvertingAnICSPWithRepeatedMirrorsGivesAnIDMSTheServerRefuses(t *testing.T) {
	// The ICSP CRD allows a mirror twice; the IDMS CRD does not (listType=set).
	in := icsp("a", rdm("quay.io/x", "m.example.com/x", "m.example.com/x"))
	if errs := ValidateICSP(in); len(errs) > 0 {
		t.Fatalf("ICSP refused: %v", errs)
	}
	wantErrors(t, ValidateIDMS(ConvertICSP(in)), map[string]string{"spec.imageDigestMirrors[0].mirrors[1]": "Duplicate"})
}

// convertAll converts every ICSP of c into an IDMS.
func convertAll(c Config) Config {
	out := Config{IDMSs: slices.Clone(c.IDMSs), ITMSs: c.ITMSs, Image: c.Image}
	for _, o := range c.ICSPs {
		out.IDMSs = append(out.IDMSs, ConvertICSP(o))
	}
	return out
}

func TestConvertingICSPsDoesNotChangeRegistriesConf(t *testing.T) {
	tests := []struct {
		name   string
		config Config
	}{
		{"ICSP ubi8repo with one source in two entries", Config{ICSPs: []*operatorv1alpha1.ImageContentSourcePolicy{loadICSP(t, "icsp-ubi8repo.yaml")}}},
		{"ICSP with nested registry, namespace and repository scopes", Config{ICSPs: []*operatorv1alpha1.ImageContentSourcePolicy{loadICSP(t, "icsp-ubi8repo-scopes.yaml")}}},
		{"ICSPs for a release payload from two runbooks", Config{ICSPs: []*operatorv1alpha1.ImageContentSourcePolicy{loadICSP(t, "icsp-mirror-ocp.yaml"), loadICSP(t, "icsp-bastion.yaml")}}},
		{"ICSP widened to a whole registry, with an image config", Config{
			ICSPs: []*operatorv1alpha1.ImageContentSourcePolicy{loadICSP(t, "icsp-redhat-operator-index.yaml"), loadICSP(t, "icsp-mirror-ocp.yaml")},
			Image: loadImage(t, "image-cluster.yaml")}},
		{"ICSP wildcard source next to an IDMS", Config{
			ICSPs: []*operatorv1alpha1.ImageContentSourcePolicy{icsp("w", rdm("*.redhat.io", "mirror.local/redhat"), rdm("registry.redhat.io/ubi9", "mirror.local/ubi9"))},
			IDMSs: []*configv1.ImageDigestMirrorSet{loadIDMS(t, "idms-wildcard.yaml")}}},
		{"ICSP listing its source among its mirrors", Config{
			ICSPs: []*operatorv1alpha1.ImageContentSourcePolicy{icsp("s", rdm("quay.io/x", "m.example.com/x", "quay.io/x", "n.example.com/x"), rdm("quay.io/y", "quay.io/y"))}}},
		{"ICSPs whose mirror orders disagree", Config{
			ICSPs: []*operatorv1alpha1.ImageContentSourcePolicy{icsp("a", rdm("quay.io/x", "a.example.com", "b.example.com")), icsp("b", rdm("quay.io/x", "b.example.com", "a.example.com"))}}},
		{"ICSP next to a tag mirror set for the same source", Config{
			ICSPs: []*operatorv1alpha1.ImageContentSourcePolicy{icsp("a", rdm("registry.access.redhat.com/ubi8/ubi-minimal", "example.io/example/ubi-minimal"))},
			ITMSs: []*configv1.ImageTagMirrorSet{itms("t", itm("registry.access.redhat.com/ubi8/ubi-minimal", "", "example.io/example/ubi-minimal-tag"))}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			before := mustRender(t, tc.config)
			after := mustRender(t, convertAll(tc.config))
			if d := Diff("with ICSPs", "with IDMSs", before, after); d != "" {
				t.Errorf("conversion changes registries.conf:\n%s", d)
			}
		})
	}
}

// randomScenario builds ICSPs, IDMSs and ITMSs from small pools of nested scopes,
// wildcards and mirrors, with one policy per source so that the MCO accepts them.
func randomScenario(rng *rand.Rand) Config {
	sources := []string{
		"registry.example.com", "registry.example.com/ns", "registry.example.com/ns/repo", "registry.example.com:5000/ns",
		"*.example.com", "*.sub.example.com", "quay.io", "quay.io/openshift-release-dev/ocp-release",
		"quay.io/openshift-release-dev/ocp-v4.0-art-dev", "docker.io/library",
	}
	mirrors := []string{"m1.example.net", "m2.example.net/x", "m3.example.net:5000/y", "m4.example.org/z", "mirror.registry.com:443/ocp/release"}
	policy := map[string]configv1.MirrorSourcePolicy{}
	for _, s := range sources {
		if rng.IntN(4) == 0 {
			policy[s] = configv1.NeverContactSource
		}
	}
	pickMirrors := func(source string, never bool) []string {
		n := rng.IntN(4)
		if never && n == 0 {
			n = 1
		}
		var out []string
		for _, i := range rng.Perm(len(mirrors))[:n] {
			out = append(out, mirrors[i])
		}
		if !never && !strings.HasPrefix(source, "*") && rng.IntN(6) == 0 {
			out = slices.Insert(out, rng.IntN(len(out)+1), source)
		}
		return out
	}
	var c Config
	for i := range 1 + rng.IntN(3) {
		o := icsp(fmt.Sprintf("icsp-%d", i))
		for range 1 + rng.IntN(4) {
			s := sources[rng.IntN(len(sources))]
			if policy[s] != "" {
				continue // an ICSP entry would conflict with NeverContactSource
			}
			o.Spec.RepositoryDigestMirrors = append(o.Spec.RepositoryDigestMirrors, rdm(s, pickMirrors(s, false)...))
		}
		if len(o.Spec.RepositoryDigestMirrors) > 0 {
			c.ICSPs = append(c.ICSPs, o)
		}
	}
	for i := range rng.IntN(3) {
		o := idms(fmt.Sprintf("idms-%d", i))
		for range 1 + rng.IntN(4) {
			s := sources[rng.IntN(len(sources))]
			p := policy[s]
			if p == "" && rng.IntN(2) == 0 {
				p = configv1.AllowContactingSource
			}
			o.Spec.ImageDigestMirrors = append(o.Spec.ImageDigestMirrors, idm(s, p, pickMirrors(s, p == configv1.NeverContactSource)...))
		}
		c.IDMSs = append(c.IDMSs, o)
	}
	for i := range rng.IntN(2) {
		o := itms(fmt.Sprintf("itms-%d", i))
		for range 1 + rng.IntN(3) {
			s := sources[rng.IntN(len(sources))]
			o.Spec.ImageTagMirrors = append(o.Spec.ImageTagMirrors, itm(s, policy[s], pickMirrors(s, policy[s] == configv1.NeverContactSource)...))
		}
		c.ITMSs = append(c.ITMSs, o)
	}
	return c
}

func TestConvertingRandomICSPsDoesNotChangeRegistriesConf(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 11))
	for i := range 300 {
		c := randomScenario(rng)
		before := mustRender(t, c)
		after := mustRender(t, convertAll(c))
		if d := Diff("with ICSPs", "with IDMSs", before, after); d != "" {
			t.Fatalf("scenario %d: conversion changes registries.conf:\n%s", i, d)
		}
	}
}

func TestMergeIDMS(t *testing.T) {
	never := configv1.NeverContactSource
	allow := configv1.AllowContactingSource
	tests := []struct {
		name string
		sets []*configv1.ImageDigestMirrorSet
		want *configv1.ImageDigestMirrorSet
	}{
		{"entries with the same source become one, mirrors de-duplicated in first-seen order",
			[]*configv1.ImageDigestMirrorSet{
				idms("a", idm("quay.io/x", "", "a.example.com", "b.example.com"), idm("quay.io/y", "", "c.example.com")),
				idms("b", idm("quay.io/x", "", "b.example.com", "c.example.com"), idm("quay.io/z", "", "d.example.com")),
			},
			idms("merged", idm("quay.io/x", "", "a.example.com", "b.example.com", "c.example.com"), idm("quay.io/y", "", "c.example.com"), idm("quay.io/z", "", "d.example.com"))},
		{"the order nodes use wins where first-seen order would change it",
			[]*configv1.ImageDigestMirrorSet{
				idms("a", idm("quay.io/x", "", "a.example.com", "b.example.com")),
				idms("b", idm("quay.io/x", "", "c.example.com")),
			},
			idms("merged", idm("quay.io/x", "", "a.example.com", "c.example.com", "b.example.com"))},
		{"a trailing source in the mirrors is kept",
			[]*configv1.ImageDigestMirrorSet{idms("a", idm("quay.io/x", "", "a.example.com", "quay.io/x"))},
			idms("merged", idm("quay.io/x", "", "a.example.com", "quay.io/x"))},
		{"an unset policy merges with AllowContactingSource into the explicit one",
			[]*configv1.ImageDigestMirrorSet{idms("a", idm("quay.io/x", "", "a.example.com")), idms("b", idm("quay.io/x", allow, "a.example.com"))},
			idms("merged", idm("quay.io/x", allow, "a.example.com"))},
		{"NeverContactSource is kept",
			[]*configv1.ImageDigestMirrorSet{idms("a", idm("quay.io/x", never, "a.example.com")), nil, idms("b", idm("quay.io/x", never, "b.example.com"))},
			idms("merged", idm("quay.io/x", never, "a.example.com", "b.example.com"))},
		{"an entry without mirrors is kept",
			[]*configv1.ImageDigestMirrorSet{idms("a", idm("quay.io/x", ""))},
			idms("merged", idm("quay.io/x", ""))},
		{"lists in opposite orders make the MCO try a lexically first source first, and the merged entry says so",
			[]*configv1.ImageDigestMirrorSet{idms("a", idm("example.com/x", "", "m1.example.net", "m2.example.net")), idms("b", idm("example.com/x", "", "m2.example.net", "m1.example.net"))},
			idms("merged", idm("example.com/x", "", "example.com/x", "m1.example.net", "m2.example.net"))},
		{"a wildcard source whose lists disagree keeps its entries apart, as one list cannot hold the wildcard",
			[]*configv1.ImageDigestMirrorSet{idms("a", idm("*.example.com", "", "m1.example.net", "m2.example.net")), idms("b", idm("*.example.com", "", "m2.example.net", "m1.example.net"))},
			idms("merged", idm("*.example.com", "", "m1.example.net", "m2.example.net"), idm("*.example.com", "", "m2.example.net", "m1.example.net"))},
		{"NeverContactSource whose lists disagree keeps its entries apart, as the source may not be a mirror",
			[]*configv1.ImageDigestMirrorSet{idms("a", idm("example.com/x", never, "m1.example.net", "m2.example.net")), idms("b", idm("example.com/x", never, "m2.example.net", "m1.example.net"))},
			idms("merged", idm("example.com/x", never, "m1.example.net", "m2.example.net"), idm("example.com/x", never, "m2.example.net", "m1.example.net"))},
		{"no sets give an empty set",
			nil,
			idms("merged")},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := MergeIDMS("merged", tc.sets...)
			if err != nil {
				t.Fatal(err)
			}
			if tc.want.Spec.ImageDigestMirrors == nil {
				tc.want.Spec.ImageDigestMirrors = []configv1.ImageDigestMirrors{}
			}
			g, _ := yaml.Marshal(got)
			w, _ := yaml.Marshal(tc.want)
			if d := Diff("want", "got", w, g); d != "" {
				t.Errorf("merged set differs:\n%s", d)
			}
		})
	}
}

func TestMergeIDMSRefusesTwoPoliciesForOneSource(t *testing.T) {
	_, err := MergeIDMS("merged",
		idms("a", idm("quay.io/y", "", "m.example.com"), idm("quay.io/x", "", "m.example.com")),
		idms("b", idm("quay.io/x", configv1.NeverContactSource, "n.example.com")))
	if err == nil {
		t.Fatal("MergeIDMS succeeded")
	}
	for _, want := range []string{`"merged"`, `"quay.io/x"`, "ImageDigestMirrorSet[a].spec.imageDigestMirrors[1]", "ImageDigestMirrorSet[b].spec.imageDigestMirrors[0]", "NeverContactSource", "AllowContactingSource"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q lacks %s", err, want)
		}
	}
}

func TestMergingDoesNotChangeRegistriesConf(t *testing.T) {
	check := func(t *testing.T, c Config) {
		t.Helper()
		c = convertAll(c)
		if len(c.IDMSs) == 0 {
			return // merging nothing gives an empty IDMS, which alone makes the MCO re-encode the template
		}
		before := mustRender(t, c)
		merged, err := MergeIDMS("merged", c.IDMSs...)
		if err != nil {
			t.Fatal(err)
		}
		if errs := ValidateIDMS(merged); len(errs) > 0 {
			t.Fatalf("merged set is invalid: %v", errs)
		}
		c.IDMSs = []*configv1.ImageDigestMirrorSet{merged}
		after := mustRender(t, c)
		if d := Diff("separate", "merged", before, after); d != "" {
			t.Fatalf("merging changes registries.conf:\n%s", d)
		}
	}
	t.Run("the reference objects", func(t *testing.T) {
		check(t, Config{
			ICSPs: []*operatorv1alpha1.ImageContentSourcePolicy{loadICSP(t, "icsp-ubi8repo.yaml"), loadICSP(t, "icsp-ubi8repo-scopes.yaml"), loadICSP(t, "icsp-mirror-ocp.yaml"), loadICSP(t, "icsp-bastion.yaml")},
			IDMSs: []*configv1.ImageDigestMirrorSet{loadIDMS(t, "idms-ubi9repo.yaml"), loadIDMS(t, "idms-wildcard.yaml")},
			Image: loadImage(t, "image-cluster.yaml"),
		})
	})
	t.Run("random scenarios", func(t *testing.T) {
		rng := rand.New(rand.NewPCG(3, 5))
		for range 300 {
			check(t, randomScenario(rng))
		}
	})
}

func TestSetSourcePolicy(t *testing.T) {
	base := loadIDMS(t, "idms-ubi9repo.yaml")
	for i := range base.Spec.ImageDigestMirrors {
		base.Spec.ImageDigestMirrors[i].MirrorSourcePolicy = ""
	}
	unset := mustRender(t, Config{IDMSs: []*configv1.ImageDigestMirrorSet{base}})
	tests := []struct {
		name        string
		policy      configv1.MirrorSourcePolicy
		wantBlocked int
	}{
		{"AllowContactingSource renders like no policy", configv1.AllowContactingSource, 0},
		{"NeverContactSource blocks every source", configv1.NeverContactSource, 5},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			o := base.DeepCopy()
			SetSourcePolicy(o, tc.policy)
			for _, e := range o.Spec.ImageDigestMirrors {
				if e.MirrorSourcePolicy != tc.policy {
					t.Fatalf("entry %s has policy %q", e.Source, e.MirrorSourcePolicy)
				}
			}
			got := mustRender(t, Config{IDMSs: []*configv1.ImageDigestMirrorSet{o}})
			if n := strings.Count(string(got), "blocked = true"); n != tc.wantBlocked {
				t.Errorf("%d blocked registries, want %d:\n%s", n, tc.wantBlocked, got)
			}
			if (tc.wantBlocked == 0) != bytes.Equal(got, unset) {
				t.Errorf("rendering equal to the unset policy = %v:\n%s", bytes.Equal(got, unset), Diff("unset", string(tc.policy), unset, got))
			}
		})
	}
	SetSourcePolicy(nil, configv1.NeverContactSource) // must not panic
}
