// Package mirror copies images between registries (and, later, archives)
// with one scheduler across every image of a run: each blob moves at most
// once per destination repository, blobs another destination repository
// already holds are mounted, the largest transfers start first, manifests
// are pushed only after all their blobs, byte for byte, and every request is
// retried on its own when it fails for a transient reason.
//
// Registry I/O goes through containers/image's transports (ImageSource and
// ImageDestination), so any transport it offers can be an endpoint.
package mirror

import (
	"context"
	"fmt"
	"io"
	"reflect"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/containers/image/v5/docker"
	"github.com/containers/image/v5/docker/reference"
	"github.com/containers/image/v5/image"
	"github.com/containers/image/v5/manifest"
	"github.com/containers/image/v5/pkg/blobinfocache/memory"
	"github.com/containers/image/v5/pkg/blobinfocache/none"
	"github.com/containers/image/v5/types"
	digest "github.com/opencontainers/go-digest"

	"github.com/airgap-ocp/oc-plugins/pkg/plan"
	"github.com/airgap-ocp/oc-plugins/pkg/retry"
)

// DefaultParallel is the number of requests in flight at once when Options
// does not say. BenchmarkMirror (20 components, about 11.5 MB unique, two
// loopback registries on a shared 2-core machine) measured 8.1 MB/s at 1,
// 11.1 at 4, 11.1 at 8 and 10.3 at 16: flat from 4 on, where the
// registries' own per-request work (bcrypt of basic auth, TLS) is the
// limit. 8 leaves room for real registries, whose latency rewards more
// requests in flight, without tripping the per-client rate limits public
// registries apply; --parallel changes it.
const DefaultParallel = 8

// Image is one image to copy.
type Image struct {
	Source types.ImageReference
	Dest   types.ImageReference
	// Platform, when set and the source is a manifest list, copies only the
	// image for that platform; the destination then holds that image's
	// manifest, not the list.
	Platform *plan.Platform
}

// Options tune a run. The zero value works.
type Options struct {
	// SourceCtx and DestCtx configure credentials, TLS and registries.conf
	// for reading sources and writing destinations.
	SourceCtx, DestCtx *types.SystemContext
	// Parallel is the number of requests in flight; DefaultParallel if zero.
	Parallel int
	// Retry is the policy for every request; retry.Default if zero.
	Retry retry.Policy
	// RequestTimeout is the time a request may take on top of moving its
	// bytes at MinRate bytes per second: a blob's timeout grows with its
	// size, and no timeout spans more than one request. Defaults: 1 minute
	// and 256 KiB/s.
	RequestTimeout time.Duration
	MinRate        int64
	// IdleTimeout stops (and retries) a request that has moved no byte for
	// this long: a blob transfer from its last byte, any other request
	// from its start. DefaultIdleTimeout if zero.
	IdleTimeout time.Duration
	// SigstoreAttachments also copies the sha256-<hex>.sig tag of every
	// copied digest, where the source has one (cosign's layout).
	SigstoreAttachments bool
	// DryRun reads the sources (manifests, attachments) and stops: no
	// destination is contacted, every image is left StatusPlanned.
	DryRun bool
	// Progress receives progress lines (a bar when it is a terminal);
	// nil means none.
	Progress io.Writer
	// ProgressInterval is the time between plain progress lines; 5s if zero.
	ProgressInterval time.Duration
}

// Status is what happened to one image.
type Status string

const (
	// StatusCopied: the manifest was pushed.
	StatusCopied Status = "copied"
	// StatusPresent: the destination already held the manifest; nothing moved.
	StatusPresent Status = "present"
	// StatusFailed: see Err.
	StatusFailed Status = "failed"
	// StatusPlanned: a dry run read the source; nothing was copied.
	StatusPlanned Status = "planned"
)

// ImageResult is the outcome for one image.
type ImageResult struct {
	Image
	// Digest is the digest of the manifest the destination holds (the
	// source's, byte for byte), MIMEType its type (empty when the
	// destination already held an image asked for by digest: its source
	// is then not read).
	Digest   digest.Digest
	MIMEType string
	// Attachment marks a sigstore attachment found for another image;
	// Parent is the index, among the images given to Copy, of that image.
	Attachment bool
	Parent     int
	Status     Status
	Err        error
}

// Stats count what a run did.
type Stats struct {
	Images, ImagesCopied, ImagesPresent, ImagesFailed int
	// BlobsCopied were uploaded, BlobsPresent already there, BlobsMounted
	// mounted from another repository of the destination registry.
	BlobsCopied, BlobsPresent, BlobsMounted int
	BytesCopied                             int64
	// BlobsPlanned and BytesPlanned are, in a dry run, the unique blobs
	// the images need and their size.
	BlobsPlanned    int
	BytesPlanned    int64
	ManifestsPushed int
	Duration        time.Duration
}

// Result is the outcome of a run.
type Result struct {
	// Images holds the outcome of each image given to Copy, at its index
	// (an image given twice is copied once and reported at both), then the
	// attachments found for them.
	Images []ImageResult
	Stats  Stats
}

// FailedError lists every image a run could not copy.
type FailedError struct {
	Failures []ImageResult
}

func (e *FailedError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%d of the images failed:", len(e.Failures))
	for i, f := range e.Failures {
		if i > 0 {
			b.WriteString(";")
		}
		fmt.Fprintf(&b, " %s: %v", transports(f.Source), f.Err)
	}
	return b.String()
}

// Unwrap returns each image's error.
func (e *FailedError) Unwrap() []error {
	errs := make([]error, len(e.Failures))
	for i, f := range e.Failures {
		errs[i] = f.Err
	}
	return errs
}

// Err is a *FailedError listing every failed image, or nil.
func (r *Result) Err() error {
	var failed []ImageResult
	for _, im := range r.Images {
		if im.Status == StatusFailed {
			failed = append(failed, im)
		}
	}
	if len(failed) == 0 {
		return nil
	}
	return &FailedError{Failures: failed}
}

func transports(ref types.ImageReference) string {
	if ref == nil {
		return "<nil>"
	}
	if ref.Transport().Name() == docker.Transport.Name() {
		return strings.TrimPrefix(ref.StringWithinTransport(), "//")
	}
	return ref.Transport().Name() + ":" + ref.StringWithinTransport()
}

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
	r.progress = newProgress(opts.Progress, opts.ProgressInterval, &r.counters)
	defer r.close()

	// 1. Small requests first: every manifest, every destination check.
	r.counters.phase.Store("reading manifests")
	inputs, todo := r.add(images, nil)
	for len(todo) > 0 {
		r.forEach(ctx, todo, r.resolve)
		var next []*imageState
		if opts.SigstoreAttachments {
			next = r.attachments(ctx, todo)
		}
		todo = next
	}

	var planned map[digest.Digest]int64
	if opts.DryRun {
		planned = map[digest.Digest]int64{}
		for _, im := range r.images {
			if im.Status == "" {
				im.Status = StatusPlanned
			}
			for _, b := range im.blobs {
				planned[b.info.Digest] = max(b.info.Size, 0)
			}
		}
	} else {
		// 2. Which blobs each destination repository lacks.
		r.counters.phase.Store("checking blobs")
		groups := r.plan(ctx)

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

func (opts Options) withDefaults() Options {
	if opts.Parallel <= 0 {
		opts.Parallel = DefaultParallel
	}
	if opts.RequestTimeout <= 0 {
		opts.RequestTimeout = time.Minute
	}
	if opts.MinRate <= 0 {
		opts.MinRate = 256 << 10
	}
	if opts.IdleTimeout <= 0 {
		opts.IdleTimeout = DefaultIdleTimeout
	}
	return opts
}

type run struct {
	opts     Options
	cache    types.BlobInfoCache
	progress *progress
	counters counters

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
	top      []byte
	children []instance
	blobs    []blobRef
	pending  int // blobs the destination lacks; guarded by run.mu
}

type instance struct {
	digest digest.Digest
	raw    []byte
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
	for _, im := range r.images {
		if im.src != nil {
			_ = im.src.Close()
		}
	}
	for _, p := range r.sources {
		p.each(func(src types.ImageSource) { _ = src.Close() })
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
	sem := make(chan struct{}, r.opts.Parallel)
	var wg sync.WaitGroup
	for _, im := range ims {
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer func() { <-sem; wg.Done() }()
			fn(ctx, im)
		}()
	}
	wg.Wait()
}

func (r *run) timeout(size int64) time.Duration {
	if size < 0 {
		size = 0
	}
	return r.opts.RequestTimeout + time.Duration(size/r.opts.MinRate)*time.Second
}

// retry runs fn under the retry policy, each attempt with its own timeout
// and idle timeout.
func (r *run) retry(ctx context.Context, size int64, fn func(context.Context) error) error {
	return retry.Do(ctx, r.opts.Retry, func(ctx context.Context) error {
		return r.attempt(ctx, size, func(ctx context.Context, _ *watch) error { return fn(ctx) })
	})
}

// openSource gives im an image source. Images by digest in one docker
// repository share a pool of them (pool.go: a few connection setups, not
// one per image), each opened with the reference of an image that needs
// it; an image whose own reference cannot be opened fails alone.
func (r *run) openSource(ctx context.Context, im *imageState) error {
	named := im.Source.DockerReference()
	digested, ok := named.(reference.Digested)
	if im.Source.Transport().Name() != docker.Transport.Name() || !ok {
		src, err := r.openRef(ctx, im.Source, r.opts.SourceCtx, false)
		if err != nil {
			return err
		}
		im.src = src
		return nil
	}
	key := repoKey(im.Source)
	r.mu.Lock()
	p := r.sources[key]
	if p == nil {
		p = &pool[types.ImageSource]{limit: poolSize(r.opts.Parallel)}
		r.sources[key] = p
	}
	r.mu.Unlock()
	d := digested.Digest()
	im.srcs, im.instance = p, &d
	return nil
}

// openRef opens ref as a source under the retry policy, or, for a spare
// client of a pool, in one attempt.
func (r *run) openRef(ctx context.Context, ref types.ImageReference, sys *types.SystemContext, spare bool) (src types.ImageSource, err error) {
	open := func(ctx context.Context) error {
		src, err = ref.NewImageSource(ctx, sys)
		return err
	}
	if spare {
		err = r.attempt(ctx, 0, func(ctx context.Context, _ *watch) error { return open(ctx) })
	} else {
		err = r.retry(ctx, 0, open)
	}
	return src, err
}

// source returns a source to read im from, and the release to call when
// the reading is over.
func (r *run) source(ctx context.Context, im *imageState) (types.ImageSource, func(), error) {
	if im.srcs == nil {
		return im.src, func() {}, nil
	}
	return im.srcs.get(ctx, func(ctx context.Context, spare bool) (types.ImageSource, error) {
		return r.openRef(ctx, im.Source, r.opts.SourceCtx, spare)
	})
}

// resolve reads an image's manifests and checks whether the destination
// already holds it.
func (r *run) resolve(ctx context.Context, im *imageState) {
	present, checked := r.presentByDigest(ctx, im)
	if present {
		return
	}
	if err := r.openSource(ctx, im); err != nil {
		r.fail(im, fmt.Errorf("reading %s: %w", transports(im.Source), err))
		return
	}
	var raw []byte
	var mime string
	src, release, err := r.source(ctx, im)
	if err != nil {
		r.fail(im, fmt.Errorf("reading %s: %w", transports(im.Source), err))
		return
	}
	err = r.retry(ctx, 0, func(ctx context.Context) (err error) {
		raw, mime, err = src.GetManifest(ctx, im.instance)
		return err
	})
	release()
	if err == nil && im.instance != nil {
		if ok, merr := manifest.MatchesDigest(raw, *im.instance); merr != nil || !ok {
			err = fmt.Errorf("the registry served a manifest that does not match %s", *im.instance)
		}
	}
	if err != nil {
		r.fail(im, fmt.Errorf("reading the manifest of %s: %w", transports(im.Source), err))
		return
	}
	if err := r.readManifests(ctx, im, raw, mime); err != nil {
		r.fail(im, fmt.Errorf("reading %s: %w", transports(im.Source), err))
		return
	}
	if !r.opts.DryRun && !checked && r.mayHold(ctx, im) && r.destHas(ctx, im) {
		r.mu.Lock()
		im.Status = StatusPresent
		r.mu.Unlock()
		r.counters.imagesDone.Add(1)
	}
}

func (r *run) readManifests(ctx context.Context, im *imageState, raw []byte, mime string) error {
	mime = manifest.NormalizedMIMEType(mime)
	if mime == "" {
		mime = manifest.GuessMIMEType(raw)
	}
	if !manifest.MIMETypeIsMultiImage(mime) {
		im.top, im.MIMEType = raw, mime
		d, err := manifest.Digest(raw)
		if err != nil {
			return err
		}
		im.Digest = d
		return r.addBlobs(im, raw, mime)
	}
	list, err := manifest.ListFromBlob(raw, mime)
	if err != nil {
		return fmt.Errorf("parsing manifest list: %w", err)
	}
	if p := im.Platform; p != nil {
		sys := types.SystemContext{OSChoice: p.OS, ArchitectureChoice: p.Architecture, VariantChoice: p.Variant}
		d, err := list.ChooseInstance(&sys)
		if err != nil {
			return fmt.Errorf("choosing %s: %w", p, err)
		}
		child, childMIME, err := r.getInstance(ctx, im, d)
		if err != nil {
			return err
		}
		im.top, im.MIMEType, im.Digest = child, childMIME, d
		return r.addBlobs(im, child, childMIME)
	}
	d, err := manifest.Digest(raw)
	if err != nil {
		return err
	}
	im.top, im.MIMEType, im.Digest = raw, mime, d
	for _, cd := range list.Instances() {
		child, childMIME, err := r.getInstance(ctx, im, cd)
		if err != nil {
			return err
		}
		if manifest.MIMETypeIsMultiImage(childMIME) {
			return fmt.Errorf("manifest list %s holds another list %s", d, cd)
		}
		im.children = append(im.children, instance{digest: cd, raw: child})
		if err := r.addBlobs(im, child, childMIME); err != nil {
			return err
		}
	}
	return nil
}

func (r *run) getInstance(ctx context.Context, im *imageState, d digest.Digest) ([]byte, string, error) {
	var raw []byte
	var mime string
	src, release, err := r.source(ctx, im)
	if err != nil {
		return nil, "", err
	}
	err = r.retry(ctx, 0, func(ctx context.Context) (err error) {
		raw, mime, err = src.GetManifest(ctx, &d)
		return err
	})
	release()
	if err != nil {
		return nil, "", fmt.Errorf("reading manifest %s: %w", d, err)
	}
	if ok, err := manifest.MatchesDigest(raw, d); err != nil || !ok {
		return nil, "", fmt.Errorf("manifest %s does not match its digest", d)
	}
	mime = manifest.NormalizedMIMEType(mime)
	if mime == "" {
		mime = manifest.GuessMIMEType(raw)
	}
	return raw, mime, nil
}

func (r *run) addBlobs(im *imageState, raw []byte, mime string) error {
	m, err := manifest.FromBlob(raw, mime)
	if err != nil {
		return fmt.Errorf("parsing manifest: %w", err)
	}
	have := map[digest.Digest]bool{}
	for _, b := range im.blobs {
		have[b.info.Digest] = true
	}
	add := func(info types.BlobInfo, isConfig bool) {
		if info.Digest == "" || have[info.Digest] || len(info.URLs) > 0 {
			return // schema 1 has no config; foreign layers stay where they are
		}
		have[info.Digest] = true
		im.blobs = append(im.blobs, blobRef{info: info, isConfig: isConfig})
	}
	add(m.ConfigInfo(), true)
	for _, l := range m.LayerInfos() {
		add(l.BlobInfo, false)
	}
	return nil
}

// destHas reports whether im.Dest already holds im.Digest.
func (r *run) destHas(ctx context.Context, im *imageState) bool {
	ref := im.Dest
	if ref.Transport().Name() != docker.Transport.Name() {
		var got digest.Digest
		err := r.retry(ctx, 0, func(ctx context.Context) error {
			src, err := ref.NewImageSource(ctx, r.opts.DestCtx)
			if err != nil {
				return err
			}
			defer src.Close()
			raw, _, err := src.GetManifest(ctx, nil)
			if err != nil {
				return err
			}
			got, err = manifest.Digest(raw)
			return err
		})
		return err == nil && got == im.Digest
	}
	named := ref.DockerReference()
	if _, tagged := named.(reference.NamedTagged); !tagged {
		byDigest, err := reference.WithDigest(reference.TrimNamed(named), im.Digest)
		if err != nil {
			return false
		}
		if ref, err = docker.NewReference(byDigest); err != nil {
			return false
		}
	}
	var got digest.Digest
	err := r.retry(ctx, 0, func(ctx context.Context) (err error) {
		got, err = docker.GetDigest(ctx, r.opts.DestCtx, ref)
		return err
	})
	return err == nil && got == im.Digest
}

// attachments finds the sigstore signature tags (sha256-<hex>.sig) the
// sources hold for the digests of ims, and adds them as images.
func (r *run) attachments(ctx context.Context, ims []*imageState) []*imageState {
	type attachment struct {
		Image
		parent *imageState
	}
	var mu sync.Mutex
	var found []attachment
	r.forEach(ctx, ims, func(ctx context.Context, im *imageState) {
		_, taggable := im.Dest.(tagger)
		if im.Status == StatusFailed || im.Attachment || im.Source.Transport().Name() != docker.Transport.Name() ||
			im.Dest.Transport().Name() != docker.Transport.Name() && !taggable {
			return
		}
		tag := strings.Replace(im.Digest.String(), ":", "-", 1) + ".sig"
		src, err1 := withTag(im.Source, tag)
		var dst types.ImageReference
		var err2 error
		if t, ok := im.Dest.(tagger); ok {
			dst = t.WithTag(tag)
		} else {
			dst, err2 = withTag(im.Dest, tag)
		}
		if err1 != nil || err2 != nil {
			return
		}
		// Through an image source, so that registries.conf mirrors apply
		// as they do to the image itself.
		err := r.retry(ctx, 0, func(ctx context.Context) error {
			s, err := src.NewImageSource(ctx, r.opts.SourceCtx)
			if err != nil {
				return err
			}
			return s.Close()
		})
		if err != nil {
			return // no attachment (or none readable): nothing to copy
		}
		mu.Lock()
		found = append(found, attachment{Image{Source: src, Dest: dst}, im})
		mu.Unlock()
	})
	sort.Slice(found, func(i, j int) bool { return transports(found[i].Source) < transports(found[j].Source) })
	var added []*imageState
	for _, a := range found {
		_, fresh := r.add([]Image{a.Image}, a.parent)
		added = append(added, fresh...)
	}
	return added
}

// tagger is a destination that names an attachment of its image itself
// (the disk endpoint, which has no repository to tag in).
type tagger interface {
	WithTag(tag string) types.ImageReference
}

func withTag(ref types.ImageReference, tag string) (types.ImageReference, error) {
	named, err := reference.WithTag(reference.TrimNamed(ref.DockerReference()), tag)
	if err != nil {
		return nil, err
	}
	return docker.NewReference(named)
}

// repoKey names the destination repository of ref: the unit within which a
// blob is stored once.
func repoKey(ref types.ImageReference) string {
	if ref.Transport().Name() == docker.Transport.Name() && ref.DockerReference() != nil {
		return "docker://" + ref.DockerReference().Name()
	}
	s := ref.StringWithinTransport()
	if i := strings.LastIndexAny(s, ":@"); i > strings.LastIndex(s, "/") {
		s = s[:i]
	}
	return ref.Transport().Name() + ":" + s
}

// blobGroup is one blob and every destination repository that needs it.
type blobGroup struct {
	info     types.BlobInfo
	isConfig bool
	src      *imageState // an image whose source holds the blob
	repos    []string
	missing  []string
	present  []string
	waiters  map[string][]*imageState
}

// plan groups the blobs of the images still to copy by digest and checks
// (HEAD) which destination repositories already hold them.
func (r *run) plan(ctx context.Context) []*blobGroup {
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
				g = &blobGroup{info: b.info, isConfig: b.isConfig, src: im, waiters: map[string][]*imageState{}}
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
	sem := make(chan struct{}, r.opts.Parallel)
	var wg sync.WaitGroup
	for _, c := range checks {
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer func() { <-sem; wg.Done() }()
			if r.repoUntagged(c.repo) {
				return // most likely new: PutBlob checks (upload)
			}
			dest, release, err := r.blobDest(ctx, c.g, c.repo)
			if err != nil {
				return // the transfer reports it
			}
			_ = r.retry(ctx, 0, func(ctx context.Context) error {
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
		}()
	}
	wg.Wait()

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
			r.counters.blobsTotal.Add(1)
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
	err = r.retry(ctx, 0, func(ctx context.Context) (err error) {
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

// transfer copies the missing blobs and pushes manifests, opts.Parallel at
// a time: manifests whose blobs are all in go before more blobs; blobs
// largest first, but a quarter of the workers take the smallest first. A
// small blob costs four or five requests for little data, a large one is
// bytes: run only by size, a release ends on hundreds of small blobs one
// after another, after the bytes are done (on the benchmark's payload, 9 s
// of 27); mixed, the small ones go while the large ones stream, and the
// images they complete are pushed early.
func (r *run) transfer(ctx context.Context, groups []*blobGroup) {
	q := &queue{blobs: groups}
	q.cond = sync.NewCond(&q.mu)
	for _, im := range r.images {
		if im.Status == "" && im.pending == 0 {
			q.manifests = append(q.manifests, im)
		}
	}
	var wg sync.WaitGroup
	for i := range r.opts.Parallel {
		smallFirst := r.opts.Parallel > 1 && i%4 == 3
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				im, g, ok := q.next(smallFirst)
				if !ok {
					return
				}
				var ready []*imageState
				if im != nil {
					r.pushImage(ctx, im)
				} else {
					ready = r.copyBlob(ctx, g)
				}
				q.done(ready)
			}
		}()
	}
	wg.Wait()
}

type queue struct {
	mu        sync.Mutex
	cond      *sync.Cond
	manifests []*imageState
	blobs     []*blobGroup
	busy      int
}

// next returns a manifest to push, else a blob to copy: the largest
// left, or with smallFirst the smallest.
func (q *queue) next(smallFirst bool) (*imageState, *blobGroup, bool) {
	q.mu.Lock()
	defer q.mu.Unlock()
	for {
		if len(q.manifests) > 0 {
			im := q.manifests[0]
			q.manifests = q.manifests[1:]
			q.busy++
			return im, nil, true
		}
		if n := len(q.blobs); n > 0 {
			var g *blobGroup
			if smallFirst {
				g, q.blobs = q.blobs[n-1], q.blobs[:n-1]
			} else {
				g, q.blobs = q.blobs[0], q.blobs[1:]
			}
			q.busy++
			return nil, g, true
		}
		if q.busy == 0 {
			q.cond.Broadcast()
			return nil, nil, false
		}
		q.cond.Wait()
	}
}

func (q *queue) done(ready []*imageState) {
	q.mu.Lock()
	q.busy--
	q.manifests = append(q.manifests, ready...)
	q.mu.Unlock()
	q.cond.Broadcast()
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
			err = r.retry(ctx, 0, func(ctx context.Context) (err error) {
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
	err := retry.DoSteps(ctx, r.opts.Retry, func(ctx context.Context) (int, error) {
		var cr *countingReader
		err := r.attempt(ctx, g.info.Size, func(ctx context.Context, w *watch) error {
			src, release, err := r.source(ctx, g.src)
			if err != nil {
				return fmt.Errorf("reading from %s: %w", repoKey(g.src.Source), err)
			}
			defer release()
			rc, _, err := src.GetBlob(ctx, g.info, r.cache)
			if err != nil {
				return fmt.Errorf("reading from %s: %w", repoKey(g.src.Source), err)
			}
			defer rc.Close()
			cr = &countingReader{r: rc, n: &r.counters.bytesMoved, w: w, size: g.info.Size}
			got, err := dest.PutBlob(ctx, cr, g.info, r.cache, g.isConfig)
			if rerr := cr.readErr(); err != nil && rerr != nil {
				// The source failed mid-blob: say so, not the upload's echo of it.
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
		last = cr
		return cr.step(err), err
	})
	if err != nil {
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
	dest, err := r.dest(ctx, im.Dest)
	if err != nil {
		r.fail(im, err)
		return
	}
	for _, c := range im.children {
		err := r.retry(ctx, int64(len(c.raw)), func(ctx context.Context) error {
			return dest.PutManifest(ctx, c.raw, &c.digest)
		})
		if err != nil {
			r.fail(im, fmt.Errorf("pushing manifest %s to %s: %w", c.digest, transports(im.Dest), err))
			return
		}
		r.counters.manifests.Add(1)
	}
	err = r.retry(ctx, int64(len(im.top)), func(ctx context.Context) error {
		return dest.PutManifest(ctx, im.top, nil)
	})
	if err == nil {
		err = dest.Commit(ctx, image.UnparsedInstance(r.anySource(im), instanceOf(im)))
	}
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

// anySource is a source of im for Commit, which reads nothing from it.
func (r *run) anySource(im *imageState) types.ImageSource {
	if im.srcs != nil {
		if src, ok := im.srcs.any(); ok {
			return src
		}
	}
	return im.src
}

func instanceOf(im *imageState) *digest.Digest {
	if im.srcs != nil || im.Platform != nil && len(im.children) == 0 {
		d := im.Digest
		return &d
	}
	return nil
}
