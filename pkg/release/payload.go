package release

import (
	"archive/tar"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"path"
	"sort"

	"github.com/containers/image/v5/docker"
	"github.com/containers/image/v5/docker/reference"
	"github.com/containers/image/v5/manifest"
	"github.com/containers/image/v5/pkg/blobinfocache/none"
	"github.com/containers/image/v5/pkg/compression"
	"github.com/containers/image/v5/types"
	"github.com/opencontainers/go-digest"
	imgspecv1 "github.com/opencontainers/image-spec/specs-go/v1"
	imagev1 "github.com/openshift/api/image/v1"
	"golang.org/x/sync/errgroup"

	"github.com/airgap-ocp/oc-plugins/pkg/retry"
)

// The files a release image carries, in one of its layers.
const (
	ImageReferencesFile = "release-manifests/image-references"
	ReleaseMetadataFile = "release-manifests/release-metadata"
)

// maxPayloadFile caps what is read of either file: real ones are a few
// hundred kilobytes.
const maxPayloadFile = 16 << 20

// Payload is what a release image says about itself.
type Payload struct {
	// Repo is the release image's repository, Digest the digest of its
	// manifest (of the manifest list, for a multi-arch release).
	Repo   reference.Named
	Digest digest.Digest
	// MultiArch is set when the release image is a manifest list.
	MultiArch bool
	// Architecture is that of the image config read (Go's spelling, amd64).
	Architecture string
	// Version is image-references' metadata.name.
	Version string
	// Components are image-references' tags, sorted by name.
	Components []Component
	// Metadata is release-metadata.
	Metadata Metadata
	// ImageReferences is the image-references file as read.
	ImageReferences []byte
}

// Component is one image of the payload.
type Component struct {
	// Name is the image-references tag name, e.g. "cli".
	Name string
	// PullSpec is its from.name, e.g. "quay.io/openshift-release-dev/ocp-v4.0-art-dev@sha256:...".
	PullSpec string
}

// Metadata is release-metadata (the Cincinnati metadata of the release).
type Metadata struct {
	Kind     string            `json:"kind"`
	Version  string            `json:"version"`
	Previous []string          `json:"previous,omitempty"`
	Next     []string          `json:"next,omitempty"`
	Metadata map[string]string `json:"metadata,omitempty"`
}

// ErrNotRelease is returned for an image that lacks the release files or
// holds malformed ones: the user named something that is not a release.
var ErrNotRelease = errors.New("not a release image")

// ArchExt is the suffix oc adds to the tags of a mirrored release: "-"
// and the architecture as release tags spell it (amd64 -> x86_64, arm64 ->
// aarch64, others as they are), or "-multi" for a manifest list.
func (p *Payload) ArchExt() string {
	if p.MultiArch {
		return "-multi"
	}
	if a, err := NormalizeArch(p.Architecture); err == nil {
		return "-" + a
	}
	return "-" + p.Architecture
}

// PullSpec is the release image by digest.
func (p *Payload) PullSpec() string {
	return p.Repo.Name() + "@" + p.Digest.String()
}

// ReadOption changes how a release image is read.
type ReadOption func(*readOptions)

type readOptions struct {
	retry retry.Policy
	open  func(context.Context, types.ImageReference) (types.ImageSource, error)
	cache payloadCache
}

// WithRetry sets the policy each registry request of a read is retried
// under when it fails for a passing reason (retry.IsTransient: a reset, a
// 5xx, a 429, a timeout). The default is retry.Default; a policy of one
// attempt turns retries off, for a caller that retries the whole read itself.
func WithRetry(p retry.Policy) ReadOption {
	return func(o *readOptions) { o.retry = p }
}

// WithOpen sets how the release image is opened (its registry pinged,
// the caller logged in): by default containers/image's client, made for
// this read; a command that goes on to copy from the same registry opens
// it over the connections its copies will use (mirror.Clients).
func WithOpen(open func(context.Context, types.ImageReference) (types.ImageSource, error)) ReadOption {
	return func(o *readOptions) { o.open = open }
}

func newReadOptions(opts []ReadOption) readOptions {
	o := readOptions{retry: retry.Default}
	for _, f := range opts {
		f(&o)
	}
	return o
}

// ReadPayload reads image-references and release-metadata from the layers
// of the release image pullspec (by tag or digest). For a manifest list it
// reads the linux/amd64 image, or else the first. Every registry request
// (the connection, each manifest, the config, each layer) is retried on
// transient failures under retry.Default or WithRetry's policy.
func ReadPayload(ctx context.Context, sys *types.SystemContext, pullspec string, opts ...ReadOption) (*Payload, error) {
	o := newReadOptions(opts)
	named, err := parse(pullspec)
	if err != nil {
		return nil, err
	}
	ref, err := docker.NewReference(named)
	if err != nil {
		return nil, fmt.Errorf("image %q: %w", pullspec, err)
	}
	src, err := o.openSource(ctx, ref, sys)
	if err != nil {
		return nil, fmt.Errorf("reading release image %s: %w", pullspec, err)
	}
	defer src.Close()
	p, err := ReadPayloadFrom(ctx, src, opts...)
	if err != nil {
		return nil, fmt.Errorf("reading release image %s: %w", pullspec, err)
	}
	return p, nil
}

// openSource opens ref (pinging the registry and logging in) as WithOpen
// says, else with containers/image under sys; retried.
func (o readOptions) openSource(ctx context.Context, ref types.ImageReference, sys *types.SystemContext) (src types.ImageSource, err error) {
	err = retry.Do(ctx, o.retry, func(ctx context.Context) error {
		if o.open != nil {
			src, err = o.open(ctx, ref)
		} else {
			src, err = ref.NewImageSource(ctx, sys)
		}
		return err
	})
	return src, err
}

// getManifest is src.GetManifest, retried.
func getManifest(ctx context.Context, src types.ImageSource, instance *digest.Digest, p retry.Policy) (raw []byte, mime string, err error) {
	err = retry.Do(ctx, p, func(ctx context.Context) error {
		raw, mime, err = src.GetManifest(ctx, instance)
		return err
	})
	return raw, mime, err
}

// ReadPayloadFrom reads the payload of the release image src points at,
// retrying each request as ReadPayload does.
func ReadPayloadFrom(ctx context.Context, src types.ImageSource, opts ...ReadOption) (*Payload, error) {
	o := newReadOptions(opts)
	p := &Payload{}
	if named := src.Reference().DockerReference(); named != nil {
		p.Repo = reference.TrimNamed(named)
	}
	raw, mime, err := getManifest(ctx, src, nil, o.retry)
	if err != nil {
		return nil, err
	}
	if p.Digest, err = manifest.Digest(raw); err != nil {
		return nil, err
	}
	mime = manifest.NormalizedMIMEType(mime)
	if mime == "" {
		mime = manifest.GuessMIMEType(raw)
	}
	p.MultiArch = manifest.MIMETypeIsMultiImage(mime)
	if e, ok := o.cache.load(p.Digest); ok {
		kept := *p
		if kept.fill(e.Architecture, e.ImageReferences, e.ReleaseMetadata) == nil {
			return &kept, nil
		}
	}
	if p.MultiArch {
		list, err := manifest.ListFromBlob(raw, mime)
		if err != nil {
			return nil, fmt.Errorf("parsing manifest list: %w", err)
		}
		d, err := list.ChooseInstance(&types.SystemContext{OSChoice: "linux", ArchitectureChoice: "amd64"})
		if err != nil {
			if len(list.Instances()) == 0 {
				return nil, fmt.Errorf("%w: empty manifest list", ErrNotRelease)
			}
			d = list.Instances()[0]
		}
		if raw, mime, err = getManifest(ctx, src, &d, o.retry); err != nil {
			return nil, fmt.Errorf("reading manifest %s: %w", d, err)
		}
	}
	m, err := manifest.FromBlob(raw, mime)
	if err != nil {
		return nil, fmt.Errorf("parsing manifest: %w", err)
	}
	// The config (for the architecture) is read beside the layers: on a
	// long link, a round trip saved.
	var g errgroup.Group
	var arch string
	if cfg := m.ConfigInfo(); cfg.Digest != "" {
		g.Go(func() (err error) {
			arch, err = readArchitecture(ctx, src, cfg, o.retry)
			return err
		})
	}
	var refs, meta []byte
	layers := m.LayerInfos()
	// The release files are in the top layers: read from the last one down.
	for i := len(layers) - 1; i >= 0 && (refs == nil || meta == nil); i-- {
		var r, m []byte
		err := retry.Do(ctx, o.retry, func(ctx context.Context) (err error) {
			// A layer is read again from its start: a tar stream cannot resume.
			r, m, err = filesInLayer(ctx, src, layers[i].BlobInfo)
			return err
		})
		if err != nil {
			_ = g.Wait()
			return nil, fmt.Errorf("reading layer %s: %w", layers[i].Digest, err)
		}
		if refs == nil {
			refs = r
		}
		if meta == nil {
			meta = m
		}
	}
	if err := g.Wait(); err != nil {
		return nil, err
	}
	if refs == nil {
		return nil, fmt.Errorf("%w: no %s in any layer", ErrNotRelease, ImageReferencesFile)
	}
	if err := p.fill(arch, refs, meta); err != nil {
		return nil, err
	}
	o.cache.store(p.Digest, cachedPayload{Architecture: arch, ImageReferences: refs, ReleaseMetadata: meta})
	return p, nil
}

// fill sets what the release files and the config say.
func (p *Payload) fill(arch string, refs, meta []byte) error {
	p.Architecture = arch
	if err := p.parseImageReferences(refs); err != nil {
		return err
	}
	if meta != nil {
		if err := json.Unmarshal(meta, &p.Metadata); err != nil {
			return fmt.Errorf("%w: %s: %v", ErrNotRelease, ReleaseMetadataFile, err)
		}
	}
	return nil
}

// readArchitecture reads the architecture from the image config cfg.
func readArchitecture(ctx context.Context, src types.ImageSource, cfg types.BlobInfo, policy retry.Policy) (string, error) {
	var data []byte
	err := retry.Do(ctx, policy, func(ctx context.Context) (err error) {
		data, err = readBlob(ctx, src, cfg, 1<<20)
		return err
	})
	if err != nil {
		return "", fmt.Errorf("reading image config %s: %w", cfg.Digest, err)
	}
	var c imgspecv1.Image
	if err := json.Unmarshal(data, &c); err != nil {
		return "", fmt.Errorf("%w: image config %s: %v", ErrNotRelease, cfg.Digest, err)
	}
	return c.Architecture, nil
}

func (p *Payload) parseImageReferences(data []byte) error {
	var is imagev1.ImageStream
	if err := json.Unmarshal(data, &is); err != nil {
		return fmt.Errorf("%w: %s: %v", ErrNotRelease, ImageReferencesFile, err)
	}
	if is.Kind != "ImageStream" || is.Name == "" {
		return fmt.Errorf("%w: %s: want an ImageStream with metadata.name, got kind %q name %q", ErrNotRelease, ImageReferencesFile, is.Kind, is.Name)
	}
	p.ImageReferences = data
	p.Version = is.Name
	seen := map[string]bool{}
	for i, tag := range is.Spec.Tags {
		if tag.Name == "" || seen[tag.Name] {
			return fmt.Errorf("%w: %s: spec.tags[%d].name: empty or repeated %q", ErrNotRelease, ImageReferencesFile, i, tag.Name)
		}
		seen[tag.Name] = true
		if tag.From == nil || tag.From.Kind != "DockerImage" || tag.From.Name == "" {
			return fmt.Errorf("%w: %s: spec.tags[%d] (%s).from: want kind DockerImage with a name", ErrNotRelease, ImageReferencesFile, i, tag.Name)
		}
		p.Components = append(p.Components, Component{Name: tag.Name, PullSpec: tag.From.Name})
	}
	sort.Slice(p.Components, func(i, j int) bool { return p.Components[i].Name < p.Components[j].Name })
	return nil
}

func readBlob(ctx context.Context, src types.ImageSource, info types.BlobInfo, limit int64) ([]byte, error) {
	rc, _, err := src.GetBlob(ctx, info, none.NoCache)
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	data, err := io.ReadAll(io.LimitReader(rc, limit+1))
	if err != nil {
		return nil, err
	}
	if int64(len(data)) > limit {
		return nil, fmt.Errorf("larger than %d bytes", limit)
	}
	return data, nil
}

// filesInLayer streams one layer and returns the release files it holds.
func filesInLayer(ctx context.Context, src types.ImageSource, info types.BlobInfo) (refs, meta []byte, err error) {
	rc, _, err := src.GetBlob(ctx, info, none.NoCache)
	if err != nil {
		return nil, nil, err
	}
	defer rc.Close()
	plain, _, err := compression.AutoDecompress(rc)
	if err != nil {
		return nil, nil, err
	}
	defer plain.Close()
	tr := tar.NewReader(plain)
	for refs == nil || meta == nil {
		hdr, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, nil, err
		}
		if hdr.Typeflag != tar.TypeReg {
			continue
		}
		var dst *[]byte
		switch path.Clean("/" + hdr.Name) {
		case "/" + ImageReferencesFile:
			dst = &refs
		case "/" + ReleaseMetadataFile:
			dst = &meta
		default:
			continue
		}
		if hdr.Size > maxPayloadFile {
			return nil, nil, fmt.Errorf("%w: %s is %d bytes", ErrNotRelease, hdr.Name, hdr.Size)
		}
		if *dst, err = io.ReadAll(tr); err != nil {
			return nil, nil, err
		}
	}
	return refs, meta, nil
}
