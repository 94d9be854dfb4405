package updateservice

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/airgap-ocp/oc-plugins/internal/testenv"
)

// readmeExamples returns the commands of the README's code block under
// "## oc update service".
func readmeExamples(t *testing.T) []string {
	t.Helper()
	block := testenv.READMEBlock(t, "## oc update service", "sh")
	return strings.Split(strings.ReplaceAll(block, "\\\n", " "), "\n")
}

// TestExamplesRun runs every example of the README section and of the
// commands' help, as a user would paste it, in a folder holding the files
// they name, against a cluster ready to update to 4.16.3: each must exit 0.
func TestExamplesRun(t *testing.T) {
	r := newReady(t)
	readme := readmeExamples(t)
	dir := t.TempDir()
	ca, err := os.ReadFile(r.reg.CACertFile)
	if err != nil {
		t.Fatal(err)
	}
	auth, err := os.ReadFile(r.reg.AuthFile)
	if err != nil {
		t.Fatal(err)
	}
	// What oc mirror lite --graph printed: the UpdateService the cluster has.
	res := strings.ReplaceAll(resources("update-service", string(ca)), "mirror.example.com:5000", r.reg.Host)
	res = strings.Replace(res, "graph-image@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef", "graph-image@sha256:"+strings.Repeat("2", 64), 1)
	for name, content := range map[string][]byte{"resources.yaml": []byte(res), "route-ca.crt": r.graph.CAPEM, "ca/ca.crt": ca, "auth.json": auth} {
		if err := os.MkdirAll(filepath.Dir(filepath.Join(dir, name)), 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, name), content, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	t.Chdir(dir)

	var lines []string
	lines = append(lines, readme...)
	for _, ex := range []string{rootExample, applyExample, statusExample} {
		lines = append(lines, strings.Split(strings.ReplaceAll(ex, "\\\n", " "), "\n")...)
	}
	ran := 0
	for _, line := range lines {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		stdin := ""
		parts := strings.Split(line, "|")
		for i := range parts {
			parts[i] = strings.TrimSpace(parts[i])
		}
		// What oc mirror lite --graph prints is resources.yaml here;
		// test/e2e runs that pipeline with the real binaries.
		if parts[0] == "cat resources.yaml" || strings.HasPrefix(parts[0], "oc mirror lite release ") {
			stdin, parts = res, parts[1:]
		}
		if len(parts) > 1 && parts[len(parts)-1] == "oc apply -f -" {
			parts = parts[:len(parts)-1] // kubectl's, not ours
		}
		if len(parts) != 1 || !strings.HasPrefix(parts[0], "oc update service ") {
			t.Fatalf("%s: not a command of ours", line)
		}
		args := strings.Fields(strings.TrimPrefix(parts[0], "oc update service "))
		out := r.run(stdin, args...)
		if out.Code != 0 {
			t.Errorf("%s: exit %d\n%s", line, out.Code, out.Stderr)
		}
		ran++
	}
	if ran != 15 {
		t.Errorf("ran %d examples, want 15", ran)
	}
}
