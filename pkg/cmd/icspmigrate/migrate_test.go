package icspmigrate

import (
	"bytes"
	"context"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/cli-runtime/pkg/genericiooptions"

	"github.com/airgap-ocp/oc-plugins/internal/testenv"
	"github.com/airgap-ocp/oc-plugins/pkg/cli"
	"github.com/airgap-ocp/oc-plugins/pkg/manifest"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata/")

func TestMain(m *testing.M) { testenv.Main(m) }

type result = testenv.Result

// run runs the command as a user would, with stdin and arguments.
func run(t *testing.T, stdin string, args ...string) result {
	t.Helper()
	return testenv.Run(NewCmd, stdin, args...)
}

func golden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if got != string(want) {
		t.Errorf("output differs from %s (go test -update rewrites it):\n%s", path, got)
	}
}

func readStream(t *testing.T, s string) []manifest.Object {
	t.Helper()
	objs, err := manifest.Read(strings.NewReader(s), "stdout")
	if err != nil {
		t.Fatalf("output is not a valid stream: %v\n%s", err, s)
	}
	return objs
}

func kinds(objs []manifest.Object) string {
	var s []string
	for _, o := range objs {
		s = append(s, o.GetKind()+"/"+o.GetName())
	}
	return strings.Join(s, " ")
}

func TestConvertsFilesAndPassesOtherObjectsThroughInPlace(t *testing.T) {
	r := run(t, "", "-f", "testdata/mixed-stream.yaml")
	if r.Code != 0 {
		t.Fatalf("exit %d: %s", r.Code, r.Stderr)
	}
	objs := readStream(t, r.Stdout)
	if got, want := kinds(objs), "ConfigMap/registry-config ImageDigestMirrorSet/mirror-ocp ImageDigestMirrorSet/ubi9repo ImageDigestMirrorSet/redhat-operator-index Secret/pull-secret"; got != want {
		t.Errorf("objects\n %s\nwant\n %s", got, want)
	}
	golden(t, "mixed-stream.golden.yaml", r.Stdout)

	// Passed-through objects are unchanged.
	in, err := manifest.ReadFiles([]string{"testdata/mixed-stream.yaml"}, nil, manifest.ReadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for _, i := range []int{0, 2, 4} {
		if !equalObjects(in[i].Unstructured, objs[i].Unstructured) {
			t.Errorf("%s was changed on its way through", kinds(in[i:i+1]))
		}
	}

	// The same input gives the same bytes, whichever way it arrives.
	data, _ := os.ReadFile("testdata/mixed-stream.yaml")
	if again := run(t, string(data)); again.Stdout != r.Stdout {
		t.Errorf("stdin run differs from -f run:\n%s\n%s", again.Stdout, again.Stderr)
	}
	if again := run(t, "", "testdata/mixed-stream.yaml"); again.Stdout != r.Stdout {
		t.Errorf("FILE argument run differs from -f run")
	}
}

func equalObjects(a, b *unstructured.Unstructured) bool {
	x, _ := manifest.EncodeYAML(a)
	y, _ := manifest.EncodeYAML(b)
	return bytes.Equal(x, y)
}

func TestConvertsWhatOcGetPrintsAndDropsServerFields(t *testing.T) {
	r := run(t, "", "-f", "testdata/cluster-icsps.yaml")
	if r.Code != 0 {
		t.Fatalf("exit %d: %s", r.Code, r.Stderr)
	}
	golden(t, "cluster-icsps.golden.yaml", r.Stdout)
	objs := readStream(t, r.Stdout)
	if len(objs) != 2 {
		t.Fatalf("got %s", kinds(objs))
	}
	ex := objs[0]
	for _, f := range [][]string{{"metadata", "uid"}, {"metadata", "resourceVersion"}, {"metadata", "generation"}, {"metadata", "creationTimestamp"}, {"status"}} {
		if _, found, _ := unstructured.NestedFieldNoCopy(ex.Object, f...); found {
			t.Errorf("server-set field %s kept", strings.Join(f, "."))
		}
	}
	if _, ok := ex.GetAnnotations()["kubectl.kubernetes.io/last-applied-configuration"]; ok {
		t.Error("last-applied annotation kept")
	}
	if ex.GetAnnotations()["runbook.example.com/ticket"] != "CHG-1234" || ex.GetLabels()["mirror.example.com/purpose"] != "release" {
		t.Errorf("labels or annotations lost: %v %v", ex.GetLabels(), ex.GetAnnotations())
	}
}

func TestMergeFoldsAllICSPsIntoOne(t *testing.T) {
	r := run(t, "", "-f", "testdata/cluster-icsps.yaml", "-f", "testdata/mixed-stream.yaml", "--merge", "all-mirrors", "--check")
	if r.Code != 0 {
		t.Fatalf("exit %d: %s", r.Code, r.Stderr)
	}
	objs := readStream(t, r.Stdout)
	if got, want := kinds(objs), "ImageDigestMirrorSet/all-mirrors ConfigMap/registry-config ImageDigestMirrorSet/ubi9repo Secret/pull-secret"; got != want {
		t.Errorf("objects\n %s\nwant\n %s", got, want)
	}
	golden(t, "merge.golden.yaml", r.Stdout)
	entries, _, _ := unstructured.NestedSlice(objs[0].Object, "spec", "imageDigestMirrors")
	// example (2) + ubi8repo (6) + mirror-ocp (2, same sources as example) + redhat-operator-index (1, same source as ubi8repo's registry.redhat.io)
	if len(entries) != 8 {
		t.Errorf("%d entries, want 8 (sources de-duplicated)", len(entries))
	}
}

func TestCheck(t *testing.T) {
	r := run(t, "", "-f", "testdata/mixed-stream.yaml", "--check")
	if r.Code != 0 {
		t.Fatalf("plain conversion: exit %d: %s", r.Code, r.Stderr)
	}
	if !strings.Contains(r.Stderr, "is the same after conversion") {
		t.Errorf("stderr does not report the check: %q", r.Stderr)
	}

	r = run(t, "", "-f", "testdata/mixed-stream.yaml", "--check", "--source-policy", "NeverContactSource")
	if r.Code != cli.ExitDiffers {
		t.Fatalf("NeverContactSource: exit %d, want 1: %s", r.Code, r.Stderr)
	}
	if r.Stdout != "" {
		t.Errorf("a failed check printed objects:\n%s", r.Stdout)
	}
	for _, want := range []string{"--- registries.conf (with ICSPs)", "+++ registries.conf (with IDMSs)", "+  blocked = true", "error: the nodes' registries.conf would change"} {
		if !strings.Contains(r.Stderr, want) {
			t.Errorf("stderr lacks %q:\n%s", want, r.Stderr)
		}
	}

	// Without --check, the same conversion is printed: the user asked for it.
	r = run(t, "", "-f", "testdata/mixed-stream.yaml", "--source-policy", "NeverContactSource")
	if r.Code != 0 || strings.Count(r.Stdout, "mirrorSourcePolicy: NeverContactSource") != 3 {
		t.Errorf("exit %d, stdout:\n%s\nstderr: %s", r.Code, r.Stdout, r.Stderr)
	}
}

func TestBadInputIsExit2WithOneLineNamingThePlace(t *testing.T) {
	icsp := func(spec string) string {
		return "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: first}\n---\n" +
			"apiVersion: operator.openshift.io/v1alpha1\nkind: ImageContentSourcePolicy\nmetadata: {name: bad}\n" + spec
	}
	tests := []struct {
		name  string
		input string
		args  []string
		want  string
	}{
		{"not YAML", "kind: [\n", nil, "error: <stdin>: document 1: not valid YAML or JSON"},
		{"binary", "\x00\x01\x02\xff", nil, "error: <stdin>: document 1:"},
		{"an ICSP without spec", icsp(""), nil, "error: <stdin>: document 2: spec"},
		{"a mirror with a tag", icsp("spec:\n  repositoryDigestMirrors:\n  - source: quay.io/a/b\n    mirrors: [mirror.local/a/b:latest]\n"), nil,
			"error: <stdin>: document 2: spec.repositoryDigestMirrors[0].mirrors[0]: Invalid value: \"mirror.local/a/b:latest\": must not contain a tag or digest"},
		{"a mirror with a digest", icsp("spec:\n  repositoryDigestMirrors:\n  - source: quay.io/a/b\n    mirrors: [\"mirror.local/a/b@sha256:0123456789012345678901234567890123456789012345678901234567890123\"]\n"), nil,
			"error: <stdin>: document 2: spec.repositoryDigestMirrors[0].mirrors[0]: Invalid value"},
		{"an invalid source", icsp("spec:\n  repositoryDigestMirrors:\n  - source: 'quay.io/UPPER case'\n    mirrors: [mirror.local/a]\n"), nil,
			"error: <stdin>: document 2: spec.repositoryDigestMirrors[0].source: Invalid value"},
		{"an unknown field", icsp("spec:\n  repositoryDigestMirrors:\n  - source: quay.io/a\n    mirror: [mirror.local/a]\n"), nil,
			"error: <stdin>: document 2: spec.repositoryDigestMirrors[0].mirror"},
		{"conflicting mirrorSourcePolicy for one source",
			icsp("spec:\n  repositoryDigestMirrors:\n  - source: quay.io/a\n    mirrors: [mirror.local/a]\n") +
				"---\napiVersion: config.openshift.io/v1\nkind: ImageDigestMirrorSet\nmetadata: {name: strict}\nspec:\n  imageDigestMirrors:\n  - source: quay.io/a\n    mirrors: [mirror.local/a]\n    mirrorSourcePolicy: NeverContactSource\n",
			nil, "error: conflicting mirror objects:"},
		{"a missing file", "", []string{"-f", "testdata/no-such-file.yaml"}, "error: testdata/no-such-file.yaml: no such file or directory"},
		{"--prune without --apply", "", []string{"-f", "testdata/mixed-stream.yaml", "--prune"}, "error: --prune needs --apply"},
		{"an unknown --source-policy", "", []string{"-f", "testdata/mixed-stream.yaml", "--source-policy", "Never"}, "error: --source-policy \"Never\": must be"},
		{"an invalid --merge name", "", []string{"-f", "testdata/mixed-stream.yaml", "--merge", "Not_A_Name"}, "error: --merge \"Not_A_Name\":"},
		{"an unknown flag", "", []string{"--frobnicate"}, "error: unknown flag: --frobnicate"},
		{"an unknown output format", "", []string{"-f", "testdata/mixed-stream.yaml", "-o", "xml"}, "error: unable to match a printer"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dest := t.TempDir()
			args := append(append([]string{}, tt.args...), "--dest-dir", dest)
			r := run(t, tt.input, args...)
			if r.Code != cli.ExitBadInput {
				t.Errorf("exit %d, want 2 (stderr %q)", r.Code, r.Stderr)
			}
			if !strings.HasPrefix(r.Stderr, tt.want) {
				t.Errorf("stderr\n %q\ndoes not start with\n %q", r.Stderr, tt.want)
			}
			if strings.Count(r.Stderr, "\n") != 1 {
				t.Errorf("stderr is not one line: %q", r.Stderr)
			}
			if r.Stdout != "" {
				t.Errorf("stdout not empty: %q", r.Stdout)
			}
			if entries, _ := os.ReadDir(dest); len(entries) != 0 {
				t.Errorf("--dest-dir written despite bad input: %v", entries)
			}
		})
	}
}

func TestDestDirWritesOneFilePerIDMS(t *testing.T) {
	dest := filepath.Join(t.TempDir(), "idms-files")
	r := run(t, "", "-f", "testdata/cluster-icsps.yaml", "--dest-dir", dest, "-o", "name")
	if r.Code != 0 {
		t.Fatalf("exit %d: %s", r.Code, r.Stderr)
	}
	if r.Stdout != "imagedigestmirrorset.config.openshift.io/example\nimagedigestmirrorset.config.openshift.io/ubi8repo\n" {
		t.Errorf("-o name printed %q", r.Stdout)
	}
	entries, err := os.ReadDir(dest)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	if got := strings.Join(names, " "); got != "imagedigestmirrorset_example.yaml imagedigestmirrorset_ubi8repo.yaml" {
		t.Errorf("files %s", got)
	}
	objs, err := manifest.ReadFiles([]string{dest}, nil, manifest.ReadOptions{})
	if err != nil || len(objs) != 2 || objs[1].GetKind() != "ImageDigestMirrorSet" || objs[1].GetName() != "ubi8repo" {
		t.Errorf("files do not hold the IDMSs: %v %v", kinds(objs), err)
	}
}

func TestNoInputIsAnError(t *testing.T) {
	// A terminal on stdin cannot be faked here; nil stdin stands for "nothing piped".
	streams := genericiooptions.IOStreams{In: nil, Out: &bytes.Buffer{}, ErrOut: &bytes.Buffer{}}
	cmd := NewCmd(streams)
	cmd.SetArgs([]string{})
	if code := cli.Execute(cmd, streams); code != cli.ExitBadInput {
		t.Errorf("exit %d, want 2: %s", code, streams.ErrOut)
	}
	if !strings.Contains(streams.ErrOut.(*bytes.Buffer).String(), "no input") {
		t.Errorf("stderr: %s", streams.ErrOut)
	}
}

func TestPrintedObjectsAreAcceptedByTheRealSchema(t *testing.T) {
	c := testenv.SharedCluster(t)
	for _, in := range []string{"testdata/mixed-stream.yaml", "testdata/cluster-icsps.yaml"} {
		for _, extra := range [][]string{nil, {"--merge", "merged"}, {"--source-policy", "NeverContactSource"}} {
			r := run(t, "", append([]string{"-f", in}, extra...)...)
			if r.Code != 0 {
				t.Fatalf("%s %v: exit %d: %s", in, extra, r.Code, r.Stderr)
			}
			for _, obj := range readStream(t, r.Stdout) {
				if obj.GetKind() != "ImageDigestMirrorSet" {
					continue
				}
				if err := serverDryRun(context.Background(), c, obj.Unstructured); err != nil {
					t.Errorf("%s %v: the API server rejects %s: %v", in, extra, obj.GetName(), err)
				}
			}
		}
	}
}

func TestNoNamespaceFlagForAClusterScopedKind(t *testing.T) {
	r := run(t, "", "--help")
	if r.Code != 0 || strings.Contains(r.Stdout, "--namespace") || !strings.Contains(r.Stdout, "--kubeconfig") {
		t.Errorf("help offers -n for ImageContentSourcePolicies, which have no namespace:\n%s", r.Stdout)
	}
}
