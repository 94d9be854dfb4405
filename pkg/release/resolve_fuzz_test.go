package release

import (
	"testing"

	"github.com/containers/image/v5/docker/reference"
)

// FuzzTarget feeds release argument parsing (a version or a pull spec)
// arbitrary strings: it never panics, and what it accepts is a pull spec
// that parses again, whose Digest agrees with the reference's own.
func FuzzTarget(f *testing.F) {
	for _, seed := range []string{
		"4.16.3", "4.16.0-rc.1", "quay.io/openshift-release-dev/ocp-release:4.16.3-x86_64",
		"quay.io/openshift-release-dev/ocp-release@sha256:e3f12513a4b22a2d7c0e7c9207f52128113758d9d68c7d06b11a0ac7672966f7",
		"registry.example.com:5000/ocp/release:4.16.3-multi", "ubi9", "Not A Ref!!", "a@sha256:xyz", "", "4.16", "::",
	} {
		f.Add(seed, "x86_64")
	}
	f.Add("4.16.3", "aarch64")
	f.Add("4.16.3", "sparc")
	f.Fuzz(func(t *testing.T, arg, arch string) {
		ps, err := Target(arg, "", arch)
		if err != nil {
			return
		}
		named, err := reference.ParseNormalizedNamed(ps)
		if err != nil {
			t.Fatalf("Target(%q) = %q, which does not parse: %v", arg, ps, err)
		}
		d, err := Digest(ps)
		if err != nil {
			t.Fatalf("Digest(%q): %v", ps, err)
		}
		if c, ok := named.(reference.Canonical); ok != (d != "") || (ok && c.Digest() != d) {
			t.Fatalf("Digest(%q) = %q, the reference says otherwise", ps, d)
		}
	})
}
