package graph

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/containers/image/v5/copy"
	"github.com/containers/image/v5/docker"
	"github.com/containers/image/v5/docker/reference"
	"github.com/containers/image/v5/types"
	digest "github.com/opencontainers/go-digest"
	imgspecv1 "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/airgap-ocp/oc-plugins/internal/testenv"
	"github.com/airgap-ocp/oc-plugins/pkg/release"
	"github.com/airgap-ocp/oc-plugins/pkg/retry"
)

func dockerRef(t *testing.T, s string) types.ImageReference {
	t.Helper()
	n, err := reference.ParseNormalizedNamed(s)
	if err != nil {
		t.Fatal(err)
	}
	ref, err := docker.NewReference(reference.TagNameOnly(n))
	if err != nil {
		t.Fatal(err)
	}
	return ref
}

// TestBuildFollowsTheOperatorsContract builds the graph-data image onto a
// base in a real registry, pushes it, and reads it back with skopeo: the
// data sits under /var/lib/cincinnati-graph-data, the command copies it
// into the operator's volume, the base's layers come first.
func TestBuildFollowsTheOperatorsContract(t *testing.T) {
	ctx := context.Background()
	reg := testenv.StartRegistry(t)
	reg.MustPushImage(t, "ubi9/ubi:latest", testenv.GraphBaseImage)
	base := dockerRef(t, reg.Host+"/ubi9/ubi:latest")
	file := filepath.Join(t.TempDir(), "graph-data.tar.gz")
	if err := os.WriteFile(file, testenv.GraphData, 0o644); err != nil {
		t.Fatal(err)
	}
	data, err := FetchData(ctx, nil, file, retry.Policy{Attempts: 1})
	if err != nil {
		t.Fatal(err)
	}
	built, err := Build(ctx, BuildOptions{Base: base, SystemContext: reg.SystemContext(), Data: data, Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	again, err := Build(ctx, BuildOptions{Base: base, SystemContext: reg.SystemContext(), Data: data, Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	if again.Digest != built.Digest {
		t.Errorf("the same data on the same base gave %s, then %s", built.Digest, again.Digest)
	}

	dest := dockerRef(t, reg.Host+"/"+Repository+":"+Tag)
	if _, err := testenv.CopyImage(ctx, dest, built.Ref, &copy.Options{DestinationCtx: reg.SystemContext(), ReportWriter: io.Discard}); err != nil {
		t.Fatal(err)
	}

	skopeo, err := exec.LookPath("skopeo")
	if err != nil {
		t.Fatalf("skopeo is needed to read the image back (Debian package skopeo): %v", err)
	}
	out := filepath.Join(t.TempDir(), "graph")
	sk := exec.Command(skopeo, "copy", "--src-authfile", reg.AuthFile, "--src-cert-dir", reg.CertDir,
		"docker://"+reg.Host+"/"+Repository+"@"+built.Digest.String(), "dir:"+out)
	if b, err := sk.CombinedOutput(); err != nil {
		t.Fatalf("skopeo copy: %v\n%s", err, b)
	}
	raw, err := os.ReadFile(filepath.Join(out, "manifest.json"))
	if err != nil {
		t.Fatal(err)
	}
	if got := digest.FromBytes(raw); got != built.Digest {
		t.Errorf("the registry holds %s, the build said %s", got, built.Digest)
	}
	var m imgspecv1.Manifest
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatal(err)
	}
	if len(m.Layers) != 2 {
		t.Fatalf("%d layers, want the base's one and the data", len(m.Layers))
	}
	var cfg imgspecv1.Image
	cfgRaw, err := os.ReadFile(filepath.Join(out, m.Config.Digest.Encoded()))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(cfgRaw, &cfg); err != nil {
		t.Fatal(err)
	}
	want := []string{"/bin/bash", "-c", "exec cp -rp /var/lib/cincinnati-graph-data/* /var/lib/cincinnati/graph-data"}
	if !slices.Equal(cfg.Config.Cmd, want) || len(cfg.Config.Entrypoint) != 0 {
		t.Errorf("command %q, entrypoint %q; want %q", cfg.Config.Cmd, cfg.Config.Entrypoint, want)
	}
	if len(cfg.RootFS.DiffIDs) != 2 || !slices.Contains(cfg.Config.Env, "PATH=/usr/bin:/bin") {
		t.Errorf("config lost the base's: %+v", cfg)
	}
	got := layerFiles(t, filepath.Join(out, m.Layers[1].Digest.Encoded()))
	for name, content := range testenv.GraphDataFiles {
		if got["var/lib/cincinnati-graph-data/"+name] != content {
			t.Errorf("the data layer lacks %s (has %v)", name, keys(got))
		}
	}
	if base := layerFiles(t, filepath.Join(out, m.Layers[0].Digest.Encoded())); base["bin/bash"] == "" {
		t.Errorf("the first layer is not the base's: %v", keys(base))
	}
}

func layerFiles(t *testing.T, path string) map[string]string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	tr := tar.NewReader(zr)
	out := map[string]string{}
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(tr)
		out[strings.TrimSuffix(h.Name, "/")] = string(b)
	}
}

func keys(m map[string]string) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

func TestFetchDataRefusesWhatIsNoGraphData(t *testing.T) {
	dir := t.TempDir()
	tarball := func(name string, typ byte) []byte {
		var buf bytes.Buffer
		zw := gzip.NewWriter(&buf)
		tw := tar.NewWriter(zw)
		_ = tw.WriteHeader(&tar.Header{Name: name, Typeflag: typ, Mode: 0o644, Linkname: "/etc/passwd"})
		_ = tw.Close()
		_ = zw.Close()
		return buf.Bytes()
	}
	for _, tc := range []struct {
		name string
		data []byte
		says string
	}{
		{"not gzip", []byte("hello"), "not a gzipped tarball"},
		{"escapes", tarball("../etc/x", tar.TypeReg), "not a relative path"},
		{"absolute", tarball("/etc/x", tar.TypeReg), "not a relative path"},
		{"a link", tarball("x", tar.TypeSymlink), "only files and directories"},
	} {
		p := filepath.Join(dir, tc.name)
		if err := os.WriteFile(p, tc.data, 0o644); err != nil {
			t.Fatal(err)
		}
		_, err := FetchData(context.Background(), nil, p, retry.Policy{Attempts: 1})
		var ie *InputError
		if !errors.As(err, &ie) || !strings.Contains(err.Error(), tc.says) {
			t.Errorf("%s: %v, want bad input saying %q", tc.name, err, tc.says)
		}
	}
}

func TestDataSourceFollowsTheEnclavesUpdateService(t *testing.T) {
	g := testenv.StartGraph(t)
	t.Setenv(release.GraphURLEnv, g.URL)
	src, err := DataSource()
	if err != nil {
		t.Fatal(err)
	}
	if src != g.Base+"/api/upgrades_info/graph-data" {
		t.Errorf("DataSource() = %q", src)
	}
	data, err := FetchData(context.Background(), nil, src, retry.Policy{Attempts: 1})
	if err != nil || !bytes.Equal(data, testenv.GraphData) {
		t.Errorf("FetchData(%s): %d bytes, %v", src, len(data), err)
	}
	t.Setenv(release.GraphURLEnv, "https://graph.example.com/elsewhere")
	if _, err := DataSource(); err == nil || !strings.Contains(err.Error(), "--graph-data") {
		t.Errorf("an override without /v1/graph: %v", err)
	}
	t.Setenv(release.GraphURLEnv, "")
	if src, _ := DataSource(); src != DataURL {
		t.Errorf("without the override: %q", src)
	}
}
