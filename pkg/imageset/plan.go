package imageset

import (
	"context"
	"fmt"
	"net/http"
	"strings"

	"github.com/blang/semver/v4"

	"github.com/airgap-ocp/oc-plugins/pkg/plan"
	"github.com/airgap-ocp/oc-plugins/pkg/release"
	"github.com/airgap-ocp/oc-plugins/pkg/retry"
)

// ReleasePath is where release payloads go below the destination, as
// oc-mirror v2 puts them.
const ReleasePath = "openshift/release"

// Resolver reads what the platform section names: the update graph, and
// each release payload it selects.
type Resolver struct {
	HTTP  *http.Client
	Retry retry.Policy
	// Payload reads a release payload; nil without error leaves that
	// release out (a delete reading the mirror, where it is gone already).
	Payload func(ctx context.Context, pullSpec string) (*release.Payload, error)
}

// Plan builds the plan of c: the releases the channels select in the update
// graph, then the additional images; what mirror.blockedImages matches
// (by source, or by destination, whose tag names a release component, as
// oc-mirror matches) is left out and returned. Bad input is an *Error.
func (c *Config) Plan(ctx context.Context, r Resolver) (*plan.Plan, []plan.Item, error) {
	p := &plan.Plan{}
	seen := map[string]bool{}
	for i, ch := range c.Channels {
		for _, a := range c.arches() {
			arch, err := release.GraphArch(a)
			if err != nil {
				return nil, nil, &Error{File: c.file, Field: "mirror.platform.architectures", Msg: err.Error()}
			}
			g, err := release.FetchGraph(ctx, r.HTTP, release.GraphURL(ch.Type), ch.Name, arch, r.Retry)
			if err != nil {
				return nil, nil, err
			}
			nodes, err := g.Select(release.Selection{MinVersion: ch.MinVersion, MaxVersion: ch.MaxVersion, ShortestPath: ch.ShortestPath, Full: ch.Full})
			if err != nil {
				return nil, nil, &Error{File: c.file, Field: fmt.Sprintf("mirror.platform.channels[%d]", i), Msg: fmt.Sprintf("%s, %s: %v", ch.Name, arch, err)}
			}
			for _, n := range nodes {
				if seen[n.Payload] {
					continue
				}
				seen[n.Payload] = true
				payload, err := r.Payload(ctx, n.Payload)
				if err != nil {
					return nil, nil, err
				}
				if payload == nil {
					continue
				}
				rp, err := payload.Plan(ReleasePath, "")
				if err != nil {
					return nil, nil, err
				}
				if err := p.Merge(rp); err != nil {
					return nil, nil, err
				}
			}
		}
	}
	for i, ai := range c.AdditionalImages {
		it, err := additionalItem(ai)
		if err != nil {
			return nil, nil, &Error{File: c.file, Field: fmt.Sprintf("mirror.additionalImages[%d].name", i), Msg: err.Error()}
		}
		it.Origin = fmt.Sprintf("%s mirror.additionalImages[%d]", c.file, i)
		if err := p.Add(it); err != nil {
			return nil, nil, &Error{File: c.file, Field: fmt.Sprintf("mirror.additionalImages[%d]", i), Msg: err.Error()}
		}
	}
	return c.unblocked(p)
}

func (c *Config) arches() []string {
	if len(c.Architectures) == 0 {
		return []string{"amd64"}
	}
	return c.Architectures
}

func additionalItem(ai AdditionalImage) (plan.Item, error) {
	it, err := plan.ImageItem(ai.Name, plan.Image, "")
	if err != nil {
		return plan.Item{}, err
	}
	if ai.TargetRepo != "" {
		it.Path = ai.TargetRepo
	}
	if ai.TargetTag != "" {
		it.Tag = ai.TargetTag
	}
	return it, nil
}

// BlocksItem reports whether mirror.blockedImages matches it, by its
// source or by its destination below the root.
func (c *Config) BlocksItem(it plan.Item) bool {
	return c.Blocks(it.Source) || c.Blocks(it.Path+":"+it.Tag)
}

// unblocked is p without the items c blocks (and without a release whose
// release image is blocked), and the items left out.
func (c *Config) unblocked(p *plan.Plan) (*plan.Plan, []plan.Item, error) {
	out := &plan.Plan{Merged: p.Merged}
	var blocked []plan.Item
	for _, it := range p.Items {
		if c.BlocksItem(it) {
			blocked = append(blocked, it)
			continue
		}
		if err := out.Add(it); err != nil {
			return nil, nil, err
		}
	}
	for _, r := range p.Releases {
		if _, ok := out.ReleaseItem(r); ok {
			out.Releases = append(out.Releases, r)
		}
	}
	if len(out.Releases) == 1 && len(c.AdditionalImages) == 0 {
		out.Name = "release-" + out.Releases[0].Version + out.Releases[0].ArchExt
	}
	return out, blocked, nil
}

// Select is the part of an archive's plan that c asks for: the releases of
// its channels (by version range, architecture and the channel's minor
// version; an enclave has no update graph to ask) with their components and
// signatures, and its additional images, less what it blocks. What c asks
// for and the archive lacks is an *Error naming the field. Catalogs are
// not selected here: the archived catalogs must be read and filtered again
// to know which bundles mirror.operators keeps.
func (c *Config) Select(archived *plan.Plan) (*plan.Plan, []plan.Item, error) {
	picked := &plan.Plan{Merged: archived.Merged}
	keep := map[int]bool{}
	for i, ch := range c.Channels {
		found := false
		for _, r := range archived.Releases {
			if !c.inChannel(ch, r) {
				continue
			}
			rel, ok := archived.ReleaseItem(r)
			if !ok {
				continue
			}
			found = true
			for j, it := range archived.Items {
				if (it.Path == rel.Path || laidOutForGraph(it)) && (it.Tag == r.Tag || strings.HasPrefix(it.Tag, r.Tag+"-")) {
					keep[j] = true
				}
			}
			picked.Releases = append(picked.Releases, r)
		}
		if !found {
			return nil, nil, &Error{File: c.file, Field: fmt.Sprintf("mirror.platform.channels[%d]", i),
				Msg: fmt.Sprintf("%s: the archive holds no release of this channel in %v within the versions asked for", ch.Name, c.arches())}
		}
	}
	for i, ai := range c.AdditionalImages {
		want, err := additionalItem(ai)
		if err != nil {
			return nil, nil, &Error{File: c.file, Field: fmt.Sprintf("mirror.additionalImages[%d].name", i), Msg: err.Error()}
		}
		found := false
		for j, it := range archived.Items {
			if it.Source == want.Source {
				keep[j], found = true, true
			}
		}
		if !found {
			return nil, nil, &Error{File: c.file, Field: fmt.Sprintf("mirror.additionalImages[%d]", i), Msg: fmt.Sprintf("%s is not in the archive", want.Source)}
		}
	}
	if err := c.selectGraph(archived, keep); err != nil {
		return nil, nil, err
	}
	// A sigstore signature goes with the image it signs.
	for j, it := range archived.Items {
		if strings.HasSuffix(it.Tag, ".sig") {
			for k, parent := range archived.Items {
				if keep[k] && parent.Digest != "" && it.Tag == strings.Replace(parent.Digest.String(), ":", "-", 1)+".sig" && it.Path == parent.Path {
					keep[j] = true
				}
			}
		}
	}
	for j, it := range archived.Items {
		if keep[j] {
			if err := picked.Add(it); err != nil {
				return nil, nil, err
			}
		}
	}
	picked.Name = archived.Name
	out, blocked, err := c.unblocked(picked)
	if err != nil {
		return nil, nil, err
	}
	if out.Name == "" {
		out.Name = archived.Name
	}
	return out, blocked, nil
}

// inChannel reports whether release r belongs to channel ch as the archive
// can tell: its minor version is the channel's, its version within the
// channel's range, and its architecture one asked for.
func (c *Config) inChannel(ch Channel, r plan.Release) bool {
	v, err := semver.Parse(r.Version)
	if err != nil {
		return false
	}
	if i := strings.LastIndex(ch.Name, "-"); i >= 0 && ch.Name[i+1:] != fmt.Sprintf("%d.%d", v.Major, v.Minor) {
		return false
	}
	if ch.MinVersion != "" && v.LT(semver.MustParse(ch.MinVersion)) || ch.MaxVersion != "" && v.GT(semver.MustParse(ch.MaxVersion)) {
		return false
	}
	for _, a := range c.arches() {
		if n, err := release.NormalizeArch(a); err == nil && "-"+n == r.ArchExt {
			return true
		}
	}
	return false
}
