package release

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/airgap-ocp/oc-plugins/pkg/manifest"
)

// A release image's files (image-references, release-metadata) sit in a
// layer of megabytes in a real release, read again by every run that
// mirrors it, although a digest's files never change. WithCache keeps
// what a read found, by the digest of the release image's manifest, in a
// file of a folder: a later read of the same digest reads the manifest
// only. Each file is written whole under a temporary name, then renamed;
// one that cannot be read or parsed is read from the registry again.

// cacheMaxAge keeps an entry a week after its last use, as the catalog
// copies beside it.
const cacheMaxAge = 7 * 24 * time.Hour

// WithCache keeps the files of each release read in dir, and reads them
// from there when the release image's manifest has the same digest. An
// empty dir keeps none.
func WithCache(dir string) ReadOption {
	return func(o *readOptions) { o.cache = payloadCache{dir: dir} }
}

type payloadCache struct{ dir string }

// cachedPayload is what an entry keeps: the files byte for byte, and
// the architecture of the image config.
type cachedPayload struct {
	Architecture    string `json:"architecture"`
	ImageReferences []byte `json:"imageReferences"`
	ReleaseMetadata []byte `json:"releaseMetadata,omitempty"`
}

func (c payloadCache) path(d digest.Digest) string {
	return filepath.Join(c.dir, d.Algorithm().String()+"-"+d.Encoded()+".json")
}

// load returns the entry of d, if one was kept and parses, and marks it
// used.
func (c payloadCache) load(d digest.Digest) (*cachedPayload, bool) {
	if c.dir == "" || d.Validate() != nil {
		return nil, false
	}
	path := c.path(d)
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, false
	}
	var e cachedPayload
	if json.Unmarshal(data, &e) != nil || len(e.ImageReferences) == 0 {
		return nil, false
	}
	now := time.Now()
	_ = os.Chtimes(path, now, now)
	return &e, true
}

// store keeps e as d's entry and removes the entries unused for
// cacheMaxAge. It is best effort: an entry not written costs the next
// read the layer.
func (c payloadCache) store(d digest.Digest, e cachedPayload) {
	if c.dir == "" || d.Validate() != nil {
		return
	}
	data, err := json.Marshal(e)
	if err != nil || os.MkdirAll(c.dir, 0o755) != nil {
		return
	}
	_ = manifest.WriteFileAtomic(c.path(d), data, 0o644)
	c.prune(time.Now())
}

func (c payloadCache) prune(now time.Time) {
	des, err := os.ReadDir(c.dir)
	if err != nil {
		return
	}
	for _, de := range des {
		name := de.Name()
		// Entries, and the temporary files of writes a crash cut short.
		if !de.Type().IsRegular() || !strings.HasSuffix(name, ".json") && !strings.Contains(name, ".tmp-") {
			continue
		}
		if fi, err := de.Info(); err == nil && now.Sub(fi.ModTime()) > cacheMaxAge {
			_ = os.Remove(filepath.Join(c.dir, name))
		}
	}
}
