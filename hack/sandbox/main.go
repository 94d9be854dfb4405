// Command sandbox runs a local stand-in for a disconnected cluster's
// surroundings, for the demo and for trying the plugins by hand: a real
// kube-apiserver and etcd with the OpenShift CRDs, and TLS registries with
// htpasswd auth.
//
//	make sandbox        # starts it, waits, prints what to export
//	make sandbox-stop
//
// Three registries stand for the three an air-gapped update involves:
// REGISTRY, the mirror registry the connected cluster pulls from;
// SOURCE_REGISTRY, the release's origin (quay.io in real life); and
// DISCONNECTED_REGISTRY, the mirror on the far side of an air gap. Each has
// its own CA, user and password.
//
// Into --dir it writes kubeconfig, auth.json, certs/ca.crt (and the
// registry's storage), the same under source/ and disconnected/ for the
// other two registries, and last sandbox.env, which exports KUBECONFIG,
// REGISTRY, REGISTRY_AUTH_FILE, REGISTRY_CERT_DIR and SOURCE_ and
// DISCONNECTED_ REGISTRY, AUTH_FILE and CERT_DIR. It prints
// "sandbox ready" to stderr when everything is up, runs until SIGINT or
// SIGTERM, then stops kube-apiserver and etcd and removes sandbox.env.
// SIGUSR1 stops the source registry alone (the demo's air gap) and writes
// source.stopped into --dir. `make sandbox` starts it in the background.
// The binaries come from $OC_PLUGINS_TESTBIN or ./hack/testbin.sh.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"

	"github.com/airgap-ocp/oc-plugins/internal/testenv"
)

func main() {
	dir := flag.String("dir", "", "folder for the sandbox's files (required)")
	verbose := flag.Bool("v", false, "print the registry's log to stderr")
	flag.Usage = func() {
		fmt.Fprintf(flag.CommandLine.Output(), "usage: sandbox --dir DIR [-v]\n")
		flag.PrintDefaults()
	}
	flag.Parse()
	if *dir == "" || flag.NArg() > 0 {
		flag.Usage()
		os.Exit(2)
	}
	if err := run(*dir, *verbose); err != nil {
		fmt.Fprintln(os.Stderr, "sandbox:", err)
		os.Exit(1)
	}
}

func run(dir string, verbose bool) (retErr error) {
	dir, err := filepath.Abs(dir)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	envFile := filepath.Join(dir, "sandbox.env")
	// A stale env file would send a waiting script to a dead sandbox.
	if err := os.Remove(envFile); err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}

	// Catch the signals before starting anything, so a stop during start-up
	// still stops what started.
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	var opts []testenv.RegistryOption
	if verbose {
		opts = append(opts, testenv.WithLog(os.Stderr))
	}
	reg, err := testenv.NewRegistry(dir, opts...)
	if err != nil {
		return fmt.Errorf("starting the registry: %w", err)
	}
	defer func() { retErr = errors.Join(retErr, reg.Close()) }()
	source, err := testenv.NewRegistry(filepath.Join(dir, "source"), opts...)
	if err != nil {
		return fmt.Errorf("starting the source registry: %w", err)
	}
	defer func() { retErr = errors.Join(retErr, source.Close()) }()
	disconnected, err := testenv.NewRegistry(filepath.Join(dir, "disconnected"), opts...)
	if err != nil {
		return fmt.Errorf("starting the disconnected registry: %w", err)
	}
	defer func() { retErr = errors.Join(retErr, disconnected.Close()) }()

	fmt.Fprintln(os.Stderr, "sandbox: starting kube-apiserver and etcd")
	cluster, err := testenv.StartCluster(context.WithoutCancel(ctx))
	if err != nil {
		return fmt.Errorf("starting the cluster: %w", err)
	}
	defer func() { retErr = errors.Join(retErr, cluster.Stop()) }()
	if ctx.Err() != nil {
		return nil // stopped while starting
	}

	kubeconfig := filepath.Join(dir, "kubeconfig")
	if err := copyFile(cluster.Kubeconfig, kubeconfig); err != nil {
		return fmt.Errorf("writing kubeconfig: %w", err)
	}
	// The policy engine of a local update service, behind its route: it
	// serves the graph the demo writes to graph.json.
	graphFile, graphCA := filepath.Join(dir, "graph.json"), filepath.Join(dir, "update-service-ca.crt")
	policyEngine, stopGraph, err := testenv.NewGraphFileServer(graphFile)
	if err != nil {
		return fmt.Errorf("starting the update service's graph server: %w", err)
	}
	defer stopGraph()
	if err := os.WriteFile(graphCA, policyEngine.CAPEM, 0o644); err != nil {
		return err
	}
	env := strings.Join([]string{
		"export KUBECONFIG=" + shellQuote(kubeconfig),
		"export REGISTRY=" + shellQuote(reg.Host),
		"export REGISTRY_AUTH_FILE=" + shellQuote(reg.AuthFile),
		"export REGISTRY_CERT_DIR=" + shellQuote(reg.CertDir),
		"export SOURCE_REGISTRY=" + shellQuote(source.Host),
		"export SOURCE_AUTH_FILE=" + shellQuote(source.AuthFile),
		"export SOURCE_CERT_DIR=" + shellQuote(source.CertDir),
		"export DISCONNECTED_REGISTRY=" + shellQuote(disconnected.Host),
		"export DISCONNECTED_AUTH_FILE=" + shellQuote(disconnected.AuthFile),
		"export DISCONNECTED_CERT_DIR=" + shellQuote(disconnected.CertDir),
		"export UPDATE_SERVICE_URI=" + shellQuote(policyEngine.Base),
		"export UPDATE_SERVICE_CA=" + shellQuote(graphCA),
		"export UPDATE_SERVICE_GRAPH=" + shellQuote(graphFile),
	}, "\n") + "\n"
	// Write then rename: a script polling for the file never reads half of it.
	if err := os.WriteFile(envFile+".tmp", []byte(env), 0o644); err != nil {
		return err
	}
	if err := os.Rename(envFile+".tmp", envFile); err != nil {
		return err
	}
	defer os.Remove(envFile)

	fmt.Fprintf(os.Stderr, "sandbox: registry %s (source %s, disconnected %s), kubeconfig %s\n", reg.Host, source.Host, disconnected.Host, kubeconfig)
	fmt.Fprintln(os.Stderr, "sandbox ready")
	// SIGUSR1 stops the source registry, as the air gap cuts the
	// disconnected side off from the release's origin.
	usr1 := make(chan os.Signal, 1)
	signal.Notify(usr1, syscall.SIGUSR1)
	defer signal.Stop(usr1)
	for {
		select {
		case <-ctx.Done():
			fmt.Fprintln(os.Stderr, "sandbox: stopping")
			return nil
		case <-usr1:
			if err := source.Close(); err != nil {
				return fmt.Errorf("stopping the source registry: %w", err)
			}
			if err := os.WriteFile(filepath.Join(dir, "source.stopped"), nil, 0o644); err != nil {
				return err
			}
			fmt.Fprintf(os.Stderr, "sandbox: source registry %s stopped\n", source.Host)
		}
	}
}

func copyFile(from, to string) error {
	in, err := os.Open(from)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(to, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}

// shellQuote quotes s for a POSIX shell when it needs it.
func shellQuote(s string) string {
	if s != "" && strings.IndexFunc(s, func(r rune) bool {
		return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("/._-:+=@,", r))
	}) < 0 {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}
