package mirrorset

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/BurntSushi/toml"
	"github.com/containers/image/v5/pkg/sysregistriesv2"
	configv1 "github.com/openshift/api/config/v1"
	operatorv1alpha1 "github.com/openshift/api/operator/v1alpha1"
	"github.com/openshift/runtime-utils/pkg/registries"
)

// randomConfig draws mirror objects over a small universe of scopes, so that nesting (path
// prefixes, wildcards, ports), repeated sources, mirror orders that disagree, insecure and
// blocked scopes, sources that are their own mirror and NeverContactSource all meet often.
func randomConfig(rng *rand.Rand) (insecure, blocked []string, icsps []*operatorv1alpha1.ImageContentSourcePolicy,
	idmss []*configv1.ImageDigestMirrorSet, itmss []*configv1.ImageTagMirrorSet) {
	hosts := []string{"quay.io", "registry.redhat.io", "a.example.com", "b.a.example.com", "example.com", "mirror.local:5000", "mirror.local"}
	paths := []string{"", "/ns", "/ns/repo", "/ns/other", "/x", "/x/y/z"}
	scope := func() string {
		if rng.IntN(8) == 0 {
			return []string{"*.example.com", "*.a.example.com", "*.local"}[rng.IntN(3)]
		}
		return hosts[rng.IntN(len(hosts))] + paths[rng.IntN(len(paths))]
	}
	repo := func() string { // sources and mirrors are repositories or namespaces, never wildcards
		return hosts[rng.IntN(len(hosts))] + paths[1+rng.IntN(len(paths)-1)]
	}
	mirrors := func(source string) []string {
		var out []string
		for range 1 + rng.IntN(3) {
			m := repo()
			if rng.IntN(10) == 0 {
				m = source
			}
			out = append(out, m)
		}
		return out
	}
	for i := range rng.IntN(4) {
		o := idms(fmt.Sprintf("d%d", i))
		for range 1 + rng.IntN(6) {
			src := repo()
			if rng.IntN(12) == 0 {
				src = scope() // sometimes a wildcard: EditRegistriesConfig fails on one with a nested entry
			}
			policy := configv1.AllowContactingSource
			if rng.IntN(4) == 0 {
				policy = configv1.NeverContactSource
			}
			ms := mirrors(src)
			o.Spec.ImageDigestMirrors = append(o.Spec.ImageDigestMirrors, idm(src, policy, ms...))
			if len(ms) > 1 && rng.IntN(8) == 0 { // the same mirrors in the other order: a cycle, which the MCO refuses
				rev := []string{ms[1], ms[0]}
				o.Spec.ImageDigestMirrors = append(o.Spec.ImageDigestMirrors, idm(src, policy, rev...))
			}
		}
		idmss = append(idmss, o)
	}
	for i := range rng.IntN(3) {
		o := icsp(fmt.Sprintf("i%d", i))
		for range 1 + rng.IntN(4) {
			src := repo()
			o.Spec.RepositoryDigestMirrors = append(o.Spec.RepositoryDigestMirrors, rdm(src, mirrors(src)...))
		}
		icsps = append(icsps, o)
	}
	for i := range rng.IntN(3) {
		o := itms(fmt.Sprintf("t%d", i))
		for range 1 + rng.IntN(4) {
			src := repo()
			o.Spec.ImageTagMirrors = append(o.Spec.ImageTagMirrors, itm(src, configv1.AllowContactingSource, mirrors(src)...))
		}
		itmss = append(itmss, o)
	}
	for range rng.IntN(3) {
		insecure = append(insecure, scope())
	}
	for range rng.IntN(3) {
		blocked = append(blocked, scope())
	}
	return insecure, blocked, icsps, idmss, itmss
}

// The grouped call must give, byte for byte, what the MCO's single call gives, and fail where
// it fails.
func TestGroupedEditRegistriesConfigEqualsTheMCOsSingleCall(t *testing.T) {
	rng := rand.New(rand.NewPCG(8, 10000))
	grouped, failed := 0, 0
	for i := range 1500 {
		insecure, blocked, icsps, idmss, itmss := randomConfig(rng)
		var want sysregistriesv2.V2RegistriesConf
		if _, err := toml.Decode(baseRegistriesConf, &want); err != nil {
			t.Fatal(err)
		}
		wantErr := registries.EditRegistriesConfig(&want, insecure, blocked, icsps, idmss, itmss)
		got, err := editRegistriesConfig(insecure, blocked, icsps, idmss, itmss)
		if (err != nil) != (wantErr != nil) || err != nil && err.Error() != wantErr.Error() {
			t.Fatalf("case %d: error %v, the MCO's %v", i, err, wantErr)
		}
		if err != nil {
			failed++
			continue
		}
		var a, b bytes.Buffer
		if err := toml.NewEncoder(&a).Encode(want); err != nil {
			t.Fatal(err)
		}
		if err := toml.NewEncoder(&b).Encode(got); err != nil {
			t.Fatal(err)
		}
		if d := Diff("single call", "grouped", a.Bytes(), b.Bytes()); d != "" {
			t.Fatalf("case %d (insecure %q, blocked %q): the grouped call differs:\n%s", i, insecure, blocked, d)
		}
		u := newScopeUnion()
		for _, o := range idmss {
			for _, e := range o.Spec.ImageDigestMirrors {
				u.add(e.Source)
			}
		}
		u.link()
		if u.groups() > 1 {
			grouped++
		}
	}
	// The test means something only if many cases really split, and some fail.
	if grouped < 500 || failed == 0 {
		t.Errorf("%d of the cases split into groups and %d failed: the generator no longer exercises both", grouped, failed)
	}
}

func TestEnclosingScopes(t *testing.T) {
	for _, tc := range []struct {
		scope string
		want  []string
	}{
		{"quay.io", []string{"*.io"}},
		{"quay.io/ns/repo", []string{"quay.io", "quay.io/ns", "*.io"}},
		{"mirror.local:5000/ns", []string{"mirror.local:5000", "*.local"}},
		{"*.a.example.com", []string{"*.example.com", "*.com"}},
		{"host/with.dot:tag", []string{"host"}},
	} {
		got := enclosingScopes(tc.scope)
		if fmt.Sprint(got) != fmt.Sprint(tc.want) {
			t.Errorf("enclosingScopes(%q) = %q, want %q", tc.scope, got, tc.want)
		}
		for _, s := range got {
			if !registries.ScopeIsNestedInsideScope(tc.scope, s) {
				t.Errorf("%q is not nested in %q by runtime-utils", tc.scope, s)
			}
		}
	}
}
