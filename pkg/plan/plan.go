// Package plan is what oc-mirror-lite copies: an ordered list of items,
// each an image from a source to a place below the destination, with what
// it is and what asked for it, and the releases among them.
//
// Every source of images builds a Plan in the package that knows it (a
// release payload in pkg/release, an ImageSetConfiguration in pkg/imageset,
// an archive's index in pkg/archive, mapping arguments and files here);
// pkg/mirror executes a plan against a registry or an archive, with results
// keyed to its items, and pkg/mirrorset turns it into mirror objects.
package plan

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"

	"github.com/containers/image/v5/docker/reference"
	digest "github.com/opencontainers/go-digest"
)

// Kind is what an item is.
type Kind string

// The kinds of items.
const (
	ReleaseImage     Kind = "release"
	ReleaseComponent Kind = "release-component"
	// Image is an image asked for by name: a mapping, or additionalImages.
	Image Kind = "image"
	// SigstoreSignature is a sigstore signature tag (sha256-<hex>.sig)
	// found beside an image the plan copies.
	SigstoreSignature Kind = "sigstore-signature"
	// OperatorBundle is a bundle image an operator catalog keeps, and
	// OperatorImage one of the related images its bundles name.
	OperatorBundle Kind = "operator-bundle"
	OperatorImage  Kind = "operator-image"
	// Catalog is an operator catalog image, as filtered and rebuilt (or
	// as published, when nothing was filtered out).
	Catalog Kind = "catalog"
)

// ImageItem is the item of an image named by pull spec: it keeps its
// repository path below the destination, and its tag when named by tag
// (then an ImageTagMirrorSet covers it) or is pushed by digest.
func ImageItem(pullSpec string, kind Kind, origin string) (Item, error) {
	named, err := reference.ParseNormalizedNamed(strings.TrimPrefix(pullSpec, "docker://"))
	if err != nil {
		return Item{}, fmt.Errorf("image %q: %w", pullSpec, err)
	}
	it := Item{Path: reference.Path(named), Kind: kind, Origin: origin}
	if d, ok := named.(reference.Digested); ok {
		it.Digest = d.Digest()
	} else {
		named = reference.TagNameOnly(named)
		it.ByTag, it.Tag = true, named.(reference.Tagged).Tag()
	}
	it.Source = named.String()
	return it, nil
}

// Item is one image to copy.
type Item struct {
	// Source is the pull spec it is read from, by tag or by digest.
	Source string `json:"source"`
	// Digest is its manifest digest (of the list, for a manifest list)
	// when known: from the pull spec, an archive, or a finished copy;
	// MediaType that manifest's type.
	Digest    digest.Digest `json:"digest"`
	MediaType string        `json:"mediaType,omitempty"`
	// Path is the destination repository below the destination root ("" for
	// the root itself; a whole REGISTRY/REPO when the root is ""); Tag its
	// destination tag ("" pushes by digest).
	Path string `json:"path,omitempty"`
	Tag  string `json:"tag,omitempty"`
	// ByTag: the source was named by tag (an ImageTagMirrorSet covers it).
	ByTag bool `json:"byTag,omitempty"`
	// Kind is what the item is; Origin what asked for it (a release, a
	// file and field, an argument).
	Kind   Kind   `json:"kind,omitempty"`
	Origin string `json:"origin,omitempty"`
	// Platform, when set, copies only that image of a manifest list.
	Platform *Platform `json:"platform,omitempty"`
}

// Repo is the destination repository of it below root.
func (it Item) Repo(root string) string {
	switch {
	case root == "":
		return it.Path
	case it.Path == "":
		return root
	}
	return root + "/" + it.Path
}

// Dest is the destination of it below root, REPO:TAG, or REPO when it is
// pushed by digest, with the repository path flattened to at most
// maxNested components (0: as it is).
func (it Item) Dest(root string, maxNested int) (string, error) {
	repo, err := NestPaths(it.Repo(root), maxNested)
	if err != nil {
		return "", fmt.Errorf("destination of %s: %q: %w", it.Source, it.Repo(root), err)
	}
	if it.Tag != "" {
		return repo + ":" + it.Tag, nil
	}
	return repo, nil
}

// SourceRepo is the repository of the source, without tag or digest.
func (it Item) SourceRepo() (string, error) {
	named, err := reference.ParseNormalizedNamed(it.Source)
	if err != nil {
		return "", fmt.Errorf("source %q: %w", it.Source, err)
	}
	return reference.TrimNamed(named).Name(), nil
}

// key identifies an item: the same source to the same place is one copy.
func (it Item) key() string {
	k := it.Source + "=" + it.Path + ":" + it.Tag
	if it.Platform != nil {
		k += "#" + it.Platform.String()
	}
	return k
}

// Platform selects one image of a manifest list.
type Platform struct {
	OS           string `json:"os"`
	Architecture string `json:"architecture"`
	Variant      string `json:"variant,omitempty"`
}

func (p Platform) String() string {
	s := p.OS + "/" + p.Architecture
	if p.Variant != "" {
		s += "/" + p.Variant
	}
	return s
}

// ParsePlatform reads os/arch[/variant].
func ParsePlatform(s string) (*Platform, error) {
	parts := strings.Split(s, "/")
	if len(parts) < 2 || len(parts) > 3 || parts[0] == "" || parts[1] == "" {
		return nil, fmt.Errorf("%q: want os/arch or os/arch/variant", s)
	}
	p := &Platform{OS: parts[0], Architecture: parts[1]}
	if len(parts) == 3 {
		p.Variant = parts[2]
	}
	return p, nil
}

// Release is a release payload among the items.
type Release struct {
	Version string        `json:"version"`
	ArchExt string        `json:"archExt"`
	Digest  digest.Digest `json:"digest"`
	// Source is the release image by digest; Tag its destination tag.
	Source string `json:"source"`
	Tag    string `json:"tag"`
	// Metadata is release-metadata as the payload holds it.
	Metadata json.RawMessage `json:"metadata,omitempty"`
	// Signatures are verified release signatures, when the plan carries
	// them (an archive's); otherwise they are fetched after the copy.
	Signatures [][]byte `json:"signatures,omitempty"`
}

// Plan is an ordered list of items and the releases among them.
type Plan struct {
	// Name is the name of the mirror objects ("" derives one).
	Name     string
	Items    []Item
	Releases []Release
	// Merged says, one line each, which items were asked for more than
	// once; the plan holds each of them once.
	Merged []string

	index map[string]int
	tags  map[string]int
}

// Add appends items. An item that goes from the same source to the same
// place as one already planned is merged into it (its origin added, a line
// in Merged); one that would put another source at a destination tag
// already planned is an error, as neither could be trusted there.
func (p *Plan) Add(items ...Item) error {
	if p.index == nil {
		p.index, p.tags = map[string]int{}, map[string]int{}
		old := p.Items
		p.Items = nil
		if err := p.Add(old...); err != nil {
			return err
		}
	}
	for _, it := range items {
		if i, ok := p.index[it.key()]; ok {
			prev := &p.Items[i]
			if it.Origin != "" && !slices.Contains(strings.Split(prev.Origin, "; "), it.Origin) {
				prev.Origin += "; " + it.Origin
			}
			p.Merged = append(p.Merged, fmt.Sprintf("%s to %s asked for again (%s): copied once", it.Source, it.destName(), it.Origin))
			continue
		}
		if it.Tag != "" {
			dest := it.Path + ":" + it.Tag
			if i, ok := p.tags[dest]; ok && p.Items[i].Source != it.Source && (p.Items[i].Platform == nil) == (it.Platform == nil) {
				prev := p.Items[i]
				return fmt.Errorf("destination %s is asked for twice with different sources: %s (%s) and %s (%s)",
					it.destName(), prev.Source, prev.Origin, it.Source, it.Origin)
			}
			p.tags[dest] = len(p.Items)
		}
		p.index[it.key()] = len(p.Items)
		p.Items = append(p.Items, it)
	}
	return nil
}

// Merge adds q's items and releases to p.
func (p *Plan) Merge(q *Plan) error {
	p.Merged = append(p.Merged, q.Merged...)
	if err := p.Add(q.Items...); err != nil {
		return err
	}
	for _, r := range q.Releases {
		if !p.hasRelease(r.Digest) {
			p.Releases = append(p.Releases, r)
		}
	}
	return nil
}

func (p *Plan) hasRelease(d digest.Digest) bool {
	for _, r := range p.Releases {
		if r.Digest == d {
			return true
		}
	}
	return false
}

// ReleaseItem is the item that copies the release image of r.
func (p *Plan) ReleaseItem(r Release) (Item, bool) {
	for _, it := range p.Items {
		if it.Kind == ReleaseImage && it.Digest == r.Digest {
			return it, true
		}
	}
	for _, it := range p.Items {
		if it.Digest == r.Digest && it.Kind != SigstoreSignature {
			return it, true
		}
	}
	return Item{}, false
}

func (it Item) destName() string {
	d := it.Path
	if d == "" {
		d = "the destination root"
	}
	if it.Tag != "" {
		d += ":" + it.Tag
	}
	return d
}
