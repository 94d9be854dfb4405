package mirrorlite

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/airgap-ocp/oc-plugins/internal/testenv"
)

// TestExamplesRun runs every example of the help as a user would paste it,
// with quay.io, registry.redhat.io and registry.example.com:5000 standing
// for the test registries and Red Hat's key for a test key; "| oc apply -f -"
// goes to kubectl against the test API server.
func TestExamplesRun(t *testing.T) {
	c := testenv.SharedCluster(t)
	bin, err := testenv.TestbinDir()
	if err != nil {
		t.Fatal(err)
	}
	kubectl := filepath.Join(bin, "kubectl")
	e := newEnv(t)
	rel, keyFile, store := signedRelease(t, e, testenv.ReleaseSpec{Components: 4})
	e.src.PushRelease(t, testenv.ReleaseSpec{Components: 4, Arch: "arm64"})
	e.src.PushRelease(t, testenv.ReleaseSpec{Version: "4.16.4", Components: 4})
	e.src.PushRelease(t, testenv.ReleaseSpec{Components: 4, Arches: []string{"amd64", "arm64"}})
	ctx := context.Background()
	ubi := testenv.Image{Layers: []testenv.Layer{{Files: []testenv.File{{Name: "etc/os-release", Data: []byte("ID=rhel\n")}}}}}
	e.src.MustPushImage(t, "ubi9/ubi:latest", ubi)
	var multi []testenv.Image
	for _, arch := range []string{"amd64", "arm64", "s390x"} {
		multi = append(multi, testenv.Image{Architecture: arch, Layers: []testenv.Layer{{Files: []testenv.File{{Name: "arch", Data: []byte(arch)}}}}})
	}
	if _, err := e.src.PushImageList(ctx, "tools/multi:v1", multi); err != nil {
		t.Fatal(err)
	}

	pushOperators(t, e)

	dir := t.TempDir()
	wd, _ := os.Getwd()
	if err := os.Chdir(dir); err != nil {
		t.Fatal(err)
	}
	defer os.Chdir(wd)
	graph := testenv.StartGraph(t, testenv.GraphChannel{Name: "stable-4.16", Arch: "amd64",
		Releases: []testenv.GraphRelease{{Version: "4.16.3", Payload: rel.PullSpec}}})
	t.Setenv("UPDATE_URL_OVERRIDE", graph.URL) // for the -c examples that do not set it
	isc := "apiVersion: mirror.openshift.io/v2alpha1\nkind: ImageSetConfiguration\nmirror:\n  platform:\n    channels:\n    - name: stable-4.16\n" +
		"  additionalImages:\n  - name: registry.redhat.io/ubi9/ubi:latest\n"
	if err := os.WriteFile("imageset.yaml", []byte(strings.ReplaceAll(isc, "registry.redhat.io", e.src.Host)), 0o644); err != nil {
		t.Fatal(err)
	}
	// The enclave's image set: the release of the archive, not the extra image.
	if err := os.WriteFile("enclave.yaml", []byte(strings.SplitAfter(isc, "- name: stable-4.16\n")[0]), 0o644); err != nil {
		t.Fatal(err)
	}
	mapping := e.src.Ref("tools/multi:v1") + " " + e.dst.Ref("tools/multi:v1") + "\n"
	if err := os.WriteFile("mapping.txt", []byte(mapping), 0o644); err != nil {
		t.Fatal(err)
	}

	replacer := strings.NewReplacer(
		"registry.example.com:5000", e.dst.Host,
		"quay.io", e.src.Host,
		"registry.redhat.io", e.src.Host,
		"/etc/pki/rpm-gpg/RPM-GPG-KEY-redhat-release", keyFile,
		"/media/usb", filepath.Join(dir, "usb"),
		"https://graph.example.com/api/upgrades_info/v1/graph", graph.URL,
	)
	extra := []string{"--release-repo", e.src.Ref("openshift-release-dev/ocp-release"), "--signature-store", store}
	ran := 0
	for _, ex := range []string{releaseExample, imagesExample, rootExample, catalogExample} {
		for _, line := range strings.Split(strings.ReplaceAll(ex, "\\\n", " "), "\n") {
			line = strings.TrimSpace(line)
			if line == "" || strings.HasPrefix(line, "#") {
				continue
			}
			line = replacer.Replace(line)
			if env, rest, ok := strings.Cut(line, " oc mirror lite"); ok && strings.HasPrefix(env, "UPDATE_URL_OVERRIDE=") {
				t.Setenv("UPDATE_URL_OVERRIDE", strings.TrimSpace(strings.TrimPrefix(env, "UPDATE_URL_OVERRIDE=")))
				line = "oc mirror lite" + rest
			}
			stages := strings.Split(line, "|")
			args := strings.Fields(strings.TrimPrefix(strings.TrimSpace(stages[0]), "oc mirror lite"))
			switch args[0] {
			case "release":
				args = append(args, extra...)
			case "-c":
				args = append(args, "--signature-store", store)
			}
			stdout, stderr, code := e.run(t, "", args...)
			if code != 0 {
				t.Errorf("%s: exit %d: %s", line, code, stderr)
				continue
			}
			ran++
			if len(stages) > 1 {
				if strings.TrimSpace(stages[1]) != "oc apply -f -" {
					t.Fatalf("unexpected pipeline stage %q", stages[1])
				}
				apply := exec.Command(kubectl, "--kubeconfig", c.Kubeconfig, "apply", "--server-side", "-f", "-")
				apply.Stdin = strings.NewReader(stdout)
				var out bytes.Buffer
				apply.Stdout, apply.Stderr = &out, &out
				if err := apply.Run(); err != nil {
					t.Errorf("%s: oc apply: %v\n%s", line, err, out.String())
				}
				want := "configmap/sha256-" + rel.Digest.Encoded()
				if strings.Contains(stdout, "kind: CatalogSource") {
					want = "catalogsource.operators.coreos.com/cs-redhat-operator-index-v4-17"
				}
				if !strings.Contains(out.String(), want) {
					t.Errorf("%s: %s was not applied:\n%s", line, want, out.String())
				}
				cleanup := exec.Command(kubectl, "--kubeconfig", c.Kubeconfig, "delete", "-f", "-")
				cleanup.Stdin = strings.NewReader(stdout)
				_ = cleanup.Run()
			}
		}
	}
	if ran != 16 {
		t.Errorf("%d examples ran, want 16", ran)
	}
	if _, err := os.Stat(filepath.Join(dir, "mirror-resources", "idms-oc-mirror.yaml")); err != nil {
		t.Errorf("the --resources-dir example wrote no IDMS: %v", err)
	}
}
