package e2e

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"

	"github.com/airgap-ocp/oc-plugins/internal/testenv"
)

func TestMain(m *testing.M) { testenv.Main(m) }

// plugins are the binaries of cmd/, and aliases the extra names one answers to.
var (
	plugins = []string{"oc-icsp-migrate", "oc-mhc-pause", "oc-mirror-lite", "oc-registries-verify", "oc-release-sig", "oc-update-service"}
	aliases = map[string]string{"oc-mhc-resume": "oc-mhc-pause"}
)

var (
	binOnce sync.Once
	binDir  string
	binErr  error
)

// pluginDir returns the folder holding the built plugins: $OC_PLUGINS_BIN
// when it holds every one of them, else a folder they are built into now
// (once per test binary).
func pluginDir(t *testing.T) string {
	t.Helper()
	binOnce.Do(func() {
		if dir := os.Getenv("OC_PLUGINS_BIN"); dir != "" {
			ok := true
			for _, p := range plugins {
				if st, err := os.Stat(filepath.Join(dir, p)); err != nil || !st.Mode().IsRegular() {
					ok = false
				}
			}
			if ok {
				binDir = dir
				return
			}
		}
		root, err := testenv.RepoRoot()
		if err != nil {
			binErr = err
			return
		}
		dir, err := os.MkdirTemp("", "e2e-bin-")
		if err != nil {
			binErr = err
			return
		}
		// As make build: the multi-call binary, linked under each name.
		cmd := exec.Command("go", "build", "-o", dir+"/", "./cmd/ocplugins")
		cmd.Dir = root
		if out, err := cmd.CombinedOutput(); err != nil {
			binErr = &buildError{err: err, out: string(out)}
			return
		}
		for _, p := range append(plugins, "oc-mhc-resume") {
			if err := os.Symlink("ocplugins", filepath.Join(dir, p)); err != nil {
				binErr = err
				return
			}
		}
		binDir = dir
	})
	if binErr != nil {
		t.Fatalf("building the plugins: %v", binErr)
	}
	return binDir
}

type buildError struct {
	err error
	out string
}

func (e *buildError) Error() string { return e.err.Error() + "\n" + e.out }

// env is a user's shell: a PATH holding the plugins under their oc-* names
// and the kubectl-* names kubectl looks plugins up by, kubectl itself, a
// private HOME, and a work folder.
type env struct {
	dir     string // work folder, the shell's working directory
	pathDir string // the plugins' folder on PATH
	vars    []string
	secrets []string // strings that must never appear in output or files
}

// newEnv returns a shell environment; kubeconfig may be empty (no cluster).
func newEnv(t *testing.T, kubeconfig, kubectlDir string) *env {
	t.Helper()
	bins := pluginDir(t)
	e := &env{dir: t.TempDir(), pathDir: t.TempDir()}
	home := t.TempDir()
	link := func(name, target string) {
		if err := os.Symlink(target, filepath.Join(e.pathDir, name)); err != nil {
			t.Fatal(err)
		}
	}
	for _, p := range plugins {
		link(p, filepath.Join(bins, p))
		// kubectl mhc pause -> kubectl-mhc-pause, and its completion helper
		link("kubectl-"+strings.TrimPrefix(p, "oc-"), filepath.Join(bins, p))
		link("kubectl_complete-"+strings.TrimPrefix(p, "oc-"), filepath.Join(bins, p))
	}
	for alias, p := range aliases {
		link(alias, filepath.Join(bins, p))
		link("kubectl-"+strings.TrimPrefix(alias, "oc-"), filepath.Join(bins, p))
		link("kubectl_complete-"+strings.TrimPrefix(alias, "oc-"), filepath.Join(bins, p))
	}
	path := e.pathDir + ":" + os.Getenv("PATH")
	if kubectlDir != "" {
		path = e.pathDir + ":" + kubectlDir + ":" + os.Getenv("PATH")
	}
	e.vars = []string{
		"PATH=" + path,
		"HOME=" + home,
		"LANG=C.UTF-8",
	}
	if kubeconfig != "" {
		e.vars = append(e.vars, "KUBECONFIG="+kubeconfig)
	} else {
		e.vars = append(e.vars, "KUBECONFIG="+filepath.Join(home, "no-kubeconfig"))
	}
	for _, k := range []string{"GOFLAGS", "CGO_ENABLED", "GOCACHE", "GOPATH", "GOMODCACHE", "TMPDIR"} {
		if v, ok := os.LookupEnv(k); ok {
			e.vars = append(e.vars, k+"="+v)
		}
	}
	return e
}

// clusterEnv is newEnv against the shared test cluster, with its kubectl.
func clusterEnv(t *testing.T) (*env, *testenv.Cluster) {
	t.Helper()
	c := testenv.SharedCluster(t)
	if _, err := os.Stat(filepath.Join(c.BinDir, "kubectl")); err != nil {
		t.Fatalf("kubectl is not in the test binaries' folder %s (hack/testbin.sh builds it): %v", c.BinDir, err)
	}
	return newEnv(t, c.Kubeconfig, c.BinDir), c
}

type result struct {
	stdout, stderr string
	code           int
}

// sh runs script with bash (errexit, pipefail) in the work folder, the way a
// runbook runs it, and returns what it printed and its exit code.
func (e *env) sh(t *testing.T, stdin, script string) result {
	t.Helper()
	cmd := exec.Command("bash", "-c", "set -euo pipefail\n"+script)
	cmd.Dir = e.dir
	cmd.Env = e.vars
	cmd.Stdin = strings.NewReader(stdin)
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err := cmd.Run()
	r := result{stdout: out.String(), stderr: errOut.String()}
	if err != nil {
		ee, ok := err.(*exec.ExitError)
		if !ok {
			t.Fatalf("running %q: %v", script, err)
		}
		r.code = ee.ExitCode()
	}
	shown := script
	for _, s := range e.secrets {
		shown = strings.ReplaceAll(shown, s, "***")
	}
	for _, s := range e.secrets {
		if strings.Contains(r.stdout, s) || strings.Contains(r.stderr, s) {
			t.Errorf("a secret appears in the output of %q", shown)
		}
	}
	return r
}

// must runs script and fails the test unless it exits 0.
func (e *env) must(t *testing.T, script string) result {
	t.Helper()
	r := e.sh(t, "", script)
	if r.code != 0 {
		t.Fatalf("%s\nexit %d\nstderr:\n%s\nstdout:\n%s", script, r.code, r.stderr, r.stdout)
	}
	return r
}

// files lists every regular file under dir, relative and sorted.
func files(t *testing.T, dir string) []string {
	t.Helper()
	var out []string
	err := filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.IsDir() {
			rel, _ := filepath.Rel(dir, p)
			out = append(out, rel)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	sort.Strings(out)
	return out
}

// write writes data to name in the work folder and returns its path.
func (e *env) write(t *testing.T, name string, data []byte) string {
	t.Helper()
	p := filepath.Join(e.dir, name)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, data, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}
