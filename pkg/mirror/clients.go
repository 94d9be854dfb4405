package mirror

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/containers/image/v5/docker/reference"
	"github.com/containers/image/v5/types"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
	digest "github.com/opencontainers/go-digest"
)

// Clients are the kept registry clients of exists.go, held by a command
// that reads an image before it copies (a release image, whose payload is
// the plan): the read and the copies' checks then connect to each
// registry once. On a long link a re-run is mostly connection set-ups, so
// the read reuses the connection the checks will use, and the
// destination's is set up (Connect) while the read is under way. Copy
// makes its own when Options.Clients is nil.
type Clients struct {
	check   checker
	timeout time.Duration

	mu sync.Mutex
	// listed holds the tag lists Connect read ahead, each for the first
	// run that asks.
	listed map[listKey]*listing
}

type listKey struct {
	sys  *types.SystemContext
	repo string
}

type listing struct {
	done chan struct{}
	tags []string
	err  error
}

// NewClients makes the kept clients of a command whose copies run under
// opts (its Parallel and RequestTimeout).
func NewClients(opts Options) *Clients {
	opts = opts.withDefaults()
	return &Clients{check: checker{parallel: opts.Parallel, challengeDir: opts.ChallengeDir}, timeout: opts.RequestTimeout}
}

// Close closes the connections the clients keep idle.
func (c *Clients) Close() { c.check.closeIdle() }

// Connect sets up the kept client of ref's registry (its ping, and where
// the registry hands out tokens, the one for ref's repository), so that
// a check finds it ready; with listTags, it also lists the tags of ref's
// repository for the next Copy that checks it, which would list them
// first. It is meant to run beside another read; a failure is left to
// the checks, which try again.
func (c *Clients) Connect(ctx context.Context, sys *types.SystemContext, ref types.ImageReference, listTags bool) {
	cl, named, gref, err := c.check.reference(sys, ref)
	if err != nil {
		return
	}
	var l *listing
	if listTags {
		l = &listing{done: make(chan struct{})}
		defer close(l.done)
		c.mu.Lock()
		if c.listed == nil {
			c.listed = map[listKey]*listing{}
		}
		c.listed[listKey{sys, named.Name()}] = l
		c.mu.Unlock()
	}
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	tctx, done := traced(ctx)
	_, err = cl.puller(tctx, gref.Context())
	done(err)
	if l == nil {
		return
	}
	if err != nil {
		l.err = err
		return
	}
	tctx, done = traced(ctx)
	l.tags, l.err = c.check.tags(tctx, sys, ref)
	done(l.err)
}

// listedTags is the tag list Connect read for ref's repository, once:
// false when it read none or failed. A list read some seconds before the
// run is as good as one read at its start: a tag it lacks is copied
// again, and one it has is still checked for its digest.
func (c *Clients) listedTags(ctx context.Context, sys *types.SystemContext, ref types.ImageReference) ([]string, bool) {
	named := ref.DockerReference()
	if named == nil {
		return nil, false
	}
	key := listKey{sys, named.Name()}
	c.mu.Lock()
	l := c.listed[key]
	delete(c.listed, key)
	c.mu.Unlock()
	if l == nil {
		return nil, false
	}
	select {
	case <-l.done:
	case <-ctx.Done():
		return nil, false
	}
	return l.tags, l.err == nil
}

// OpenSource opens ref for reading through its registry's kept client, or
// through containers/image where only its resolution can answer
// (registries.conf mirrors or rewrites, a bearer token in sys, a
// transport other than docker://).
func (c *Clients) OpenSource(ctx context.Context, sys *types.SystemContext, ref types.ImageReference) (types.ImageSource, error) {
	cl, named, gref, err := c.check.reference(sys, ref)
	if errors.Is(err, errNoFastCheck) {
		return ref.NewImageSource(ctx, sys)
	}
	if err != nil {
		return nil, err
	}
	return openKept(ctx, cl, ref, named, gref, cl.pullerOf(gref.Context()))
}

// openKept is a source of ref read with the pullers pull returns, the
// first got now: a client that cannot be set up fails the open.
func openKept(ctx context.Context, cl *checkClient, ref types.ImageReference, named reference.Named, gref name.Reference, pull func(context.Context) (*remote.Puller, error)) (types.ImageSource, error) {
	if err := cl.afresh(func() error { _, err := pull(ctx); return err }); err != nil {
		return nil, statusOf(named, err)
	}
	return &keptSource{ref: ref, named: named, repo: gref.Context(), top: gref, cl: cl, pull: pull}, nil
}

// keptSource reads one image through a kept client: a read ahead of the
// copies (its manifests and a few blobs), or the copies' blobs
// (blobSource). go-containerregistry checks what it reads against the
// digests asked for: a manifest by digest, and each blob as it is read
// to its end.
type keptSource struct {
	ref   types.ImageReference
	named reference.Named
	repo  name.Repository
	top   name.Reference
	cl    *checkClient
	// pull is the client's puller, asked for at each read: a session
	// ended by a refused challenge is replaced (afresh).
	pull func(context.Context) (*remote.Puller, error)
}

func (s *keptSource) Reference() types.ImageReference { return s.ref }

func (s *keptSource) Close() error { return nil }

func (s *keptSource) HasThreadSafeGetBlob() bool { return true }

// GetSignatures fails: the signatures of an image (registries.d's
// lookaside or sigstore) are containers/image's to find, and nothing
// reads them through a kept client.
func (s *keptSource) GetSignatures(context.Context, *digest.Digest) ([][]byte, error) {
	return nil, errors.New("signatures are not read through the kept registry client")
}

// LayerInfosForCopy is nil: the manifest's layers are the ones to copy.
func (s *keptSource) LayerInfosForCopy(context.Context, *digest.Digest) ([]types.BlobInfo, error) {
	return nil, nil
}

// GetManifest reads the manifest ref names, or the instance of a manifest
// list, as served, with its media type.
func (s *keptSource) GetManifest(ctx context.Context, instance *digest.Digest) ([]byte, string, error) {
	r := s.top
	if instance != nil {
		r = s.repo.Digest(instance.String())
	}
	desc, err := pulled(ctx, s.cl, s.pull, func(p *remote.Puller) (*remote.Descriptor, error) { return p.Get(ctx, r) })
	if err != nil {
		return nil, "", statusOf(s.named, err)
	}
	return desc.Manifest, string(desc.MediaType), nil
}

// GetBlob streams the blob info names; its size is info's, or -1.
func (s *keptSource) GetBlob(ctx context.Context, info types.BlobInfo, _ types.BlobInfoCache) (io.ReadCloser, int64, error) {
	if err := info.Digest.Validate(); err != nil {
		return nil, -1, fmt.Errorf("blob %q: %w", info.Digest, err)
	}
	rc, err := pulled(ctx, s.cl, s.pull, func(p *remote.Puller) (io.ReadCloser, error) {
		l, err := p.Layer(ctx, s.repo.Digest(info.Digest.String()))
		if err != nil {
			return nil, err
		}
		return l.Compressed()
	})
	if err != nil {
		return nil, -1, statusOf(s.named, err)
	}
	size := info.Size
	if size == 0 {
		size = -1
	}
	return rc, size, nil
}

var _ types.ImageSource = (*keptSource)(nil)

// blobSource opens ref for reading blobs through its registry's kept
// client, on connections of their own (checkClient.bulk); errNoFastCheck
// where containers/image must read it. A containers/image source would
// cost a connection for its ping, another for the manifest it reads to
// open (four round trips before the first blob), per pooled client.
func (c *checker) blobSource(ctx context.Context, sys *types.SystemContext, ref types.ImageReference) (types.ImageSource, error) {
	cl, named, gref, err := c.reference(sys, ref)
	if err != nil {
		return nil, err
	}
	return openKept(ctx, cl, ref, named, gref, func(ctx context.Context) (*remote.Puller, error) {
		return repoScoped(ctx, cl, func(s *session) *map[string]*repoClient[remote.Puller] { return &s.blobPullers },
			gref.Context(), gref.Context().Scope(transport.PullScope), cl.bulk, cl.newPuller)
	})
}
