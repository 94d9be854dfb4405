package catalog

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/containers/image/v5/docker"
	"github.com/containers/image/v5/docker/reference"
	"github.com/containers/image/v5/types"
	digest "github.com/opencontainers/go-digest"

	"github.com/airgap-ocp/oc-plugins/pkg/flock"
	"github.com/airgap-ocp/oc-plugins/pkg/retry"
)

// A catalog image is copied whole, every platform, before its configs can
// be read: hundreds of MB for Red Hat's index, read again by every run
// although it changes a few times a week. Cache keeps each catalog it
// copies, by digest, with its configs directory extracted, so that a run
// whose tag still names the same digest asks the registry for that digest
// only. An entry is a directory named for the digest holding the OCI
// layout and the configs; a run holds its entry locked (flock) from the
// copy to the push of the rebuilt catalog, which it writes into the same
// layout; a run that finds the entry locked copies the catalog for itself,
// as without a cache.

// Cache is a folder of catalog copies kept between runs.
type Cache struct {
	// Dir holds the entries.
	Dir string
	// MaxAge is how long an entry no run used is kept; older ones are
	// removed when a run opens the cache.
	MaxAge time.Duration
}

// DefaultCacheMaxAge keeps a catalog a week after its last use: a weekly
// mirror run finds the copy of the week before.
const DefaultCacheMaxAge = 7 * 24 * time.Hour

// Copy is a catalog image ready to read: the image in its layout, the
// folder its configs were extracted to, and Release, which the run calls
// when it no longer uses either.
type Copy struct {
	Image   *Image
	Configs string
	Release func()
}

// completeFile marks an entry whose copy and configs are whole.
const completeFile = "complete"

// Open copies the catalog name (a pull spec, or oci:DIR) and extracts its
// configs: through the cache when it has a Dir and name is in a registry,
// else into work (which it creates), as for every run before the cache.
func (c Cache) Open(ctx context.Context, name string, sys *types.SystemContext, work string, policy retry.Policy) (*Copy, error) {
	src, err := SourceReference(name)
	if err != nil {
		return nil, err
	}
	if c.Dir == "" || src.Transport().Name() != docker.Transport.Name() {
		return fetchInto(ctx, name, src, sys, work, policy)
	}
	d, err := sourceDigest(ctx, src, sys, policy)
	if err != nil {
		return nil, fmt.Errorf("reading catalog %s: %w", name, err)
	}
	canonical, err := reference.WithDigest(reference.TrimNamed(src.DockerReference()), d)
	if err != nil {
		return nil, err
	}
	byDigest, err := docker.NewReference(canonical)
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(c.Dir, 0o755); err != nil {
		return nil, err
	}
	c.prune(time.Now())
	entry := filepath.Join(c.Dir, d.Algorithm().String()+"-"+d.Encoded())
	unlock, ok, err := lockEntry(entry)
	if err != nil {
		return nil, err
	}
	if !ok {
		return fetchInto(ctx, name, byDigest, sys, work, policy) // another run holds it
	}
	cp, err := c.openEntry(ctx, name, byDigest, d, sys, entry, policy)
	if err != nil {
		unlock()
		return nil, err
	}
	cp.Release = unlock
	return cp, nil
}

// openEntry reads the locked entry, filling it first unless it is
// complete. A copy cut short is resumed: the layout keeps the blobs it
// has, and only the missing ones are copied. An entry that no longer
// reads (its files changed or removed by hand) is copied again.
func (c Cache) openEntry(ctx context.Context, name string, src types.ImageReference, d digest.Digest, sys *types.SystemContext, entry string, policy retry.Policy) (*Copy, error) {
	layoutDir, configs := filepath.Join(entry, "layout"), filepath.Join(entry, "configs")
	now := time.Now()
	if complete(entry) {
		img := &Image{Source: name, Digest: d, dir: layoutDir}
		if err := img.read(ctx); err == nil {
			return &Copy{Image: img, Configs: configs}, os.Chtimes(entry, now, now)
		}
		if err := os.RemoveAll(entry); err != nil {
			return nil, err
		}
	}
	img, err := FetchFrom(ctx, name, src, sys, layoutDir, policy)
	if err != nil {
		return nil, err
	}
	if err := os.RemoveAll(configs); err != nil {
		return nil, err
	}
	if err := img.ExtractConfigs(ctx, configs); err != nil {
		return nil, &configsError{name, err}
	}
	if err := os.WriteFile(filepath.Join(entry, completeFile), nil, 0o644); err != nil {
		return nil, err
	}
	return &Copy{Image: img, Configs: configs}, os.Chtimes(entry, now, now)
}

// complete reports whether entry holds a whole copy and its configs.
func complete(entry string) bool {
	for _, f := range []string{completeFile, "configs"} {
		if _, err := os.Stat(filepath.Join(entry, f)); err != nil {
			return false
		}
	}
	return true
}

// OpenFrom is Open of the catalog name from src, a copy of it held
// elsewhere (an archive, on disk already): copied into work, not kept.
func OpenFrom(ctx context.Context, name string, src types.ImageReference, work string, policy retry.Policy) (*Copy, error) {
	return fetchInto(ctx, name, src, nil, work, policy)
}

// fetchInto copies the catalog into work, for this run only.
func fetchInto(ctx context.Context, name string, src types.ImageReference, sys *types.SystemContext, work string, policy retry.Policy) (*Copy, error) {
	img, err := FetchFrom(ctx, name, src, sys, filepath.Join(work, "layout"), policy)
	if err != nil {
		return nil, err
	}
	configs := filepath.Join(work, "configs")
	if err := img.ExtractConfigs(ctx, configs); err != nil {
		return nil, &configsError{name, err}
	}
	return &Copy{Image: img, Configs: configs, Release: func() {}}, nil
}

// configsError is a catalog whose configs cannot be extracted: bad input.
type configsError struct {
	name string
	err  error
}

func (e *configsError) Error() string { return fmt.Sprintf("catalog %s: %v", e.name, e.err) }
func (e *configsError) Unwrap() error { return e.err }

// IsBadCatalog reports whether err says the catalog itself is bad (not a
// file-based catalog, configs that cannot be extracted) rather than that
// it could not be read.
func IsBadCatalog(err error) bool {
	var ce *configsError
	return errors.Is(err, ErrNotCatalog) || errors.As(err, &ce)
}

// sourceDigest is the digest src names: its own, or the one its tag
// points at now (one HEAD).
func sourceDigest(ctx context.Context, src types.ImageReference, sys *types.SystemContext, policy retry.Policy) (d digest.Digest, err error) {
	if c, ok := src.DockerReference().(reference.Canonical); ok {
		return c.Digest(), nil
	}
	err = retry.Do(ctx, policy, func(ctx context.Context) error {
		d, err = docker.GetDigest(ctx, sys, src)
		return err
	})
	return d, err
}

// lockEntry takes entry's lock without waiting: ok is false when another
// run holds it. A file system without locks is used unlocked.
func lockEntry(entry string) (unlock func(), ok bool, err error) {
	f, err := os.OpenFile(entry+".lock", os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return nil, false, err
	}
	err = flock.Try(f, true)
	switch {
	case err == nil, errors.Is(err, flock.ErrUnsupported):
		var once sync.Once
		return func() { once.Do(func() { f.Close() }) }, true, nil
	case errors.Is(err, flock.ErrHeld):
		f.Close()
		return nil, false, nil
	}
	f.Close()
	return nil, false, fmt.Errorf("locking %s: %w", entry, err)
}

// prune removes the entries no run has used for MaxAge, but none a run
// holds now.
func (c Cache) prune(now time.Time) {
	if c.MaxAge <= 0 {
		return
	}
	des, err := os.ReadDir(c.Dir)
	if err != nil {
		return
	}
	for _, de := range des {
		if !de.IsDir() || !strings.HasPrefix(de.Name(), "sha256-") {
			continue
		}
		entry := filepath.Join(c.Dir, de.Name())
		fi, err := os.Stat(entry)
		if err != nil || now.Sub(fi.ModTime()) < c.MaxAge {
			continue
		}
		unlock, ok, err := lockEntry(entry)
		if err != nil || !ok {
			continue
		}
		if os.RemoveAll(entry) == nil {
			os.Remove(entry + ".lock")
		}
		unlock()
	}
}
