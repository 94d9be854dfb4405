package testenv

import (
	"context"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/distribution/distribution/v3/registry/storage"
	"github.com/distribution/distribution/v3/registry/storage/driver/filesystem"
	digest "github.com/opencontainers/go-digest"
)

// GarbageCollect runs the distribution registry's own garbage collector
// (registry/storage MarkAndSweep, what `registry garbage-collect` runs) on
// the registry's storage: blobs no manifest of any repository references
// go; with removeUntagged, manifests no tag names go too. Call it while no
// write is in flight, as the registry's documentation asks.
func (r *Registry) GarbageCollect(ctx context.Context, removeUntagged bool) error {
	drv := filesystem.New(filesystem.DriverParameters{RootDirectory: filepath.Join(r.Dir, "storage"), MaxThreads: 100})
	ns, err := storage.NewRegistry(ctx, drv, storage.EnableDelete)
	if err != nil {
		return fmt.Errorf("opening the registry storage for garbage collection: %w", err)
	}
	if err := storage.MarkAndSweep(ctx, drv, ns, storage.GCOpts{RemoveUntagged: removeUntagged, Quiet: true}); err != nil {
		return fmt.Errorf("garbage collection of %s: %w", r.Host, err)
	}
	return nil
}

// StoredBlobs are the digests of every blob (layers, configs and manifests)
// the registry's storage holds, whatever references them.
func (r *Registry) StoredBlobs() (map[digest.Digest]int64, error) {
	root := filepath.Join(r.Dir, "storage", "docker", "registry", "v2", "blobs")
	out := map[digest.Digest]int64{}
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			if os.IsNotExist(err) && path == root {
				return filepath.SkipDir
			}
			return err
		}
		if d.IsDir() || d.Name() != "data" {
			return nil
		}
		// blobs/<algorithm>/<first two hex>/<hex>/data
		hex := filepath.Base(filepath.Dir(path))
		alg := filepath.Base(filepath.Dir(filepath.Dir(filepath.Dir(path))))
		info, err := d.Info()
		if err != nil {
			return err
		}
		out[digest.NewDigestFromEncoded(digest.Algorithm(alg), hex)] = info.Size()
		return nil
	})
	return out, err
}
