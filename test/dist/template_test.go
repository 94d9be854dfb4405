package dist

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"sigs.k8s.io/yaml"
)

// TestTemplate checks every document of plugins.yaml, also those for plugins
// not under cmd/ yet, with placeholders filled as hack/dist.sh fills them for
// one platform: each must be a valid krew manifest in the shape the renderer
// expects.
func TestTemplate(t *testing.T) {
	root := repoRoot(t)
	b, err := os.ReadFile(filepath.Join(root, "plugins.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	fill := strings.NewReplacer(
		"{{VERSION}}", "v1.2.3",
		"{{OS}}", "linux",
		"{{ARCH}}", "arm64",
		"{{URI}}", releaseURL+"v1.2.3/oc-x_v1.2.3_linux_arm64.tar.gz",
		"{{SHA256}}", strings.Repeat("0f", 32),
	)
	seen := map[string]bool{}
	r := utilyaml.NewYAMLReader(bufio.NewReader(bytes.NewReader(b)))
	for i := 0; ; i++ {
		doc, err := r.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("plugins.yaml: %v", err)
		}
		if isBlank(doc) {
			continue
		}
		var p krewPlugin
		if err := yaml.UnmarshalStrict([]byte(fill.Replace(string(doc))), &p); err != nil {
			t.Errorf("plugins.yaml document %d: %v", i, err)
			continue
		}
		t.Run(p.Name, func(t *testing.T) {
			if seen[p.Name] {
				t.Fatalf("two documents are named %s", p.Name)
			}
			seen[p.Name] = true
			if s := fill.Replace(string(doc)); strings.Contains(s, "{{") {
				t.Errorf("a placeholder other than VERSION, OS, ARCH, URI, SHA256 is used")
			}
			if err := validatePlugin(p.Name, p); err != nil {
				t.Fatal(err)
			}
			if len(p.Spec.Platforms) != 1 {
				t.Fatalf("has %d platforms items, want the one that dist.sh repeats per platform", len(p.Spec.Platforms))
			}
			pl := p.Spec.Platforms[0]
			if want := "oc-" + p.Name; pl.Bin != want {
				t.Errorf("bin is %q, want %q", pl.Bin, want)
			}
			if !platformsLast(string(doc)) {
				t.Errorf("spec.platforms is not the document's last field, as dist.sh needs")
			}
			for _, want := range []string{"{{VERSION}}", "{{OS}}", "{{ARCH}}", "{{URI}}", "{{SHA256}}"} {
				if !bytes.Contains(doc, []byte(want)) {
					t.Errorf("does not use %s", want)
				}
			}
			installed, err := installedFiles([]string{"LICENSE", pl.Bin}, withoutAliases(pl.Files, pl.Bin))
			if err != nil {
				t.Fatal(err)
			}
			if installed[pl.Bin] != pl.Bin || installed["LICENSE"] != "LICENSE" {
				t.Errorf("files install %v, want %s and LICENSE", installed, pl.Bin)
			}
			if p.Spec.Homepage != "https://github.com/airgap-ocp/oc-plugins" {
				t.Errorf("homepage is %q", p.Spec.Homepage)
			}
		})
	}
	if len(seen) == 0 {
		t.Fatal("plugins.yaml has no manifest")
	}
	for _, d := range listDir(t, filepath.Join(root, "cmd"), "oc-*") {
		if !seen[strings.TrimPrefix(d, "oc-")] {
			t.Errorf("cmd/%s has no document in plugins.yaml", d)
		}
	}
}

// withoutAliases drops the files entries for other oc-* names, which are
// alias copies that exist only where the Makefile's ALIASES puts them.
func withoutAliases(ops []krewFileOperation, bin string) []krewFileOperation {
	var out []krewFileOperation
	for _, op := range ops {
		if strings.HasPrefix(op.From, "oc-") && op.From != bin {
			continue
		}
		out = append(out, op)
	}
	return out
}

// platformsLast reports whether "  platforms:" is a line of doc and every
// line after it belongs to the platforms list (dist.sh repeats those lines).
func platformsLast(doc string) bool {
	_, rest, ok := strings.Cut(doc, "\n  platforms:\n")
	if !ok {
		return false
	}
	for _, line := range strings.Split(rest, "\n") {
		l := strings.TrimSpace(line)
		if l == "" || strings.HasPrefix(l, "#") {
			continue
		}
		if !strings.HasPrefix(line, "  - ") && !strings.HasPrefix(line, "    ") {
			return false
		}
	}
	return true
}

// isBlank reports whether a YAML document holds only comments and space.
func isBlank(doc []byte) bool {
	for _, line := range strings.Split(string(doc), "\n") {
		if l := strings.TrimSpace(line); l != "" && !strings.HasPrefix(l, "#") && l != "---" {
			return false
		}
	}
	return true
}
