package mirrorlite

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/airgap-ocp/oc-plugins/internal/testenv"
)

// TestDeleteExamplesRun runs every example of the delete commands' help as
// a user would paste it, after the mirror runs they retire, with
// registry.example.com:5000 and quay.io standing for the test registries
// and each kubeconfig for the test API server's.
func TestDeleteExamplesRun(t *testing.T) {
	c := testenv.SharedCluster(t)
	e := newEnv(t)
	e.src.PushRelease(t, testenv.ReleaseSpec{Version: "4.16.2", Components: 4})
	e.src.PushRelease(t, testenv.ReleaseSpec{Version: "4.16.3", Components: 4, ComponentsFrom: "4.16.2", Changed: []string{"cli"}})
	ubi := testenv.Image{Layers: []testenv.Layer{{Files: []testenv.File{{Name: "etc/os-release", Data: []byte("ID=rhel\n")}}}}}
	e.src.MustPushImage(t, "ubi9/ubi:latest", ubi)
	e.src.MustPushImage(t, "tools/jq:1", testenv.Image{Layers: []testenv.Layer{{Files: []testenv.File{{Name: "jq", Data: []byte("jq")}}}}})
	pkgs := operatorPackages(t, e)
	pushCatalog(t, e, pkgs)
	deleteYAML := testenv.READMEBlock(t, "<!-- mirror-lite-delete-config -->", "yaml")

	dir := t.TempDir()
	wd, _ := os.Getwd()
	if err := os.Chdir(dir); err != nil {
		t.Fatal(err)
	}
	defer os.Chdir(wd)
	replacer := strings.NewReplacer(
		"registry.example.com:5000", e.dst.Host,
		"quay.io", e.src.Host,
		"registry.redhat.io", e.src.Host,
		"/media/usb", filepath.Join(dir, "usb"),
		"~/.kube/config", c.Kubeconfig, "~/.kube/prod", c.Kubeconfig, "~/.kube/stage", c.Kubeconfig,
	)
	noSigs := []string{"--release-repo", e.src.Ref("openshift-release-dev/ocp-release"), "--store", "file://" + filepath.Join(dir, "no-signatures")}
	// What the examples retire: two releases, one also carried on disk, an
	// image set's additional image and catalog (mirrored, then refreshed
	// with one package less), and the images of one run.
	isc := "apiVersion: mirror.openshift.io/v2alpha1\nkind: ImageSetConfiguration\nmirror:\n  additionalImages:\n  - name: registry.redhat.io/ubi9/ubi:latest\n" +
		"  operators:\n  - catalog: registry.redhat.io/redhat/redhat-operator-index:v4.17\n    packages:\n    - name: local-storage-operator\n"
	earlier := ""
	for _, args := range [][]string{
		append([]string{"release", "4.16.2", "--to", "docker://registry.example.com:5000/ocp/release"}, noSigs...),
		append([]string{"release", "4.16.3", "--to", "docker://registry.example.com:5000/ocp/release"}, noSigs...),
		append([]string{"release", "4.16.3", "--to", "file:///media/usb/ocp-4.16.3"}, noSigs...),
		{"-c", "imageset.yaml", "--to", "docker://registry.example.com:5000/mirror"},
		{"-c", "imageset.yaml", "--to", "docker://registry.example.com:5000/mirror"},
		{"images", "quay.io/tools/jq:1=registry.example.com:5000/tools/jq:1", "--resources-dir", "./mirror-resources"},
	} {
		if args[0] == "-c" {
			doc := isc
			if earlier == "" {
				doc += "    - name: cincinnati-operator\n"
			}
			if err := os.WriteFile("imageset.yaml", []byte(replacer.Replace(doc)), 0o644); err != nil {
				t.Fatal(err)
			}
		}
		for i := range args {
			args[i] = replacer.Replace(args[i])
		}
		stdout, stderr, code := e.run(t, "", args...)
		if code != 0 {
			t.Fatalf("%v: exit %d: %s", args, code, stderr)
		}
		if args[0] == "-c" && earlier == "" {
			_, earlier = catalogSourceImage(t, stdout)
		}
	}
	// The README's delete.yaml, naming the earlier catalog by the digest
	// its CatalogSource named.
	del := strings.Replace(replacer.Replace(deleteYAML), "sha256:<digest>", earlier[strings.LastIndex(earlier, "@")+1:], 1)
	if err := os.WriteFile("delete.yaml", []byte(del), 0o644); err != nil {
		t.Fatal(err)
	}

	ran := 0
	for _, ex := range []string{deleteExample, deleteReleaseExample, deleteImagesExample} {
		for _, line := range strings.Split(strings.ReplaceAll(ex, "\\\n", " "), "\n") {
			line = strings.TrimSpace(line)
			if line == "" || strings.HasPrefix(line, "#") {
				continue
			}
			args := strings.Fields(strings.TrimPrefix(replacer.Replace(line), "oc mirror lite"))
			if _, stderr, code := e.run(t, "", args...); code != 0 {
				t.Errorf("%s: exit %d: %s", line, code, stderr)
			}
			ran++
		}
	}
	if ran != 6 {
		t.Errorf("%d examples ran, want 6", ran)
	}
	// The README's delete.yaml plans the earlier catalog and what only it
	// lists, and the update service package; what the refreshed catalog
	// lists stays.
	stdout, stderr, code := e.run(t, "", "delete", "-c", "delete.yaml", "--to", "docker://"+e.dst.Ref("mirror"))
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	p := readPlan(t, stdout)
	mirrored := func(pullSpec string) string {
		return e.dst.Ref("mirror") + pullSpec[strings.Index(pullSpec, "/operators/"):]
	}
	osus := pkgs[0].Bundles[1]
	if got := refs(p.Delete); !sameSet(got, earlier, mirrored(osus.Image), mirrored(osus.Related[0]), e.dst.Ref("mirror/ubi9/ubi")+"@"+digestAt(t, e.sys(), e.dst.Ref("mirror/ubi9/ubi:latest")).String()) {
		t.Errorf("the README's delete.yaml plans %v\n%s", got, stderr)
	}
	if m, ok := find(p.Keep, mirrored(osus.Related[1])); !ok || !strings.Contains(m.Kept, "stays and lists it (bundle local-storage-operator.v4.17.0)") {
		t.Errorf("the operand lso 4.17.0 shares: kept %v %q", ok, m.Kept)
	}
	// Both releases and the run's image went; the image set's additional
	// image was only planned.
	for ref, want := range map[string]bool{
		e.dst.Ref("ocp/release:4.16.2-x86_64"):     false,
		e.dst.Ref("ocp/release:4.16.3-x86_64"):     false,
		e.dst.Ref("tools/jq:1"):                    false,
		e.dst.Ref("mirror/ubi9/ubi:latest"):        true,
		e.dst.Ref("ocp/release:4.16.3-x86_64-cli"): false,
	} {
		if e.has(t, ref) != want {
			t.Errorf("%s: in the registry %v, want %v", ref, !want, want)
		}
	}
}

// TestReadmeDeleteExamplesAreTheHelps: every command of the README's delete
// block is one TestDeleteExamplesRun runs.
func TestReadmeDeleteExamplesAreTheHelps(t *testing.T) {
	block := testenv.READMEBlock(t, "<!-- mirror-lite-delete -->", "sh")
	commands := func(s string) []string {
		var out []string
		for _, line := range strings.Split(strings.ReplaceAll(s, "\\\n", " "), "\n") {
			if line = strings.Join(strings.Fields(line), " "); line != "" && !strings.HasPrefix(line, "#") {
				out = append(out, line)
			}
		}
		return out
	}
	run := map[string]bool{}
	for _, c := range commands(deleteExample + "\n" + deleteReleaseExample + "\n" + deleteImagesExample) {
		run[c] = true
	}
	got := commands(block)
	if len(got) < 4 {
		t.Fatalf("README's delete block has %d commands", len(got))
	}
	for _, c := range got {
		if !run[c] {
			t.Errorf("README runs %q, which no help example does", c)
		}
	}
}
