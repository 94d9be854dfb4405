package catalog

import (
	"maps"
	"slices"

	"github.com/blang/semver/v4"
)

// satisfiedBy reports whether b provides what r asks for.
func (r Requirement) satisfiedBy(b *BundleInfo) bool {
	if r.GVK != nil {
		for _, g := range b.Provides {
			if g == *r.GVK {
				return true
			}
		}
		return false
	}
	if b.Package != r.Package {
		return false
	}
	if r.VersionRange == "" {
		return true
	}
	in, err := semver.ParseRange(r.VersionRange)
	return err == nil && in(b.Version)
}

// unsatisfied lists the dependencies of kept bundles that no kept bundle
// satisfies, in package and bundle order.
func (x *Index) unsatisfied(k *Kept) []Unsatisfied {
	var kept []*BundleInfo
	for _, name := range k.SortedNames() {
		p := x.Packages[name]
		for _, b := range k.Packages[name].Bundles() {
			if bi := p.Bundles[b]; bi != nil {
				kept = append(kept, bi)
			}
		}
	}
	var out []Unsatisfied
	for _, b := range kept {
	next:
		for _, r := range b.Requires {
			for _, o := range kept {
				if r.satisfiedBy(o) {
					continue next
				}
			}
			out = append(out, Unsatisfied{Bundle: b.Name, Requirement: r})
		}
	}
	return out
}

// newestProviding is the bundle of the highest version that satisfies r
// and sits in a channel, or nil; ties go to the package name, then the
// bundle name, so the choice is stable.
func (x *Index) newestProviding(r Requirement) *BundleInfo {
	var best *BundleInfo
	for _, pn := range x.SortedNames() {
		p := x.Packages[pn]
		for _, bn := range slices.Sorted(maps.Keys(p.Bundles)) {
			b := p.Bundles[bn]
			if !r.satisfiedBy(b) || !p.inAnyChannel(bn) {
				continue
			}
			if best == nil || b.Version.GT(best.Version) {
				best = b
			}
		}
	}
	return best
}

func (p *PackageIndex) inAnyChannel(bundle string) bool {
	for _, entries := range p.Channels {
		for _, e := range entries {
			if e.Name == bundle {
				return true
			}
		}
	}
	return false
}
