package mirrorlite

import (
	"testing"
)

func TestBuildIDMSSortsSourcesAndTheirMirrors(t *testing.T) {
	idms, err := BuildIDMS("release-4.16.3-x86-64", []RepoMirror{
		{Source: "quay.io/openshift-release-dev/ocp-v4.0-art-dev", Mirror: "mirror.example.com/ocp/release"},
		{Source: "quay.io/openshift-release-dev/ocp-release", Mirror: "mirror.example.com/ocp/release"},
		{Source: "quay.io/openshift-release-dev/ocp-v4.0-art-dev", Mirror: "backup.example.com/ocp/release"},
		{Source: "quay.io/openshift-release-dev/ocp-v4.0-art-dev", Mirror: "mirror.example.com/ocp/release"},
	})
	if err != nil {
		t.Fatal(err)
	}
	got := idms.Spec.ImageDigestMirrors
	if len(got) != 2 || got[0].Source != "quay.io/openshift-release-dev/ocp-release" || got[1].Source != "quay.io/openshift-release-dev/ocp-v4.0-art-dev" {
		t.Fatalf("entries %+v, want one per source, sorted", got)
	}
	if m := got[1].Mirrors; len(m) != 2 || m[0] != "backup.example.com/ocp/release" || m[1] != "mirror.example.com/ocp/release" {
		t.Errorf("mirrors of art-dev %v, want both, sorted, once each", m)
	}
}

func TestBuildIDMSRefusesAnInvalidName(t *testing.T) {
	if _, err := BuildIDMS("Not_A_Name", []RepoMirror{{Source: "quay.io/a/b", Mirror: "m.example.com/a/b"}}); err == nil {
		t.Error("an IDMS with an invalid name was built")
	}
}

func TestObjectNamesAreValidAndStable(t *testing.T) {
	if got := objectName("release-4.16.3-x86_64"); got != "release-4.16.3-x86-64" {
		t.Errorf("objectName = %q", got)
	}
	a := imagesName([]RepoMirror{{"quay.io/a", "m/a"}, {"quay.io/b", "m/b"}})
	b := imagesName([]RepoMirror{{"quay.io/b", "m/b"}, {"quay.io/a", "m/a"}})
	c := imagesName([]RepoMirror{{"quay.io/a", "m/a"}})
	if a != b || a == c {
		t.Errorf("imagesName: %q and %q for the same set, %q for another", a, b, c)
	}
}
