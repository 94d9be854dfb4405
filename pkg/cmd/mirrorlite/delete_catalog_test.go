package mirrorlite

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/dynamic"

	"github.com/airgap-ocp/oc-plugins/internal/testenv"
	"github.com/airgap-ocp/oc-plugins/pkg/catalog"
	"github.com/airgap-ocp/oc-plugins/pkg/cluster"
	"github.com/airgap-ocp/oc-plugins/pkg/retire"
	"github.com/airgap-ocp/oc-plugins/pkg/retry"
)

// catalogImages lists every bundle and related image of the catalog at
// ref, as its bundles name them.
func catalogImages(t *testing.T, e *env, ref string) []string {
	t.Helper()
	ctx := context.Background()
	work := t.TempDir()
	img, err := catalog.Fetch(ctx, ref, e.sys(), filepath.Join(work, "layout"), retry.Policy{Attempts: 1})
	if err != nil {
		t.Fatal(err)
	}
	if err := img.ExtractConfigs(ctx, filepath.Join(work, "configs")); err != nil {
		t.Fatal(err)
	}
	x, err := catalog.Scan(ctx, os.DirFS(filepath.Join(work, "configs")))
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, p := range x.Packages {
		for _, b := range p.Bundles {
			out = append(out, b.Image)
			out = append(out, b.Related...)
		}
	}
	return out
}

func deleteDoc(operators string) string {
	return "apiVersion: mirror.openshift.io/v2alpha1\nkind: DeleteImageSetConfiguration\ndelete:\n  operators:\n" + operators
}

// TestDeleteOperatorsRetiresWhatARefreshedCatalogNoLongerLists: week 1
// mirrors local-storage-operator 4.16.0 and 4.17.0 and the update
// service's head, which shares an operand with lso 4.17.0; week 2 the same
// tag is pushed again with lso 4.17.0 and 4.17.1 only. Retiring week 1's
// catalog (by the digest its CatalogSource named) takes what only it
// listed and nothing the refreshed catalog lists; the garbage collector
// then frees it, and every image of the refreshed catalog still pulls.
func TestDeleteOperatorsRetiresWhatARefreshedCatalogNoLongerLists(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	pkgs := operatorPackages(t, e)
	cat := pushCatalog(t, e, pkgs)
	root := e.dst.Ref("mirror")
	to := "docker://" + root
	write := func(name, doc string) string {
		t.Helper()
		f := filepath.Join(e.dir, name)
		if err := os.WriteFile(f, []byte(doc), 0o644); err != nil {
			t.Fatal(err)
		}
		return f
	}
	mirrorWeek := func(packages string) string {
		t.Helper()
		isc := write("isc.yaml", "apiVersion: mirror.openshift.io/v2alpha1\nkind: ImageSetConfiguration\nmirror:\n  operators:\n  - catalog: docker://"+cat+"\n    packages:\n"+packages)
		out, stderr, code := e.run(t, "", "-c", isc, "--to", to)
		if code != 0 {
			t.Fatalf("mirroring: exit %d\n%s", code, stderr)
		}
		_, image := catalogSourceImage(t, out)
		return image
	}
	// The mirror's name of an image pushed to the source.
	mirrored := func(pullSpec string) string { return root + pullSpec[strings.Index(pullSpec, "/operators/"):] }
	image := func(pkg int, bundle int, related int) string {
		b := pkgs[pkg].Bundles[bundle]
		if related < 0 {
			return mirrored(b.Image)
		}
		return mirrored(b.Related[related])
	}
	osusBundle, osusOperand, shared := image(0, 1, -1), image(0, 1, 0), image(0, 1, 1)
	lso416, lso417 := image(1, 0, -1), image(1, 1, -1)

	old := mirrorWeek("    - name: local-storage-operator\n      minVersion: 4.16.0\n    - name: cincinnati-operator\n")
	d := e.src.MustPushImage(t, "operators/lso-bundle-4171:x", testenv.OperatorImage("lso-bundle-4171"))
	pkgs[1].Bundles = append(pkgs[1].Bundles, testenv.CatalogBundle{Name: "local-storage-operator.v4.17.1", Version: "4.17.1", Channels: []string{"stable"},
		Replaces: "local-storage-operator.v4.17.0", Image: e.src.Ref("operators/lso-bundle-4171") + "@" + d.String()})
	pushCatalog(t, e, pkgs)
	cur := mirrorWeek("    - name: local-storage-operator\n      minVersion: 4.17.0\n")
	tag := root + "/redhat/redhat-operator-index:v4.17"
	if old == cur || !strings.HasSuffix(cur, "@"+digestAt(t, e.sys(), tag).String()) {
		t.Fatalf("week 2's catalog %s is not the one at %s, or is week 1's %s", cur, tag, old)
	}
	stays := "the catalog " + tag + " stays and lists it"

	// Bad input: nothing read beyond the catalog, nothing deleted.
	bad := write("bad.yaml", deleteDoc("  - catalog: "+old+"\n    packages:\n    - name: no-such-operator\n"))
	stdout, stderr, code := e.run(t, "", "delete", "-c", bad, "--to", to, "--confirm")
	if code != 2 || stdout != "" || !strings.Contains(stderr, "error: "+bad+`: delete.operators[0].packages[0].name: the catalog has no package "no-such-operator"`) {
		t.Errorf("an unknown package: exit %d, stdout %q, stderr:\n%s", code, stdout, stderr)
	}
	if !e.has(t, old) || !e.has(t, osusBundle) {
		t.Fatal("bad input deleted something")
	}

	// One package of week 1's catalog: its own images go, the operand lso
	// 4.17.0 shares stays; the catalog image stays, as the entry names
	// packages.
	pkgOnly := write("package.yaml", deleteDoc("  - catalog: "+old+"\n    packages:\n    - name: cincinnati-operator\n"))
	stdout, stderr, code = e.run(t, "", "delete", "-c", pkgOnly, "--to", to)
	if code != 0 {
		t.Fatalf("exit %d\n%s", code, stderr)
	}
	p := readPlan(t, stdout)
	if got := refs(p.Delete); !sameSet(got, osusBundle, osusOperand) {
		t.Errorf("planned %v, want the update service's bundle and own operand\n%s", got, stderr)
	}
	if m, ok := find(p.Keep, shared); !ok || !strings.HasPrefix(m.Kept, stays) || !strings.Contains(m.Kept, "local-storage-operator.v4.17.0") {
		t.Errorf("the shared operand: kept %v (%q), want it kept as lso 4.17.0 of %s lists it", ok, m.Kept, tag)
	}
	// A cluster whose ClusterCatalog still names week 1's catalog could
	// still install the update service from it: refused, nothing deleted.
	c := testenv.SharedCluster(t)
	dyn, err := dynamic.NewForConfig(c.Config)
	if err != nil {
		t.Fatal(err)
	}
	ccName := testenv.UniqueName("week1")
	cc := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "olm.operatorframework.io/v1", "kind": "ClusterCatalog", "metadata": map[string]any{"name": ccName},
		"spec": map[string]any{"source": map[string]any{"type": "Image", "image": map[string]any{"ref": old}}},
	}}
	res := dyn.Resource(cluster.ClusterCatalogResource)
	if _, err := res.Create(ctx, cc, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = res.Delete(context.Background(), ccName, metav1.DeleteOptions{}) })
	stdout, stderr, code = e.run(t, "", "delete", "-c", pkgOnly, "--to", to, "--kubeconfig", c.Kubeconfig, "--confirm")
	if code != 1 || stdout != "" || !strings.Contains(stderr, "refused: cluster "+c.Kubeconfig+" uses "+old) || !strings.Contains(stderr, "in clustercatalog "+ccName) {
		t.Errorf("a ClusterCatalog on week 1's catalog: exit %d, stdout %q, stderr:\n%s", code, stdout, stderr)
	}
	if !e.has(t, osusBundle) {
		t.Fatal("the refused delete deleted the bundle")
	}
	if err := res.Delete(ctx, ccName, metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, stderr, code = e.run(t, "", "delete", "-c", pkgOnly, "--to", to, "--kubeconfig", c.Kubeconfig, "--confirm"); code != 0 {
		t.Fatalf("--confirm: exit %d\n%s", code, stderr)
	}
	if e.has(t, osusBundle) || e.has(t, osusOperand) || !e.has(t, shared) || !e.has(t, old) {
		t.Error("want the bundle and its own operand gone, the shared operand and the catalog kept")
	}
	if err := e.dst.GarbageCollect(ctx, false); err != nil {
		t.Fatal(err)
	}
	if err := testenv.PullsByDigest(ctx, e.sys(), shared); err != nil {
		t.Errorf("the shared operand does not pull after garbage collection: %v", err)
	}

	// The whole of week 1's catalog: its image and lso 4.16.0 go; what week
	// 2's lists stays.
	whole := write("whole.yaml", deleteDoc("  - catalog: "+old+"\n"))
	stdout, stderr, code = e.run(t, "", "delete", "-c", whole, "--to", to, "-o", "json")
	if code != 0 {
		t.Fatalf("exit %d\n%s", code, stderr)
	}
	p = readPlan(t, stdout)
	if got := refs(p.Delete); !sameSet(got, old, lso416) || len(p.Missing) != 2 {
		t.Errorf("planned %v (missing %v), want week 1's catalog and lso 4.16.0, the update service's two missing\n%s", got, p.Missing, stderr)
	}
	for _, ref := range []string{lso417, shared} {
		if m, ok := find(p.Keep, ref); !ok || !strings.HasPrefix(m.Kept, stays) {
			t.Errorf("%s: kept %v (%q), want it kept as %s lists it", ref, ok, m.Kept, tag)
		}
	}
	before, err := e.dst.StoredBlobs()
	if err != nil {
		t.Fatal(err)
	}
	if _, stderr, code = e.run(t, "", "delete", "-c", whole, "--to", to, "--confirm"); code != 0 {
		t.Fatalf("--confirm: exit %d\n%s", code, stderr)
	}
	if err := e.dst.GarbageCollect(ctx, false); err != nil {
		t.Fatal(err)
	}
	after, err := e.dst.StoredBlobs()
	if err != nil {
		t.Fatal(err)
	}
	var freed int64
	for d, size := range before {
		if _, ok := after[d]; !ok {
			freed += size
		}
	}
	if freed <= 0 || freed > p.ReclaimableBytes {
		t.Errorf("garbage collection freed %d bytes; the plan said up to %d", freed, p.ReclaimableBytes)
	}
	for _, m := range p.Delete {
		if _, ok := after[m.Digest]; ok {
			t.Errorf("%s is still stored after garbage collection", m.Ref())
		}
		if err := testenv.PullsByDigest(ctx, e.sys(), m.Ref()); err == nil {
			t.Errorf("%s still pulls", m.Ref())
		}
	}
	// Week 2's catalog and every image it lists still pull, blobs and all.
	listed := catalogImages(t, e, cur)
	if len(listed) < 3 {
		t.Fatalf("week 2's catalog lists %v", listed)
	}
	for _, ref := range append(listed, cur) {
		if !strings.HasPrefix(ref, root) {
			ref = mirrored(ref)
		}
		if err := testenv.PullsByDigest(ctx, e.sys(), ref); err != nil {
			t.Errorf("%s does not pull: %v", ref, err)
		}
	}
}

func refs(ms []retire.Manifest) []string {
	var out []string
	for _, m := range ms {
		out = append(out, m.Ref())
	}
	return out
}

func find(ms []retire.Manifest, ref string) (retire.Manifest, bool) {
	for _, m := range ms {
		if m.Ref() == ref {
			return m, true
		}
	}
	return retire.Manifest{}, false
}

func sameSet(got []string, want ...string) bool {
	if len(got) != len(want) {
		return false
	}
	seen := map[string]bool{}
	for _, g := range got {
		seen[g] = true
	}
	for _, w := range want {
		if !seen[w] {
			return false
		}
	}
	return true
}

// TestDeleteFromAnArchiveKeepsWhatTheRefreshedCatalogLists: week 1's
// archive carried lso 4.17.0 and the update service; week 2's catalog,
// pushed over the same tag, keeps lso 4.17.0 only. Retiring week 1's
// archive takes the update service's images, not lso 4.17.0's nor the
// operand both list.
func TestDeleteFromAnArchiveKeepsWhatTheRefreshedCatalogLists(t *testing.T) {
	e := newEnv(t)
	pkgs := operatorPackages(t, e)
	cat := pushCatalog(t, e, pkgs)
	root := e.dst.Ref("mirror")
	to := "docker://" + root
	week1, week2 := filepath.Join(e.dir, "week1"), filepath.Join(e.dir, "week2")
	for _, run := range [][]string{
		{"catalog", cat, "--package", "local-storage-operator", "--package", "cincinnati-operator", "--to", "file://" + week1},
		{"--from", "file://" + week1, "--to", to},
		{"catalog", cat, "--package", "local-storage-operator", "--to", "file://" + week2},
		{"--from", "file://" + week2, "--to", to},
	} {
		if _, stderr, code := e.run(t, "", run...); code != 0 {
			t.Fatalf("%v: exit %d\n%s", run, code, stderr)
		}
	}
	mirrored := func(pullSpec string) string { return root + pullSpec[strings.Index(pullSpec, "/operators/"):] }
	osus, lso417 := pkgs[0].Bundles[1], pkgs[1].Bundles[1]
	stdout, stderr, code := e.run(t, "", "delete", "--from", week1, "--to", to, "--confirm")
	if code != 0 {
		t.Fatalf("exit %d\n%s", code, stderr)
	}
	p := readPlan(t, stdout)
	if got := refs(p.Delete); !sameSet(got, mirrored(osus.Image), mirrored(osus.Related[0])) {
		t.Errorf("deleted %v, want the update service's bundle and own operand\n%s", got, stderr)
	}
	for _, ref := range []string{mirrored(lso417.Image), mirrored(osus.Related[1])} {
		if m, ok := find(p.Keep, ref); !ok || !strings.Contains(m.Kept, "the catalog "+root+"/redhat/redhat-operator-index:v4.17 stays and lists it") {
			t.Errorf("%s: kept %v (%q), want it kept as week 2's catalog lists it", ref, ok, m.Kept)
		}
		if !e.has(t, ref) {
			t.Errorf("%s is gone", ref)
		}
	}
}
