package release

import (
	"fmt"
	"sort"

	"github.com/containers/image/v5/docker/reference"
)

// Mapping is one image to mirror: Source by digest, Dest by tag.
type Mapping struct {
	// Name is the component name, or "" for the release image itself.
	Name         string
	Source, Dest string
}

// MirrorPlan is where `oc adm release mirror --to` puts a release: every
// component into the one destination repository, tagged
// <version><archExt>-<component>, and the release image tagged
// <version><archExt> (or where --to-release-image says).
type MirrorPlan struct {
	Release    Mapping
	Components []Mapping
	// Sources pairs each source repository mirrored (the components' and
	// the release's) with its destination repository, sorted.
	Sources []RepoMapping
}

// RepoMapping is one source repository and its mirror.
type RepoMapping struct {
	Source, Mirror string
}

// All returns the release mapping followed by the components'.
func (p *MirrorPlan) All() []Mapping {
	return append([]Mapping{p.Release}, p.Components...)
}

// Mirror plans the mirror of p to the repository to (host/path, no tag);
// toRelease, if not empty, is the release image's destination (a
// repository with a tag). Component references that are not by digest are
// refused, as oc refuses them.
func (p *Payload) Mirror(to, toRelease string) (*MirrorPlan, error) {
	dest, err := reference.ParseNormalizedNamed(to)
	if err != nil {
		return nil, fmt.Errorf("destination %q: %w", to, err)
	}
	if !reference.IsNameOnly(dest) {
		return nil, fmt.Errorf("destination %q: want a repository without tag or digest", to)
	}
	prefix := p.Version + p.ArchExt()
	relDest := dest.Name() + ":" + prefix
	if toRelease != "" {
		r, err := reference.ParseNormalizedNamed(toRelease)
		if err != nil {
			return nil, fmt.Errorf("release destination %q: %w", toRelease, err)
		}
		if _, ok := r.(reference.Digested); ok {
			return nil, fmt.Errorf("release destination %q: a digest cannot be a destination; give a tag", toRelease)
		}
		relDest = reference.TagNameOnly(r).String()
	}
	plan := &MirrorPlan{Release: Mapping{Source: p.PullSpec(), Dest: relDest}}
	pairs := map[RepoMapping]bool{{Source: p.Repo.Name(), Mirror: reference.TrimNamed(mustParse(relDest)).Name()}: true}
	for _, c := range p.Components {
		named, err := reference.ParseNormalizedNamed(c.PullSpec)
		if err != nil {
			return nil, fmt.Errorf("%w: component %s: %q: %v", ErrNotRelease, c.Name, c.PullSpec, err)
		}
		if _, ok := named.(reference.Digested); !ok {
			return nil, fmt.Errorf("%w: component %s: %q is not a reference by digest", ErrNotRelease, c.Name, c.PullSpec)
		}
		tag := prefix + "-" + c.Name
		if !tagPattern(tag) {
			return nil, fmt.Errorf("%w: component %s: %q is not a valid tag", ErrNotRelease, c.Name, tag)
		}
		plan.Components = append(plan.Components, Mapping{Name: c.Name, Source: c.PullSpec, Dest: dest.Name() + ":" + tag})
		pairs[RepoMapping{Source: reference.TrimNamed(named).Name(), Mirror: dest.Name()}] = true
	}
	for m := range pairs {
		plan.Sources = append(plan.Sources, m)
	}
	sort.Slice(plan.Sources, func(i, j int) bool {
		a, b := plan.Sources[i], plan.Sources[j]
		return a.Source < b.Source || a.Source == b.Source && a.Mirror < b.Mirror
	})
	return plan, nil
}

func mustParse(s string) reference.Named {
	n, err := reference.ParseNormalizedNamed(s)
	if err != nil {
		panic(err)
	}
	return n
}

func tagPattern(tag string) bool {
	_, err := reference.WithTag(mustParse("example.com/x"), tag)
	return err == nil
}
