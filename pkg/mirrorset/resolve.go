package mirrorset

import (
	"fmt"
	"slices"

	"github.com/containers/image/v5/docker/reference"
	"github.com/containers/image/v5/pkg/sysregistriesv2"
	"github.com/containers/image/v5/types"
)

// PullSource is one place CRI-O would try to pull an image from, in order.
type PullSource struct {
	// Reference is the pull spec rewritten for this endpoint.
	Reference string `json:"reference"`
	// Mirror is false for the source itself (always the last).
	Mirror bool `json:"mirror"`
	// Used tells whether CRI-O tries this endpoint for this pull spec.
	Used bool `json:"used"`
	// Blocked: the endpoint's registry entry is blocked; CRI-O refuses to contact it.
	Blocked bool `json:"blocked,omitempty"`
	// Insecure: TLS verification is skipped and plain HTTP allowed for this endpoint.
	Insecure bool `json:"insecure,omitempty"`
	// Why says why the endpoint is used, skipped or blocked.
	Why string `json:"why"`
}

// Resolution is the ordered list of pull sources for one pull spec.
type Resolution struct {
	// Image is the pull spec, normalised (a reference without tag or digest gets :latest).
	Image string `json:"image"`
	// Registry is the prefix of the [[registry]] entry that matched, "" when none did.
	Registry string       `json:"registry,omitempty"`
	Sources  []PullSource `json:"sources"`
}

// Pullable reports whether any source is tried: false when every mirror is skipped or blocked
// and the source is blocked, so the image cannot be pulled by this reference.
func (r *Resolution) Pullable() bool {
	for _, s := range r.Sources {
		if s.Used {
			return true
		}
	}
	return false
}

// Resolve returns the pull sources CRI-O would try, in order, for image under the
// registries.conf data (labelled name in errors): each mirror with why it is used or skipped
// (digest-only mirrors are skipped for tag references, tag-only mirrors for digest references),
// then the source, or that it is blocked. The order, rewriting and choice of mirrors are
// containers/image's own (Registry.PullSourcesFromReference); as containers/image decides
// when it connects, an endpoint is blocked when the [[registry]] entry matching its rewritten
// reference says so, and insecure when the endpoint itself says so.
func Resolve(name string, data []byte, image string) (*Resolution, error) {
	named, err := reference.ParseNamed(image)
	if err != nil {
		return nil, fmt.Errorf("pull spec %q: %w (give registry/repository[:tag|@digest])", image, err)
	}
	named = reference.TagNameOnly(named)
	_, digested := named.(reference.Canonical)
	res := &Resolution{Image: named.String()}
	err = withRegistriesConf(name, data, func(sys *types.SystemContext) error {
		reg, err := sysregistriesv2.FindRegistry(sys, named.Name())
		if err != nil {
			return err
		}
		if reg == nil {
			res.Sources = []PullSource{{Reference: named.String(), Used: true, Why: "no [[registry]] entry matches: the source only"}}
			return nil
		}
		res.Registry = reg.Prefix
		// Every mirror rewritten, used or not, with the restrictions lifted.
		all := *reg
		all.MirrorByDigestOnly = false
		all.Mirrors = slices.Clone(reg.Mirrors)
		for i := range all.Mirrors {
			all.Mirrors[i].PullFromMirror = ""
		}
		every, err := all.PullSourcesFromReference(named)
		if err != nil {
			return err
		}
		for i, s := range every {
			ps := PullSource{Reference: s.Reference.String(), Mirror: i < len(reg.Mirrors), Used: true}
			if ps.Mirror {
				// Whether containers/image tries this mirror, asked of it one mirror at a time:
				// one location can appear twice (digest-only from an IDMS, tag-only from an
				// ITMS), so the rewritten reference does not tell the two apart.
				used, err := triesMirror(reg, i, named)
				if err != nil {
					return err
				}
				if !used {
					ps.Used = false
					ps.Why = skipReason(reg, reg.Mirrors[i], digested)
					res.Sources = append(res.Sources, ps)
					continue
				}
			}
			ep, err := sysregistriesv2.FindRegistry(sys, s.Reference.Name())
			if err != nil {
				return err
			}
			// containers/image connects to each endpoint with that endpoint's own insecure
			// setting (the source's is its [[registry]] entry's), whatever another entry
			// matching the rewritten reference says; blocked, though, it takes from the entry
			// that matches the rewritten reference.
			ps.Insecure = s.Endpoint.Insecure
			if ep != nil {
				ps.Blocked = ep.Blocked
			}
			switch {
			case ps.Blocked && ps.Mirror:
				ps.Used = false
				ps.Why = fmt.Sprintf("blocked: the [[registry]] entry %s is blocked", ep.Prefix)
			case ps.Blocked:
				ps.Used = false
				ps.Why = "blocked: the source is never contacted (NeverContactSource or blockedRegistries)"
			case ps.Mirror:
				ps.Why = fmt.Sprintf("mirror %d of %s", i+1, reg.Prefix)
			default:
				ps.Why = "the source, tried after every mirror"
			}
			res.Sources = append(res.Sources, ps)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return res, nil
}

// triesMirror reports whether containers/image tries mirror i of reg for ref.
func triesMirror(reg *sysregistriesv2.Registry, i int, ref reference.Named) (bool, error) {
	one := *reg
	one.Mirrors = []sysregistriesv2.Endpoint{reg.Mirrors[i]}
	sources, err := one.PullSourcesFromReference(ref)
	if err != nil {
		return false, err
	}
	return len(sources) > 1, nil // the source itself is always last
}

func skipReason(reg *sysregistriesv2.Registry, m sysregistriesv2.Endpoint, digested bool) string {
	switch {
	case reg.MirrorByDigestOnly && !digested:
		return "skipped: mirror-by-digest-only, and this is a tag reference"
	case m.PullFromMirror == sysregistriesv2.MirrorByDigestOnly && !digested:
		return "skipped: digest-only mirror, and this is a tag reference"
	case m.PullFromMirror == sysregistriesv2.MirrorByTagOnly && digested:
		return "skipped: tag-only mirror, and this is a digest reference"
	}
	return "skipped"
}
