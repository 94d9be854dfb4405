package testenv

import (
	"archive/tar"
	"compress/gzip"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/containers/image/v5/docker"
	"github.com/containers/image/v5/manifest"
	"github.com/containers/image/v5/pkg/blobinfocache/none"
	"github.com/containers/image/v5/types"
	digest "github.com/opencontainers/go-digest"
)

// TestBenchCatalogIsServedByOPMWithEveryImageItNames pushes a small
// operator benchmark catalog and checks what the benchmark relies on: every
// image the selection names is in the registry by that digest, and the
// real opm serves the catalog image as pushed (its command, its cache)
// with every package and the selected bundles in stable.
func TestBenchCatalogIsServedByOPMWithEveryImageItNames(t *testing.T) {
	reg := StartRegistry(t)
	ctx := context.Background()
	spec := BenchCatalogSpec{Selected: 2, Others: 1, Bundles: 2, Newer: 1, Operands: 1,
		BaseLayerSizes: [2]int64{4 << 10, 2 << 10}, OwnMin: 1 << 10, OwnMax: 8 << 10,
		BundleMin: 1 << 10, BundleMax: 2 << 10, CatalogBase: 4 << 10}
	c, err := reg.PushBenchCatalog(ctx, spec, OPM(t), t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	// 4 bundles, each with its bundle, operator and operand images, and
	// the image they all share.
	if want := 4*3 + 1; len(c.Images) != want {
		t.Errorf("the selection names %d images, want %d: %v", len(c.Images), want, c.Images)
	}
	if want := []string{"bench-00-operator", "bench-01-operator"}; !slices.Equal(c.Packages, want) {
		t.Errorf("selected packages %v, want %v", c.Packages, want)
	}
	for _, img := range c.Images {
		if got := manifestDigest(t, reg, img); !strings.HasSuffix(img, "@"+got.String()) {
			t.Errorf("%s: the registry holds manifest %s", img, got)
		}
	}
	if got := manifestDigest(t, reg, c.Catalog); got != c.CatalogDigest {
		t.Errorf("catalog %s is %s, want %s", c.Catalog, got, c.CatalogDigest)
	}

	root := t.TempDir()
	cmd := extractImage(t, reg, c.Catalog, root)
	if _, err := os.Stat(filepath.Join(root, "tmp", "cache")); err != nil {
		t.Errorf("the catalog image has no opm cache: %v", err)
	}
	srv, err := ServeCatalog(t, root, cmd)
	if err != nil {
		t.Fatal(err)
	}
	pkgs, err := srv.Packages(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"bench-00-operator", "bench-01-operator", "bench-02-operator"}; !slices.Equal(pkgs, want) {
		t.Errorf("opm serves packages %v, want %v", pkgs, want)
	}
	bundles, err := srv.Bundles(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, b := range c.Bundles {
		pkg, _, _ := strings.Cut(b, ".")
		if line := pkg + "/stable/" + b; !slices.Contains(bundles, line) {
			t.Errorf("opm does not serve %s: %v", line, bundles)
		}
	}
	if len(c.Bundles) != 4 {
		t.Errorf("selected bundles %v, want 4", c.Bundles)
	}
}

func manifestDigest(t *testing.T, reg *Registry, ref string) digest.Digest {
	t.Helper()
	src := imageSource(t, reg, ref)
	m, _, err := src.GetManifest(context.Background(), nil)
	if err != nil {
		t.Fatalf("%s: %v", ref, err)
	}
	d, err := manifest.Digest(m)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func imageSource(t *testing.T, reg *Registry, ref string) types.ImageSource {
	t.Helper()
	r, err := docker.ParseReference("//" + ref)
	if err != nil {
		t.Fatal(err)
	}
	src, err := r.NewImageSource(context.Background(), reg.SystemContext())
	if err != nil {
		t.Fatalf("%s: %v", ref, err)
	}
	t.Cleanup(func() { src.Close() })
	return src
}

// extractImage writes the regular files of ref's layers below root and
// returns the image's entrypoint and cmd.
func extractImage(t *testing.T, reg *Registry, ref, root string) []string {
	t.Helper()
	ctx := context.Background()
	src := imageSource(t, reg, ref)
	raw, mt, err := src.GetManifest(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	m, err := manifest.FromBlob(raw, mt)
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range m.LayerInfos() {
		blob, _, err := src.GetBlob(ctx, l.BlobInfo, none.NoCache)
		if err != nil {
			t.Fatal(err)
		}
		zr, err := gzip.NewReader(blob)
		if err != nil {
			t.Fatal(err)
		}
		tr := tar.NewReader(zr)
		for {
			h, err := tr.Next()
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				t.Fatal(err)
			}
			if h.Typeflag != tar.TypeReg {
				continue
			}
			p := filepath.Join(root, filepath.FromSlash(h.Name))
			if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
				t.Fatal(err)
			}
			data, err := io.ReadAll(tr)
			if err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(p, data, 0o644); err != nil {
				t.Fatal(err)
			}
		}
		blob.Close()
	}
	img, err := docker.ParseReference("//" + ref)
	if err != nil {
		t.Fatal(err)
	}
	i, err := img.NewImage(ctx, reg.SystemContext())
	if err != nil {
		t.Fatal(err)
	}
	defer i.Close()
	cfg, err := i.OCIConfig(ctx)
	if err != nil {
		t.Fatal(err)
	}
	return append(cfg.Config.Entrypoint, cfg.Config.Cmd...)
}
