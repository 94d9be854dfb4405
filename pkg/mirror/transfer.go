package mirror

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"

	"github.com/containers/image/v5/types"

	"github.com/airgap-ocp/oc-plugins/pkg/retry"
)

// Phase 3: copy the missing blobs and push each manifest once its blobs
// are in.

func (r *run) dest(ctx context.Context, ref types.ImageReference) (types.ImageDestination, error) {
	key := transports(ref)
	r.mu.Lock()
	h := r.dests[key]
	if h == nil {
		h = &destHandle{}
		r.dests[key] = h
	}
	r.mu.Unlock()
	h.once.Do(func() { h.dest, h.err = r.openDest(ctx, ref) })
	return h.dest, h.err
}

// openDest opens ref as a destination under the retry policy.
func (r *run) openDest(ctx context.Context, ref types.ImageReference) (dest types.ImageDestination, err error) {
	err = r.retry(ctx, r.atDest(ref), 0, func(ctx context.Context) (err error) {
		dest, err = ref.NewImageDestination(ctx, r.opts.DestCtx)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("opening %s: %w", transports(ref), err)
	}
	return dest, nil
}

// blobDone notes that repo now holds g's blob (err nil) or cannot get it,
// and queues the manifests that were waiting only for it.
func (r *run) blobDone(g *blobGroup, repo string, err error) []*imageState {
	r.mu.Lock()
	defer r.mu.Unlock()
	var ready []*imageState
	for _, im := range g.waiters[repo] {
		if im.Status != "" {
			continue
		}
		if err != nil {
			im.Status, im.Err = StatusFailed, fmt.Errorf("copying blob %s: %w", g.info.Digest, err)
			r.counters.imagesDone.Add(1)
			continue
		}
		im.pending--
		if im.pending == 0 {
			ready = append(ready, im)
		}
	}
	return ready
}

// closeOwnDest closes im's own destination once it is pushed: a docker
// destination of one image serves only its push (blobs go through the
// repository's pool), and each holds a client of its own.
func (r *run) closeOwnDest(im *imageState) {
	if !isDocker(im.Dest) {
		return
	}
	key := transports(im.Dest)
	r.mu.Lock()
	h := r.dests[key]
	delete(r.dests, key)
	r.mu.Unlock()
	if h != nil && h.dest != nil {
		_ = h.dest.Close()
	}
}

func closeDest(d types.ImageDestination) { _ = d.Close() }

func closeSource(s types.ImageSource) { _ = s.Close() }

// transfer copies the missing blobs, opts.Parallel at a time, and pushes
// each manifest as soon as its blobs are in. Half the workers take the
// largest blob left, so the run does not end waiting on one huge layer;
// the other half take the blobs in the order of the images that need
// them, so images complete one after another, not all at the end with
// the blobs of middling size (which is where taking blobs by size from
// both ends left them). A small blob (smallBlob) and a push move little
// data and are all round trips, so they run beside the transfers, one and
// four to a request slot (smallParallel, pushParallel), without taking a
// transfer's place: the link is not left idle while configs and empty
// layers go up or an image is pushed, and the run does not end with
// hundreds of small blobs a transfer slot each, too few bytes in flight
// to fill a long link (docs/benchmarks.md, issue 20).
func (r *run) transfer(ctx context.Context, groups []*blobGroup) {
	q := newQueue(groups)
	var pushes sync.WaitGroup
	slots := make(chan struct{}, r.pushParallel())
	push := func(ims []*imageState) {
		for _, im := range ims {
			if r.opts.Parallel == 1 {
				r.pushImage(ctx, im) // one request at a time, as asked
				continue
			}
			pushes.Go(func() {
				slots <- struct{}{}
				defer func() { <-slots }()
				r.pushImage(ctx, im)
			})
		}
	}
	var ready []*imageState
	for _, im := range r.images {
		if im.Status == "" && im.pending == 0 {
			ready = append(ready, im)
		}
	}
	push(ready)
	var wg sync.WaitGroup
	work := func(l lane) {
		wg.Go(func() {
			for {
				g, ok := q.next(l)
				if !ok {
					return
				}
				push(r.copyBlob(ctx, g))
			}
		})
	}
	for i := range r.opts.Parallel {
		if r.opts.Parallel > 1 && i%2 == 1 {
			work(imageOrder)
		} else {
			work(largest)
		}
	}
	for range r.smallParallel() {
		work(smallOnly)
	}
	wg.Wait()
	pushes.Wait()
}

// smallBlob is the size under which a blob is all round trips: on any
// link it moves in less time than the five requests of its copy take to
// come and go (a MiB at 1 Gbit/s: 8 ms; five round trips at 10 ms: 50).
// Configs and empty layers are a third of a release's blobs.
const smallBlob = 1 << 20

// lane is the blobs a transfer worker takes.
type lane int

const (
	largest    lane = iota // the largest left, then small ones
	imageOrder             // the first left in image order, then small ones
	smallOnly              // small ones only, in image order
)

type queue struct {
	mu sync.Mutex
	// bySize holds the blobs of smallBlob or more (or of unknown size)
	// largest first, inOrder the same blobs in the order of the images
	// that need them, and small the others in that order; taken marks
	// those handed out.
	bySize, inOrder, small []*blobGroup
	taken                  map[*blobGroup]bool
}

// newQueue queues groups, which come largest first; each group's order
// among the images is its seq.
func newQueue(groups []*blobGroup) *queue {
	q := &queue{taken: make(map[*blobGroup]bool, len(groups))}
	for _, g := range groups {
		if g.info.Size >= 0 && g.info.Size < smallBlob {
			q.small = append(q.small, g)
		} else {
			q.bySize = append(q.bySize, g)
		}
	}
	q.inOrder = slices.Clone(q.bySize)
	bySeq := func(a, b *blobGroup) int { return a.seq - b.seq }
	slices.SortStableFunc(q.inOrder, bySeq)
	slices.SortStableFunc(q.small, bySeq)
	return q
}

// next returns a blob for a worker of lane l; false when none is left
// for it.
func (q *queue) next(l lane) (*blobGroup, bool) {
	q.mu.Lock()
	defer q.mu.Unlock()
	lists := []*[]*blobGroup{&q.bySize, &q.small}
	switch l {
	case imageOrder:
		lists[0] = &q.inOrder
	case smallOnly:
		lists = lists[1:]
	}
	for _, list := range lists {
		for len(*list) > 0 && q.taken[(*list)[0]] {
			*list = (*list)[1:]
		}
		if len(*list) > 0 {
			g := (*list)[0]
			*list = (*list)[1:]
			q.taken[g] = true
			return g, true
		}
	}
	return nil, false
}

// copyBlob brings g's blob into every repository that lacks it: mounted
// from a repository of the destination registry that has it, else uploaded
// once and then mounted into the others.
func (r *run) copyBlob(ctx context.Context, g *blobGroup) []*imageState {
	var ready []*imageState
	have := len(g.present) > 0
	if !have && sameRegistry(g.src.Source, g.waiters[g.missing[0]][0].Dest) {
		// Mirroring within one registry: mount from the source repository.
		r.recordLocation(g.src.Source, g.info.Digest)
		recordCompressor(r.cache, g.info.Digest, g.info.MediaType)
		have = true
	}
	for _, repo := range g.missing {
		err := ctx.Err()
		var dest types.ImageDestination
		release := func() {}
		if err == nil {
			dest, release, err = r.blobDest(ctx, g, repo)
		}
		if err == nil && have {
			var mounted bool
			err = r.retry(ctx, r.atDest(dest.Reference()), 0, func(ctx context.Context) (err error) {
				mounted, _, err = dest.TryReusingBlob(ctx, g.info, r.cache, false)
				return err
			})
			if err == nil && mounted {
				release()
				r.counters.blobsMounted.Add(1)
				r.counters.blobsDone.Add(1)
				ready = append(ready, r.blobDone(g, repo, nil)...)
				continue
			}
		}
		if err == nil {
			err = r.upload(ctx, g, dest)
		}
		release()
		if err == nil {
			have = true
			r.recordLocation(dest.Reference(), g.info.Digest)
			recordCompressor(r.cache, g.info.Digest, g.info.MediaType)
		}
		ready = append(ready, r.blobDone(g, repo, err)...)
	}
	return ready
}

// upload copies g's blob from its source into dest. An attempt is several
// requests (the source GET; the destination's HEAD, POST, PATCH and PUT)
// that can only be repeated whole, from a fresh upload: each step has the
// policy's attempts of its own, so faults that hit a different request
// each time do not add up to a failure. The idle timeout runs from the
// last byte the destination read.
func (r *run) upload(ctx context.Context, g *blobGroup, dest types.ImageDestination) error {
	var last *countingReader
	srcH, dstH := r.health.of(r.atSource(g.src.Source)), r.health.of(r.atDest(dest.Reference()))
	bound, stop := r.health.bind(ctx, srcH, dstH)
	defer stop()
	err := retry.DoSteps(bound, r.opts.Retry, func(ctx context.Context) (int, error) {
		if err := r.health.downErr(srcH, dstH); err != nil {
			return stepSource, err
		}
		var cr *countingReader
		failed := dstH // the registry the attempt failed at
		err := r.attempt(ctx, g.info.Size, func(ctx context.Context, w *watch) error {
			src, release, err := r.blobSource(ctx, g)
			if err != nil {
				failed = srcH
				return fmt.Errorf("reading from %s: %w", repoKey(g.src.Source), err)
			}
			defer release()
			rc, _, err := src.GetBlob(ctx, g.info, r.cache)
			if err != nil {
				failed = srcH
				return fmt.Errorf("reading from %s: %w", repoKey(g.src.Source), err)
			}
			defer rc.Close()
			cr = &countingReader{r: rc, n: &r.counters.bytesMoved, w: w, size: g.info.Size}
			got := g.info
			err = r.check.putBlob(ctx, r.opts.DestCtx, dest.Reference(), cr, g.info)
			if errors.Is(err, errNoFastCheck) {
				got, err = dest.PutBlob(ctx, cr, g.info, r.cache, g.isConfig)
			}
			if rerr := cr.readErr(); err != nil && rerr != nil {
				// The source failed mid-blob: say so, not the upload's echo of it.
				failed = srcH
				return fmt.Errorf("reading from %s: %w", repoKey(g.src.Source), rerr)
			}
			if err != nil {
				return fmt.Errorf("writing to %s: %w", repoKey(dest.Reference()), err)
			}
			if got.Digest != g.info.Digest {
				return fmt.Errorf("writing to %s: stored as %s", repoKey(dest.Reference()), got.Digest)
			}
			return nil
		})
		if err == nil {
			r.health.record(ctx, srcH, nil)
		}
		r.health.record(ctx, failed, err)
		last = cr
		return cr.step(err), err
	})
	if err = r.health.instead(ctx, err, srcH, dstH); err != nil {
		return err
	}
	if last != nil && last.read.Load() == 0 && g.info.Size > 0 {
		// PutBlob found the blob there (its own check) and read nothing:
		// it was not checked before (plan, repoUntagged).
		r.counters.blobsPresent.Add(1)
		r.counters.blobsDone.Add(1)
		return nil
	}
	r.counters.blobsCopied.Add(1)
	r.counters.blobsDone.Add(1)
	r.counters.bytesCopied.Add(max(g.info.Size, 0))
	return nil
}

// pushImage pushes the instances of a list by digest, then the top
// manifest, and checks that the destination serves the source's digest.
func (r *run) pushImage(ctx context.Context, im *imageState) {
	defer r.closeOwnDest(im)
	put, err := r.manifestPut(ctx, im)
	if err != nil {
		r.fail(im, err)
		return
	}
	for _, c := range im.children {
		err := r.retry(ctx, r.atDest(im.Dest), int64(len(c.raw)), func(ctx context.Context) error {
			return put(ctx, c.raw, c.mime, &c.digest)
		})
		if err != nil {
			r.fail(im, fmt.Errorf("pushing manifest %s to %s: %w", c.digest, transports(im.Dest), err))
			return
		}
		r.counters.manifests.Add(1)
	}
	err = r.retry(ctx, r.atDest(im.Dest), int64(len(im.top)), func(ctx context.Context) error {
		return put(ctx, im.top, im.MIMEType, nil)
	})
	if err != nil {
		r.fail(im, fmt.Errorf("pushing manifest %s to %s: %w", im.Digest, transports(im.Dest), err))
		return
	}
	r.counters.manifests.Add(1)
	if !r.served(ctx, im) {
		r.fail(im, fmt.Errorf("pushed %s to %s, but the destination does not serve that digest", im.Digest, transports(im.Dest)))
		return
	}
	r.mu.Lock()
	if im.Status == "" {
		im.Status = StatusCopied
		r.counters.imagesDone.Add(1)
	}
	r.mu.Unlock()
}

// pushed is what Commit is told of the image it ends: the manifest
// pushed at the top. The destinations here read nothing more, and the
// source's clients may be closed by then (pool.go).
type pushed struct {
	ref  types.ImageReference
	raw  []byte
	mime string
}

func (p pushed) Reference() types.ImageReference { return p.ref }

func (p pushed) Manifest(context.Context) ([]byte, string, error) { return p.raw, p.mime, nil }

func (p pushed) Signatures(context.Context) ([][]byte, error) { return nil, nil }
