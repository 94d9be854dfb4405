package mirror

import (
	"context"
	"errors"
	"io"
	"sync/atomic"

	"github.com/containers/image/v5/types"
	"github.com/google/go-containerregistry/pkg/name"
	ggcrv1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
	ggcrtypes "github.com/google/go-containerregistry/pkg/v1/types"
)

// Blob uploads. A containers/image destination sets up a client of its
// own before its first upload (a ping on a connection it then loses, a
// second connection, two TLS handshakes), and a run holds a pool of
// them per destination repository: the first upload of a run waits for
// those, on a long link and on busy cores alike. So a blob goes through
// the destination registry's kept client, on a connection of the blob
// worker's own (uploads, as the reads' bulk): the HEAD, POST, PATCH and PUT
// containers/image would send, with a token for pushing to the
// repository where the registry hands out tokens. Where containers/image
// must answer (exists.go says when), it uploads as before; so do the
// mounts from other repositories (TryReusingBlob, which knows where the
// blob info cache saw each blob).

// putBlob uploads blob, of info's digest and size, to ref's repository
// through the destination's kept client; errNoFastCheck where
// containers/image must. A blob the repository holds already is not read.
func (c *checker) putBlob(ctx context.Context, sys *types.SystemContext, ref types.ImageReference, blob io.Reader, info types.BlobInfo) error {
	cl, _, gref, err := c.reference(sys, ref)
	if err != nil {
		return err
	}
	l := &streamedBlob{r: blob, info: info}
	return pushErr(cl.afresh(func() error {
		p, err := cl.blobPusher(ctx, gref.Context())
		if err == nil {
			err = p.Upload(ctx, gref.Context(), l)
		}
		return err
	}))
}

// blobPusher returns the client's pusher of blobs for repo, over the
// uploads transport.
func (cl *checkClient) blobPusher(ctx context.Context, repo name.Repository) (*remote.Pusher, error) {
	return repoScoped(ctx, cl, func(s *session) *map[string]*repoClient[remote.Pusher] { return &s.blobPushers },
		repo, repo.Scope(transport.PushScope), cl.uploads, cl.newPusher)
}

// streamedBlob is a blob read once from its source as it is uploaded:
// the layer go-containerregistry's writer takes, whose digest and size
// are known before it is read.
type streamedBlob struct {
	r    io.Reader
	info types.BlobInfo
	read atomic.Bool
}

func (b *streamedBlob) Digest() (ggcrv1.Hash, error) { return ggcrv1.NewHash(b.info.Digest.String()) }

func (b *streamedBlob) DiffID() (ggcrv1.Hash, error) {
	return ggcrv1.Hash{}, errors.New("a streamed blob's uncompressed digest is not known")
}

// Compressed is the stream, once: an HTTP client that wants the body
// again (a redirect, a lost connection) gets an error, and the run
// retries the upload from a fresh read.
func (b *streamedBlob) Compressed() (io.ReadCloser, error) {
	if b.read.Swap(true) {
		return nil, errors.New("the blob's stream was read already")
	}
	return io.NopCloser(b.r), nil
}

func (b *streamedBlob) Uncompressed() (io.ReadCloser, error) {
	return nil, errors.New("a streamed blob is not uncompressed")
}

func (b *streamedBlob) Size() (int64, error) {
	if b.info.Size < 0 {
		return 0, errors.New("size not known")
	}
	return b.info.Size, nil
}

func (b *streamedBlob) MediaType() (ggcrtypes.MediaType, error) {
	if b.info.MediaType == "" {
		return "application/octet-stream", nil
	}
	return ggcrtypes.MediaType(b.info.MediaType), nil
}
