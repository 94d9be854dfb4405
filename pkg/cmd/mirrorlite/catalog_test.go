package mirrorlite

import (
	"context"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/airgap-ocp/oc-plugins/internal/testenv"
	"github.com/airgap-ocp/oc-plugins/pkg/catalog"
	"github.com/airgap-ocp/oc-plugins/pkg/manifest"
	"github.com/airgap-ocp/oc-plugins/pkg/retry"
)

// pushOperators pushes a small operator index to e.src, every bundle and
// related image a real image there, and returns the catalog's pull spec.
// broken names related images that are never pushed.
func pushOperators(t *testing.T, e *env, broken ...string) string {
	t.Helper()
	return pushCatalog(t, e, operatorPackages(t, e, broken...))
}

// pushCatalog pushes the packages as Red Hat's index, v4.17.
func pushCatalog(t *testing.T, e *env, pkgs []testenv.CatalogPackage) string {
	t.Helper()
	ci, err := testenv.CatalogImage(t, testenv.Catalog(pkgs...), "amd64")
	if err != nil {
		t.Fatal(err)
	}
	e.src.MustPushImage(t, testenv.IndexRepo, ci)
	return e.src.Ref(testenv.IndexRepo)
}

// operatorPackages pushes the images of testenv's small index and returns
// its packages; broken names images that are never pushed.
func operatorPackages(t *testing.T, e *env, broken ...string) []testenv.CatalogPackage {
	t.Helper()
	pkgs, err := testenv.OperatorIndex(func(name string) (string, error) {
		if strings.Contains(strings.Join(broken, " "), name) {
			return e.src.Ref("operators/"+name) + "@sha256:" + strings.Repeat("0", 64), nil
		}
		d := e.src.MustPushImage(t, "operators/"+name+":x", testenv.OperatorImage(name))
		return e.src.Ref("operators/"+name) + "@" + d.String(), nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return pkgs
}

// servedCatalog reads the catalog image a CatalogSource names from the
// destination, starts the real opm on it as the catalog pod would, and
// returns what it serves: package/channel/bundle lines.
func servedCatalog(t *testing.T, e *env, image string) []string {
	t.Helper()
	ctx := context.Background()
	work := t.TempDir()
	img, err := catalog.Fetch(ctx, image, e.sys(), filepath.Join(work, "layout"), retry.Policy{Attempts: 1})
	if err != nil {
		t.Fatal(err)
	}
	root := filepath.Join(work, "rootfs")
	if err := img.ExtractConfigs(ctx, filepath.Join(root, "configs")); err != nil {
		t.Fatal(err)
	}
	if err := testenv.OPMValidate(t, filepath.Join(root, "configs")); err != nil {
		t.Fatal(err)
	}
	srv, err := testenv.ServeCatalog(t, root, []string{"/bin/opm", "serve", "/configs"})
	if err != nil {
		t.Fatal(err)
	}
	bundles, err := srv.Bundles(ctx)
	if err != nil {
		t.Fatal(err)
	}
	return bundles
}

// catalogSourceImage is spec.image of the one CatalogSource on stdout,
// checked against the ClusterCatalog's.
func catalogSourceImage(t *testing.T, stdout string) (name, image string) {
	t.Helper()
	var cc string
	for _, o := range decodeStream(t, stdout) {
		switch o.GetKind() {
		case "CatalogSource":
			if o.GetNamespace() != "openshift-marketplace" {
				t.Errorf("CatalogSource in namespace %q", o.GetNamespace())
			}
			name = o.GetName()
			image, _, _ = unstructured.NestedString(o.Object, "spec", "image")
			if _, found, _ := unstructured.NestedMap(o.Object, "spec", "icon"); found {
				t.Errorf("the CatalogSource carries an empty icon")
			}
		case "ClusterCatalog":
			cc, _, _ = unstructured.NestedString(o.Object, "spec", "source", "image", "ref")
		}
	}
	if image == "" || cc != image || !strings.Contains(image, "@sha256:") {
		t.Fatalf("CatalogSource image %q, ClusterCatalog %q: want one image by digest in both\n%s", image, cc, stdout)
	}
	return name, image
}

func TestCatalogMirrorsTheNamedPackagesAndServesThem(t *testing.T) {
	e := newEnv(t)
	cat := pushOperators(t, e)
	to := e.dst.Ref("mirror")
	res := filepath.Join(e.dir, "resources")
	out, errOut, code := e.run(t, "", "catalog", cat, "--package", "cincinnati-operator", "--package", "local-storage-operator:stable",
		"--to", "docker://"+to, "--resources-dir", res)
	if code != 0 {
		t.Fatalf("exit %d\n%s", code, errOut)
	}
	if got := kinds(decodeStream(t, out)); !reflect.DeepEqual(got, []string{"ImageDigestMirrorSet", "CatalogSource", "ClusterCatalog"}) {
		t.Errorf("stdout kinds %v", got)
	}
	name, image := catalogSourceImage(t, out)
	if name != "cs-redhat-operator-index-v4-17" || !strings.HasPrefix(image, to+"/redhat/redhat-operator-index@") {
		t.Errorf("CatalogSource %s with image %s", name, image)
	}
	want := []string{
		"cincinnati-operator/v1/update-service-operator.v1.1.0",
		"local-storage-operator/stable/local-storage-operator.v4.17.0",
	}
	if got := servedCatalog(t, e, image); !reflect.DeepEqual(got, want) {
		t.Errorf("the mirrored catalog serves %v\nwant %v", got, want)
	}
	// Every image of the kept bundles is at the mirror, by digest; the
	// others are not.
	for _, name := range []string{"osus-bundle-110", "osus-operand-110", "shared-operand", "lso-bundle-417"} {
		d := digestAt(t, e.src.SystemContext(), e.src.Ref("operators/"+name+":x"))
		digestAt(t, e.sys(), to+"/operators/"+name+"@"+d.String())
	}
	d := digestAt(t, e.src.SystemContext(), e.src.Ref("operators/unwanted-bundle:x"))
	if _, err := digestAtErr(e, to+"/operators/unwanted-bundle@"+d.String()); err == nil {
		t.Error("a bundle of a package nobody named was mirrored")
	}
	if !strings.Contains(errOut, "no longer the one its publisher signed") {
		t.Errorf("stderr does not say the catalog is a new image:\n%s", errOut)
	}
	for _, f := range []string{"cs-redhat-operator-index-v4-17.yaml", "cc-redhat-operator-index-v4-17.yaml", "idms-oc-mirror.yaml", "mapping.txt"} {
		if _, err := os.Stat(filepath.Join(res, f)); err != nil {
			t.Errorf("--resources-dir: %v", err)
		}
	}

	if m, err := os.ReadFile(filepath.Join(res, "mapping.txt")); err != nil || strings.Contains(string(m), "redhat-operator-index") || !strings.Contains(string(m), "osus-bundle-110") {
		t.Errorf("mapping.txt (%v) must list the operator images and not the rebuilt catalog, which is at no source:\n%s", err, m)
	}

	// A re-run copies nothing and names the same catalog.
	out2, errOut, code := e.run(t, "", "catalog", cat, "--package", "cincinnati-operator", "--package", "local-storage-operator:stable", "--to", "docker://"+to)
	if code != 0 {
		t.Fatalf("re-run: exit %d\n%s", code, errOut)
	}
	if _, again := catalogSourceImage(t, out2); again != image {
		t.Errorf("re-run names %s, first run %s", again, image)
	}
	if !strings.Contains(errOut, "0 copied") {
		t.Errorf("re-run copied images:\n%s", errOut)
	}
}

func TestCatalogLeavesOutABundleWhoseImageFailed(t *testing.T) {
	e := newEnv(t)
	cat := pushOperators(t, e, "osus-operand-110")
	to := e.dst.Ref("mirror")
	out, errOut, code := e.run(t, "", "catalog", cat, "--package", "cincinnati-operator", "--package", "local-storage-operator", "--to", "docker://"+to)
	if code != 3 || out != "" {
		t.Fatalf("exit %d, stdout %q: want 3 and nothing printed\n%s", code, out, errOut)
	}
	if !strings.Contains(errOut, "left out bundle cincinnati-operator/update-service-operator.v1.1.0") {
		t.Errorf("stderr does not name the bundle left out:\n%s", errOut)
	}
	// The catalog at the mirror offers only what the mirror holds.
	want := []string{"local-storage-operator/stable/local-storage-operator.v4.17.0"}
	if got := servedCatalog(t, e, to+"/redhat/redhat-operator-index:v4.17"); !reflect.DeepEqual(got, want) {
		t.Errorf("the mirrored catalog serves %v, want %v", got, want)
	}
}

func TestCatalogThroughDiskAndBack(t *testing.T) {
	e := newEnv(t)
	cat := pushOperators(t, e)
	dir := filepath.Join(e.dir, "archive")
	if _, errOut, code := e.run(t, "", "catalog", cat, "--package", "local-storage-operator", "--to", "file://"+dir); code != 0 {
		t.Fatalf("to disk: exit %d\n%s", code, errOut)
	}
	to := e.dst.Ref("far")
	out, errOut, code := e.run(t, "", "--from", "file://"+dir, "--to", "docker://"+to)
	if code != 0 {
		t.Fatalf("from disk: exit %d\n%s", code, errOut)
	}
	_, image := catalogSourceImage(t, out)
	want := []string{"local-storage-operator/stable/local-storage-operator.v4.17.0"}
	if got := servedCatalog(t, e, image); !reflect.DeepEqual(got, want) {
		t.Errorf("the catalog pushed from disk serves %v, want %v", got, want)
	}
	for _, o := range decodeStream(t, out) {
		if o.GetKind() != "ImageDigestMirrorSet" {
			continue
		}
		y, _ := manifest.EncodeYAML(o.Unstructured)
		if strings.Contains(string(y), "redhat-operator-index") {
			t.Errorf("the IDMS sends the catalog's source to the mirror, where a different image is:\n%s", y)
		}
	}
}

// TestEnclaveSelectsOperatorsFromAnArchive: an archive made for several
// sites carries two packages; an enclave's -c names one, and gets a
// catalog that serves only it, with only its images pushed. What the
// archive lacks is bad input naming the field.
func TestEnclaveSelectsOperatorsFromAnArchive(t *testing.T) {
	e := newEnv(t)
	cat := pushOperators(t, e)
	dir := filepath.Join(e.dir, "archive")
	if _, errOut, code := e.run(t, "", "catalog", cat, "--package", "cincinnati-operator", "--package", "local-storage-operator", "--to", "file://"+dir); code != 0 {
		t.Fatalf("to disk: exit %d\n%s", code, errOut)
	}
	isc := filepath.Join(e.dir, "enclave.yaml")
	write := func(catalog, pkg string) {
		t.Helper()
		doc := "apiVersion: mirror.openshift.io/v2alpha1\nkind: ImageSetConfiguration\nmirror:\n  operators:\n  - catalog: " + catalog + "\n    packages:\n    - name: " + pkg + "\n"
		if err := os.WriteFile(isc, []byte(doc), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("docker://"+cat, "local-storage-operator")
	to := e.dst.Ref("enclave")
	out, errOut, code := e.run(t, "", "--from", "file://"+dir, "-c", isc, "--to", "docker://"+to)
	if code != 0 {
		t.Fatalf("from disk with -c: exit %d\n%s", code, errOut)
	}
	_, image := catalogSourceImage(t, out)
	if !strings.HasPrefix(image, to+"/redhat/redhat-operator-index@") {
		t.Errorf("catalog at %s, want where the archive placed it below %s", image, to)
	}
	want := []string{"local-storage-operator/stable/local-storage-operator.v4.17.0"}
	if got := servedCatalog(t, e, image); !reflect.DeepEqual(got, want) {
		t.Errorf("the enclave's catalog serves %v, want %v", got, want)
	}
	d := digestAt(t, e.src.SystemContext(), e.src.Ref("operators/lso-bundle-417:x"))
	digestAt(t, e.sys(), to+"/operators/lso-bundle-417@"+d.String())
	d = digestAt(t, e.src.SystemContext(), e.src.Ref("operators/osus-bundle-110:x"))
	if _, err := digestAtErr(e, to+"/operators/osus-bundle-110@"+d.String()); err == nil {
		t.Error("the bundle of a package the enclave did not name was pushed")
	}

	for _, tt := range []struct{ catalog, pkg, says string }{
		{cat, "unwanted-operator", isc + ": mirror.operators[0].packages[0].name: "},
		{e.src.Ref("other/index:v1"), "local-storage-operator", isc + ": mirror.operators[0].catalog: the archive holds no catalog "},
	} {
		write(tt.catalog, tt.pkg)
		_, errOut, code := e.run(t, "", "--from", "file://"+dir, "-c", isc, "--to", "docker://"+e.dst.Ref("refused"))
		if code != 2 || !strings.Contains(errOut, tt.says) {
			t.Errorf("-c naming %s %s: exit %d, want 2 saying %q:\n%s", tt.catalog, tt.pkg, code, tt.says, errOut)
		}
	}
}

func TestCatalogDryRunListsKeptBundles(t *testing.T) {
	e := newEnv(t)
	cat := pushOperators(t, e)
	to := e.dst.Ref("mirror")
	out, errOut, code := e.run(t, "", "catalog", cat, "--package", "cincinnati-operator", "--to", "docker://"+to, "--dry-run")
	if code != 0 {
		t.Fatalf("exit %d\n%s", code, errOut)
	}
	if !strings.Contains(errOut, "# keep cincinnati-operator v1 (default): update-service-operator.v1.1.0") {
		t.Errorf("stderr does not list the kept bundles:\n%s", errOut)
	}
	for _, want := range []string{"/operators/osus-bundle-110@", "/operators/osus-operand-110@"} {
		if !strings.Contains(out, want) {
			t.Errorf("mapping lacks %s:\n%s", want, out)
		}
	}
	// The rebuilt catalog is at no source: no mapping line would copy it.
	if strings.Contains(out, "redhat-operator-index") || !strings.Contains(errOut, "would be rebuilt with what it keeps and pushed to "+to+"/redhat/redhat-operator-index:v4.17") {
		t.Errorf("the catalog in a dry run: stdout\n%s\nstderr\n%s", out, errOut)
	}
	if _, err := digestAtErr(e, to+"/redhat/redhat-operator-index:v4.17"); err == nil {
		t.Error("a dry run pushed the catalog")
	}
}

func TestCatalogBadInput(t *testing.T) {
	e := newEnv(t)
	cat := pushOperators(t, e)
	to := "docker://" + e.dst.Ref("mirror")
	for _, tt := range []struct {
		args []string
		want string
	}{
		{[]string{"--package", "no-such-operator"}, `--package no-such-operator: the catalog has no package "no-such-operator"`},
		{[]string{"--package", "cincinnati-operator:fast"}, `--package cincinnati-operator:fast: package cincinnati-operator has no channel "fast"`},
		{[]string{"--package", "Bad_Name"}, `--package "Bad_Name"`},
	} {
		out, errOut, code := e.run(t, "", append([]string{"catalog", cat, "--to", to}, tt.args...)...)
		if code != 2 || out != "" || !strings.Contains(errOut, tt.want) {
			t.Errorf("%v: exit %d, stdout %q, stderr %q: want exit 2 saying %s", tt.args, code, out, errOut, tt.want)
		}
	}
	if _, err := digestAtErr(e, e.dst.Ref("mirror/operators/osus-bundle-110:x")); err == nil {
		t.Error("bad input copied images")
	}
}

func TestImageSetOperatorsWithARangeAndTarget(t *testing.T) {
	e := newEnv(t)
	cat := pushOperators(t, e)
	isc := filepath.Join(e.dir, "imageset.yaml")
	doc := `apiVersion: mirror.openshift.io/v2alpha1
kind: ImageSetConfiguration
mirror:
  operators:
  - catalog: docker://` + cat + `
    targetCatalog: olm/catalog
    targetTag: v1
    packages:
    - name: local-storage-operator
      minVersion: 4.16.0
`
	if err := os.WriteFile(isc, []byte(doc), 0o644); err != nil {
		t.Fatal(err)
	}
	to := e.dst.Ref("mirror")
	out, errOut, code := e.run(t, "", "-c", isc, "--to", "docker://"+to)
	if code != 0 {
		t.Fatalf("exit %d\n%s", code, errOut)
	}
	_, image := catalogSourceImage(t, out)
	if !strings.HasPrefix(image, to+"/olm/catalog@") {
		t.Errorf("catalog at %s, want below %s/olm/catalog", image, to)
	}
	digestAt(t, e.sys(), to+"/olm/catalog:v1")
	want := []string{
		"local-storage-operator/stable/local-storage-operator.v4.16.0",
		"local-storage-operator/stable/local-storage-operator.v4.17.0",
	}
	if got := servedCatalog(t, e, image); !reflect.DeepEqual(got, want) {
		t.Errorf("the mirrored catalog serves %v, want %v", got, want)
	}

	// A blocked image takes its bundle out of the catalog.
	blocked := doc + "  blockedImages:\n  - name: .*/lso-bundle-416.*\n"
	if err := os.WriteFile(isc, []byte(blocked), 0o644); err != nil {
		t.Fatal(err)
	}
	out, errOut, code = e.run(t, "", "-c", isc, "--to", "docker://"+e.dst.Ref("blocked"))
	if code != 0 || !strings.Contains(errOut, "left out bundle local-storage-operator/local-storage-operator.v4.16.0") || !strings.Contains(errOut, "blocked by mirror.blockedImages") {
		t.Fatalf("blocked: exit %d\n%s", code, errOut)
	}
	_, image = catalogSourceImage(t, out)
	if got := servedCatalog(t, e, image); !reflect.DeepEqual(got, want[1:]) {
		t.Errorf("with 4.16.0's bundle blocked the catalog serves %v, want %v", got, want[1:])
	}

	bad := strings.Replace(doc, "minVersion: 4.16.0", "minVersion: 9.0.0", 1)
	if err := os.WriteFile(isc, []byte(bad), 0o644); err != nil {
		t.Fatal(err)
	}
	_, errOut, code = e.run(t, "", "-c", isc, "--to", "docker://"+to)
	if code != 2 || !strings.Contains(errOut, isc+": mirror.operators[0].packages[0].minVersion: no bundle of package local-storage-operator channel stable is from 9.0.0") {
		t.Errorf("a range with nothing in it: exit %d\n%s", code, errOut)
	}
}

// TestCatalogSinceShipsOnlyWhatIsNew: the index a week later has one more
// bundle; the second archive, made --since the first, carries that
// bundle and the new catalog layer, not what the first one carried, and
// the far side ends up serving the newer catalog.
func TestCatalogSinceShipsOnlyWhatIsNew(t *testing.T) {
	e := newEnv(t)
	pkgs := operatorPackages(t, e)
	cat := pushCatalog(t, e, pkgs)
	first, second := filepath.Join(e.dir, "week1"), filepath.Join(e.dir, "week2")
	if _, errOut, code := e.run(t, "", "catalog", cat, "--package", "local-storage-operator", "--to", "file://"+first); code != 0 {
		t.Fatalf("week 1: exit %d\n%s", code, errOut)
	}
	d := e.src.MustPushImage(t, "operators/lso-bundle-4171:x", smallImage("lso-bundle-4171 "+strings.Repeat("new ", 4096)))
	lso := &pkgs[1]
	lso.Bundles = append(lso.Bundles, testenv.CatalogBundle{Name: "local-storage-operator.v4.17.1", Version: "4.17.1", Channels: []string{"stable"},
		Replaces: "local-storage-operator.v4.17.0", Image: e.src.Ref("operators/lso-bundle-4171") + "@" + d.String()})
	pushCatalog(t, e, pkgs)
	if _, errOut, code := e.run(t, "", "catalog", cat, "--package", "local-storage-operator", "--to", "file://"+second, "--since", first); code != 0 {
		t.Fatalf("week 2: exit %d\n%s", code, errOut)
	}
	if s1, s2 := dirSize(t, first), dirSize(t, second); s2 >= s1 {
		t.Errorf("the --since archive is %d bytes, the first %d: want it smaller", s2, s1)
	}
	to := e.dst.Ref("mirror")
	if _, errOut, code := e.run(t, "", "--from", "file://"+first, "--to", "docker://"+to); code != 0 {
		t.Fatalf("push week 1: exit %d\n%s", code, errOut)
	}
	out, errOut, code := e.run(t, "", "--from", "file://"+second, "--to", "docker://"+to)
	if code != 0 {
		t.Fatalf("push week 2: exit %d\n%s", code, errOut)
	}
	_, image := catalogSourceImage(t, out)
	want := []string{"local-storage-operator/stable/local-storage-operator.v4.17.1"}
	if got := servedCatalog(t, e, image); !reflect.DeepEqual(got, want) {
		t.Errorf("after week 2 the mirror serves %v, want %v", got, want)
	}
}

func TestCatalogFromAnOCILayout(t *testing.T) {
	e := newEnv(t)
	ci, err := testenv.CatalogImage(t, testenv.Catalog(operatorPackages(t, e)...), "amd64")
	if err != nil {
		t.Fatal(err)
	}
	built, err := ci.Build()
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(e.dir, "my-catalog")
	if err := built.WriteOCILayout(dir, "v1"); err != nil {
		t.Fatal(err)
	}
	to := e.dst.Ref("mirror")
	out, errOut, code := e.run(t, "", "catalog", "oci://"+dir+":v1", "--package", "local-storage-operator", "--to", "docker://"+to)
	if code != 0 {
		t.Fatalf("exit %d\n%s", code, errOut)
	}
	_, image := catalogSourceImage(t, out)
	if !strings.HasPrefix(image, to+"/my-catalog@") {
		t.Errorf("catalog at %s, want %s/my-catalog", image, to)
	}
	digestAt(t, e.sys(), to+"/my-catalog:v1")
	want := []string{"local-storage-operator/stable/local-storage-operator.v4.17.0"}
	if got := servedCatalog(t, e, image); !reflect.DeepEqual(got, want) {
		t.Errorf("serves %v, want %v", got, want)
	}
}
