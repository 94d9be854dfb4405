package mirrorlite

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/yaml"

	"github.com/airgap-ocp/oc-plugins/internal/testenv"
	"github.com/airgap-ocp/oc-plugins/pkg/retire"
)

// mirrorTwoReleases pushes 4.99.1 and a 4.99.2 that shares all its
// components but two, and mirrors both into to with `release`.
func mirrorTwoReleases(t *testing.T, e *env, to string) (old, cur *testenv.Release) {
	t.Helper()
	old = e.src.PushRelease(t, testenv.ReleaseSpec{Version: "4.99.1", Components: 6})
	cur = e.src.PushRelease(t, testenv.ReleaseSpec{Version: "4.99.2", Components: 6, ComponentsFrom: "4.99.1", Changed: []string{"cli", "cli-artifacts"}})
	for _, rel := range []*testenv.Release{old, cur} {
		if _, stderr, code := e.run(t, "", "release", rel.Tag, "--to", "docker://"+to, "--store", "file://"+filepath.Join(e.dir, "no-signatures")); code != 0 {
			t.Fatalf("mirroring %s: exit %d: %s", rel.Version, code, stderr)
		}
	}
	return old, cur
}

func readPlan(t *testing.T, stdout string) *retire.Plan {
	t.Helper()
	var p retire.Plan
	if err := yaml.UnmarshalStrict([]byte(stdout), &p); err != nil {
		t.Fatalf("stdout is not a plan: %v\n%s", err, stdout)
	}
	return &p
}

func (e *env) has(t *testing.T, ref string) bool {
	t.Helper()
	ok, err := retire.Options{Sys: e.dst.SystemContext()}.Has(context.Background(), ref)
	if err != nil {
		t.Fatal(err)
	}
	return ok
}

func TestDeleteReleasePlansThenRetiresWhatOnlyItUses(t *testing.T) {
	e := newEnv(t)
	to := e.dst.Ref("ocp/release")
	old, cur := mirrorTwoReleases(t, e, to)

	// By default: the plan on stdout, nothing deleted.
	stdout, stderr, code := e.run(t, "", "delete", "release", "4.99.1", "--to", "docker://"+to)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	p := readPlan(t, stdout)
	if len(p.Delete) != 3 || len(p.Keep) != 4 || p.ReclaimableBytes <= 0 {
		t.Errorf("plan: %d to delete, %d kept, %d bytes; want the release and its 2 own components, the 4 shared ones kept", len(p.Delete), len(p.Keep), p.ReclaimableBytes)
	}
	for _, want := range []string{"warning: no cluster was checked", "plan: 3 manifests to delete (3 tags), 4 kept, 0 missing", "nothing was deleted: run again with --confirm"} {
		if !strings.Contains(stderr, want) {
			t.Errorf("stderr lacks %q:\n%s", want, stderr)
		}
	}
	if !e.has(t, to+":4.99.1-x86_64") {
		t.Fatal("the release went without --confirm")
	}

	stdout, stderr, code = e.run(t, "", "delete", "release", "4.99.1", "--to", "docker://"+to, "--confirm", "-o", "json")
	if code != 0 {
		t.Fatalf("--confirm: exit %d: %s", code, stderr)
	}
	if !strings.Contains(stderr, "deleted: "+to+"@"+old.Digest.String()+" (4.99.1-x86_64)") || !strings.HasPrefix(stdout, "{") {
		t.Errorf("--confirm does not list what it deleted, or prints no JSON plan:\n%s\n%s", stderr, stdout)
	}
	if e.has(t, to+"@"+old.Digest.String()) || e.has(t, to+":4.99.1-x86_64-cli") {
		t.Error("4.99.1's release image or own component is still there")
	}
	if !e.has(t, to+"@"+cur.Digest.String()) || !e.has(t, to+":4.99.2-x86_64-baremetal-installer") {
		t.Error("4.99.2 lost its release image or a shared component")
	}

	// Again: nothing left to do, and it says so.
	_, stderr, code = e.run(t, "", "delete", "release", "4.99.1", "--to", "docker://"+to, "--confirm")
	if code != 0 || !strings.Contains(stderr, "missing: "+to+":4.99.1-x86_64 is not in the registry") {
		t.Errorf("a repeated delete: exit %d: %s", code, stderr)
	}
}

// TestDeleteReadsReleasesFromTheCache: delete reads a release it
// retires from what the mirror run kept in --cache-dir (its files, by
// the release manifest's digest): the registry is asked for less than
// with --cache-dir "", and the plan is the same.
func TestDeleteReadsReleasesFromTheCache(t *testing.T) {
	e := newEnv(t)
	to := e.dst.Ref("ocp/release")
	mirrorTwoReleases(t, e, to) // keeps the releases' files in the test's cache folder
	plans := map[bool]string{}
	requests := map[bool]int{}
	for _, cached := range []bool{false, true} {
		args := []string{"delete", "release", "4.99.1", "--to", "docker://" + to}
		if !cached {
			args = append(args, "--cache-dir", "")
		}
		e.dst.Traffic().Reset()
		stdout, stderr, code := e.run(t, "", args...)
		if code != 0 {
			t.Fatalf("%v: exit %d: %s", args, code, stderr)
		}
		plans[cached] = stdout
		requests[cached], _ = e.dst.Traffic().Requests()
	}
	t.Logf("requests: %d uncached, %d cached", requests[false], requests[true])
	if requests[true] >= requests[false] {
		t.Errorf("delete asked the registry %d times with the cache, %d without: the release was read again", requests[true], requests[false])
	}
	if plans[true] != plans[false] {
		t.Errorf("the plan read from the cache differs:\n%s\nagainst\n%s", plans[true], plans[false])
	}
}

func TestDeleteIsRefusedForWhatAClusterUses(t *testing.T) {
	e := newEnv(t)
	to := e.dst.Ref("ocp/release")
	old, cur := mirrorTwoReleases(t, e, to)
	c := testenv.SharedCluster(t)
	// Updated to 4.99.2 from the mirror, from 4.99.1 pulled by its source
	// name through the IDMS the mirror printed.
	idms := `apiVersion: config.openshift.io/v1
kind: ImageDigestMirrorSet
metadata: {name: ` + testenv.UniqueName("release") + `}
spec:
  imageDigestMirrors:
  - {source: ` + old.Repo + `, mirrors: [` + to + `]}
  - {source: ` + old.ComponentRepo + `, mirrors: [` + to + `]}
`
	u := &unstructured.Unstructured{}
	if err := yaml.Unmarshal([]byte(idms), &u.Object); err != nil {
		t.Fatal(err)
	}
	if err := applyObject(t, c, u); err != nil {
		t.Fatal(err)
	}
	c.SetClusterVersion(t, testenv.ReleaseRef{Version: "4.99.2", Image: to + "@" + cur.Digest.String()}, testenv.ReleaseRef{Version: "4.99.1", Image: old.PullSpec})

	for _, version := range []string{"4.99.1", "4.99.2"} {
		stdout, stderr, code := e.run(t, "", "delete", "release", version, "--to", "docker://"+to, "--kubeconfig", c.Kubeconfig, "--confirm")
		want := "refused: cluster " + c.Kubeconfig + " uses " + to + "@"
		if code != 1 || stdout != "" || !strings.Contains(stderr, want) || !strings.Contains(stderr, "nothing was deleted") {
			t.Errorf("delete %s: exit %d, stdout %q, stderr:\n%s\nwant exit 1 naming %q", version, code, stdout, stderr, want)
		}
		if !e.has(t, to+":"+version+"-x86_64") {
			t.Errorf("the refused delete of %s deleted its release", version)
		}
	}
}

func TestDeleteFromARegistryThatRefusesDeletes(t *testing.T) {
	e := newEnv(t, testenv.WithDeletesDisabled())
	to := e.dst.Ref("ocp/release")
	old, _ := mirrorTwoReleases(t, e, to)
	stdout, stderr, code := e.run(t, "", "delete", "release", "4.99.1", "--to", "docker://"+to, "--confirm")
	want := "error: the registry " + e.dst.Host + " refuses deletes (HTTP 405 Method Not Allowed)"
	if code != 3 || stdout != "" || !strings.Contains(stderr, want) || !strings.Contains(stderr, "REGISTRY_STORAGE_DELETE_ENABLED=true") {
		t.Errorf("exit %d, stdout %q, stderr:\n%s\nwant exit 3 and %q", code, stdout, stderr, want)
	}
	if !e.has(t, to+"@"+old.Digest.String()) {
		t.Error("the release went")
	}
}

func TestDeleteImagesRetiresWhatARunsMappingNames(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	img := func(data string) testenv.Image {
		return testenv.Image{Layers: []testenv.Layer{{Files: []testenv.File{{Name: "f", Data: []byte(data)}}}}}
	}
	if _, err := e.src.PushImage(ctx, "tools/a:1", img("a1")); err != nil {
		t.Fatal(err)
	}
	bd, err := e.src.PushImage(ctx, "tools/b:1", img("b1"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.src.PushImage(ctx, "tools/c:1", img("c1")); err != nil {
		t.Fatal(err)
	}
	resources := filepath.Join(e.dir, "resources")
	// One run mirrors a by tag and b by digest; another mirrors c, which stays.
	if _, stderr, code := e.run(t, "", "images", e.src.Ref("tools/a:1")+"="+e.dst.Ref("mirror/a:1"),
		e.src.Ref("tools/b@"+bd.String())+"="+e.dst.Ref("mirror/b"), "--resources-dir", resources); code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	if _, stderr, code := e.run(t, "", "images", e.src.Ref("tools/c:1")+"="+e.dst.Ref("mirror/c:1")); code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	mapping := filepath.Join(resources, "mapping.txt")
	stdout, stderr, code := e.run(t, "", "delete", "images", "-f", mapping, "-o", "mapping")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	if n := strings.Count(stdout, "\n"); n != 2 || !strings.Contains(stdout, "=docker://"+e.dst.Ref("mirror/a:1")+"\n") ||
		!strings.Contains(stdout, "=docker://"+e.dst.Ref("mirror/b@"+bd.String())+"\n") {
		t.Errorf("the mapping form:\n%s", stdout)
	}
	// The plan's own mapping form is a mapping delete images reads.
	planned := filepath.Join(e.dir, "planned.txt")
	if err := os.WriteFile(planned, []byte(stdout), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, stderr, code := e.run(t, "", "delete", "images", "-f", planned, "--confirm"); code != 0 {
		t.Fatalf("--confirm: exit %d: %s", code, stderr)
	}
	if e.has(t, e.dst.Ref("mirror/a:1")) || e.has(t, e.dst.Ref("mirror/b@"+bd.String())) || !e.has(t, e.dst.Ref("mirror/c:1")) {
		t.Error("want a and b gone and c kept")
	}
}

func TestDeleteImageSetConfiguration(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	if _, err := e.src.PushImage(ctx, "tools/a:1", testenv.Image{Layers: []testenv.Layer{{Files: []testenv.File{{Name: "f", Data: []byte("a")}}}}}); err != nil {
		t.Fatal(err)
	}
	isc := filepath.Join(e.dir, "isc.yaml")
	del := filepath.Join(e.dir, "delete.yaml")
	withOps := filepath.Join(e.dir, "delete-operators.yaml")
	files := map[string]string{
		isc: "apiVersion: mirror.openshift.io/v2alpha1\nkind: ImageSetConfiguration\nmirror:\n  additionalImages:\n  - name: " + e.src.Ref("tools/a:1") + "\n",
		del: "apiVersion: mirror.openshift.io/v2alpha1\nkind: DeleteImageSetConfiguration\ndelete:\n  additionalImages:\n  - name: " + e.src.Ref("tools/a:1") + "\n",
		withOps: "apiVersion: mirror.openshift.io/v2alpha1\nkind: DeleteImageSetConfiguration\ndelete:\n  operators:\n  - catalog: 127.0.0.1:1/redhat/redhat-operator-index:v4.99\n" +
			"  additionalImages:\n  - name: " + e.src.Ref("tools/a:1") + "\n",
	}
	for f, data := range files {
		if err := os.WriteFile(f, []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	to := "docker://" + e.dst.Ref("mirror")
	if _, stderr, code := e.run(t, "", "-c", isc, "--to", to); code != 0 {
		t.Fatalf("mirroring: exit %d: %s", code, stderr)
	}
	// A catalog that cannot be read stops the whole document: nothing is deleted.
	stdout, stderr, code := e.run(t, "", "delete", "-c", withOps, "--to", to, "--confirm", "--retry-times", "0")
	if code != 3 || stdout != "" || !strings.Contains(stderr, "error: "+withOps+": delete.operators[0]: reading catalog 127.0.0.1:1/redhat/redhat-operator-index:v4.99") {
		t.Errorf("delete.operators: exit %d, stdout %q, stderr %s", code, stdout, stderr)
	}
	if !e.has(t, e.dst.Ref("mirror/tools/a:1")) {
		t.Fatal("the additional image went though the catalog could not be read")
	}
	if _, stderr, code := e.run(t, "", "delete", "-c", del, "--to", to, "--confirm"); code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	if e.has(t, e.dst.Ref("mirror/tools/a:1")) {
		t.Error("the additional image is still there")
	}
}

func TestDeleteImageSetConfigurationChannelsReadTheMirror(t *testing.T) {
	e := newEnv(t)
	rel := e.src.PushRelease(t, testenv.ReleaseSpec{Version: "4.99.1", Components: 4})
	graph := testenv.StartGraph(t, testenv.GraphChannel{Name: "stable-4.99", Arch: "amd64",
		Releases: []testenv.GraphRelease{{Version: "4.99.1", Payload: rel.PullSpec}}})
	t.Setenv("UPDATE_URL_OVERRIDE", graph.URL)
	isc := filepath.Join(e.dir, "isc.yaml")
	del := filepath.Join(e.dir, "delete.yaml")
	channel := "  platform:\n    channels:\n    - name: stable-4.99\n"
	for f, data := range map[string]string{
		isc: "apiVersion: mirror.openshift.io/v2alpha1\nkind: ImageSetConfiguration\nmirror:\n" + channel,
		del: "apiVersion: mirror.openshift.io/v2alpha1\nkind: DeleteImageSetConfiguration\ndelete:\n" + channel,
	} {
		if err := os.WriteFile(f, []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	to := "docker://" + e.dst.Ref("mirror")
	if _, stderr, code := e.run(t, "", "-c", isc, "--to", to, "--store", "file://"+filepath.Join(e.dir, "none")); code != 0 {
		t.Fatalf("mirroring: exit %d: %s", code, stderr)
	}
	// The source registry is gone: the release is read where it was mirrored.
	e.src.Close()
	stdout, stderr, code := e.run(t, "", "delete", "-c", del, "--to", to, "--confirm")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	if p := readPlan(t, stdout); len(p.Delete) != 5 {
		t.Errorf("deleted %d manifests, want the release and its 4 components:\n%s", len(p.Delete), stderr)
	}
	if e.has(t, e.dst.Ref("mirror/openshift/release:4.99.1-x86_64")) || e.has(t, e.dst.Ref("mirror/openshift/release:4.99.1-x86_64-cli")) {
		t.Error("the release is still in the mirror")
	}
	// Again: the graph still names it, the mirror no longer holds it.
	_, stderr, code = e.run(t, "", "delete", "-c", del, "--to", to, "--confirm")
	if code != 0 || !strings.Contains(stderr, "missing: "+e.dst.Ref("mirror/openshift/release@"+rel.Digest.String())+" is not in the registry") {
		t.Errorf("a repeated delete: exit %d: %s", code, stderr)
	}
}
