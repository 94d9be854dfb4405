package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/airgap-ocp/oc-plugins/internal/testenv"
)

// TestMakeSandboxScript runs what `make sandbox` and `make sandbox-stop`
// run: start leaves the sandbox running and prints the lines to paste,
// which give a working KUBECONFIG and registry settings; stop ends it.
func TestMakeSandboxScript(t *testing.T) {
	root, err := testenv.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	script := filepath.Join(root, "hack", "sandbox.sh")
	dir := t.TempDir()
	run := func(args ...string) string {
		t.Helper()
		cmd := exec.Command(script, args...)
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("sandbox.sh %v: %v\n%s", args, err, out)
		}
		return string(out)
	}
	out := run("start", dir)
	stopped := false
	defer func() {
		if !stopped {
			run("stop", dir)
		}
	}()
	for _, want := range []string{"source " + dir + "/sandbox.env", "export PATH=", "KUBECONFIG=", "REGISTRY_AUTH_FILE=", "REGISTRY_CERT_DIR=",
		"SOURCE_REGISTRY=", "DISCONNECTED_REGISTRY=", "make sandbox-stop"} {
		if !strings.Contains(out, want) {
			t.Errorf("make sandbox does not print %q:\n%s", want, out)
		}
	}
	pid, err := os.ReadFile(filepath.Join(dir, "sandbox.pid"))
	if err != nil {
		t.Fatal(err)
	}
	// The lines it printed, pasted into a shell, reach the cluster with
	// its kubectl and the mirror registry with skopeo-style settings.
	var paste []string
	for _, line := range strings.Split(out, "\n") {
		if strings.HasPrefix(line, "source ") || strings.HasPrefix(line, "export ") {
			paste = append(paste, line)
		}
	}
	check := exec.Command("bash", "-euc", strings.Join(paste, "\n")+"\n"+
		`kubectl get namespace openshift-config -o name && test -s "$REGISTRY_AUTH_FILE" && test -s "$REGISTRY_CERT_DIR/ca.crt" && command -v oc-registries-verify`)
	if b, err := check.CombinedOutput(); err != nil {
		t.Errorf("pasting what make sandbox printed: %v\n%s", err, b)
	}
	if again := run("start", dir); !strings.Contains(again, "already running") {
		t.Errorf("a second make sandbox does not say it is running:\n%s", again)
	}
	run("stop", dir)
	stopped = true
	if _, err := os.Stat(filepath.Join("/proc", strings.TrimSpace(string(pid)))); err == nil {
		t.Errorf("the sandbox (pid %s) still runs after make sandbox-stop", pid)
	}
}
