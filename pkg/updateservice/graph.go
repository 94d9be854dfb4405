package updateservice

import (
	"sort"

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
	at := map[string]int{}
	for i, n := range g.Nodes {
		at[n.Version] = i
	}
	fi, okFrom := at[from]
	ti, okTo := at[to]
	o.FromFound, o.ToFound = okFrom, okTo
	if okTo {
		o.Payload = g.Nodes[ti].Payload
	}
	if !okFrom || !okTo {
		return o
	}
	next := map[int][]int{}
	for _, e := range g.Edges {
		next[e[0]] = append(next[e[0]], e[1])
	}
	prev := map[int]int{fi: -1}
	queue := []int{fi}
	for len(queue) > 0 {
		n := queue[0]
		queue = queue[1:]
		if n == ti {
			for ; n != -1; n = prev[n] {
				o.Path = append([]string{g.Nodes[n].Version}, o.Path...)
			}
			return o
		}
		for _, m := range next[n] {
			if _, seen := prev[m]; !seen {
				prev[m] = n
				queue = append(queue, m)
			}
		}
	}
	return o
}

// Newest returns the highest version reachable from from in g, or "" when
// none is.
func Newest(g *release.Graph, from string) string {
	var versions []semver.Version
	for _, n := range g.Nodes {
		if n.Version == from {
			continue
		}
		if o := Offers(g, from, n.Version); o.Path != nil {
			if v, err := semver.Parse(n.Version); err == nil {
				versions = append(versions, v)
			}
		}
	}
	if len(versions) == 0 {
		return ""
	}
	sort.Slice(versions, func(i, j int) bool { return versions[i].LT(versions[j]) })
	return versions[len(versions)-1].String()
}
