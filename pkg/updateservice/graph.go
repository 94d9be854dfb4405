package updateservice

import (
	"github.com/blang/semver/v4"

	"github.com/airgap-ocp/oc-plugins/pkg/release"
)

// Offer is what an update graph says about updating from one version to another.
type Offer struct {
	// FromFound, ToFound: the graph holds the version.
	FromFound, ToFound bool
	// Path is the shortest chain of updates, by version, from one to the
	// other (both included); nil when there is none.
	Path []string
	// Payload is the release image the graph gives for the target.
	Payload string
}

// Direct reports whether the target is one update away: only these does the
// Cluster Version Operator list in availableUpdates.
func (o Offer) Direct() bool { return len(o.Path) == 2 }

// Offers reads what g offers from version from to version to.
func Offers(g *release.Graph, from, to string) Offer {
	var o Offer
	fi, ti := g.Index(from), g.Index(to)
	o.FromFound, o.ToFound = fi >= 0, ti >= 0
	if ti >= 0 {
		o.Payload = g.Nodes[ti].Payload
	}
	if fi < 0 || ti < 0 {
		return o
	}
	for _, n := range g.ShortestPath(fi, ti) {
		o.Path = append(o.Path, g.Nodes[n].Version)
	}
	return o
}

// Newest returns the highest version reachable from from in g, or "" when
// none is.
func Newest(g *release.Graph, from string) string {
	fi := g.Index(from)
	if fi < 0 {
		return ""
	}
	var newest *semver.Version
	for n := range g.Reachable(fi) {
		v, err := semver.Parse(g.Nodes[n].Version)
		if n == fi || err != nil {
			continue
		}
		if newest == nil || v.GT(*newest) {
			newest = &v
		}
	}
	if newest == nil {
		return ""
	}
	return newest.String()
}
