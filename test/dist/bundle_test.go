package dist

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"
)

// installBudget is the most the installed plugins may weigh together: what
// is carried across an air gap.
const installBudget = 100 << 20

func bundleName(version, goos, goarch string) string {
	return fmt.Sprintf("ocplugins_%s_%s_%s.tar.gz", version, goos, goarch)
}

// checkBundle checks the one-file bundle for goos/goarch: the multi-call
// binary, install.sh and LICENSE; and where it runs here, installs it as the
// README says, into a clean folder, with no Go on the PATH.
func checkBundle(t *testing.T, archive, goos, goarch string, license []byte) {
	data, err := os.ReadFile(archive)
	if err != nil {
		t.Fatal(err)
	}
	names, files, _, err := readArchive(data)
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"LICENSE", "install.sh", "ocplugins"}; !slices.Equal(names, want) {
		t.Fatalf("holds %v, want %v", names, want)
	}
	if !bytes.Equal(files["LICENSE"].data, license) {
		t.Errorf("LICENSE differs from the repository's")
	}
	if err := checkExecutable(files["ocplugins"].data, goos, goarch); err != nil {
		t.Errorf("ocplugins: %v", err)
	}
	if files["install.sh"].hdr.Mode&0o111 == 0 || files["ocplugins"].hdr.Mode&0o111 == 0 {
		t.Errorf("install.sh or ocplugins is not executable")
	}
	if goos != runtime.GOOS || goarch != runtime.GOARCH {
		return
	}
	installFromBundle(t, archive)
}

// installFromBundle runs the README's install from the archive alone in an
// empty folder, then uses what it installed as oc, kubectl and their shell
// completion do.
func installFromBundle(t *testing.T, archive string) {
	root := repoRoot(t)
	readme, err := os.ReadFile(filepath.Join(root, "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	_, block, ok := strings.Cut(string(readme), "<!-- install-from-bundle -->\n```sh\n")
	if !ok {
		t.Fatal("README.md has no install-from-bundle block")
	}
	block, _, _ = strings.Cut(block, "```")
	clean := t.TempDir()
	if err := os.Symlink(archive, filepath.Join(clean, filepath.Base(archive))); err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(clean, "bin")
	// The README's commands, for this archive and into a folder of the test.
	script := strings.NewReplacer(
		"ocplugins_v1.2.3_linux_amd64.tar.gz", filepath.Base(archive),
		"/usr/local/bin", bin,
	).Replace(block)
	sh := func(script string) string {
		t.Helper()
		cmd := exec.Command("sh", "-euc", script)
		cmd.Dir = clean
		// No Go, no proxy: only the system's tools and what was installed.
		cmd.Env = []string{"PATH=" + bin + ":/usr/bin:/bin", "HOME=" + clean, "LANG=C.UTF-8", "KUBECONFIG=" + filepath.Join(clean, "none")}
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("%s: %v\n%s%s", script, err, out, stderr.String())
		}
		return string(out)
	}
	t.Logf("install from the bundle:\n%s", script)
	sh(script)

	var names []string
	var size int64
	entries, err := os.ReadDir(bin)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		names = append(names, e.Name())
		if fi, err := os.Lstat(filepath.Join(bin, e.Name())); err == nil && fi.Mode().IsRegular() {
			size += fi.Size()
		}
	}
	for _, p := range []string{"icsp-migrate", "mhc-pause", "mhc-resume", "mirror-lite", "registries-verify", "release-sig", "update-service"} {
		for _, want := range []string{"oc-" + p, "kubectl-" + p, "kubectl_complete-" + p, "oc_complete-" + p} {
			if !slices.Contains(names, want) {
				t.Errorf("%s was not installed (installed: %v)", want, names)
			}
		}
	}
	if size > installBudget {
		t.Errorf("the installed plugins weigh %d MB, over %d MB", size>>20, installBudget>>20)
	}
	t.Logf("installed %d names, %d MB of files", len(names), size>>20)

	if out := sh("oc-mhc-pause --version"); !strings.HasPrefix(out, "oc mhc pause version ") {
		t.Errorf("oc-mhc-pause --version: %q", out)
	}
	if out := sh("kubectl-registries-verify --help"); !strings.Contains(out, "Usage:\n  kubectl registries verify") {
		t.Errorf("kubectl-registries-verify --help does not read as kubectl's:\n%s", out)
	}
	// kubectl's plugin completion: `kubectl mhc pause -o <TAB>` runs
	// kubectl_complete-mhc-pause -o "" and reads one choice a line, then
	// :DIRECTIVE.
	if out := sh(`kubectl_complete-mhc-pause -o ""`); !strings.Contains(out, "yaml\n") || !strings.Contains(out, "json\n") || !strings.HasSuffix(out, ":4\n") {
		t.Errorf("completing -o: %q", out)
	}
	if out := sh(`oc_complete-release-sig verify --`); !strings.Contains(out, "--keyring") {
		t.Errorf("completing a flag of oc release sig verify: %q", out)
	}
	if out := sh("oc-icsp-migrate completion bash"); !strings.Contains(out, "bash completion") {
		t.Errorf("oc-icsp-migrate completion bash printed no script:\n%.300s", out)
	}
}
