package mirror

import (
	"context"
	"errors"
	"sync"

	"github.com/containers/image/v5/docker"
	"github.com/containers/image/v5/docker/reference"
	"github.com/containers/image/v5/manifest"
	"github.com/containers/image/v5/types"
	"github.com/docker/distribution/registry/api/errcode"
	v2 "github.com/docker/distribution/registry/api/v2"
)

// destRepo is what a run knows of one destination repository.
//
// containers/image gives every ImageSource and ImageDestination (and every
// docker.GetDigest call) a client of its own: its own connections, so a
// TLS handshake, and a ping (GET /v2/) before the first request. Opened per
// image, that was three clients per image on the destination (the check
// before, the push, the check after): 573 handshakes and pings for a
// 191-image release, most of the registry's work in a run that moves a
// few hundred MB (docs/benchmarks.md). So the run shares, per destination
// repository, a pool of destinations for all blob checks, mounts and
// uploads, one listing of its tags, and a pool of sources that read
// manifests back by digest (pool.go says why pools, not one of each).
type destRepo struct {
	// ref is the first destination reference of the repository the run
	// met: its blob work goes through that reference's destination.
	ref types.ImageReference

	listOnce sync.Once
	// tags, when listed, are the repository's tags; nil when they could
	// not be listed (each image is then checked on its own). untagged:
	// it has none (or the registry does not know it), most likely a new
	// repository, so its blobs are not checked one by one before the
	// transfers: PutBlob checks each anyway (upload tells what it found).
	tags     map[string]bool
	untagged bool

	blobs pool[types.ImageDestination]
	reads pool[types.ImageSource]
}

// repo returns the run's record of ref's destination repository.
func (r *run) repo(ref types.ImageReference) *destRepo {
	key := repoKey(ref)
	if v, ok := r.repos.Load(key); ok {
		return v.(*destRepo)
	}
	d := &destRepo{
		ref:   ref,
		blobs: pool[types.ImageDestination]{limit: r.poolLimit(), idle: &r.idle, close: closeDest},
		reads: pool[types.ImageSource]{limit: r.poolLimit(), idle: &r.idle, close: closeSource},
	}
	v, _ := r.repos.LoadOrStore(key, d)
	return v.(*destRepo)
}

// mayHold reports whether im.Dest may already hold im: false only when
// im.Dest is a tag the repository's tag list (read once per repository)
// lacks. Otherwise destHas must look. (A registry answers a repository
// without tags as one it does not know, NAME_UNKNOWN, even when it holds
// manifests by digest: that is no tag, not no image.) A destination by
// digest is looked for by its digest alone: its repository's tags are
// listed only if its blobs are checked (repoUntagged).
func (r *run) mayHold(ctx context.Context, im *imageState) bool {
	if im.Dest.Transport().Name() != docker.Transport.Name() || im.Dest.DockerReference() == nil {
		return true
	}
	d := r.repo(im.Dest)
	tagged, ok := im.Dest.DockerReference().(reference.NamedTagged)
	if !ok {
		return true
	}
	r.listTags(ctx, d)
	if d.tags != nil {
		return d.tags[tagged.Tag()]
	}
	return true
}

// listTags lists d's tags, the first time it is asked to.
func (r *run) listTags(ctx context.Context, d *destRepo) {
	d.listOnce.Do(func() {
		if r.opts.Clients != nil {
			if tags, ok := r.opts.Clients.listedTags(ctx, r.opts.DestCtx, d.ref); ok {
				d.setTags(tags)
				return
			}
		}
		var tags []string
		err := r.retry(ctx, r.atDest(d.ref), 0, func(ctx context.Context) (err error) {
			tags, err = r.check.tags(ctx, r.opts.DestCtx, d.ref)
			if errors.Is(err, errNoFastCheck) {
				tags, err = docker.GetRepositoryTags(ctx, r.opts.DestCtx, d.ref)
			}
			return err
		})
		if err == nil || isNameUnknown(err) {
			d.setTags(tags)
		}
	})
}

func (d *destRepo) setTags(tags []string) {
	d.tags = make(map[string]bool, len(tags))
	for _, t := range tags {
		d.tags[t] = true
	}
	d.untagged = len(tags) == 0
}

// presentByDigest marks im present, without reading its source, when im
// is asked for by digest (one image, no platform to choose) and its docker
// destination already holds that digest: a re-run then costs a check per
// image at the destination, not a manifest read at the source as well.
// checked says it looked (and the image, by that digest, is not there).
func (r *run) presentByDigest(ctx context.Context, im *imageState) (present, checked bool) {
	if r.opts.DryRun || im.Platform != nil || im.Source.Transport().Name() != docker.Transport.Name() ||
		im.Dest.Transport().Name() != docker.Transport.Name() {
		return false, false
	}
	digested, ok := im.Source.DockerReference().(reference.Digested)
	if !ok {
		return false, false
	}
	im.Digest = digested.Digest()
	if !r.mayHold(ctx, im) || !r.destHas(ctx, im) {
		im.Digest = ""
		return false, true
	}
	r.mu.Lock()
	im.Status = StatusPresent
	r.mu.Unlock()
	r.counters.imagesDone.Add(1)
	return true, true
}

// repoUntagged reports whether repo has no tags (listing them if no
// tagged image did): then its blobs are not checked before the transfers.
func (r *run) repoUntagged(ctx context.Context, repo string) bool {
	v, ok := r.repos.Load(repo)
	if !ok {
		return false
	}
	d := v.(*destRepo)
	r.listTags(ctx, d)
	return d.untagged
}

func isNameUnknown(err error) bool {
	var ec errcode.Error
	if errors.As(err, &ec) {
		return ec.Code == v2.ErrorCodeNameUnknown
	}
	var ecs errcode.Errors
	if errors.As(err, &ecs) && len(ecs) > 0 {
		if e, ok := ecs[0].(errcode.Error); ok {
			return e.Code == v2.ErrorCodeNameUnknown
		}
	}
	return false
}

// blobDest returns the destination for g's blob in repo, and the release
// to call when done with it: one of the repository's pool for a docker
// repository, else that of the first image of the group going there.
func (r *run) blobDest(ctx context.Context, g *blobGroup, repo string) (types.ImageDestination, func(), error) {
	d, ok := r.dockerRepo(g.waiters[repo][0].Dest)
	if !ok {
		dest, err := r.dest(ctx, g.waiters[repo][0].Dest)
		return dest, func() {}, err
	}
	// Opening a docker destination sends no request: nothing to spare.
	dest, release, err := d.blobs.get(ctx, func(ctx context.Context, _ bool) (types.ImageDestination, error) {
		return r.openDest(ctx, d.ref)
	})
	if err != nil {
		return nil, func() {}, err
	}
	return dest, release, nil
}

// served reports whether the destination serves im's manifest by digest,
// byte for byte, after the push: read through the kept client, or the
// docker repository's pool of sources (each opened on an image pushed
// there), else as destHas reads it.
func (r *run) served(ctx context.Context, im *imageState) bool {
	if !isDocker(im.Dest) {
		return r.destHas(ctx, im)
	}
	d := r.repo(im.Dest)
	raw, _, err := r.manifestAt(ctx, r.opts.DestCtx, im.Dest, im.Digest, &d.reads)
	if err != nil {
		return false
	}
	got, err := manifest.Digest(raw)
	return err == nil && got == im.Digest
}

// dockerRepo is the run's record of ref's repository when ref is a docker
// reference.
func (r *run) dockerRepo(ref types.ImageReference) (*destRepo, bool) {
	if !isDocker(ref) {
		return nil, false
	}
	return r.repo(ref), true
}

// isDocker reports whether ref is a docker reference to a repository.
func isDocker(ref types.ImageReference) bool {
	return ref.Transport().Name() == docker.Transport.Name() && ref.DockerReference() != nil
}

// closeRepos closes the destinations and sources the repositories' pools
// opened.
func (r *run) closeRepos() {
	r.repos.Range(func(_, v any) bool {
		d := v.(*destRepo)
		d.blobs.each(closeDest)
		d.reads.each(closeSource)
		return true
	})
}
