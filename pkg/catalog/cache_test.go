package catalog

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/containers/image/v5/types"

	"github.com/airgap-ocp/oc-plugins/internal/testenv"
	"github.com/airgap-ocp/oc-plugins/pkg/retry"
)

// openCached opens name through a cache in dir and checks what a run
// reads from it: the configs of the catalog.
func openCached(t *testing.T, c Cache, name string, sys *types.SystemContext) *Copy {
	t.Helper()
	cp, err := c.Open(context.Background(), name, sys, t.TempDir(), retry.Policy{Attempts: 1})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cp.Release)
	x, err := Scan(context.Background(), os.DirFS(cp.Configs))
	if err != nil {
		t.Fatalf("configs of %s: %v", name, err)
	}
	if len(x.Packages) == 0 {
		t.Fatalf("configs of %s: no package", name)
	}
	return cp
}

// TestCacheSkipsTheCopyOfAnUnchangedCatalog: a catalog read before is
// read again from the cache, the registry asked only which digest the tag
// names; a tag moved to another catalog gets a copy of its own.
func TestCacheSkipsTheCopyOfAnUnchangedCatalog(t *testing.T) {
	reg := testenv.StartRegistry(t)
	name := pushSample(t, reg, "redhat/index", "amd64", "arm64") + ":latest"
	c := Cache{Dir: t.TempDir(), MaxAge: DefaultCacheMaxAge}
	sys := reg.SystemContext()

	reg.Traffic().Reset()
	first := openCached(t, c, name, sys)
	first.Release()
	requestsFirst, _ := reg.Traffic().Requests()
	reg.Traffic().Reset()
	again := openCached(t, c, name, sys)
	requests, _ := reg.Traffic().Requests()
	t.Logf("first open: %d requests; again: %d", requestsFirst, requests)
	if again.Image.Digest != first.Image.Digest || len(again.Image.Platforms()) != 2 {
		t.Errorf("again: %s with %v, want %s with two platforms", again.Image.Digest, again.Image.Platforms(), first.Image.Digest)
	}
	if requests > 2 {
		t.Errorf("reading a kept catalog took %d requests, want the ping and the tag's digest", requests)
	}
	again.Release()

	// A kept copy damaged by hand is copied again, not trusted.
	if err := os.RemoveAll(filepath.Join(filepath.Dir(again.Configs), "layout", "blobs")); err != nil {
		t.Fatal(err)
	}
	reg.Traffic().Reset()
	healed := openCached(t, c, name, sys)
	if requests, _ := reg.Traffic().Requests(); healed.Image.Digest != first.Image.Digest || requests <= 2 {
		t.Errorf("a damaged copy: read %s with %d requests, want %s copied again", healed.Image.Digest, requests, first.Image.Digest)
	}
	healed.Release()

	// A new catalog under the same tag.
	img, err := testenv.CatalogImage(t, testenv.Catalog(sample()[:1]...), "amd64")
	if err != nil {
		t.Fatal(err)
	}
	reg.MustPushImage(t, "redhat/index:latest", img)
	moved := openCached(t, c, name, sys)
	if moved.Image.Digest == first.Image.Digest || moved.Image.Platforms()[0] != "linux/amd64" || len(moved.Image.Platforms()) != 1 {
		t.Errorf("after the tag moved: %s with %v, want the new single-platform catalog", moved.Image.Digest, moved.Image.Platforms())
	}
}

// TestCacheLeavesAHeldCopyAloneAndPrunesOldOnes: a run that finds the
// catalog's copy held by another copies it for itself; a copy no run used
// for MaxAge is removed, one in use never.
func TestCacheLeavesAHeldCopyAloneAndPrunesOldOnes(t *testing.T) {
	reg := testenv.StartRegistry(t)
	name := pushSample(t, reg, "redhat/index", "amd64") + ":latest"
	c := Cache{Dir: t.TempDir(), MaxAge: time.Hour}
	sys := reg.SystemContext()

	held := openCached(t, c, name, sys)
	if !strings.HasPrefix(held.Configs, c.Dir) {
		t.Fatalf("configs in %s, want them kept in %s", held.Configs, c.Dir)
	}
	other := openCached(t, c, name, sys)
	if strings.HasPrefix(other.Configs, c.Dir) {
		t.Errorf("a second run at once read the held copy (%s), want a copy of its own", other.Configs)
	}

	entry := filepath.Dir(held.Configs)
	old := time.Now().Add(-2 * time.Hour)
	if err := os.Chtimes(entry, old, old); err != nil {
		t.Fatal(err)
	}
	c.prune(time.Now())
	if _, err := os.Stat(entry); err != nil {
		t.Fatalf("a held copy was pruned: %v", err)
	}
	held.Release()
	c.prune(time.Now())
	if _, err := os.Stat(entry); !os.IsNotExist(err) {
		t.Errorf("a copy unused for two hours is still kept (MaxAge one hour): %v", err)
	}
}
