// Command limit is the mirroring benchmark's floor: the least work any
// mirroring tool must do. It reads "SRC DST" lines (SRC by digest, DST a
// tag, or a digest as operator images are mirrored), reads each source
// manifest once, streams every unique blob once from the source registry
// into the first destination repository that needs it (one GET piped into
// one upload, largest first, -p at a time), mounts it from there into
// every other repository that needs it, then puts the manifests byte for
// byte. No retries, no progress, no checks beyond what
// go-containerregistry's remote package does itself.
//
// With -check it is the floor of a re-run onto a filled destination
// instead: one HEAD per destination tag (or digest), all through one
// client per repository, each compared with the source digest; it copies
// nothing and fails if a tag is missing or names another digest.
//
// Credentials come from the docker config (DOCKER_CONFIG), CAs from the
// system pool (SSL_CERT_FILE).
package main

import (
	"bufio"
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
	"sync"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/partial"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

type image struct {
	src  name.Digest
	dst  name.Reference
	desc *remote.Descriptor
}

type blob struct {
	src  name.Digest // the blob, in its source repository
	dst  name.Repository
	desc v1.Descriptor
	// from, when set, is the blob in another destination repository,
	// uploaded there first: it is mounted from there.
	from *name.Digest
}

// streamLayer is a blob known from a manifest: its GET starts only when
// the upload reads it, and nothing about it is asked of the source first.
type streamLayer struct {
	b    blob
	opts []remote.Option
}

func (s *streamLayer) Digest() (v1.Hash, error)            { return s.b.desc.Digest, nil }
func (s *streamLayer) Size() (int64, error)                { return s.b.desc.Size, nil }
func (s *streamLayer) MediaType() (types.MediaType, error) { return s.b.desc.MediaType, nil }
func (s *streamLayer) Compressed() (io.ReadCloser, error) {
	l, err := remote.Layer(s.b.src, s.opts...)
	if err != nil {
		return nil, err
	}
	return l.Compressed()
}

func main() {
	parallel := flag.Int("p", 8, "requests in flight")
	check := flag.Bool("check", false, "only check that each DST tag names SRC's digest (the floor of a re-run)")
	flag.Parse()
	if flag.NArg() != 1 {
		fmt.Fprintln(os.Stderr, "usage: limit [-p N] [-check] LIST (lines of SRC@DIGEST DST:TAG or DST@DIGEST)")
		os.Exit(2)
	}
	if err := run(context.Background(), flag.Arg(0), *parallel, *check); err != nil {
		fmt.Fprintln(os.Stderr, "limit:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, list string, parallel int, check bool) error {
	f, err := os.Open(list)
	if err != nil {
		return err
	}
	defer f.Close()
	var images []*image
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) != 2 {
			continue
		}
		src, err := name.NewDigest(fields[0])
		if err != nil {
			return err
		}
		dst, err := name.ParseReference(fields[1])
		if err != nil {
			return err
		}
		images = append(images, &image{src: src, dst: dst})
	}
	if err := sc.Err(); err != nil {
		return err
	}

	auth := remote.WithAuthFromKeychain(authn.DefaultKeychain)
	puller, err := remote.NewPuller(auth, remote.WithContext(ctx), remote.WithJobs(parallel))
	if err != nil {
		return err
	}
	pusher, err := remote.NewPusher(auth, remote.WithContext(ctx), remote.WithJobs(parallel))
	if err != nil {
		return err
	}
	srcOpts := []remote.Option{auth, remote.WithContext(ctx), remote.Reuse(puller)}
	dstOpts := []remote.Option{auth, remote.WithContext(ctx), remote.Reuse(pusher)}

	if check {
		// The puller keeps one client (one handshake, one ping) per
		// repository: the destination's here.
		return each(len(images), parallel, func(i int) error {
			d, err := remote.Head(images[i].dst, srcOpts...)
			if err != nil {
				return err
			}
			if d.Digest.String() != images[i].src.DigestStr() {
				return fmt.Errorf("%s names %s, want %s", images[i].dst, d.Digest, images[i].src.DigestStr())
			}
			return nil
		})
	}

	// 1. Manifests.
	if err := each(len(images), parallel, func(i int) error {
		d, err := remote.Get(images[i].src, srcOpts...)
		images[i].desc = d
		return err
	}); err != nil {
		return err
	}
	// 2. Every unique blob once, largest first, into the first repository
	// that needs it; then mounted into the others.
	seen := map[string]bool{}
	first := map[v1.Hash]name.Repository{}
	var blobs, mounts []blob
	for _, im := range images {
		m, err := v1.ParseManifest(strings.NewReader(string(im.desc.Manifest)))
		if err != nil {
			return fmt.Errorf("%s: %w", im.src, err)
		}
		for _, d := range append([]v1.Descriptor{m.Config}, m.Layers...) {
			key := im.dst.Context().String() + "@" + d.Digest.String()
			if seen[key] {
				continue
			}
			seen[key] = true
			b := blob{src: im.src.Context().Digest(d.Digest.String()), dst: im.dst.Context(), desc: d}
			if repo, ok := first[d.Digest]; ok {
				from := repo.Digest(d.Digest.String())
				b.from = &from
				mounts = append(mounts, b)
				continue
			}
			first[d.Digest] = im.dst.Context()
			blobs = append(blobs, b)
		}
	}
	sort.SliceStable(blobs, func(i, j int) bool { return blobs[i].desc.Size > blobs[j].desc.Size })
	if err := each(len(blobs), parallel, func(i int) error {
		l, err := partial.CompressedToLayer(&streamLayer{b: blobs[i], opts: srcOpts})
		if err != nil {
			return err
		}
		return remote.WriteLayer(blobs[i].dst, l, dstOpts...)
	}); err != nil {
		return err
	}
	if err := each(len(mounts), parallel, func(i int) error {
		l, err := partial.CompressedToLayer(&streamLayer{b: mounts[i], opts: srcOpts})
		if err != nil {
			return err
		}
		return remote.WriteLayer(mounts[i].dst, &remote.MountableLayer{Layer: l, Reference: *mounts[i].from}, dstOpts...)
	}); err != nil {
		return err
	}
	// 3. Manifests, byte for byte.
	return each(len(images), parallel, func(i int) error {
		return remote.Put(images[i].dst, images[i].desc, dstOpts...)
	})
}

// each runs fn(0..n-1), parallel at a time, and returns the first error.
func each(n, parallel int, fn func(int) error) error {
	var wg sync.WaitGroup
	var mu sync.Mutex
	var first error
	sem := make(chan struct{}, parallel)
	for i := range n {
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer func() { <-sem; wg.Done() }()
			if err := fn(i); err != nil {
				mu.Lock()
				if first == nil {
					first = err
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	return first
}
