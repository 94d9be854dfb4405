package e2e

import (
	"bytes"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/airgap-ocp/oc-plugins/internal/testenv"
)

// corpus writes the bad inputs into dir, by name.
func corpus(t *testing.T, e *env) {
	t.Helper()
	w := func(name, data string) { e.write(t, name, []byte(data)) }
	w("not-yaml.yaml", "this: is: not: yaml\n  - [\n")
	e.write(t, "binary.yaml", testenv.PseudoRandom("binary", 4096))
	w("no-kind.yaml", "apiVersion: v1\nmetadata: {name: x}\n")
	w("no-apiversion.yaml", "kind: ConfigMap\nmetadata: {name: x}\n")
	w("list-of-strings.yaml", "apiVersion: v1\nkind: List\nitems: [a, b]\n")
	w("icsp-no-source.yaml", `apiVersion: v1
kind: ConfigMap
metadata: {name: passes-through}
---
apiVersion: operator.openshift.io/v1alpha1
kind: ImageContentSourcePolicy
metadata: {name: x}
spec:
  repositoryDigestMirrors:
  - mirrors: [mirror.example.com/x]
`)
	w("icsp-bad-mirror.yaml", `apiVersion: operator.openshift.io/v1alpha1
kind: ImageContentSourcePolicy
metadata: {name: x}
spec:
  repositoryDigestMirrors:
  - {source: quay.io/openshift-release-dev/ocp-release, mirrors: ["Mirror Example!/x"]}
`)
	w("idms-digest-mirror.yaml", `apiVersion: config.openshift.io/v1
kind: ImageDigestMirrorSet
metadata: {name: x}
spec:
  imageDigestMirrors:
  - {source: quay.io/openshift-release-dev/ocp-release, mirrors: ["quay.io/x@sha256:abc"]}
`)
	w("signature-not-base64.yaml", `apiVersion: v1
kind: ConfigMap
metadata:
  name: sha256-x
  namespace: openshift-config-managed
  labels: {release.openshift.io/verification-signatures: ""}
binaryData: {sha256-0123-1: "!!!not base64"}
`)
	w("mhc-no-name.yaml", "apiVersion: machine.openshift.io/v1beta1\nkind: MachineHealthCheck\nmetadata: {namespace: openshift-machine-api}\nspec: {}\n")
	w("mhc-unknown.yaml", "apiVersion: machine.openshift.io/v1beta1\nkind: MachineHealthCheck\nmetadata: {name: e2e-no-such-mhc, namespace: openshift-machine-api}\n")
	w("image-cluster.yaml", imageCluster)
	w("not-toml.conf", "not = [toml\n")
	w("mapping-bad-ref.txt", "quay.io/a/b:1=mirror.example.com/a/b:1\nquay.io/a/c:1=mirror.example.com/a/c:1\nquay.io/a/d:1=Mirror Example!/d:1\n")
	e.write(t, "mapping-binary.txt", testenv.PseudoRandom("mapping", 4096))
	w("key.asc", "not a key\n")
	// A key given twice: the last one must not win silently.
	w("dup-key.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: ok}\n---\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: first, name: second}\n")
	w("dup-key.json", `{"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "first", "name": "second"}}`)
	w("dup-key-imageset.yaml", "apiVersion: mirror.openshift.io/v2alpha1\nkind: ImageSetConfiguration\nmirror:\n  additionalImages:\n  - name: quay.io/a/b:1\n    name: quay.io/a/c:1\n")
	// Empty input: no objects where objects are required.
	w("empty.yaml", "")
	w("only-separators.yaml", "# nothing here\n---\n# nor here\n---\n")
	w("empty-mapping.txt", "# no images yet\n\n")
	w("empty-dir/empty.yaml", "---\n")

	// A huge document: 32 MiB, missing its kind. The error line must not echo it.
	huge := "apiVersion: v1\nmetadata: {name: huge}\ndata:\n  blob: " + strings.Repeat("x", 32<<20) + "\n"
	w("huge.yaml", huge)
	w("huge-line.txt", "quay.io/a/b:1="+strings.Repeat("m", 32<<20)+"\n")

	// A 100 MB stream: 100 valid ConfigMaps of 1 MiB each that every plugin
	// passes through, then one bad document.
	var big bytes.Buffer
	blob := strings.Repeat("x", 1<<20)
	for i := range 100 {
		fmt.Fprintf(&big, "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: big-%d, namespace: default}\ndata:\n  blob: %s\n---\n", i, blob)
	}
	big.WriteString("apiVersion: v1\nmetadata: {name: last}\n")
	e.write(t, "100mb.yaml", big.Bytes())
}

// TestBadInput runs every plugin on a corpus of bad input: each run exits 2
// with one short line naming the file, the document and the field, prints
// nothing on stdout, writes no file and changes nothing in the cluster.
func TestBadInput(t *testing.T) {
	e, _ := clusterEnv(t)
	corpus(t, e)
	keyring := filepath.Join(testenvRoot(t), "pkg/signature/testdata/keyrings/redhat.txt")
	const unreachable = "127.0.0.1:1/ocp/release:4.16.3-x86_64"
	e.write(t, "mhcs.yaml", []byte(mhcs))
	e.must(t, "kubectl apply -f mhcs.yaml")

	// Every plugin that reads object streams, with its output-writing flags,
	// so that a file written would show.
	streamers := map[string]string{
		"oc-icsp-migrate":       "oc-icsp-migrate -f %s --dest-dir out",
		"oc-release-sig verify": "oc-release-sig verify -f %s --keyring " + keyring,
		"oc-registries-verify":  "oc-registries-verify -f %s -f image-cluster.yaml --node-file worker-0=/dev/null",
		"oc-mhc-pause":          "oc-mhc-pause -f %s",
	}
	generic := []struct{ file, want string }{
		{"not-yaml.yaml", "not-yaml.yaml: document 1: "},
		{"binary.yaml", "binary.yaml: document 1: "},
		{"no-kind.yaml", "no-kind.yaml: document 1: kind: "},
		{"no-apiversion.yaml", "no-apiversion.yaml: document 1: apiVersion: "},
		{"list-of-strings.yaml", "list-of-strings.yaml: document 1"},
		{"huge.yaml", "huge.yaml: document 1: kind: "},
		{"100mb.yaml", "100mb.yaml: document 101: kind: "},
		{"missing.yaml", "missing.yaml: "},
		{"dup-key.yaml", `dup-key.yaml: document 2: a key is given twice: line 3: key "name" already set in map`},
		{"dup-key.json", `dup-key.json: document 1: a key is given twice: duplicate field "metadata.name"`},
		{"empty.yaml", "empty.yaml: no objects"},
		{"only-separators.yaml", "only-separators.yaml: no objects"},
		{"empty-dir", "empty-dir: no objects"},
		{"- <empty.yaml", "<stdin>: no objects"},
	}
	type tc struct{ name, script, want string }
	var cases []tc
	for plugin, cmd := range streamers {
		for _, g := range generic {
			cases = append(cases, tc{plugin + "/" + g.file, fmt.Sprintf(cmd, g.file), g.want})
		}
	}
	cases = append(cases,
		// Empty standard input that was only piped (no -f) is no input at all:
		// each plugin says what input it needs, or reads the cluster.
		tc{"oc-icsp-migrate/empty pipe", "oc-icsp-migrate --dest-dir out", "no input"},
		tc{"oc-icsp-migrate/empty stdin redirected", "oc-icsp-migrate --dest-dir out </dev/null", "no input"},
		tc{"oc-release-sig verify/empty pipe", "oc-release-sig verify --keyring " + keyring, "no input"},
		tc{"oc-mhc-pause/empty pipe", "oc-mhc-pause", "nothing selected"},
		tc{"oc-mhc-pause/empty stdin redirected", "oc-mhc-pause </dev/null", "nothing selected"},
		tc{"oc-mirror-lite/empty pipe", "oc-mirror-lite images", "no images"},
		tc{"oc-mirror-lite/mapping file empty", "oc-mirror-lite images -f empty-mapping.txt --resources-dir out", "empty-mapping.txt: no mappings"},
		tc{"oc-mirror-lite/mapping stdin empty", "oc-mirror-lite images -f - --resources-dir out <empty-mapping.txt", "<stdin>: no mappings"},
		tc{"oc-registries-verify render/empty file", "oc-registries-verify render -f empty.yaml", "empty.yaml: no objects"},
		tc{"oc-registries-verify render/one empty file of two", "oc-registries-verify render -f image-cluster.yaml -f only-separators.yaml", "only-separators.yaml: no objects"},
		tc{"oc-icsp-migrate/stdin 100mb", "cat 100mb.yaml | oc-icsp-migrate --dest-dir out", "<stdin>: document 101: kind: "},
		tc{"oc-icsp-migrate/no source", "oc-icsp-migrate -f icsp-no-source.yaml --dest-dir out", "icsp-no-source.yaml: document 2: spec.repositoryDigestMirrors[0].source: "},
		tc{"oc-icsp-migrate/bad mirror", "oc-icsp-migrate -f icsp-bad-mirror.yaml --dest-dir out", "icsp-bad-mirror.yaml: document 1: spec.repositoryDigestMirrors[0].mirrors[0]: "},
		tc{"oc-icsp-migrate/--prune without --apply", "oc-icsp-migrate -f icsp-bad-mirror.yaml --prune", "--prune"},
		tc{"oc-registries-verify render/not YAML", "oc-registries-verify render -f not-yaml.yaml", "not-yaml.yaml: document 1: "},
		tc{"oc-registries-verify/digest mirror", "oc-registries-verify render -f idms-digest-mirror.yaml", "idms-digest-mirror.yaml: document 1: spec.imageDigestMirrors[0].mirrors[0]: "},
		tc{"oc-registries-verify/ICSP without source", "oc-registries-verify render -f icsp-no-source.yaml", "icsp-no-source.yaml: document 2: spec.repositoryDigestMirrors[0].source: "},
		tc{"oc-registries-verify/node file not TOML", "oc-registries-verify -f image-cluster.yaml --node-file worker-0=not-toml.conf", "not-toml.conf"},
		tc{"oc-registries-verify/node file binary", "oc-registries-verify -f image-cluster.yaml --node-file worker-0=binary.yaml", "binary.yaml"},
		tc{"oc-registries-verify/resolve bad reference", "oc-registries-verify resolve 'Not A Ref!!' -f image-cluster.yaml", "Not A Ref!!"},
		tc{"oc-release-sig verify/not base64", "oc-release-sig verify -f signature-not-base64.yaml --keyring " + keyring, "signature-not-base64.yaml: document 1: binaryData.sha256-0123-1: not base64"},
		tc{"oc-release-sig verify/bad pull spec", "oc-release-sig verify -f signature-not-base64.yaml --keyring " + keyring + " 'NotARef!!'", "NotARef!!"},
		tc{"oc-release-sig verify/keyring not a key", "oc-release-sig verify -f image-cluster.yaml --digest sha256:" + strings.Repeat("0", 64) + " --keyring key.asc", "key.asc"},
		tc{"oc-release-sig/bad digest", "oc-release-sig --digest sha256:xyz --keyring " + keyring + " --store file:///nonexistent --to-dir out", "--digest"},
		tc{"oc-mhc-pause/no name", "oc-mhc-pause -f mhc-no-name.yaml", "mhc-no-name.yaml: document 1: metadata.name"},
		tc{"oc-mhc-pause/unknown MHC", "oc-mhc-pause -f mhc-unknown.yaml", "mhc-unknown.yaml: document 1"},
		tc{"oc-mhc-pause/invalid name", "oc-mhc-pause ../x", `machinehealthcheck name "../x"`},
		tc{"oc-mirror-lite/image set key given twice", "oc-mirror-lite -c dup-key-imageset.yaml --to file://disk", `dup-key-imageset.yaml: `},
		tc{"oc-mhc-pause/bad selector", "oc-mhc-pause -l 'a in (b'", "-l"},
		tc{"oc-mhc-pause status/bad expect", "oc-mhc-pause status --expect maybe", "--expect"},
		tc{"oc-mirror-lite/mapping bad reference", "oc-mirror-lite images -f mapping-bad-ref.txt --resources-dir out", "mapping-bad-ref.txt: line 3: "},
		tc{"oc-mirror-lite/mapping binary", "oc-mirror-lite images -f mapping-binary.txt --resources-dir out", "mapping-binary.txt: line 1: "},
		tc{"oc-mirror-lite/mapping huge line", "oc-mirror-lite images -f huge-line.txt --resources-dir out", "huge-line.txt: line 1: "},
		tc{"oc-mirror-lite/mapping missing", "oc-mirror-lite images -f missing.txt --resources-dir out", "missing.txt"},
		tc{"oc-mirror-lite/release bad pull spec", "oc-mirror-lite release 'Not!!' --to docker://mirror.example.com/ocp --resources-dir out", "Not!!"},
		// Local inputs are read before any registry is asked (127.0.0.1:1 refuses
		// every connection: reaching it first would be exit 3, after retries).
		tc{"oc-mirror-lite/keyring not a key, before the registry", "oc-mirror-lite release " + unreachable + " --to docker://127.0.0.1:1/mirror --keyring key.asc --resources-dir out", "--keyring key.asc: "},
		tc{"oc-mirror-lite/keyring not a key, before the registry, to disk", "oc-mirror-lite release " + unreachable + " --to file://disk --keyring key.asc", "--keyring key.asc: "},
		tc{"oc-mirror-lite/auth file not JSON", "oc-mirror-lite release " + unreachable + " --to docker://127.0.0.1:1/mirror --authfile not-yaml.yaml --resources-dir out", "--authfile not-yaml.yaml: "},
		tc{"oc-mirror-lite/auth file binary, images", "oc-mirror-lite images 127.0.0.1:1/a/b:1=127.0.0.1:1/m/b:1 --authfile binary.yaml", "--authfile binary.yaml: "},
		tc{"oc-release-sig/keyring not a key, before the registry", "oc-release-sig " + unreachable + " --keyring key.asc --store file:///nonexistent --to-dir out", "--keyring key.asc: "},
		tc{"oc-release-sig/auth file not JSON", "oc-release-sig " + unreachable + " --keyring " + keyring + " --authfile not-yaml.yaml --store file:///nonexistent --to-dir out", "--authfile not-yaml.yaml: "},
		// A release that is neither X.Y.Z nor a fully qualified pull spec is refused before any
		// registry is asked (a short name would otherwise go to Docker Hub).
		tc{"oc-mirror-lite/release a minor version", "oc-mirror-lite release 4.16 --to docker://127.0.0.1:1/mirror --resources-dir out", `release "4.16": want a version X.Y.Z`},
		tc{"oc-mirror-lite/release a channel, to disk", "oc-mirror-lite release stable-4.16 --to file://disk", `release "stable-4.16": want a version X.Y.Z`},
		tc{"oc-release-sig/a channel", "oc-release-sig stable-4.16 --keyring " + keyring + " --store file:///nonexistent --to-dir out", `release "stable-4.16": want a version X.Y.Z`},
		tc{"oc-release-sig/a short name", "oc-release-sig ocp-release:4.16.3 --keyring " + keyring + " --store file:///nonexistent --to-dir out", "or a fully qualified pull spec"},
		tc{"oc-mirror-lite/release bad destination", "oc-mirror-lite release quay.io/openshift-release-dev/ocp-release:4.16.3-x86_64 --to docker://Bad!!/y --resources-dir out", "--to"},
	)
	slices.SortFunc(cases, func(a, b tc) int { return strings.Compare(a.name, b.name) })

	before := files(t, e.dir)
	mhcsBefore := e.must(t, "kubectl get machinehealthchecks.machine.openshift.io -A -o yaml").stdout
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := e.sh(t, "", c.script)
			if r.code != 2 {
				t.Errorf("%s: exit %d, want 2\nstderr: %.500s", c.script, r.code, r.stderr)
			}
			if r.stdout != "" {
				t.Errorf("%s printed on stdout: %.300q", c.script, r.stdout)
			}
			lines := strings.Split(strings.TrimRight(r.stderr, "\n"), "\n")
			if len(lines) != 1 || !strings.HasPrefix(lines[0], "error: ") {
				t.Errorf("%s: want one line \"error: ...\" on stderr, got %d lines:\n%.1000s", c.script, len(lines), r.stderr)
			}
			if !strings.Contains(lines[0], c.want) {
				t.Errorf("%s: the error does not say %q:\n%.500s", c.script, c.want, lines[0])
			}
			if len(r.stderr) > 1024 {
				t.Errorf("%s: the error line is %d bytes long: it should name the place, not echo the input", c.script, len(r.stderr))
			}
			if after := files(t, e.dir); !slices.Equal(after, before) {
				t.Errorf("%s wrote files: %v", c.script, after)
			}
		})
	}
	if after := e.must(t, "kubectl get machinehealthchecks.machine.openshift.io -A -o yaml").stdout; after != mhcsBefore {
		t.Errorf("bad input changed MachineHealthChecks:\nbefore:\n%s\nafter:\n%s", mhcsBefore, after)
	}
	e.must(t, "kubectl delete -f mhcs.yaml")
}

func testenvRoot(t *testing.T) string {
	t.Helper()
	root, err := testenv.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	return root
}
