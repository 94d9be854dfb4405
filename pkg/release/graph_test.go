package release_test

import (
	"context"
	"slices"
	"strings"
	"testing"

	"github.com/airgap-ocp/oc-plugins/internal/testenv"
	"github.com/airgap-ocp/oc-plugins/pkg/release"
	"github.com/airgap-ocp/oc-plugins/pkg/retry"
)

func versions(nodes []release.Node) string {
	var vs []string
	for _, n := range nodes {
		vs = append(vs, n.Version)
	}
	return strings.Join(vs, " ")
}

func TestGraphSelection(t *testing.T) {
	srv := testenv.StartGraph(t, testenv.GraphChannel{
		Name: "stable-4.16", Arch: "amd64",
		Releases: []testenv.GraphRelease{
			{Version: "4.16.3", Payload: "r/x@sha256:3"}, {Version: "4.16.0", Payload: "r/x@sha256:0"},
			{Version: "4.16.1", Payload: "r/x@sha256:1"}, {Version: "4.16.2", Payload: "r/x@sha256:2"},
			{Version: "4.16.10", Payload: "r/x@sha256:10"},
		},
		Edges: [][2]string{{"4.16.0", "4.16.1"}, {"4.16.1", "4.16.2"}, {"4.16.2", "4.16.3"}, {"4.16.0", "4.16.2"}, {"4.16.3", "4.16.10"}, {"4.16.2", "4.16.10"}},
	})
	t.Setenv(release.GraphURLEnv, srv.URL)
	g, err := release.FetchGraph(context.Background(), nil, release.GraphURL("ocp"), "stable-4.16", "amd64", retry.Policy{})
	if err != nil {
		t.Fatal(err)
	}
	if got := srv.Requests(); !slices.Equal(got, []string{"stable-4.16/amd64"}) {
		t.Errorf("the graph server was asked %v", got)
	}
	for _, tc := range []struct {
		name string
		sel  release.Selection
		want string
	}{
		{"no range is the head of the channel (semver, not string order)", release.Selection{}, "4.16.10"},
		{"full takes the whole channel", release.Selection{Full: true}, "4.16.0 4.16.1 4.16.2 4.16.3 4.16.10"},
		{"a range takes every version in it", release.Selection{MinVersion: "4.16.1", MaxVersion: "4.16.3"}, "4.16.1 4.16.2 4.16.3"},
		{"minVersion alone runs to the head", release.Selection{MinVersion: "4.16.3"}, "4.16.3 4.16.10"},
		{"shortestPath follows the upgrade edges", release.Selection{MinVersion: "4.16.0", MaxVersion: "4.16.10", ShortestPath: true}, "4.16.0 4.16.2 4.16.10"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := g.Select(tc.sel)
			if err != nil {
				t.Fatal(err)
			}
			if versions(got) != tc.want {
				t.Errorf("got %s, want %s", versions(got), tc.want)
			}
		})
	}
	if _, err := g.Select(release.Selection{MinVersion: "4.16.10", MaxVersion: "4.16.0", ShortestPath: true}); err == nil {
		t.Error("an inverted range is accepted")
	}
	if _, err := g.Select(release.Selection{MinVersion: "4.16.3", MaxVersion: "4.16.1"}); err == nil {
		t.Error("min above max is accepted")
	}
}

func TestGraphURLOverride(t *testing.T) {
	t.Setenv(release.GraphURLEnv, "")
	if release.GraphURL("ocp") != release.OCPGraphURL || release.GraphURL("okd") != release.OKDGraphURL {
		t.Error("default graph URLs")
	}
	t.Setenv(release.GraphURLEnv, "https://graph.enclave.example/graph")
	if release.GraphURL("okd") != "https://graph.enclave.example/graph" {
		t.Error("UPDATE_URL_OVERRIDE is not honoured")
	}
}
