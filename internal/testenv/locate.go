package testenv

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime/debug"
	"strings"
	"unicode"
)

const (
	// ModulePath is the module path of this project.
	ModulePath = "github.com/airgap-ocp/oc-plugins"
	// EnvTestbin names the environment variable that holds the folder with
	// the kube-apiserver and etcd binaries (what ./hack/testbin.sh prints).
	EnvTestbin = "OC_PLUGINS_TESTBIN"

	openShiftAPIModule = "github.com/openshift/api"
)

// RepoRoot returns the root of this project's checkout: the nearest folder,
// from the working directory up, whose go.mod declares ModulePath.
func RepoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if data, err := os.ReadFile(filepath.Join(dir, "go.mod")); err == nil && declaresModule(data, ModulePath) {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", fmt.Errorf("no go.mod for module %s in the working directory or above it", ModulePath)
		}
		dir = parent
	}
}

func declaresModule(gomod []byte, path string) bool {
	sc := bufio.NewScanner(bytes.NewReader(gomod))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) >= 2 && f[0] == "module" {
			return strings.Trim(f[1], `"`) == path
		}
	}
	return false
}

// TestbinDir returns the folder holding the kube-apiserver, etcd and opm
// binaries: $OC_PLUGINS_TESTBIN when set, otherwise what the repository's
// hack/testbin.sh prints (it builds them on its first run, which takes
// several minutes).
func TestbinDir() (string, error) {
	if dir := os.Getenv(EnvTestbin); dir != "" {
		if err := checkTestbin(dir); err != nil {
			return "", fmt.Errorf("%s=%s: %w; run `make testbin` and set %s=$(./hack/testbin.sh)", EnvTestbin, dir, err, EnvTestbin)
		}
		return dir, nil
	}
	root, err := RepoRoot()
	if err != nil {
		return "", fmt.Errorf("%s is not set and %w; run `make testbin` and set %s=$(./hack/testbin.sh)", EnvTestbin, err, EnvTestbin)
	}
	script := filepath.Join(root, "hack", "testbin.sh")
	// The script serialises concurrent builds itself (test packages run in
	// parallel and may all get here at once).
	cmd := exec.Command(script)
	cmd.Dir = root
	cmd.Stderr = os.Stderr
	out, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("%s is not set and %s failed: %w; run `make testbin` and look at its output", EnvTestbin, script, err)
	}
	dir := lastLine(string(out))
	if err := checkTestbin(dir); err != nil {
		return "", fmt.Errorf("%s printed %q: %w; run `make testbin`", script, dir, err)
	}
	return dir, nil
}

func checkTestbin(dir string) error {
	for _, name := range []string{"kube-apiserver", "etcd", "opm"} {
		fi, err := os.Stat(filepath.Join(dir, name))
		if err != nil {
			return fmt.Errorf("no %s binary: %w", name, err)
		}
		if fi.IsDir() || fi.Mode().Perm()&0o111 == 0 {
			return fmt.Errorf("%s is not an executable file", filepath.Join(dir, name))
		}
	}
	return nil
}

func lastLine(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return strings.TrimSpace(lines[len(lines)-1])
}

// OpenShiftAPIDir returns the directory of the github.com/openshift/api
// module, whose CRD manifests StartCluster installs.
//
// It prefers the exact version compiled into the running binary (from its
// build information) in the Go module cache, so the CRDs match the Go types
// the tests use, and works outside the checkout. Failing that it asks
// `go list -m` in the repository root.
func OpenShiftAPIDir() (string, error) {
	var tried []string
	if dir, ok := openShiftAPIDirFromBuildInfo(); ok {
		if hasCRDs(dir) {
			return dir, nil
		}
		tried = append(tried, dir)
	}
	root, err := RepoRoot()
	if err == nil {
		cmd := exec.Command("go", "list", "-m", "-f", "{{.Dir}}", openShiftAPIModule)
		cmd.Dir = root
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		out, lerr := cmd.Output()
		dir := strings.TrimSpace(string(out))
		switch {
		case lerr != nil:
			err = fmt.Errorf("go list -m %s: %w: %s", openShiftAPIModule, lerr, strings.TrimSpace(stderr.String()))
		case dir != "" && hasCRDs(dir):
			return dir, nil
		default:
			tried = append(tried, dir)
			err = errors.New("the module is not downloaded")
		}
	}
	return "", fmt.Errorf("finding the CRD manifests of %s (looked in %q): %v; run `go mod download %s` in the repository",
		openShiftAPIModule, tried, err, openShiftAPIModule)
}

func hasCRDs(dir string) bool {
	_, err := os.Stat(filepath.Join(dir, filepath.FromSlash(CRDManifests[0])))
	return dir != "" && err == nil
}

func openShiftAPIDirFromBuildInfo() (string, bool) {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return "", false
	}
	for _, m := range bi.Deps {
		if m.Path != openShiftAPIModule {
			continue
		}
		if m.Replace != nil {
			m = m.Replace
		}
		if m.Version == "" { // replaced by a local directory
			if filepath.IsAbs(m.Path) {
				return m.Path, true
			}
			root, err := RepoRoot()
			if err != nil {
				return "", false
			}
			return filepath.Join(root, m.Path), true
		}
		cache := modCache()
		if cache == "" {
			return "", false
		}
		return filepath.Join(cache, escapeModulePath(m.Path)+"@"+escapeModulePath(m.Version)), true
	}
	return "", false
}

// modCache returns the Go module cache folder, as `go env GOMODCACHE` would.
func modCache() string {
	if dir := os.Getenv("GOMODCACHE"); dir != "" {
		return dir
	}
	if out, err := exec.Command("go", "env", "GOMODCACHE").Output(); err == nil {
		if dir := strings.TrimSpace(string(out)); dir != "" {
			return dir
		}
	}
	if gopath := filepath.SplitList(os.Getenv("GOPATH")); len(gopath) > 0 && gopath[0] != "" {
		return filepath.Join(gopath[0], "pkg", "mod")
	}
	if home, err := os.UserHomeDir(); err == nil {
		return filepath.Join(home, "go", "pkg", "mod")
	}
	return ""
}

// escapeModulePath applies the module cache's case encoding: each upper-case
// letter becomes '!' and its lower-case form.
func escapeModulePath(s string) string {
	var b strings.Builder
	for _, r := range s {
		if unicode.IsUpper(r) {
			b.WriteByte('!')
			r = unicode.ToLower(r)
		}
		b.WriteRune(r)
	}
	return b.String()
}
