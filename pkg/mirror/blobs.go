package mirror

import (
	"context"
	"fmt"
	"reflect"
	"sort"
	"strings"

	"github.com/containers/image/v5/docker"
	"github.com/containers/image/v5/docker/reference"
	"github.com/containers/image/v5/pkg/blobinfocache/none"
	"github.com/containers/image/v5/types"
	digest "github.com/opencontainers/go-digest"
	"golang.org/x/sync/errgroup"
)

// Phase 2: group the blobs of the images left to copy and check which
// destination repositories already hold them.

// blobGroup is one blob and every destination repository that needs it.
type blobGroup struct {
	// seq is the blob's place in the order of the images that need it.
	seq      int
	info     types.BlobInfo
	isConfig bool
	src      *imageState // an image whose source holds the blob
	repos    []string
	missing  []string
	present  []string
	waiters  map[string][]*imageState
}

// blobServer is a source that can say before any transfer whether it can
// serve a blob: an archive, which may leave blobs out (--since).
type blobServer interface {
	CanServe(digest.Digest) error
}

// UnservableError is a run stopped before anything moved: blobs the
// destination lacks that the source cannot serve (an incremental archive
// pushed where its base archive was not).
type UnservableError struct {
	Count int
	// Err is the first blob's reason.
	Err error
}

func (e *UnservableError) Error() string {
	return fmt.Sprintf("%d blobs the destination lacks cannot be read from the source, so nothing was pushed; the first: %v", e.Count, e.Err)
}

func (e *UnservableError) Unwrap() error { return e.Err }

// unservable is an *UnservableError for the blobs of groups that no
// destination repository holds and the source cannot serve, or nil.
func (r *run) unservable(groups []*blobGroup) error {
	var first error
	n := 0
	for _, g := range groups {
		bs, ok := g.src.src.(blobServer) // an archive: never a pool's
		if !ok {
			continue
		}
		if err := bs.CanServe(g.info.Digest); err != nil {
			n++
			if first == nil {
				first = err
			}
		}
	}
	if n == 0 {
		return nil
	}
	return &UnservableError{Count: n, Err: first}
}

// checkBlobs groups the blobs of the images still to copy by digest and checks
// (HEAD) which destination repositories already hold them.
func (r *run) checkBlobs(ctx context.Context) []*blobGroup {
	groups := map[digest.Digest]*blobGroup{}
	var order []digest.Digest
	for _, im := range r.images {
		if im.Status != "" {
			continue
		}
		im.pending = len(im.blobs)
		for _, b := range im.blobs {
			g := groups[b.info.Digest]
			if g == nil {
				g = &blobGroup{seq: len(order), info: b.info, isConfig: b.isConfig, src: im, waiters: map[string][]*imageState{}}
				groups[b.info.Digest] = g
				order = append(order, b.info.Digest)
			}
			if _, ok := g.waiters[im.repo]; !ok {
				g.repos = append(g.repos, im.repo)
			}
			g.waiters[im.repo] = append(g.waiters[im.repo], im)
		}
	}
	type check struct {
		g    *blobGroup
		repo string
		ok   bool
	}
	var checks []*check
	for _, d := range order {
		for _, repo := range groups[d].repos {
			checks = append(checks, &check{g: groups[d], repo: repo})
		}
	}
	var eg errgroup.Group
	eg.SetLimit(r.opts.Parallel)
	for _, c := range checks {
		eg.Go(func() error {
			if r.repoUntagged(ctx, c.repo) {
				return nil // most likely new: PutBlob checks (upload)
			}
			dest, release, err := r.blobDest(ctx, c.g, c.repo)
			if err != nil {
				return nil // the transfer reports it
			}
			_ = r.retry(ctx, r.atDest(dest.Reference()), 0, func(ctx context.Context) error {
				ok, _, err := dest.TryReusingBlob(ctx, c.g.info, none.NoCache, false)
				c.ok = ok
				return err
			})
			release()
			if c.ok {
				r.counters.blobsPresent.Add(1)
				r.recordLocation(dest.Reference(), c.g.info.Digest)
				recordCompressor(r.cache, c.g.info.Digest, c.g.info.MediaType)
			}
			return nil
		})
	}
	_ = eg.Wait() // a failed check is a blob to upload

	var out []*blobGroup
	for _, c := range checks {
		if c.ok {
			c.g.present = append(c.g.present, c.repo)
			r.blobDone(c.g, c.repo, nil)
		} else {
			c.g.missing = append(c.g.missing, c.repo)
		}
	}
	for _, d := range order {
		if g := groups[d]; len(g.missing) > 0 {
			out = append(out, g)
			r.counters.bytesTotal.Add(max(g.info.Size, 0))
			// One per repository: each upload or mount counts as done.
			r.counters.blobsTotal.Add(int64(len(g.missing)))
		}
	}
	// The largest first, so the run does not end waiting on one huge layer.
	sort.SliceStable(out, func(i, j int) bool { return out[i].info.Size > out[j].info.Size })
	return out
}

// recordLocation tells the blob info cache that ref's repository holds d,
// so containers/image mounts it from there into other repositories of the
// same registry. The scope and location are the docker transport's own
// (registry host, repository name).
func (r *run) recordLocation(ref types.ImageReference, d digest.Digest) {
	if ref.Transport().Name() != docker.Transport.Name() || ref.DockerReference() == nil {
		return
	}
	named := ref.DockerReference()
	r.cache.RecordKnownLocation(ref.Transport(), types.BICTransportScope{Opaque: reference.Domain(named)}, d,
		types.BICLocationReference{Opaque: named.Name()})
}

// sameRegistry reports whether a and b are docker references to one registry.
func sameRegistry(a, b types.ImageReference) bool {
	if a.Transport().Name() != docker.Transport.Name() || b.Transport().Name() != docker.Transport.Name() ||
		a.DockerReference() == nil || b.DockerReference() == nil {
		return false
	}
	return reference.Domain(a.DockerReference()) == reference.Domain(b.DockerReference())
}

// recordCompressor tells the blob info cache how blob d is compressed.
// containers/image offers a location as a mount source only when it knows
// that (it learns it inside its copy package, through a method whose
// argument type is internal to the module), so this sets it by
// reflection: the method and its fields are exported. Should a later
// containers/image change them, this does nothing and blobs are uploaded
// instead of mounted.
func recordCompressor(cache types.BlobInfoCache, d digest.Digest, mediaType string) {
	m := reflect.ValueOf(cache).MethodByName("RecordDigestCompressorData")
	if !m.IsValid() || m.Type().NumIn() != 2 || m.Type().In(1).Kind() != reflect.Struct {
		return
	}
	name := "uncompressed"
	switch {
	case strings.HasSuffix(mediaType, "gzip"):
		name = "gzip"
	case strings.HasSuffix(mediaType, "zstd"):
		name = "zstd"
	}
	data := reflect.New(m.Type().In(1)).Elem()
	base, specific := data.FieldByName("BaseVariantCompressor"), data.FieldByName("SpecificVariantCompressor")
	if !base.IsValid() || !base.CanSet() || base.Kind() != reflect.String ||
		!specific.IsValid() || !specific.CanSet() || specific.Kind() != reflect.String {
		return
	}
	base.SetString(name)
	specific.SetString("unknown")
	m.Call([]reflect.Value{reflect.ValueOf(d), data})
}
