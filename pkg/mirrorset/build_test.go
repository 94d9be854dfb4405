package mirrorset

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/airgap-ocp/oc-plugins/pkg/cli"
	"github.com/airgap-ocp/oc-plugins/pkg/plan"
)

func TestBuildIDMSSortsSourcesAndTheirMirrors(t *testing.T) {
	idms, err := BuildIDMS("release-4.16.3-x86-64", []Pair{
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

func TestBuildRefusesAnInvalidName(t *testing.T) {
	pairs := []Pair{{Source: "quay.io/a/b", Mirror: "m.example.com/a/b"}}
	if _, err := BuildIDMS("Not_A_Name", pairs); err == nil {
		t.Error("an IDMS with an invalid name was built")
	}
	if _, err := BuildICSP("Not_A_Name", pairs); err == nil {
		t.Error("an ICSP with an invalid name was built")
	}
}

func TestObjectNamesAreValidAndStable(t *testing.T) {
	if got := ObjectName("release-4.16.3-x86_64"); got != "release-4.16.3-x86-64" {
		t.Errorf("ObjectName = %q", got)
	}
	a := ImagesName([]Pair{{"quay.io/a", "m/a"}, {"quay.io/b", "m/b"}})
	b := ImagesName([]Pair{{"quay.io/b", "m/b"}, {"quay.io/a", "m/a"}})
	c := ImagesName([]Pair{{"quay.io/a", "m/a"}})
	if a != b || a == c {
		t.Errorf("ImagesName: %q and %q for the same set, %q for another", a, b, c)
	}
}

func releasePlan() *plan.Plan {
	d := "@sha256:" + strings.Repeat("a", 64)
	return &plan.Plan{Name: "release-4.16.3-x86_64", Items: []plan.Item{
		{Source: "quay.io/openshift-release-dev/ocp-release" + d, Path: "ocp/release", Tag: "4.16.3-x86_64", Kind: plan.ReleaseImage},
		{Source: "quay.io/openshift-release-dev/ocp-v4.0-art-dev" + d, Path: "ocp/release", Tag: "4.16.3-x86_64-cli", Kind: plan.ReleaseComponent},
	}}
}

func TestFromPlanICSPIsAloneForOlderClusters(t *testing.T) {
	objs, err := FromPlan(releasePlan(), "registry.example.com:5000", BuildOptions{ICSP: true})
	if err != nil {
		t.Fatal(err)
	}
	// A cluster older than 4.13 serves no IDMS: `oc apply` would stop at it.
	if objs.IDMS != nil || objs.ITMS != nil || objs.ICSP == nil {
		t.Errorf("with ICSP: IDMS %v, ITMS %v, ICSP %v; want the ICSP alone", objs.IDMS != nil, objs.ITMS != nil, objs.ICSP != nil)
	}
}

func TestFromPlanFlattensAsTheCopyDid(t *testing.T) {
	p := &plan.Plan{Items: []plan.Item{{Source: "quay.io/a/b/c:1", Path: "x/y/z", Tag: "1", ByTag: true}}}
	objs, err := FromPlan(p, "m.example.com", BuildOptions{MaxNestedPaths: 2})
	if err != nil {
		t.Fatal(err)
	}
	if got := objs.ITMS.Spec.ImageTagMirrors[0].Mirrors[0]; got != "m.example.com/x/y-z" {
		t.Errorf("mirror %s, want the flattened m.example.com/x/y-z", got)
	}
}

// TestFromPlanGolden renders the objects of a release plan with ICSP and
// of an images plan (one by tag, one by digest), as printed on stdout.
func TestFromPlanGolden(t *testing.T) {
	images := &plan.Plan{Items: []plan.Item{
		{Source: "registry.redhat.io/ubi9/ubi:latest", Path: "registry.example.com:5000/ubi9/ubi", Tag: "latest", ByTag: true},
		{Source: "quay.io/prometheus/node-exporter@sha256:" + strings.Repeat("b", 64), Path: "registry.example.com:5000/prometheus/node-exporter"},
	}}
	for _, tc := range []struct {
		file string
		plan *plan.Plan
		root string
		opts BuildOptions
	}{
		{"plan-release-icsp.yaml", releasePlan(), "registry.example.com:5000", BuildOptions{ICSP: true}},
		{"plan-images.yaml", images, "", BuildOptions{}},
	} {
		t.Run(tc.file, func(t *testing.T) {
			res, err := FromPlan(tc.plan, tc.root, tc.opts)
			if err != nil {
				t.Fatal(err)
			}
			objs, err := res.Unstructured()
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
			path := filepath.Join("testdata", "golden", tc.file)
			if *update {
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
