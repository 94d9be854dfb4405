package retire

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/containers/image/v5/docker"
	"github.com/containers/image/v5/docker/reference"
	"github.com/containers/image/v5/manifest"
	"github.com/containers/image/v5/types"
	"github.com/docker/distribution/registry/api/errcode"
	v2 "github.com/docker/distribution/registry/api/v2"
	digest "github.com/opencontainers/go-digest"

	"github.com/airgap-ocp/oc-plugins/pkg/mirror"
	"github.com/airgap-ocp/oc-plugins/pkg/retry"
)

// Options say how the registry is reached.
type Options struct {
	// Sys holds credentials and TLS settings for the registry.
	Sys *types.SystemContext
	// Retry is the policy of every request; IdleTimeout gives up on (and
	// retries) one that moves no data for that long.
	Retry       retry.Policy
	IdleTimeout time.Duration
	// Parallel bounds the requests in flight (8 when 0).
	Parallel int
	// MaxNestedPaths flattens repository paths as the mirror did (0: as they are).
	MaxNestedPaths int
}

func (o Options) parallel() int {
	if o.Parallel <= 0 {
		return mirror.DefaultParallel
	}
	return o.Parallel
}

func (o Options) request(ctx context.Context, fn func(context.Context) error) error {
	return mirror.Request(ctx, mirror.Options{Retry: o.Retry, IdleTimeout: o.IdleTimeout}, fn)
}

// ErrNotFound is a manifest or repository the registry does not hold.
var ErrNotFound = errors.New("not in the registry")

// DeletesRefusedError is a registry that does not allow deletes at all.
type DeletesRefusedError struct {
	Registry string
	Status   int
}

func (e *DeletesRefusedError) Error() string {
	return fmt.Sprintf("the registry %s refuses deletes (HTTP %d %s); nothing more was tried. Enable them: "+
		"the distribution registry with storage.delete.enabled: true (REGISTRY_STORAGE_DELETE_ENABLED=true), "+
		"Quay and Harbor allow them to users with delete (or admin) rights on the repository",
		e.Registry, e.Status, http.StatusText(e.Status))
}

// fetched is a manifest as the registry serves it.
type fetched struct {
	digest    digest.Digest
	mediaType string
	raw       []byte
}

// notFound reports whether err says the manifest, tag or repository is not there.
func notFound(err error) bool {
	if err == nil {
		return false
	}
	var ec errcode.Error
	if errors.As(err, &ec) {
		switch ec.Code {
		case v2.ErrorCodeManifestUnknown, v2.ErrorCodeNameUnknown, v2.ErrorCodeManifestBlobUnknown, v2.ErrorCodeBlobUnknown:
			return true
		}
	}
	var ecs errcode.Errors
	if errors.As(err, &ecs) && len(ecs) > 0 {
		if e, ok := ecs[0].(errcode.Error); ok && (e.Code == v2.ErrorCodeManifestUnknown || e.Code == v2.ErrorCodeNameUnknown) {
			return true
		}
	}
	if code, ok := retry.HTTPStatus(err); ok && code == http.StatusNotFound {
		return true
	}
	// containers/image's own words for a 404 on the read before a delete.
	return strings.Contains(err.Error(), "Image may not exist")
}

func dockerRef(s string) (types.ImageReference, error) {
	named, err := reference.ParseNormalizedNamed(s)
	if err != nil {
		return nil, fmt.Errorf("image %q: %w", s, err)
	}
	return docker.NewReference(named)
}

// getManifest reads the manifest of REPO:TAG or REPO@DIGEST; ErrNotFound
// when the registry does not hold it.
func (o Options) getManifest(ctx context.Context, ref string) (*fetched, error) {
	r, err := dockerRef(ref)
	if err != nil {
		return nil, err
	}
	var f fetched
	err = o.request(ctx, func(ctx context.Context) error {
		src, err := r.NewImageSource(ctx, o.Sys)
		if err != nil {
			return err
		}
		defer src.Close()
		f.raw, f.mediaType, err = src.GetManifest(ctx, nil)
		return err
	})
	switch {
	case notFound(err):
		return nil, fmt.Errorf("%s: %w", ref, ErrNotFound)
	case err != nil:
		return nil, fmt.Errorf("reading %s: %w", ref, err)
	}
	if f.digest, err = manifest.Digest(f.raw); err != nil {
		return nil, fmt.Errorf("reading %s: %w", ref, err)
	}
	return &f, nil
}

// tags lists the tags of repo; none when the repository is not there.
func (o Options) tags(ctx context.Context, repo string) ([]string, error) {
	named, err := reference.ParseNormalizedNamed(repo)
	if err != nil {
		return nil, fmt.Errorf("repository %q: %w", repo, err)
	}
	// The transport wants a tag in the reference, though it lists them all.
	r, err := docker.NewReference(reference.TagNameOnly(named))
	if err != nil {
		return nil, err
	}
	var tags []string
	err = o.request(ctx, func(ctx context.Context) (err error) {
		tags, err = docker.GetRepositoryTags(ctx, o.Sys, r)
		return err
	})
	if notFound(err) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("listing the tags of %s: %w", repo, err)
	}
	return tags, nil
}

// deleteManifest deletes repo@d. A manifest already gone is not an error:
// a delete that went through before its answer was lost looks the same.
func (o Options) deleteManifest(ctx context.Context, repo string, d digest.Digest) error {
	r, err := dockerRef(repo + "@" + d.String())
	if err != nil {
		return err
	}
	err = o.request(ctx, func(ctx context.Context) error {
		err := r.DeleteImage(ctx, o.Sys)
		if code, ok := retry.HTTPStatus(err); ok && (code == http.StatusMethodNotAllowed) {
			return &DeletesRefusedError{Registry: reference.Domain(r.DockerReference()), Status: code}
		}
		return err
	})
	var refused *DeletesRefusedError
	switch {
	case errors.As(err, &refused):
		return refused
	case notFound(err):
		return nil
	case err != nil:
		return fmt.Errorf("deleting %s@%s: %w", repo, d, err)
	}
	return nil
}

// blob is a layer or config a manifest references.
type blob struct {
	digest digest.Digest
	size   int64
}

// parse returns the images a manifest list names, or the blobs an image
// manifest references.
func (f *fetched) parse() (children []digest.Digest, blobs []blob, err error) {
	if manifest.MIMETypeIsMultiImage(f.mediaType) {
		list, err := manifest.ListFromBlob(f.raw, f.mediaType)
		if err != nil {
			return nil, nil, err
		}
		return list.Instances(), nil, nil
	}
	m, err := manifest.FromBlob(f.raw, f.mediaType)
	if err != nil {
		return nil, nil, err
	}
	cfg := m.ConfigInfo()
	if cfg.Digest != "" {
		blobs = append(blobs, blob{cfg.Digest, cfg.Size})
	}
	for _, l := range m.LayerInfos() {
		blobs = append(blobs, blob{l.Digest, l.Size})
	}
	return nil, blobs, nil
}

// Has reports whether the registry holds ref, REPO:TAG or REPO@DIGEST.
func (o Options) Has(ctx context.Context, ref string) (bool, error) {
	_, err := o.getManifest(ctx, ref)
	if errors.Is(err, ErrNotFound) {
		return false, nil
	}
	return err == nil, err
}
