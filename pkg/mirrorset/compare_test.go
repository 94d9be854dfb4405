package mirrorset

import (
	"strings"
	"testing"

	configv1 "github.com/openshift/api/config/v1"
	operatorv1alpha1 "github.com/openshift/api/operator/v1alpha1"
)

func mustParse(t testing.TB, name string, data []byte) *RegistriesConf {
	t.Helper()
	c, err := ParseRegistriesConf(name, data)
	if err != nil {
		t.Fatalf("ParseRegistriesConf(%s): %v", name, err)
	}
	return c
}

func diffStrings(ds []Difference) string {
	s := make([]string, len(ds))
	for i, d := range ds {
		s[i] = d.String()
	}
	return strings.Join(s, "\n")
}

// The registries.conf files the product documentation prints (../shared/reference/), read as
// node files and checked against the objects the same pages create.
func TestReferenceExamples(t *testing.T) {
	tests := []struct {
		name string
		file string
		cfg  func(t *testing.T) Config
		want []string
	}{
		{
			name: "the 4.x pages' mirror-ocp ICSP gives the file they print (mirror-by-digest-only spelling)",
			file: "002-mirror-ocp.conf",
			cfg: func(t *testing.T) Config {
				return Config{ICSPs: []*operatorv1alpha1.ImageContentSourcePolicy{loadICSP(t, "icsp-mirror-ocp.yaml")}}
			},
		},
		{
			name: "the nested registry, namespace and repository scopes give the file the page prints",
			file: "003-ubi8repo-scopes.conf",
			cfg: func(t *testing.T) Config {
				return Config{ICSPs: []*operatorv1alpha1.ImageContentSourcePolicy{loadICSP(t, "icsp-ubi8repo-scopes.yaml")}}
			},
		},
		{
			name: "the 4.7 page prints a file its own ICSP does not give",
			file: "000-ubi8repo.conf",
			cfg: func(t *testing.T) Config {
				return Config{ICSPs: []*operatorv1alpha1.ImageContentSourcePolicy{loadICSP(t, "icsp-ubi8repo.yaml")}}
			},
			want: []string{
				"[[registry]] registry.access.redhat.com/ubi8 not expected (found location registry.access.redhat.com/ubi8, mirrors [example.io/example/ubi8-minimal (digest-only), example.com/example/ubi8-minimal (digest-only)])",
				"[[registry]] registry.access.redhat.com/ubi8/ubi-minimal missing (expected location registry.access.redhat.com/ubi8/ubi-minimal, mirrors [example.com/example/ubi-minimal (digest-only), example.io/example/ubi-minimal (digest-only)])",
				"[[registry]] registry.redhat.io/openshift4 missing (expected location registry.redhat.io/openshift4, mirrors [mirror.example.com/redhat (digest-only)])",
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			exp := mustParse(t, "expected", mustRender(t, tt.cfg(t)))
			act := mustParse(t, tt.file, []byte(readTestdata(t, "reference/"+tt.file)))
			if got, want := diffStrings(Compare(exp, act)), strings.Join(tt.want, "\n"); got != want {
				t.Errorf("differences:\n%s\nwant:\n%s", got, want)
			}
		})
	}

	t.Run("the 4.17 page's file is one containers/image rejects", func(t *testing.T) {
		_, err := ParseRegistriesConf("001-ubi9repo.conf", []byte(readTestdata(t, "reference/001-ubi9repo.conf")))
		if err == nil || !strings.Contains(err.Error(), "parsing 001-ubi9repo.conf: registry 'registry.access.redhat.com/ubi9/ubi-minimal' is defined multiple times with conflicting 'blocked' setting") {
			t.Errorf("error %v", err)
		}
		if err != nil && strings.Contains(err.Error(), "/tmp") {
			t.Errorf("error names the private temporary file: %v", err)
		}
	})
	t.Run("the 4.17 page's IDMS and ITMS give one source two policies, which the MCO refuses", func(t *testing.T) {
		cfg := Config{
			IDMSs: []*configv1.ImageDigestMirrorSet{loadIDMS(t, "idms-ubi9repo.yaml")},
			ITMSs: []*configv1.ImageTagMirrorSet{loadITMS(t, "itms-ubi9repo-tag.yaml")},
		}
		if _, err := cfg.Render(); err == nil || !strings.Contains(err.Error(), "two policies") {
			t.Errorf("Render: %v", err)
		}
	})
}

func TestCompare(t *testing.T) {
	base := `unqualified-search-registries = ["registry.access.redhat.com", "docker.io"]
`
	entry := func(body string) string { return base + "\n[[registry]]\n" + body }
	tests := []struct {
		name     string
		exp, act string
		want     []string
	}{
		{"the same file is equal", entry(`location = "quay.io/a"
[[registry.mirror]]
location = "m.example.com/a"
`), entry(`location = "quay.io/a"
[[registry.mirror]]
location = "m.example.com/a"
`), nil},
		{"formatting, comments and entry order do not count", base + `
[[registry]]
location = "quay.io/b"
[[registry]]
location = "quay.io/a"
`, base + `# a comment
[[registry]]
  prefix = "quay.io/a"
  location = "quay.io/a"
[[registry]]
  location = "quay.io/b"
  blocked = false
`, nil},
		{"pull-from-mirror all is the default", entry(`location = "quay.io/a"
[[registry.mirror]]
location = "m/a"
`), entry(`location = "quay.io/a"
[[registry.mirror]]
location = "m/a"
pull-from-mirror = "all"
`), nil},
		{"mirror order counts", entry(`location = "quay.io/a"
[[registry.mirror]]
location = "m1/a"
[[registry.mirror]]
location = "m2/a"
`), entry(`location = "quay.io/a"
[[registry.mirror]]
location = "m2/a"
[[registry.mirror]]
location = "m1/a"
`), []string{"[[registry]] quay.io/a: mirrors: expected [m1/a, m2/a], found [m2/a, m1/a]"}},
		{"a missing mirror of a new mirror set", entry(`location = "quay.io/a"
[[registry.mirror]]
location = "m1/a"
pull-from-mirror = "digest-only"
`), base, []string{"[[registry]] quay.io/a missing (expected location quay.io/a, mirrors [m1/a (digest-only)])"}},
		{"an extra entry", base, entry(`location = "quay.io/a"
blocked = true
`), []string{"[[registry]] quay.io/a not expected (found location quay.io/a, blocked)"}},
		{"blocked, insecure, location and a tag-only mirror", entry(`prefix = "quay.io/a"
location = "quay.io/a"
blocked = true
[[registry.mirror]]
location = "m/a"
pull-from-mirror = "tag-only"
`), entry(`prefix = "quay.io/a"
location = "quay.io/elsewhere"
insecure = true
[[registry.mirror]]
location = "m/a"
insecure = true
`), []string{
			"[[registry]] quay.io/a: location: expected quay.io/a, found quay.io/elsewhere",
			"[[registry]] quay.io/a: blocked: expected true, found false",
			"[[registry]] quay.io/a: insecure: expected false, found true",
			"[[registry]] quay.io/a: mirrors: expected [m/a (tag-only)], found [m/a (insecure)]",
		}},
		{"mirror-by-digest-only without mirrors still counts", entry(`location = "quay.io/a"
mirror-by-digest-only = true
`), entry(`location = "quay.io/a"
`), []string{"[[registry]] quay.io/a: mirror-by-digest-only: expected true, found false"}},
		{"unqualified search registries", base, `unqualified-search-registries = ["docker.io"]
`, []string{"unqualified-search-registries: expected [registry.access.redhat.com, docker.io], found [docker.io]"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := diffStrings(Compare(mustParse(t, "expected", []byte(tt.exp)), mustParse(t, "actual", []byte(tt.act))))
			if want := strings.Join(tt.want, "\n"); got != want {
				t.Errorf("differences:\n%s\nwant:\n%s", got, want)
			}
		})
	}
}

func TestParseRegistriesConfRejectsWhatContainersImageRejects(t *testing.T) {
	for name, data := range map[string]string{
		"not TOML":                          "[[registry]\n",
		"pull-from-mirror on the source":    "[[registry]]\nlocation = \"a.io\"\npull-from-mirror = \"tag-only\"\n",
		"an unknown pull-from-mirror value": "[[registry]]\nlocation = \"a.io\"\n[[registry.mirror]]\nlocation = \"m.io\"\npull-from-mirror = \"sometimes\"\n",
	} {
		t.Run(name, func(t *testing.T) {
			_, err := ParseRegistriesConf("node-a.conf", []byte(data))
			if err == nil || !strings.HasPrefix(err.Error(), "parsing node-a.conf: ") {
				t.Errorf("error %v", err)
			}
		})
	}
}
