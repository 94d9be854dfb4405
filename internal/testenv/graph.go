package testenv

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
)

// GraphRelease is one release of a channel a GraphServer serves.
type GraphRelease struct {
	Version string
	// Payload is the release image pull spec (by digest, as the real
	// service gives it).
	Payload string
}

// GraphChannel is one channel of a GraphServer, for one architecture.
type GraphChannel struct {
	Name, Arch string
	Releases   []GraphRelease
	// Edges are upgrades between Releases, by version: {"4.16.1", "4.16.3"}.
	Edges [][2]string
}

// GraphServer is a local update graph service (the Cincinnati API oc-mirror
// reads at api.openshift.com, or an enclave's own behind
// UPDATE_URL_OVERRIDE): GET URL?channel=C&arch=A with Accept:
// application/json answers {"nodes": [...], "edges": [[from, to], ...]}.
type GraphServer struct {
	// URL is the graph endpoint to set UPDATE_URL_OVERRIDE to.
	URL string

	mu       sync.Mutex
	requests []string
}

// StartGraph serves channels until the test ends.
func StartGraph(t testing.TB, channels ...GraphChannel) *GraphServer {
	t.Helper()
	g := &GraphServer{}
	mux := http.NewServeMux()
	mux.HandleFunc("/api/upgrades_info/v1/graph", func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		g.mu.Lock()
		g.requests = append(g.requests, q.Get("channel")+"/"+q.Get("arch"))
		g.mu.Unlock()
		if r.Header.Get("Accept") != "application/json" {
			http.Error(w, "want Accept: application/json", http.StatusBadRequest)
			return
		}
		for _, c := range channels {
			if c.Name != q.Get("channel") || c.Arch != q.Get("arch") {
				continue
			}
			type node struct {
				Version  string            `json:"version"`
				Payload  string            `json:"payload"`
				Metadata map[string]string `json:"metadata"`
			}
			out := struct {
				Nodes []node  `json:"nodes"`
				Edges [][]int `json:"edges"`
			}{Nodes: []node{}, Edges: [][]int{}}
			at := map[string]int{}
			for i, rel := range c.Releases {
				at[rel.Version] = i
				out.Nodes = append(out.Nodes, node{Version: rel.Version, Payload: rel.Payload,
					Metadata: map[string]string{"io.openshift.upgrades.graph.release.channels": c.Name}})
			}
			for _, e := range c.Edges {
				out.Edges = append(out.Edges, []int{at[e[0]], at[e[1]]})
			}
			w.Header().Set("Content-Type", "application/json")
			_ = json.NewEncoder(w).Encode(out)
			return
		}
		// The real service answers an unknown channel with an empty graph.
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"nodes":[],"edges":[]}`))
	})
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	g.URL = srv.URL + "/api/upgrades_info/v1/graph"
	return g
}

// Requests are the channel/arch pairs asked for so far.
func (g *GraphServer) Requests() []string {
	g.mu.Lock()
	defer g.mu.Unlock()
	return append([]string(nil), g.requests...)
}
