package catalog

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/containers/image/v5/manifest"
	"github.com/containers/image/v5/oci/layout"
	"github.com/containers/image/v5/types"

	"github.com/airgap-ocp/oc-plugins/internal/testenv"
	"github.com/airgap-ocp/oc-plugins/pkg/retry"
)

// pushSample pushes the sample catalog as a catalog image, one image per
// architecture (a manifest list when there are several).
func pushSample(t *testing.T, reg *testenv.Registry, repo string, arches ...string) string {
	t.Helper()
	var imgs []testenv.Image
	for _, a := range arches {
		img, err := testenv.CatalogImage(t, testenv.Catalog(sample()...), a)
		if err != nil {
			t.Fatal(err)
		}
		imgs = append(imgs, img)
	}
	ctx := context.Background()
	var err error
	if len(imgs) == 1 {
		_, err = reg.PushImage(ctx, repo, imgs[0])
	} else {
		_, err = reg.PushImageList(ctx, repo, imgs)
	}
	if err != nil {
		t.Fatal(err)
	}
	return reg.Ref(repo)
}

// command is the entrypoint and cmd of a layout's image.
func command(t *testing.T, dir, tag string) []string {
	t.Helper()
	ref, err := layout.NewReference(dir, tag)
	if err != nil {
		t.Fatal(err)
	}
	img, err := ref.NewImage(context.Background(), &types.SystemContext{ArchitectureChoice: "amd64", OSChoice: "linux"})
	if err != nil {
		t.Fatal(err)
	}
	defer img.Close()
	cfg, err := img.OCIConfig(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return append(cfg.Config.Entrypoint, cfg.Config.Cmd...)
}

func TestRebuiltCatalogServesTheFilteredPackages(t *testing.T) {
	reg := testenv.StartRegistry(t)
	ctx := context.Background()
	for _, arches := range [][]string{{"amd64"}, {"amd64", "arm64"}} {
		t.Run(strings.Join(arches, "+"), func(t *testing.T) {
			name := pushSample(t, reg, "redhat/redhat-operator-index-"+strings.Join(arches, "-"), arches...)
			work := t.TempDir()
			img, err := Fetch(ctx, "docker://"+name+":latest", reg.SystemContext(), filepath.Join(work, "layout"), retry.Policy{Attempts: 1})
			if err != nil {
				t.Fatal(err)
			}
			if got := img.Platforms(); len(got) != len(arches) || img.ConfigsDir != "/configs" {
				t.Fatalf("platforms %v, configs %q", got, img.ConfigsDir)
			}
			configs := filepath.Join(work, "configs")
			if err := img.ExtractConfigs(ctx, configs); err != nil {
				t.Fatal(err)
			}
			x, err := Scan(ctx, os.DirFS(configs))
			if err != nil {
				t.Fatal(err)
			}
			k, err := x.Filter(Selection{Packages: []Package{{Name: "aws-load-balancer-operator"}, {Name: "branchy-operator", MinVersion: "1.1.0", MaxVersion: "1.1.5"}}}, FilterOptions{})
			if err != nil {
				t.Fatal(err)
			}
			filtered := filepath.Join(work, "filtered")
			if err := Write(ctx, os.DirFS(configs), k, filtered); err != nil {
				t.Fatal(err)
			}
			if err := testenv.OPMValidate(t, filtered); err != nil {
				t.Fatal(err)
			}
			d, _, err := img.Rebuild(ctx, filtered)
			if err != nil {
				t.Fatal(err)
			}
			if d == img.Digest {
				t.Fatal("the rebuilt catalog has the original's digest")
			}
			again, _, err := img.Rebuild(ctx, filtered)
			if err != nil || again != d {
				t.Fatalf("a second rebuild gave %s (%v), want the same %s", again, err, d)
			}

			root := filepath.Join(work, "rootfs")
			if _, err := img.extract(ctx, RebuiltTag, "", root); err != nil {
				t.Fatal(err)
			}
			if _, err := os.Stat(filepath.Join(root, "tmp", "cache")); !os.IsNotExist(err) {
				t.Errorf("the original's cache is still in the image: %v", err)
			}
			cmd := command(t, img.dir, RebuiltTag)
			if want := []string{"/bin/opm", "serve", "/configs"}; !reflect.DeepEqual(cmd, want) {
				t.Errorf("command %q, want %q", cmd, want)
			}
			srv, err := testenv.ServeCatalog(t, root, cmd)
			if err != nil {
				t.Fatal(err)
			}
			pkgs, err := srv.Packages(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if want := []string{"aws-load-balancer-operator", "branchy-operator"}; !reflect.DeepEqual(pkgs, want) {
				t.Errorf("opm serves packages %v, want %v", pkgs, want)
			}
			bundles, err := srv.Bundles(ctx)
			if err != nil {
				t.Fatal(err)
			}
			want := []string{
				"aws-load-balancer-operator/stable-v1/aws-load-balancer-operator.v1.2.0",
				"branchy-operator/stable/branchy.v1.1.0", "branchy-operator/stable/branchy.v1.1.5",
				"branchy-operator/stable/branchy.v1.2.0", "branchy-operator/stable/branchy.v2.0.0",
			}
			if !reflect.DeepEqual(bundles, want) {
				t.Errorf("opm serves bundles %v\nwant %v", bundles, want)
			}

			if len(arches) > 1 {
				ref, _ := layout.NewReference(img.dir, RebuiltTag)
				src, err := ref.NewImageSource(ctx, nil)
				if err != nil {
					t.Fatal(err)
				}
				defer src.Close()
				raw, mime, err := src.GetManifest(ctx, nil)
				if err != nil {
					t.Fatal(err)
				}
				list, err := manifest.ListFromBlob(raw, mime)
				if err != nil {
					t.Fatalf("the rebuilt multi-arch catalog is no list: %v", err)
				}
				for i, inst := range list.Instances() {
					if inst == img.instances[i].digest {
						t.Errorf("platform %s was not rebuilt", img.instances[i].platform)
					}
				}
			}
		})
	}
}

// The catalog as published starts with its cache; with its configs
// filtered under that cache it fails to start: the crash loop users hit
// with catalogs rebuilt without removing it, and what Rebuild prevents.
func TestShippedCacheIsRefusedOnceConfigsChange(t *testing.T) {
	reg := testenv.StartRegistry(t)
	ctx := context.Background()
	name := pushSample(t, reg, "redhat/stale", "amd64")
	work := t.TempDir()
	img, err := Fetch(ctx, name, reg.SystemContext(), filepath.Join(work, "layout"), retry.Policy{Attempts: 1})
	if err != nil {
		t.Fatal(err)
	}
	root := filepath.Join(work, "rootfs")
	if _, err := img.extract(ctx, sourceTag, "", root); err != nil {
		t.Fatal(err)
	}
	cmd := command(t, img.dir, sourceTag)
	srv, err := testenv.ServeCatalog(t, root, cmd)
	if err != nil {
		t.Fatalf("the published catalog does not start: %v", err)
	}
	srv.Stop()
	x, err := Scan(ctx, os.DirFS(filepath.Join(root, "configs")))
	if err != nil {
		t.Fatal(err)
	}
	k, err := x.Filter(Selection{Packages: []Package{{Name: "aws-load-balancer-operator"}}}, FilterOptions{})
	if err != nil {
		t.Fatal(err)
	}
	filtered := filepath.Join(work, "filtered")
	if err := Write(ctx, os.DirFS(filepath.Join(root, "configs")), k, filtered); err != nil {
		t.Fatal(err)
	}
	if err := os.RemoveAll(filepath.Join(root, "configs")); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(filtered, filepath.Join(root, "configs")); err != nil {
		t.Fatal(err)
	}
	_, err = testenv.ServeCatalog(t, root, cmd)
	if err == nil || !strings.Contains(err.Error(), "cache requires rebuild") {
		t.Fatalf("opm serve on filtered configs under the shipped cache: %v, want the integrity failure", err)
	}
}

func TestFetchRefusesSQLiteCatalogs(t *testing.T) {
	reg := testenv.StartRegistry(t)
	ctx := context.Background()
	reg.MustPushImage(t, "redhat/old-index", testenv.Image{
		Layers: []testenv.Layer{{Files: []testenv.File{{Name: "database/index.db", Data: []byte("SQLite format 3\x00")}}}},
		Labels: map[string]string{DatabaseLabel: "/database/index.db"},
	})
	_, err := Fetch(ctx, reg.Ref("redhat/old-index")+":latest", reg.SystemContext(), filepath.Join(t.TempDir(), "layout"), retry.Policy{Attempts: 1})
	if !errors.Is(err, ErrNotCatalog) || !strings.Contains(err.Error(), "SQLite") || !strings.Contains(err.Error(), "4.10") {
		t.Fatalf("error %v: want a refusal naming SQLite and the 4.10 limit", err)
	}
}
