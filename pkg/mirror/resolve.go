package mirror

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"

	"github.com/containers/image/v5/docker"
	"github.com/containers/image/v5/docker/reference"
	"github.com/containers/image/v5/manifest"
	"github.com/containers/image/v5/types"
	digest "github.com/opencontainers/go-digest"
	"golang.org/x/sync/errgroup"
)

// Phase 1: read each image's manifests and see whether the destination
// already holds it; find sigstore attachments.

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
		p = &pool[types.ImageSource]{limit: r.poolLimit(), idle: &r.idle, close: closeSource}
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
		// One attempt, but it counts towards the registry's health.
		hh := r.health.of(at(ref, sys))
		if err = r.health.downErr(hh); err == nil {
			err = r.attempt(ctx, 0, func(ctx context.Context, _ *watch) error { return open(ctx) })
			r.health.record(ctx, hh, err)
		}
	} else {
		err = r.retry(ctx, at(ref, sys), 0, open)
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

// blobSource returns a source to read g's blob from, and the release to
// call when the reading is over: the source registry's kept client for
// an image by digest (clients.go), else as source says. A blob with URLs
// of its own (a foreign layer) is containers/image's to fetch.
func (r *run) blobSource(ctx context.Context, g *blobGroup) (types.ImageSource, func(), error) {
	if g.src.srcs != nil && len(g.info.URLs) == 0 {
		src, err := r.check.blobSource(ctx, r.opts.SourceCtx, g.src.Source)
		if !errors.Is(err, errNoFastCheck) {
			return src, func() {}, err
		}
	}
	return r.source(ctx, g.src)
}

// checkPresent asks, before any source is read, whether the destination
// holds an image asked for by digest (presentByDigest); it runs for all
// images at check concurrency, so a re-run is a burst of checks.
func (r *run) checkPresent(ctx context.Context, im *imageState) {
	_, im.checked = r.presentByDigest(ctx, im)
}

// resolve reads an image's manifests and checks whether the destination
// already holds it.
func (r *run) resolve(ctx context.Context, im *imageState) {
	if im.Status == StatusPresent {
		return
	}
	checked := im.checked
	if err := r.openSource(ctx, im); err != nil {
		r.fail(im, fmt.Errorf("reading %s: %w", transports(im.Source), err))
		return
	}
	raw, mime, err := r.getManifest(ctx, im, im.instance)
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
	if (!r.opts.DryRun || r.opts.DryRunChecksDest) && !checked && r.mayHold(ctx, im) && r.destHas(ctx, im) {
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
		im.children = append(im.children, instance{digest: cd, raw: child, mime: childMIME})
		if err := r.addBlobs(im, child, childMIME); err != nil {
			return err
		}
	}
	return nil
}

// getManifest reads im's manifest, or its instance d: through the kept
// client or a pooled source for an image by digest (manifestAt), else
// through its own source.
func (r *run) getManifest(ctx context.Context, im *imageState, d *digest.Digest) ([]byte, string, error) {
	if im.srcs != nil {
		return r.manifestAt(ctx, r.opts.SourceCtx, im.Source, *d, im.srcs)
	}
	var raw []byte
	var mime string
	err := r.retry(ctx, r.atSource(im.Source), 0, func(ctx context.Context) (err error) {
		raw, mime, err = im.src.GetManifest(ctx, d)
		return err
	})
	return raw, mime, err
}

// manifestAt reads manifest d of the docker repository of ref through
// the registry's kept client (exists.go), or where containers/image must
// answer, through a source of p, opened on the manifest by digest.
func (r *run) manifestAt(ctx context.Context, sys *types.SystemContext, ref types.ImageReference, d digest.Digest, p *pool[types.ImageSource]) ([]byte, string, error) {
	named, err := reference.WithDigest(reference.TrimNamed(ref.DockerReference()), d)
	if err != nil {
		return nil, "", err
	}
	byDigest, err := docker.NewReference(named)
	if err != nil {
		return nil, "", err
	}
	var raw []byte
	var mime string
	err = r.retry(ctx, at(ref, sys), 0, func(ctx context.Context) (err error) {
		raw, mime, err = r.check.manifest(ctx, sys, byDigest)
		return err
	})
	if !errors.Is(err, errNoFastCheck) {
		return raw, mime, err
	}
	src, release, err := p.get(ctx, func(ctx context.Context, spare bool) (types.ImageSource, error) {
		return r.openRef(ctx, byDigest, sys, spare)
	})
	if err != nil {
		return nil, "", err
	}
	defer release()
	err = r.retry(ctx, at(ref, sys), 0, func(ctx context.Context) (err error) {
		raw, mime, err = src.GetManifest(ctx, &d)
		return err
	})
	return raw, mime, err
}

func (r *run) getInstance(ctx context.Context, im *imageState, d digest.Digest) ([]byte, string, error) {
	raw, mime, err := r.getManifest(ctx, im, &d)
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
		err := r.retry(ctx, r.atDest(ref), 0, func(ctx context.Context) error {
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
	err := r.retry(ctx, r.atDest(ref), 0, func(ctx context.Context) (err error) {
		got, err = r.check.digestOf(ctx, r.opts.DestCtx, ref)
		if errors.Is(err, errNoFastCheck) {
			got, err = docker.GetDigest(ctx, r.opts.DestCtx, ref)
		}
		return err
	})
	return err == nil && got == im.Digest
}

// attachment is a sigstore signature tag found for parent.
type attachment struct {
	Image
	parent *imageState
}

// digestByReference is the digest of im's manifest when its source
// reference names it (by digest, no platform to choose): known before the
// manifest is read. "" otherwise.
func digestByReference(im *imageState) digest.Digest {
	if im.Platform != nil || im.Source.DockerReference() == nil {
		return ""
	}
	if d, ok := im.Source.DockerReference().(reference.Digested); ok {
		return d.Digest()
	}
	return ""
}

// findAttachments looks for the sigstore signature tags (sha256-<hex>.sig)
// the sources hold for the digests of ims (digestOf; "" skips an image):
// by a tag list where a source repository holds several of the images
// (listedSignatures), else by a HEAD of each tag.
func (r *run) findAttachments(ctx context.Context, ims []*imageState, digestOf func(*imageState) digest.Digest) []attachment {
	byRepo := map[string][]*attachment{}
	var repos []string
	for _, im := range ims {
		_, taggable := im.Dest.(tagger)
		if im.Attachment || im.Source.Transport().Name() != docker.Transport.Name() ||
			im.Dest.Transport().Name() != docker.Transport.Name() && !taggable {
			continue
		}
		d := digestOf(im)
		if d == "" {
			continue
		}
		tag := strings.Replace(d.String(), ":", "-", 1) + ".sig"
		src, err1 := withTag(im.Source, tag)
		var dst types.ImageReference
		var err2 error
		if t, ok := im.Dest.(tagger); ok {
			dst = t.WithTag(tag)
		} else {
			dst, err2 = withTag(im.Dest, tag)
		}
		if err1 != nil || err2 != nil {
			continue
		}
		key := repoKey(src)
		if byRepo[key] == nil {
			repos = append(repos, key)
		}
		byRepo[key] = append(byRepo[key], &attachment{Image{Source: src, Dest: dst}, im})
	}

	var mu sync.Mutex
	var found, unlisted []*attachment
	// The HEADs of the repositories not worth listing go out beside the
	// lists, not after them: on a long link, a round trip saved (but
	// --parallel 1 is one request at a time).
	var lists errgroup.Group
	lists.SetLimit(r.checkParallel())
	heads := &lists
	if r.opts.Parallel > 1 {
		heads = &errgroup.Group{}
		heads.SetLimit(r.checkParallel())
	}
	head := func(a *attachment) {
		heads.Go(func() error {
			if r.hasAttachment(ctx, a.Source) {
				mu.Lock()
				found = append(found, a)
				mu.Unlock()
			}
			return nil
		})
	}
	for _, key := range repos {
		as := byRepo[key]
		if len(as) < 2 {
			head(as[0])
			continue
		}
		lists.Go(func() error {
			tags, ok := r.listedSignatures(ctx, as)
			mu.Lock()
			defer mu.Unlock()
			if !ok {
				unlisted = append(unlisted, as...)
				return nil
			}
			for _, a := range as {
				if tags[a.Source.DockerReference().(reference.NamedTagged).Tag()] {
					found = append(found, a)
				}
			}
			return nil
		})
	}
	_ = lists.Wait()
	for _, a := range unlisted {
		head(a)
	}
	_ = heads.Wait()
	out := make([]attachment, len(found))
	for i, a := range found {
		out[i] = *a
	}
	return out
}

// signaturesPerPage is how many of the run's images a page of a source
// repository's tag list must answer for: listing stops, and each image's
// signature tag is asked for on its own, when the list runs longer than
// one page per signaturesPerPage images (one page for fewer). A
// repository that holds several of the images is then asked once, and
// one with very many tags (a release's component repository at quay.io)
// costs at most a tenth more requests than the HEADs alone, or one more
// where it holds fewer than twice signaturesPerPage of the images.
const signaturesPerPage = 10

// listedSignatures is the set of tags of the source repository of as (a
// tag list through the kept client, exists.go), or false when it could
// not be listed, or is longer than worth listing (signaturesPerPage).
func (r *run) listedSignatures(ctx context.Context, as []*attachment) (map[string]bool, bool) {
	ref := as[0].Source
	var tags []string
	complete := false
	err := r.retry(ctx, r.atSource(ref), 0, func(ctx context.Context) (err error) {
		tags, complete, err = r.check.tagsUpTo(ctx, r.opts.SourceCtx, ref, max(1, len(as)/signaturesPerPage))
		if errors.Is(err, errNoFastCheck) {
			return nil // containers/image answers, tag by tag
		}
		return err
	})
	if err != nil || !complete {
		return nil, false
	}
	set := make(map[string]bool, len(tags))
	for _, t := range tags {
		set[t] = true
	}
	return set, true
}

// hasAttachment reports whether the source holds src, a signature tag:
// through the kept client (exists.go), or through an image source where
// registries.conf mirrors apply as they do to the image.
func (r *run) hasAttachment(ctx context.Context, src types.ImageReference) bool {
	err := r.retry(ctx, r.atSource(src), 0, func(ctx context.Context) error {
		found, err := r.check.hasTag(ctx, r.opts.SourceCtx, src)
		if errors.Is(err, errNoFastCheck) {
			s, err := src.NewImageSource(ctx, r.opts.SourceCtx)
			if err != nil {
				return err
			}
			return s.Close()
		}
		if err == nil && !found {
			return errNoAttachment
		}
		return err
	})
	return err == nil // no attachment (or none readable): nothing to copy
}

// addAttachments adds the attachments found as images, but none of an
// image that failed (its manifest could not be read, or did not match).
func (r *run) addAttachments(found []attachment) []*imageState {
	sort.Slice(found, func(i, j int) bool { return transports(found[i].Source) < transports(found[j].Source) })
	var added []*imageState
	for _, a := range found {
		r.mu.Lock()
		failed := a.parent.Status == StatusFailed
		r.mu.Unlock()
		if failed {
			continue
		}
		_, fresh := r.add([]Image{a.Image}, a.parent)
		added = append(added, fresh...)
	}
	return added
}

// errNoAttachment is a source without the signature tag looked for.
var errNoAttachment = errors.New("no such tag")

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
