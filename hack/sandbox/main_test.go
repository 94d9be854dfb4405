package main

import (
	"bufio"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/containers/image/v5/copy"
	"github.com/containers/image/v5/docker"
	"github.com/containers/image/v5/oci/layout"
	"github.com/containers/image/v5/types"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/airgap-ocp/oc-plugins/internal/testenv"
)

// TestMain lets the test binary be the sandbox, so the test needs no build.
func TestMain(m *testing.M) {
	if os.Getenv("SANDBOX_TEST_RUN_MAIN") == "1" {
		main()
		os.Exit(0)
	}
	os.Exit(m.Run())
}

func TestSandboxServesAClusterAndARegistryThenStopsCleanly(t *testing.T) {
	dir := t.TempDir()
	cmd := exec.Command(os.Args[0], "--dir", dir)
	cmd.Env = append(os.Environ(), "SANDBOX_TEST_RUN_MAIN=1")
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	stopped := false
	defer func() {
		if !stopped {
			_ = cmd.Process.Signal(syscall.SIGTERM)
			_ = cmd.Wait()
		}
	}()

	ready := make(chan []string, 1)
	go func() {
		var lines []string
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			lines = append(lines, sc.Text())
			if sc.Text() == "sandbox ready" {
				ready <- lines
				lines = nil
			}
		}
		ready <- lines
	}()
	select {
	case lines := <-ready:
		if len(lines) == 0 || lines[len(lines)-1] != "sandbox ready" {
			t.Fatalf("sandbox ended before it was ready:\n%s", strings.Join(lines, "\n"))
		}
	case <-time.After(5 * time.Minute):
		t.Fatal("sandbox not ready after 5 minutes")
	}

	// The env file, read the way the demo script reads it: sourced by a shell.
	envFile := filepath.Join(dir, "sandbox.env")
	out, err := exec.Command("sh", "-c", `. "$1" && printf '%s\n' "$KUBECONFIG" `+
		`"$REGISTRY" "$REGISTRY_AUTH_FILE" "$REGISTRY_CERT_DIR" `+
		`"$SOURCE_REGISTRY" "$SOURCE_AUTH_FILE" "$SOURCE_CERT_DIR" `+
		`"$DISCONNECTED_REGISTRY" "$DISCONNECTED_AUTH_FILE" "$DISCONNECTED_CERT_DIR"`, "sh", envFile).Output()
	if err != nil {
		t.Fatalf("sourcing %s: %v", envFile, err)
	}
	vals := strings.Split(strings.TrimSpace(string(out)), "\n")
	if len(vals) != 10 {
		t.Fatalf("sandbox.env gave %q", vals)
	}
	kubeconfig := vals[0]
	type registryEnv struct{ name, host, authFile, certDir string }
	var regs []registryEnv
	for i, name := range []string{"REGISTRY", "SOURCE_REGISTRY", "DISCONNECTED_REGISTRY"} {
		regs = append(regs, registryEnv{name, vals[1+3*i], vals[2+3*i], vals[3+3*i]})
	}
	hosts := map[string]bool{}
	for _, r := range regs {
		if !strings.HasPrefix(r.host, "127.0.0.1:") || r.authFile == "" || r.certDir == "" {
			t.Errorf("%s=%q (auth file %q, cert dir %q), want 127.0.0.1:port and both files", r.name, r.host, r.authFile, r.certDir)
		}
		hosts[r.host] = true
		for _, f := range []string{r.authFile, filepath.Join(r.certDir, "ca.crt")} {
			if !strings.HasPrefix(f, dir) {
				t.Errorf("%s: %s is not in --dir %s", r.name, f, dir)
			}
		}
	}
	if len(hosts) != len(regs) {
		t.Errorf("the registries share an address: %v", regs)
	}
	if !strings.HasPrefix(kubeconfig, dir) {
		t.Errorf("%s is not in --dir %s", kubeconfig, dir)
	}

	cfg, err := clientcmd.BuildConfigFromFlags("", kubeconfig)
	if err != nil {
		t.Fatal(err)
	}
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := cs.CoreV1().Namespaces().Get(context.Background(), "openshift-config", metav1.GetOptions{}); err != nil {
		t.Errorf("reading a namespace with $KUBECONFIG: %v", err)
	}

	built, err := testenv.Image{Layers: []testenv.Layer{{Files: []testenv.File{{Name: "hello", Data: []byte("hi")}}}}}.Build()
	if err != nil {
		t.Fatal(err)
	}
	layoutDir := t.TempDir()
	if err := built.WriteOCILayout(layoutDir, "hello"); err != nil {
		t.Fatal(err)
	}
	src, err := layout.NewReference(layoutDir, "hello")
	if err != nil {
		t.Fatal(err)
	}
	push := func(to, from registryEnv) error {
		dest, err := docker.ParseReference("//" + to.host + "/demo/hello:v1")
		if err != nil {
			t.Fatal(err)
		}
		sys := &types.SystemContext{AuthFilePath: from.authFile, DockerCertPath: from.certDir}
		_, err = testenv.CopyImage(context.Background(), dest, src, &copy.Options{DestinationCtx: sys})
		return err
	}
	for _, r := range regs {
		if err := push(r, r); err != nil {
			t.Errorf("pushing to $%s with its auth file and cert dir: %v", r.name, err)
		}
	}
	// The demo's air gap: the disconnected registry's credentials and CA
	// open only the disconnected registry.
	if err := push(regs[0], regs[2]); err == nil {
		t.Errorf("pushed to $REGISTRY with $DISCONNECTED_AUTH_FILE and $DISCONNECTED_CERT_DIR")
	}

	// SIGUSR1 stops the source registry alone, as the demo's air gap does.
	if err := cmd.Process.Signal(syscall.SIGUSR1); err != nil {
		t.Fatal(err)
	}
	for i := 0; ; i++ {
		if _, err := os.Stat(filepath.Join(dir, "source.stopped")); err == nil {
			break
		}
		if i == 600 {
			t.Fatal("no source.stopped 60 s after SIGUSR1")
		}
		time.Sleep(100 * time.Millisecond)
	}
	if err := push(regs[1], regs[1]); err == nil {
		t.Errorf("pushed to $SOURCE_REGISTRY after SIGUSR1 stopped it")
	}
	if err := push(regs[2], regs[2]); err != nil {
		t.Errorf("the disconnected registry stopped with the source: %v", err)
	}

	children := childProcesses(cmd.Process.Pid)
	if len(children) < 2 {
		t.Errorf("want etcd and kube-apiserver among the sandbox's children, found %v", children)
	}
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	stopped = true
	if err := cmd.Wait(); err != nil {
		t.Errorf("sandbox exit after SIGTERM: %v", err)
	}
	for _, pid := range children {
		if _, err := os.Stat(filepath.Join("/proc", pid)); err == nil {
			t.Errorf("process %s outlived the sandbox", pid)
		}
	}
	if _, err := os.Stat(envFile); !os.IsNotExist(err) {
		t.Errorf("sandbox.env still there after the sandbox stopped (%v)", err)
	}
}

// childProcesses lists the pids whose parent is pid, from /proc.
func childProcesses(pid int) []string {
	var pids []string
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		stat, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat"))
		if err != nil {
			continue
		}
		// pid (comm) state ppid ...: comm may hold spaces, so cut after the last ')'.
		s := string(stat)
		fields := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
		if len(fields) > 1 && fields[1] == strconv.Itoa(pid) {
			pids = append(pids, e.Name())
		}
	}
	return pids
}
