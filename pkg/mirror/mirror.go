package mirror

import (
	"context"
	"fmt"
	"strings"

	"github.com/containers/image/v5/docker"
	"github.com/containers/image/v5/docker/reference"
	"github.com/containers/image/v5/types"

	"github.com/airgap-ocp/oc-plugins/pkg/plan"
)

// Source is where a plan's items are read from: registries, or an archive.
type Source interface {
	SourceRef(plan.Item) (types.ImageReference, error)
}

// Target is where a plan's items go: a registry, or an archive.
type Target interface {
	DestRef(plan.Item) (types.ImageReference, error)
}

// Registries reads each item from its source pull spec.
type Registries struct{}

// SourceRef is the docker reference of it.Source.
func (Registries) SourceRef(it plan.Item) (types.ImageReference, error) {
	return dockerRef(it.Source, false)
}

// Registry is a destination registry: each item goes below Root (a
// REGISTRY[/PATH]; "" when the items' paths are whole repositories), its
// repository path flattened to at most MaxNestedPaths components.
type Registry struct {
	Root           string
	MaxNestedPaths int
}

// DestRef is where it goes: by tag, or by digest when it has no tag.
func (r Registry) DestRef(it plan.Item) (types.ImageReference, error) {
	dest, err := it.Dest(r.Root, r.MaxNestedPaths)
	if err != nil {
		return nil, err
	}
	return dockerRef(dest, it.Tag == "")
}

// dockerRef turns a pull spec into a docker reference; untaggedByDigest
// makes a repository-only destination push by digest.
func dockerRef(s string, untaggedByDigest bool) (types.ImageReference, error) {
	named, err := reference.ParseNormalizedNamed(strings.TrimPrefix(s, "docker://"))
	if err != nil {
		return nil, fmt.Errorf("image %q: %w", s, err)
	}
	if untaggedByDigest && reference.IsNameOnly(named) {
		return docker.NewReferenceUnknownDigest(named)
	}
	return docker.NewReference(reference.TagNameOnly(named))
}

// Mirror copies the items of p from src to dst, in one run of the engine:
// each blob moves once per destination repository, whatever item it
// belongs to. It fails before copying anything when an item has no valid
// reference on either side; otherwise its report holds the outcome of each
// item, keyed to p.Items.
func Mirror(ctx context.Context, p *plan.Plan, src Source, dst Target, opts Options) (*Report, error) {
	images := make([]Image, len(p.Items))
	for i, it := range p.Items {
		s, err := src.SourceRef(it)
		if err != nil {
			return nil, fmt.Errorf("%s (%s): %w", it.Source, it.Origin, err)
		}
		d, err := dst.DestRef(it)
		if err != nil {
			return nil, fmt.Errorf("%s (%s): %w", it.Source, it.Origin, err)
		}
		images[i] = Image{Source: s, Dest: d, Platform: it.Platform}
	}
	res := Copy(ctx, images, opts)
	rep := &Report{Stats: res.Stats}
	for i, ir := range res.Images {
		out := ItemResult{Source: ir.Source, Dest: ir.Dest, Status: ir.Status, Err: ir.Err}
		if i < len(p.Items) {
			out.Item = p.Items[i]
		} else {
			out.Parent = ir.Parent
			out.Item = attachmentItem(p.Items[ir.Parent], ir.Source)
		}
		if ir.Digest != "" {
			out.Item.Digest, out.Item.MediaType = ir.Digest, ir.MIMEType
		}
		if i < len(p.Items) {
			rep.Items = append(rep.Items, out)
		} else {
			rep.Attachments = append(rep.Attachments, out)
		}
	}
	return rep, nil
}

// attachmentItem is the item of a sigstore signature tag found beside
// parent: it goes next to parent, by the same tag.
func attachmentItem(parent plan.Item, src types.ImageReference) plan.Item {
	s := strings.TrimPrefix(src.StringWithinTransport(), "//")
	return plan.Item{
		Source: s, Path: parent.Path, Tag: s[strings.LastIndex(s, ":")+1:],
		Kind: plan.SigstoreSignature, Origin: "sigstore signature of " + parent.Source,
	}
}
