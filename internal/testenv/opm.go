package testenv

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/operator-framework/operator-registry/pkg/api"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
)

// OPM returns the real opm binary built by hack/testbin.sh. The test fails
// when it cannot be found: catalogs are checked by opm itself, never by a
// stand-in.
func OPM(t testing.TB) string {
	t.Helper()
	dir, err := TestbinDir()
	if err != nil {
		t.Fatalf("opm: %v", err)
	}
	p := filepath.Join(dir, "opm")
	if fi, err := os.Stat(p); err != nil || fi.Mode().Perm()&0o111 == 0 {
		t.Fatalf("opm: no executable %s (%v); run `make testbin`", p, err)
	}
	return p
}

// OPMValidate runs `opm validate` on a configs directory.
func OPMValidate(t testing.TB, dir string) error {
	t.Helper()
	out, err := exec.Command(OPM(t), "validate", dir).CombinedOutput()
	if err != nil {
		return fmt.Errorf("opm validate %s: %w: %s", dir, err, bytes.TrimSpace(out))
	}
	return nil
}

// CatalogServer is opm serving a catalog over its gRPC API, as a catalog
// pod does.
type CatalogServer struct {
	Addr string
	conn *grpc.ClientConn
	log  *bytes.Buffer
	stop func()
}

// Stop ends the server (the test's cleanup does too).
func (s *CatalogServer) Stop() { s.stop() }

// ServeCatalog runs a catalog image's command (its entrypoint and cmd, as
// the image config holds them) with the real opm in place of the image's,
// its absolute paths taken below root (the image's filesystem, extracted),
// on a free port, and waits until it answers. It returns the opm error
// output when opm exits instead: that is what a catalog pod's log says.
func ServeCatalog(t testing.TB, root string, command []string) (*CatalogServer, error) {
	t.Helper()
	if len(command) < 2 || filepath.Base(command[0]) != "opm" || command[1] != "serve" {
		return nil, fmt.Errorf("the image's command is %q, not opm serve", command)
	}
	var args []string
	for _, a := range command[1:] {
		if name, v, ok := strings.Cut(a, "="); ok && strings.HasPrefix(v, "/") {
			a = name + "=" + filepath.Join(root, v)
		} else if strings.HasPrefix(a, "/") {
			a = filepath.Join(root, a)
		}
		args = append(args, a)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	port := fmt.Sprint(l.Addr().(*net.TCPAddr).Port)
	l.Close()
	args = append(args, "--port", port, "--pprof-addr=")
	s := &CatalogServer{Addr: "127.0.0.1:" + port, log: &bytes.Buffer{}}
	cmd := exec.Command(OPM(t), args...)
	cmd.Dir = root
	cmd.Stdout, cmd.Stderr = io.Discard, s.log
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	var once sync.Once
	s.stop = func() {
		once.Do(func() {
			_ = cmd.Process.Kill()
			<-exited
		})
	}
	t.Cleanup(s.stop)
	if s.conn, err = grpc.NewClient(s.Addr, grpc.WithTransportCredentials(insecure.NewCredentials())); err != nil {
		return nil, err
	}
	t.Cleanup(func() { s.conn.Close() })
	deadline := time.Now().Add(2 * time.Minute)
	for {
		select {
		case err := <-exited:
			exited <- err
			s.stop()
			return nil, fmt.Errorf("opm %s exited (%v): %s", strings.Join(args, " "), err, lastLines(s.log.String(), 5))
		default:
		}
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		_, err := s.Packages(ctx)
		cancel()
		if err == nil {
			return s, nil
		}
		if time.Now().After(deadline) {
			return nil, fmt.Errorf("opm serve did not answer within 2 minutes: %v: %s", err, lastLines(s.log.String(), 5))
		}
		time.Sleep(200 * time.Millisecond)
	}
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// Packages lists the package names the server offers, sorted.
func (s *CatalogServer) Packages(ctx context.Context) ([]string, error) {
	stream, err := api.NewRegistryClient(s.conn).ListPackages(ctx, &api.ListPackageRequest{})
	if err != nil {
		return nil, err
	}
	var out []string
	for {
		p, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, err
		}
		out = append(out, p.GetName())
	}
	sort.Strings(out)
	return out, nil
}

// Bundles lists what the server offers as package/channel/csv lines,
// sorted.
func (s *CatalogServer) Bundles(ctx context.Context) ([]string, error) {
	stream, err := api.NewRegistryClient(s.conn).ListBundles(ctx, &api.ListBundlesRequest{})
	if err != nil {
		return nil, err
	}
	var out []string
	for {
		b, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, err
		}
		out = append(out, b.GetPackageName()+"/"+b.GetChannelName()+"/"+b.GetCsvName())
	}
	sort.Strings(out)
	return out, nil
}
