package mirrorlite

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"testing"

	"github.com/airgap-ocp/oc-plugins/pkg/cli"
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

var update = flag.Bool("update", false, "rewrite the golden files under testdata/")

// TestObjectsGolden renders the objects of a release mirror with --icsp
// and of an images mirror, as printed on stdout.
func TestObjectsGolden(t *testing.T) {
	release := []RepoMirror{
		{Source: "quay.io/openshift-release-dev/ocp-v4.0-art-dev", Mirror: "registry.example.com:5000/ocp/release"},
		{Source: "quay.io/openshift-release-dev/ocp-release", Mirror: "registry.example.com:5000/ocp/release"},
	}
	images := []RepoMirror{
		{Source: "registry.redhat.io/ubi9/ubi", Mirror: "registry.example.com:5000/ubi9/ubi"},
		{Source: "quay.io/prometheus/node-exporter", Mirror: "registry.example.com:5000/prometheus/node-exporter"},
	}
	for _, tc := range []struct {
		file string
		res  func() (*Resources, error)
	}{
		{"release-objects.golden.yaml", func() (*Resources, error) {
			idms, err := BuildIDMS("release-4.16.3-x86-64", release)
			return &Resources{IDMS: idms, ICSP: BuildICSP("release-4.16.3-x86-64", release)}, err
		}},
		{"images-objects.golden.yaml", func() (*Resources, error) {
			name := imagesName(images)
			idms, err := BuildIDMS(name, images)
			if err != nil {
				return nil, err
			}
			itms, err := BuildITMS(name, images[:1])
			return &Resources{IDMS: idms, ITMS: itms}, err
		}},
	} {
		t.Run(tc.file, func(t *testing.T) {
			res, err := tc.res()
			if err != nil {
				t.Fatal(err)
			}
			objs, err := res.Objects()
			if err != nil {
				t.Fatal(err)
			}
			p, err := cli.NewPrinter(cli.NewPrintFlags())
			if err != nil {
				t.Fatal(err)
			}
			var buf bytes.Buffer
			if err := p.Print(&buf, objs); err != nil {
				t.Fatal(err)
			}
			path := filepath.Join("testdata", tc.file)
			if *update {
				if err := os.MkdirAll("testdata", 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("%v (run with -update to create it)", err)
			}
			if buf.String() != string(want) {
				t.Errorf("objects differ from %s (run with -update and review the diff):\n%s", path, buf.String())
			}
		})
	}
}
