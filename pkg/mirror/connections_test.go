package mirror_test

import (
	"context"
	"testing"

	"github.com/airgap-ocp/oc-plugins/internal/testenv"
	"github.com/airgap-ocp/oc-plugins/pkg/mirror"
)

// Each TLS connection is a handshake for the registry: a mirror must keep the connections its
// clients open, not drop and open them again under load. Per containers/image client that is
// one for its API ping (whose response it closes unread, and the connection with it) and one
// for each request it has in flight, at most two at once (pool.go); a few more are opened
// while a connection is being handed back between short requests. Sharing one client per
// repository among eight workers, a run opened 44 connections to the source for 2 clients
// and 197 to the destination for 42 here.
func TestMirrorKeepsItsConnections(t *testing.T) {
	ctx := context.Background()
	src := testenv.StartRegistry(t)
	dst := testenv.StartRegistry(t)
	rel := src.PushRelease(t, testenv.ReleaseSpec{Version: "4.16.3"})
	sys := testenv.CombinedSystemContext(t, src, dst)
	images, _ := releaseImages(t, sys, rel, dst.Ref("mirror/ocp"))

	src.Traffic().Reset()
	dst.Traffic().Reset()
	res := mirror.Copy(ctx, images, mirror.Options{SourceCtx: sys, DestCtx: sys, Parallel: 8})
	checkAllCopied(t, res, mirror.StatusCopied)
	for _, reg := range sides(src, dst) {
		requests, pings := reg.r.Traffic().Requests()
		conns := reg.r.Traffic().Connections()
		t.Logf("%s: %d connections, %d clients, %d requests", reg.name, conns, pings, requests)
		if conns > 3*pings+10 {
			t.Errorf("%s: %d connections for %d clients (%d requests), want at most three per client and a few",
				reg.name, conns, pings, requests)
		}
	}
}
