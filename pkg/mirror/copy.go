package mirror

import (
	"context"
	"sync"
	"time"

	"github.com/containers/image/v5/docker"
	"github.com/containers/image/v5/docker/reference"
	"github.com/containers/image/v5/pkg/blobinfocache/memory"
	"github.com/containers/image/v5/types"
	digest "github.com/opencontainers/go-digest"
	"golang.org/x/sync/errgroup"
)

// A run: the images of one Copy, resolved, checked and transferred in
// three phases (resolve.go, blobs.go, transfer.go).

// Copy copies images. It always returns a result; failures are per image
// (Result.Err). Cancelling ctx fails what has not finished.
func Copy(ctx context.Context, images []Image, opts Options) *Result {
	start := time.Now()
	opts = opts.withDefaults()
	r := &run{
		opts:    opts,
		cache:   memory.New(),
		dests:   map[string]*destHandle{},
		sources: map[string]*pool[types.ImageSource]{},
		seen:    map[string]*imageState{},
	}
	r.health.ping = r.pingRegistry
	if opts.Clients != nil {
		r.check = &opts.Clients.check
	} else {
		r.check = &checker{parallel: opts.Parallel, challengeDir: opts.ChallengeDir}
	}
	r.idle.keep = idlePerRequest * opts.Parallel
	r.progress = newProgress(opts.Progress, opts.ProgressInterval, &r.counters)
	defer r.close()

	// 1. Small requests first: every manifest, every destination check.
	r.counters.phase.Store("reading manifests")
	inputs, todo := r.add(images, nil)
	for len(todo) > 0 {
		// The signatures of images asked for by digest are looked up at
		// the source while the destination is checked: a re-run's two
		// bursts of round trips at once, not one after the other (but
		// --parallel 1 is one request at a time).
		var early []attachment
		var looking sync.WaitGroup
		switch {
		case !opts.SigstoreAttachments:
		case opts.Parallel == 1:
			early = r.findAttachments(ctx, todo, digestByReference)
		default:
			looking.Go(func() { early = r.findAttachments(ctx, todo, digestByReference) })
		}
		r.forEachN(ctx, todo, r.checkParallel(), r.checkPresent)
		// A manifest asked for by digest is read through the kept client
		// (resolve.go): a round trip that moves little, as many at once
		// as checks; the others each open a client of their own.
		byDigest, others := splitByDigest(todo)
		r.forEachN(ctx, byDigest, r.checkParallel(), r.resolve)
		r.forEach(ctx, others, r.resolve)
		looking.Wait()
		var next []*imageState
		if opts.SigstoreAttachments {
			late := r.findAttachments(ctx, todo, func(im *imageState) digest.Digest {
				if digestByReference(im) != "" || im.Status == StatusFailed {
					return "" // looked up above, or nothing to sign
				}
				return im.Digest
			})
			next = r.addAttachments(append(early, late...))
		}
		todo = next
	}

	var planned map[digest.Digest]int64
	if opts.DryRun {
		planned = map[digest.Digest]int64{}
		for _, im := range r.images {
			if im.Status != "" {
				continue
			}
			im.Status = StatusPlanned
			for _, b := range im.blobs {
				planned[b.info.Digest] = max(b.info.Size, 0)
			}
		}
	} else {
		// 2. Which blobs each destination repository lacks.
		r.counters.phase.Store("checking blobs")
		groups := r.checkBlobs(ctx)
		// Pushing the rest would leave images half there: stop first.
		if err := r.unservable(groups); err != nil {
			for _, im := range r.images {
				if im.Status == "" {
					r.fail(im, err)
				}
			}
			groups = nil
		}

		// 3. Transfers, largest first; each manifest as soon as its blobs are in.
		r.counters.phase.Store("copying")
		r.transfer(ctx, groups)
	}
	r.progress.stop()

	res := &Result{}
	index := map[*imageState]int{}
	for i, im := range inputs {
		if _, ok := index[im]; !ok {
			index[im] = i
		}
		ir := im.ImageResult
		ir.Image = images[i]
		res.Images = append(res.Images, ir)
	}
	for _, im := range r.images {
		if im.Attachment {
			ir := im.ImageResult
			ir.Parent = index[im.parent]
			res.Images = append(res.Images, ir)
		}
		switch im.Status {
		case StatusPlanned:
		case StatusCopied:
			res.Stats.ImagesCopied++
		case StatusPresent:
			res.Stats.ImagesPresent++
		default:
			res.Stats.ImagesFailed++
		}
	}
	res.Stats.Images = len(r.images)
	res.Stats.BlobsCopied = int(r.counters.blobsCopied.Load())
	res.Stats.BlobsPresent = int(r.counters.blobsPresent.Load())
	res.Stats.BlobsMounted = int(r.counters.blobsMounted.Load())
	res.Stats.BytesCopied = r.counters.bytesCopied.Load()
	res.Stats.ManifestsPushed = int(r.counters.manifests.Load())
	res.Stats.BlobsPlanned = len(planned)
	for _, size := range planned {
		res.Stats.BytesPlanned += size
	}
	res.Stats.Duration = time.Since(start)
	return res
}

type run struct {
	opts     Options
	cache    types.BlobInfoCache
	progress *progress
	counters counters
	health   health
	check    *checker
	// idle bounds the clients of the pools kept unused (pool.go).
	idle idleClients

	mu      sync.Mutex
	images  []*imageState
	seen    map[string]*imageState
	dests   map[string]*destHandle
	sources map[string]*pool[types.ImageSource]
	// repos holds a *destRepo per destination repository (destrepo.go).
	repos sync.Map
}

type imageState struct {
	ImageResult
	// parent is the image an attachment was found for.
	parent *imageState
	// src is the image's own source; or srcs, its repository's (pool.go),
	// and instance the digest to read from them.
	src      types.ImageSource
	srcs     *pool[types.ImageSource]
	instance *digest.Digest
	repo     string // destination repository key
	// top is the manifest pushed at Dest; children are pushed by digest first.
	// checked: checkPresent asked the destination for the image by its
	// digest, and it was not there.
	checked  bool
	top      []byte
	children []instance
	blobs    []blobRef
	pending  int // blobs the destination lacks; guarded by run.mu
}

type instance struct {
	digest digest.Digest
	raw    []byte
	mime   string
}

type blobRef struct {
	info     types.BlobInfo
	isConfig bool
}

type destHandle struct {
	once sync.Once
	dest types.ImageDestination
	err  error
}

// add puts images into the run, as attachments of parent when it is not
// nil. It returns the state of each image, in order (an image already in
// the run has the state it was given then), and those new to the run.
func (r *run) add(images []Image, parent *imageState) (states, added []*imageState) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, img := range images {
		key := transports(img.Source) + "=" + transports(img.Dest)
		if img.Platform != nil {
			key += "#" + img.Platform.String()
		}
		st := r.seen[key]
		if st == nil {
			st = &imageState{ImageResult: ImageResult{Image: img, Attachment: parent != nil}, parent: parent, repo: repoKey(img.Dest)}
			r.seen[key] = st
			r.images = append(r.images, st)
			added = append(added, st)
		}
		states = append(states, st)
	}
	r.counters.images.Add(int64(len(added)))
	return states, added
}

func (r *run) close() {
	r.closeRepos()
	if r.opts.Clients == nil {
		r.check.closeIdle()
	}
	for _, im := range r.images {
		if im.src != nil {
			_ = im.src.Close()
		}
	}
	for _, p := range r.sources {
		p.each(closeSource)
	}
	for _, h := range r.dests {
		if h.dest != nil {
			_ = h.dest.Close()
		}
	}
}

// fail records err for im, once.
func (r *run) fail(im *imageState, err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if im.Status == StatusFailed || im.Status == StatusCopied {
		return
	}
	im.Status, im.Err = StatusFailed, err
	r.counters.imagesDone.Add(1)
}

// forEach runs fn for each image, opts.Parallel at a time.
func (r *run) forEach(ctx context.Context, ims []*imageState, fn func(context.Context, *imageState)) {
	r.forEachN(ctx, ims, r.opts.Parallel, fn)
}

// splitByDigest parts ims into the images of docker:// sources named by
// digest and the others.
func splitByDigest(ims []*imageState) (byDigest, others []*imageState) {
	for _, im := range ims {
		if _, ok := im.Source.DockerReference().(reference.Digested); ok && im.Source.Transport().Name() == docker.Transport.Name() {
			byDigest = append(byDigest, im)
		} else {
			others = append(others, im)
		}
	}
	return byDigest, others
}

// idlePerRequest is how many clients a run keeps open and unused
// (pool.go) for each of opts.Parallel's requests: enough that the clients
// of an operator catalog's hundred repositories stay open across the run
// rather than be opened again, few enough that memory follows --parallel,
// not the number of repositories (docs/benchmarks.md).
const idlePerRequest = 8

// checksPerRequest is how many existence checks (a HEAD each, through
// exists.go's kept client) count as one of opts.Parallel's requests: a
// check moves no data, so on a long link it is all round trip, and one
// HTTP/2 connection carries a release's checks at once. maxChecks bounds
// them (a registry that speaks only HTTP/1.1 gets no more than
// maxCheckConns connections for them, exists.go). Manifest pushes are
// round trips too, through the kept client or where containers/image
// must push, a client of its own per image (a connection, a ping,
// buffers, push.go): pushesPerRequest and maxPushes keep those to what
// memory and the registry bear.
const (
	checksPerRequest = 8
	maxChecks        = 256
	pushesPerRequest = 4
	maxPushes        = 64
)

// checkParallel and pushParallel are how many checks and manifest pushes
// run at once: never fewer than opts.Parallel, and one at --parallel 1,
// asked for a registry that takes one request at a time.
func (r *run) checkParallel() int { return r.roundTrips(checksPerRequest, maxChecks) }
func (r *run) pushParallel() int  { return r.roundTrips(pushesPerRequest, maxPushes) }

// smallParallel is how many small blobs (transfer.go) are copied beside
// the opts.Parallel transfers: as many again, none at --parallel 1 (the
// transfer then takes them in turn).
func (r *run) smallParallel() int {
	if r.opts.Parallel == 1 {
		return 0
	}
	return r.opts.Parallel
}

// poolLimit is the clients a repository's pool may hold: enough for the
// transfers and the small blobs beside them.
func (r *run) poolLimit() int { return poolSize(r.opts.Parallel + r.smallParallel()) }

func (r *run) roundTrips(perRequest, most int) int {
	if r.opts.Parallel == 1 {
		return 1
	}
	return max(r.opts.Parallel, min(perRequest*r.opts.Parallel, most))
}

// forEachN runs fn for each image, n at a time.
func (r *run) forEachN(ctx context.Context, ims []*imageState, n int, fn func(context.Context, *imageState)) {
	var g errgroup.Group
	g.SetLimit(n)
	for _, im := range ims {
		g.Go(func() error {
			fn(ctx, im)
			return nil
		})
	}
	_ = g.Wait() // fn records failures on the image itself
}

func (r *run) timeout(size int64) time.Duration {
	if size < 0 {
		size = 0
	}
	return r.opts.RequestTimeout + time.Duration(size/r.opts.MinRate)*time.Second
}
