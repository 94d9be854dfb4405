package testenv

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"crypto/tls"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"sort"
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
	// Base is URL without the graph path: what an UpdateService's
	// status.policyEngineURI holds.
	Base string
	// CAPEM is the CA that signed the server's certificate, for a server
	// StartGraphTLS started; nil for plain HTTP.
	CAPEM []byte

	mu       sync.Mutex
	requests []string
}

// StartGraph serves channels over plain HTTP until the test ends.
func StartGraph(t testing.TB, channels ...GraphChannel) *GraphServer {
	t.Helper()
	g := &GraphServer{}
	srv := httptest.NewServer(g.handler(channels))
	t.Cleanup(srv.Close)
	g.Base = srv.URL
	g.URL = srv.URL + GraphPath
	return g
}

// StartGraphTLS serves channels over HTTPS, with a certificate for
// 127.0.0.1 signed by a CA of its own (CAPEM), as an update service's
// policy engine behind its route does, until the test ends.
func StartGraphTLS(t testing.TB, channels ...GraphChannel) *GraphServer {
	t.Helper()
	certs, err := newServerCerts("graph")
	if err != nil {
		t.Fatalf("graph server certificates: %v", err)
	}
	g := &GraphServer{CAPEM: certs.caPEM}
	srv := httptest.NewUnstartedServer(g.handler(channels))
	srv.TLS = &tls.Config{Certificates: []tls.Certificate{certs.cert}, MinVersion: tls.VersionTLS12}
	srv.StartTLS()
	t.Cleanup(srv.Close)
	g.Base = srv.URL
	g.URL = srv.URL + GraphPath
	return g
}

// GraphPath is where the update graph API answers, below a policy engine's URI.
const GraphPath = "/api/upgrades_info/v1/graph"

func (g *GraphServer) handler(channels []GraphChannel) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("/api/upgrades_info/graph-data", func(w http.ResponseWriter, r *http.Request) {
		g.mu.Lock()
		g.requests = append(g.requests, "graph-data")
		g.mu.Unlock()
		w.Header().Set("Content-Type", "application/gzip")
		_, _ = w.Write(GraphData)
	})
	mux.HandleFunc(GraphPath, func(w http.ResponseWriter, r *http.Request) {
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
	return mux
}

// GraphData is a small graph-data tarball, as Red Hat publishes it at
// api.openshift.com/api/upgrades_info/graph-data (a gzipped tar of the
// cincinnati-graph-data repository), which graph servers serve too.
var GraphData = mustGraphData()

// GraphDataFiles are the files of GraphData.
var GraphDataFiles = map[string]string{
	"version":                       "1.0.0\n",
	"channels/stable-4.16.yaml":     "name: stable-4.16\nversions:\n- 4.16.1\n- 4.16.3\n",
	"blocked-edges/4.16.2-bug.yaml": "to: 4.16.2\nfrom: .*\nurl: https://example.com/bug\nname: Bug\nmessage: a bug\n",
}

func mustGraphData() []byte {
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	tw := tar.NewWriter(zw)
	for _, d := range []string{"channels/", "blocked-edges/"} {
		if err := tw.WriteHeader(&tar.Header{Name: d, Typeflag: tar.TypeDir, Mode: 0o755}); err != nil {
			panic(err)
		}
	}
	names := make([]string, 0, len(GraphDataFiles))
	for n := range GraphDataFiles {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		data := GraphDataFiles[n]
		if err := tw.WriteHeader(&tar.Header{Name: n, Typeflag: tar.TypeReg, Mode: 0o644, Size: int64(len(data))}); err != nil {
			panic(err)
		}
		if _, err := tw.Write([]byte(data)); err != nil {
			panic(err)
		}
	}
	if err := tw.Close(); err != nil {
		panic(err)
	}
	if err := zw.Close(); err != nil {
		panic(err)
	}
	return buf.Bytes()
}

// GraphBaseImage stands for the base image the graph-data image is built
// on (a UBI image): a shell and cp, by name only.
var GraphBaseImage = Image{
	Layers: []Layer{{Files: []File{{Name: "bin/bash", Data: []byte("#!shell\n"), Mode: 0o755}, {Name: "bin/cp", Data: []byte("#!cp\n"), Mode: 0o755}}}},
	Env:    []string{"PATH=/usr/bin:/bin"},
	Cmd:    []string{"/bin/bash"},
}

// Requests are the channel/arch pairs asked for so far.
func (g *GraphServer) Requests() []string {
	g.mu.Lock()
	defer g.mu.Unlock()
	return append([]string(nil), g.requests...)
}
