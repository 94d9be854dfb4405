package release

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"sort"

	"github.com/blang/semver/v4"

	"github.com/airgap-ocp/oc-plugins/pkg/retry"
)

// The update graph (Cincinnati) services that list releases by channel.
const (
	OCPGraphURL = "https://api.openshift.com/api/upgrades_info/v1/graph"
	OKDGraphURL = "https://amd64.origin.releases.ci.openshift.org/graph"
	// GraphURLEnv overrides both, as oc-mirror lets enclaves do.
	GraphURLEnv = "UPDATE_URL_OVERRIDE"
)

// GraphURL is the update graph service for a channel type (ocp or okd).
func GraphURL(channelType string) string {
	if u := os.Getenv(GraphURLEnv); u != "" {
		return u
	}
	if channelType == "okd" {
		return OKDGraphURL
	}
	return OCPGraphURL
}

// GraphArch is the architecture as the update graph spells it (amd64,
// arm64, ppc64le, s390x, multi).
func GraphArch(arch string) (string, error) {
	a, err := NormalizeArch(arch)
	if err != nil {
		return "", err
	}
	switch a {
	case "x86_64":
		return "amd64", nil
	case "aarch64":
		return "arm64", nil
	}
	return a, nil
}

// Graph is a channel's update graph.
type Graph struct {
	Nodes []Node `json:"nodes"`
	// Edges are upgrades, from node index to node index.
	Edges [][2]int `json:"edges"`
}

// Node is one release of a graph.
type Node struct {
	Version  string            `json:"version"`
	Payload  string            `json:"payload"`
	Metadata map[string]string `json:"metadata,omitempty"`
}

const maxGraph = 64 << 20

// FetchGraph reads the update graph of channel for arch from base (see
// GraphURL), retrying transient failures.
func FetchGraph(ctx context.Context, client *http.Client, base, channel, arch string, policy retry.Policy) (*Graph, error) {
	u, err := url.Parse(base)
	if err != nil {
		return nil, fmt.Errorf("update graph URL %q: %w", base, err)
	}
	q := u.Query()
	q.Set("channel", channel)
	q.Set("arch", arch)
	u.RawQuery = q.Encode()
	var g Graph
	data, err := retry.Get(ctx, client, policy, u.String(), "application/json", maxGraph)
	if err == nil {
		if err = json.Unmarshal(data, &g); err != nil {
			err = fmt.Errorf("not an update graph: %w", err)
		}
	}
	if err != nil {
		return nil, fmt.Errorf("reading the update graph of channel %s (%s) from %s: %w", channel, arch, u.Redacted(), err)
	}
	for i, e := range g.Edges {
		if e[0] < 0 || e[0] >= len(g.Nodes) || e[1] < 0 || e[1] >= len(g.Nodes) {
			return nil, fmt.Errorf("update graph of channel %s: edge %d points outside the %d nodes", channel, i, len(g.Nodes))
		}
	}
	return &g, nil
}

// Selection says which releases of a channel to take.
type Selection struct {
	// MinVersion and MaxVersion bound the range ("" for open ends).
	MinVersion, MaxVersion string
	// ShortestPath takes the shortest upgrade path from the lowest to the
	// highest version of the range instead of every version in it.
	ShortestPath bool
	// Full takes every release of the channel when no range is given;
	// without it (and without a range) only the head of the channel.
	Full bool
}

// Select returns the releases the selection names, by version.
func (g *Graph) Select(s Selection) ([]Node, error) {
	type vnode struct {
		v semver.Version
		i int
	}
	var nodes []vnode
	for i, n := range g.Nodes {
		v, err := semver.Parse(n.Version)
		if err != nil {
			return nil, fmt.Errorf("update graph node %d: version %q: %w", i, n.Version, err)
		}
		nodes = append(nodes, vnode{v, i})
	}
	if len(nodes) == 0 {
		return nil, errors.New("the channel has no releases")
	}
	sort.Slice(nodes, func(i, j int) bool { return nodes[i].v.LT(nodes[j].v) })
	lo, hi := nodes[0].v, nodes[len(nodes)-1].v
	ranged := s.MinVersion != "" || s.MaxVersion != ""
	var err error
	if s.MinVersion != "" {
		if lo, err = semver.Parse(s.MinVersion); err != nil {
			return nil, fmt.Errorf("minVersion %q: %w", s.MinVersion, err)
		}
	}
	if s.MaxVersion != "" {
		if hi, err = semver.Parse(s.MaxVersion); err != nil {
			return nil, fmt.Errorf("maxVersion %q: %w", s.MaxVersion, err)
		}
	}
	if lo.GT(hi) {
		return nil, fmt.Errorf("minVersion %s is above maxVersion %s", lo, hi)
	}
	var out []Node
	switch {
	case !ranged && !s.Full:
		out = []Node{g.Nodes[nodes[len(nodes)-1].i]}
	case s.ShortestPath:
		from, to := -1, -1
		for _, n := range nodes {
			if n.v.EQ(lo) || (s.MinVersion == "" && from < 0) {
				from = n.i
			}
			if n.v.EQ(hi) {
				to = n.i
			}
		}
		if from < 0 || to < 0 {
			return nil, fmt.Errorf("the channel does not hold both %s and %s", lo, hi)
		}
		path := g.ShortestPath(from, to)
		if path == nil {
			return nil, fmt.Errorf("the channel has no upgrade path from %s to %s", lo, hi)
		}
		for _, i := range path {
			out = append(out, g.Nodes[i])
		}
	default:
		for _, n := range nodes {
			if n.v.GTE(lo) && n.v.LTE(hi) {
				out = append(out, g.Nodes[n.i])
			}
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("no release of the channel between %s and %s", lo, hi)
	}
	return out, nil
}

// Index is the node of version, or -1.
func (g *Graph) Index(version string) int {
	for i, n := range g.Nodes {
		if n.Version == version {
			return i
		}
	}
	return -1
}

// Reachable walks the upgrade edges breadth first from node start: each
// node reached maps to the node it was first reached from (start to -1),
// so following the map back from a node gives a shortest path to it.
// Edges are taken in node order, so the path is the same on every run.
func (g *Graph) Reachable(start int) map[int]int {
	next := map[int][]int{}
	for _, e := range g.Edges {
		next[e[0]] = append(next[e[0]], e[1])
	}
	for k := range next {
		sort.Ints(next[k])
	}
	prev := map[int]int{start: -1}
	for queue := []int{start}; len(queue) > 0; queue = queue[1:] {
		for _, m := range next[queue[0]] {
			if _, seen := prev[m]; !seen {
				prev[m] = queue[0]
				queue = append(queue, m)
			}
		}
	}
	return prev
}

// ShortestPath is the shortest chain of updates from node from to node to,
// both included, or nil when there is none.
func (g *Graph) ShortestPath(from, to int) []int {
	prev := g.Reachable(from)
	if _, ok := prev[to]; !ok {
		return nil
	}
	var path []int
	for n := to; n != -1; n = prev[n] {
		path = append([]int{n}, path...)
	}
	return path
}
