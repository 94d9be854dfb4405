package mirror

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"

	"github.com/containers/image/v5/docker/reference"
	"github.com/containers/image/v5/manifest"
	"github.com/containers/image/v5/types"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
	ggcrtypes "github.com/google/go-containerregistry/pkg/v1/types"
	digest "github.com/opencontainers/go-digest"

	"github.com/airgap-ocp/oc-plugins/pkg/retry"
)

// Manifest pushes. containers/image pushes an image's manifests through a
// destination of its own: a connection for its ping (whose response it
// closes unread, losing the connection), another for the PUT, a TLS
// handshake each: five round trips for one request, about 0.8 s on a
// 150 ms link, and at the end of a first run the images completed last
// wait that long after their last blob (docs/benchmarks.md, issue 20).
// So a manifest goes through the destination registry's kept client
// (exists.go), on a connection it holds open already, with a token for
// pushing to the repository where the registry hands out tokens; where
// containers/image must answer (exists.go says when), it is pushed as
// before. So is a manifest with a subject: go-containerregistry would
// also update the subject's referrers tag where the registry has no
// referrers API, which containers/image does not do.

// putFunc pushes one of an image's manifests: an instance of its list by
// digest d, or with d nil its top manifest, to the image's reference.
type putFunc func(ctx context.Context, raw []byte, mime string, d *digest.Digest) error

// manifestPut is what pushes im's manifests: the destination registry's
// kept client, or im's own containers/image destination.
func (r *run) manifestPut(ctx context.Context, im *imageState) (putFunc, error) {
	if r.check.canPush(r.opts.DestCtx, im.Dest) && !im.hasSubject() {
		return func(ctx context.Context, raw []byte, mime string, d *digest.Digest) error {
			return r.check.putManifest(ctx, r.opts.DestCtx, im.Dest, raw, mime, d)
		}, nil
	}
	dest, err := r.dest(ctx, im.Dest)
	if err != nil {
		return nil, err
	}
	return func(ctx context.Context, raw []byte, _ string, d *digest.Digest) error {
		if err := dest.PutManifest(ctx, raw, d); err != nil || d != nil {
			return err
		}
		return dest.Commit(ctx, pushed{ref: im.Source, raw: im.top, mime: im.MIMEType})
	}, nil
}

// hasSubject reports whether any of im's manifests names a subject.
func (im *imageState) hasSubject() bool {
	if hasSubject(im.top) {
		return true
	}
	for _, c := range im.children {
		if hasSubject(c.raw) {
			return true
		}
	}
	return false
}

func hasSubject(raw []byte) bool {
	var m struct {
		Subject json.RawMessage `json:"subject"`
	}
	return json.Unmarshal(raw, &m) == nil && len(m.Subject) > 0 && string(m.Subject) != "null"
}

// canPush reports whether ref's manifests can be pushed through its
// registry's kept client.
func (c *checker) canPush(sys *types.SystemContext, ref types.ImageReference) bool {
	_, _, _, err := c.reference(sys, ref)
	return err == nil
}

// putManifest pushes raw, of media type mime, to ref, or with d to ref's
// repository by digest d, through the registry's kept client.
func (c *checker) putManifest(ctx context.Context, sys *types.SystemContext, ref types.ImageReference, raw []byte, mime string, d *digest.Digest) error {
	cl, named, gref, err := c.reference(sys, ref)
	if err != nil {
		return err
	}
	if _, tagged := named.(reference.NamedTagged); d == nil && !tagged {
		// A destination by digest, known once pushed: go-containerregistry
		// reads a bare repository as its tag "latest".
		md, err := manifest.Digest(raw)
		if err != nil {
			return err
		}
		d = &md
	}
	if d != nil {
		gref = gref.Context().Digest(d.String())
	}
	return pushErr(cl.afresh(func() error {
		p, err := cl.pusher(ctx, gref.Context())
		if err == nil {
			err = p.Put(ctx, gref, rawManifest{raw: raw, mime: mime})
		}
		return err
	}))
}

// pushErr is a failed push's err with the HTTP status of the registry's
// answer, as the retry policy reads it, and the registry's own words
// (a blob it lacks, access denied).
func pushErr(err error) error {
	var terr *transport.Error
	if errors.As(err, &terr) {
		return fmt.Errorf("%w: %s", &retry.StatusError{Code: terr.StatusCode, Status: fmt.Sprintf("%d %s", terr.StatusCode, http.StatusText(terr.StatusCode))}, terr)
	}
	return err
}

// pusher returns the client's pusher for repo, with a token for pushing
// there where the registry hands out tokens.
func (cl *checkClient) pusher(ctx context.Context, repo name.Repository) (*remote.Pusher, error) {
	return repoScoped(ctx, cl, func(s *session) *map[string]*repoClient[remote.Pusher] { return &s.pushers },
		repo, repo.Scope(transport.PushScope), cl.base, cl.newPusher)
}

// newPusher is a pusher over tr. The run's retry policy repeats a failed
// push or upload, step by step, not the client; a blob is pushed
// whatever its media type says of distribution (Nondistributable).
func (cl *checkClient) newPusher(tr http.RoundTripper) (*remote.Pusher, error) {
	return remote.NewPusher(remote.WithAuth(cl.auth), remote.WithTransport(tr),
		remote.WithRetryPredicate(func(error) bool { return false }), remote.WithNondistributable)
}

// rawManifest is a manifest pushed as it was read, with its media type.
type rawManifest struct {
	raw  []byte
	mime string
}

func (m rawManifest) RawManifest() ([]byte, error) { return m.raw, nil }

func (m rawManifest) MediaType() (ggcrtypes.MediaType, error) {
	return ggcrtypes.MediaType(m.mime), nil
}
