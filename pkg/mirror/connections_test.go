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
// while a connection is being handed back between short requests. The kept client reads blobs
// over a connection per blob worker (exists.go, bulk), kept from one blob to the next. Sharing
// one client per repository among eight workers, a run opened 44 connections to the source
// for 2 clients and 197 to the destination for 42 here; reading blobs through the kept client,
// 17 to the source (one client).
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
		// Blob workers: 8 transfers and 8 small blobs (Options.Parallel).
		if want := 3*pings + 2*8 + 2; conns > want {
			t.Errorf("%s: %d connections for %d clients (%d requests), want at most %d: three per client and one per blob worker",
				reg.name, conns, pings, requests, want)
		}
	}
}

// A registry that speaks only HTTP/1.1 needs a connection per request in
// flight: a re-run's checks, which go out by the hundred where one HTTP/2
// connection carries them, must open no more than MaxCheckConns there.
func TestChecksOpenBoundedConnectionsToAnHTTP1Registry(t *testing.T) {
	src := testenv.StartRegistry(t)
	dst := testenv.StartRegistry(t, testenv.WithHTTP1Only())
	rel := src.PushRelease(t, testenv.ReleaseSpec{Version: "4.16.3"})
	sys := testenv.CombinedSystemContext(t, src, dst)
	a, _ := releaseImages(t, sys, rel, dst.Ref("mirror/a"))
	b, _ := releaseImages(t, sys, rel, dst.Ref("mirror/b"))
	images := append(a, b...)
	if len(images) <= mirror.MaxCheckConns {
		t.Fatalf("%d images: too few to need more than %d connections", len(images), mirror.MaxCheckConns)
	}

	rerun(t, src, dst, images, mirror.Options{SourceCtx: sys, DestCtx: sys})
	requests, _ := dst.Traffic().Requests()
	conns := dst.Traffic().Connections()
	t.Logf("%d images re-run: %d requests, %d connections", len(images), requests, conns)
	if conns > mirror.MaxCheckConns {
		t.Errorf("the re-run opened %d connections to an HTTP/1.1 registry, want at most %d", conns, mirror.MaxCheckConns)
	}
}
