package plan

import (
	"strings"
	"testing"
)

func TestReadMappingsReadsOcImageMirrorFormat(t *testing.T) {
	in := `# release tools
quay.io/a/b:1 mirror.example.com/a/b:1
quay.io/a/c@sha256:` + strings.Repeat("a", 64) + `=mirror.example.com/a/c   # by digest

docker://quay.io/a/d:2=docker://mirror.example.com/a/d
docker://quay.io/a/e@sha256:` + strings.Repeat("e", 64) + `=docker://mirror.example.com/a/e@sha256:` + strings.Repeat("e", 64) + `
`
	got, err := ReadMappings(strings.NewReader(in), "mapping.txt")
	if err != nil {
		t.Fatal(err)
	}
	want := []Mapping{
		{Source: "quay.io/a/b:1", Dest: "mirror.example.com/a/b:1", File: "mapping.txt", Line: 2},
		{Source: "quay.io/a/c@sha256:" + strings.Repeat("a", 64), Dest: "mirror.example.com/a/c", File: "mapping.txt", Line: 3},
		{Source: "quay.io/a/d:2", Dest: "mirror.example.com/a/d", File: "mapping.txt", Line: 5},
		// As a run's mapping.txt writes what it pushed by digest.
		{Source: "quay.io/a/e@sha256:" + strings.Repeat("e", 64), Dest: "mirror.example.com/a/e@sha256:" + strings.Repeat("e", 64), File: "mapping.txt", Line: 6},
	}
	if len(got) != len(want) {
		t.Fatalf("got %+v, want %+v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("mapping %d: %+v, want %+v", i, got[i], want[i])
		}
	}
}

func TestReadMappingsNamesTheBadLine(t *testing.T) {
	for _, tc := range []struct{ name, in, want string }{
		{"three fields", "a b c\n", "mapping.txt: line 1"},
		{"bad reference", "ok/x:1 ok/y:1\nUPPER/x y\n", "mapping.txt: line 2"},
		{"digest destination", "a/b:1 c/d@sha256:" + strings.Repeat("b", 64) + "\n", "cannot name a digest other than the source's"},
		{"another digest", "a/b@sha256:" + strings.Repeat("a", 64) + " c/d@sha256:" + strings.Repeat("b", 64) + "\n", "cannot name a digest other than the source's"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := ReadMappings(strings.NewReader(tc.in), "mapping.txt"); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %v, want one naming %q", err, tc.want)
			}
		})
	}
}

func TestNestPathsFlattensDeepRepositories(t *testing.T) {
	for _, tc := range []struct {
		in   string
		n    int
		want string
	}{
		{"mirror.example.com/org/openshift-release-dev/ocp-release:4.16.3-x86_64", 2, "mirror.example.com/org/openshift-release-dev-ocp-release:4.16.3-x86_64"},
		{"mirror.example.com/a/b/c/d", 3, "mirror.example.com/a/b/c-d"},
		{"mirror.example.com/a/b", 2, "mirror.example.com/a/b"},
		{"mirror.example.com/a/b/c", 1, "mirror.example.com/a-b-c"},
		{"mirror.example.com/a/b/c", 0, "mirror.example.com/a/b/c"},
	} {
		got, err := NestPaths(tc.in, tc.n)
		if err != nil || got != tc.want {
			t.Errorf("NestPaths(%q, %d) = %q, %v; want %q", tc.in, tc.n, got, err, tc.want)
		}
	}
}
