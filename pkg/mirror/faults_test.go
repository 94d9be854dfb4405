package mirror_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	digest "github.com/opencontainers/go-digest"

	"github.com/airgap-ocp/oc-plugins/internal/testenv"
	"github.com/airgap-ocp/oc-plugins/pkg/mirror"
	"github.com/airgap-ocp/oc-plugins/pkg/retry"
)

// oneImage pushes an image of one 256 KiB layer to src and returns the
// engine's image for copying it through dst (a registry or a proxy's view).
func oneImage(t *testing.T, src, dst *testenv.Registry) mirror.Image {
	t.Helper()
	src.MustPushImage(t, "apps/a:v1", testenv.Image{Layers: []testenv.Layer{{Files: []testenv.File{{Name: "a", Data: testenv.PseudoRandom("a", 256<<10)}}}}})
	return mirror.Image{Source: ref(t, src.Ref("apps/a:v1")), Dest: ref(t, dst.Ref("mirror/a:v1"))}
}

// planned fails the n-th request of kind k (from 1) with fault f.
type planned map[testenv.Kind]map[int]testenv.Fault

func (p planned) plan(k testenv.Kind, n int) testenv.Fault { return p[k][n] }

// TestMirrorUploadRetriesEachStepOnItsOwn is the deterministic form of a
// flake: a blob upload is several requests (HEAD, POST, PATCH, PUT) that can
// only be repeated whole, and with faults landing on a different request
// each time (a 503 on the POST, a reset mid-PATCH twice, a 500 on the PUT)
// five attempts fail in all although no single request failed three times.
// With a policy of three attempts the upload must still complete; resetting
// every PATCH must still give up, after exactly three tries of each blob.
func TestMirrorUploadRetriesEachStepOnItsOwn(t *testing.T) {
	src := testenv.StartRegistry(t)
	dst := testenv.StartRegistry(t)
	policy := retry.Policy{Attempts: 3, Base: time.Millisecond, Max: 5 * time.Millisecond}

	proxy := dst.StartFaultProxy(t, testenv.Faults{Plan: planned{
		testenv.UploadStart:  {1: testenv.Unavailable},
		testenv.UploadData:   {1: testenv.Reset, 2: testenv.Reset},
		testenv.UploadFinish: {1: testenv.InternalError},
	}.plan})
	img := oneImage(t, src, proxy.Registry())
	sys := testenv.CombinedSystemContext(t, src, proxy.Registry())
	res := mirror.Copy(context.Background(), []mirror.Image{img}, mirror.Options{SourceCtx: sys, DestCtx: sys, Parallel: 1, Retry: policy})
	checkAllCopied(t, res, mirror.StatusCopied)
	if got := proxy.Resets.Load(); got != 2 {
		t.Errorf("%d uploads reset, want the planned 2", got)
	}
	if got := proxy.Errors.Load(); got != 2 {
		t.Errorf("%d 5xx answered, want the planned 2", got)
	}
	direct := dst.Ref("mirror/a:v1")
	if got, want := destDigest(t, dst.SystemContext(), direct), destDigest(t, src.SystemContext(), src.Ref("apps/a:v1")); got != want {
		t.Errorf("%s serves %s, want %s", direct, got, want)
	}

	// A registry that resets every upload: three tries of the PATCH, then a
	// clean failure naming the destination, and no manifest pushed.
	dst2 := testenv.StartRegistry(t)
	always := dst2.StartFaultProxy(t, testenv.Faults{ResetBlobEvery: 1})
	sys2 := testenv.CombinedSystemContext(t, src, always.Registry())
	img.Dest = ref(t, always.Ref("mirror/a:v1"))
	res = mirror.Copy(context.Background(), []mirror.Image{img}, mirror.Options{SourceCtx: sys2, DestCtx: sys2, Parallel: 1, Retry: policy})
	err := res.Err()
	if err == nil {
		t.Fatal("a mirror through a registry that resets every upload succeeded")
	}
	if got, want := always.Resets.Load(), int64(2*policy.Attempts); got != want {
		t.Errorf("%d uploads tried, want %d (the layer and the config, each the policy's %d attempts of the sending step)", got, want, policy.Attempts)
	}
	if !strings.Contains(err.Error(), always.Host) {
		t.Errorf("the error does not name the destination %s: %v", always.Host, err)
	}
	if n := dst2.Traffic().ManifestPuts(); n != 0 {
		t.Errorf("%d manifests pushed although their blob never arrived", n)
	}
}

// TestMirrorGivesUpOnStalledRequestsAndRetries stalls, once each, a
// manifest GET and a blob GET mid-body at the source and a blob upload
// mid-body and an upload's final PUT at the destination, each for far
// longer than the idle timeout: every stalled request is abandoned after
// the idle timeout and retried, and the image arrives whole.
func TestMirrorGivesUpOnStalledRequestsAndRetries(t *testing.T) {
	src := testenv.StartRegistry(t)
	dst := testenv.StartRegistry(t)
	const stall = time.Minute // the proxy's silence; the engine must not wait it out
	srcProxy := src.StartFaultProxy(t, testenv.Faults{Stall: stall, Plan: planned{
		testenv.ManifestGet: {1: testenv.Stall},
		testenv.BlobGet:     {2: testenv.Stall},
	}.plan})
	dstProxy := dst.StartFaultProxy(t, testenv.Faults{Stall: stall, Plan: planned{
		testenv.UploadData:   {1: testenv.Stall},
		testenv.UploadFinish: {1: testenv.Stall},
	}.plan})
	src.MustPushImage(t, "apps/a:v1", testenv.Image{Layers: []testenv.Layer{{Files: []testenv.File{{Name: "a", Data: testenv.PseudoRandom("a", 256<<10)}}}}})
	img := mirror.Image{Source: ref(t, srcProxy.Ref("apps/a:v1")), Dest: ref(t, dstProxy.Ref("mirror/a:v1"))}
	sys := testenv.CombinedSystemContext(t, srcProxy.Registry(), dstProxy.Registry())
	start := time.Now()
	res := mirror.Copy(context.Background(), []mirror.Image{img}, mirror.Options{
		// Long enough that a loaded machine's own pauses are not stalls
		// (300ms failed under load 20), far below the proxy's minute.
		SourceCtx: sys, DestCtx: sys, Parallel: 1, IdleTimeout: 2 * time.Second,
		Retry: retry.Policy{Attempts: 5, Base: time.Millisecond, Max: 5 * time.Millisecond},
	})
	checkAllCopied(t, res, mirror.StatusCopied)
	if got := srcProxy.Stalls.Load() + dstProxy.Stalls.Load(); got != 4 {
		t.Errorf("%d requests stalled, want the planned 4", got)
	}
	// Not a timing assertion: a run that waited out one stall took a minute.
	if took := time.Since(start); took >= stall {
		t.Errorf("the mirror waited out a stall (%v)", took)
	}
	direct := dst.Ref("mirror/a:v1")
	if got, want := destDigest(t, dst.SystemContext(), direct), destDigest(t, src.SystemContext(), src.Ref("apps/a:v1")); got != want {
		t.Errorf("%s serves %s, want %s", direct, got, want)
	}
}

// TestMirrorStallErrorNamesTheTimeout: a request that stays stalled past
// every retry fails as a timeout that says so.
func TestMirrorStallErrorNamesTheTimeout(t *testing.T) {
	src := testenv.StartRegistry(t)
	dst := testenv.StartRegistry(t)
	proxy := dst.StartFaultProxy(t, testenv.Faults{StallEvery: 1, Kinds: []testenv.Kind{testenv.UploadData}, Stall: time.Minute})
	img := oneImage(t, src, proxy.Registry())
	sys := testenv.CombinedSystemContext(t, src, proxy.Registry())
	res := mirror.Copy(context.Background(), []mirror.Image{img}, mirror.Options{
		SourceCtx: sys, DestCtx: sys, Parallel: 1, IdleTimeout: 200 * time.Millisecond,
		Retry: retry.Policy{Attempts: 2, Base: time.Millisecond, Max: 5 * time.Millisecond},
	})
	err := res.Err()
	var stalled *mirror.StalledError
	if !errors.As(err, &stalled) || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("want a StalledError (a timeout), got %v", err)
	}
	if !strings.Contains(err.Error(), "no data moved for 200ms") || !strings.Contains(err.Error(), proxy.Host) {
		t.Errorf("the error does not say what stalled and where: %v", err)
	}
	if n := dst.Traffic().ManifestPuts(); n != 0 {
		t.Errorf("%d manifests pushed although their blob never arrived", n)
	}
}

// severalImages pushes n images of two small layers each to src and returns
// the engine's images copying them from via (src, or a proxy's view of it)
// to dst, and the built images.
func severalImages(t *testing.T, src, via, dst *testenv.Registry, n int) ([]mirror.Image, []*testenv.BuiltImage) {
	t.Helper()
	var images []mirror.Image
	var built []*testenv.BuiltImage
	for i := range n {
		name := fmt.Sprintf("apps/img%d:v1", i)
		img := testenv.Image{Layers: []testenv.Layer{
			{Files: []testenv.File{{Name: "a", Data: testenv.PseudoRandom(name+"a", 16<<10)}}},
			{Files: []testenv.File{{Name: "b", Data: testenv.PseudoRandom(name+"b", 16<<10)}}},
		}}
		b, err := img.Build()
		if err != nil {
			t.Fatal(err)
		}
		src.MustPushImage(t, name, img)
		images = append(images, mirror.Image{Source: ref(t, via.Ref(name)), Dest: ref(t, dst.Ref("mirror/"+name))})
		built = append(built, b)
	}
	return images, built
}

// TestMirrorStopsAtARegistryThatIsDown: a registry that answers 500 to
// everything, its ping included, or that is gone, fails the images that
// need it at once, naming it as down, instead of spending the retry policy
// on each of their blobs and manifests one by one.
func TestMirrorStopsAtARegistryThatIsDown(t *testing.T) {
	src := testenv.StartRegistry(t)
	dst := testenv.StartRegistry(t)
	const n = 8
	// Fast backoff, so that the run before the fix took seconds, not minutes.
	policy := retry.Policy{Attempts: 6, Base: time.Millisecond, Max: 5 * time.Millisecond}
	copyAll := func(images []mirror.Image, regs ...*testenv.Registry) *mirror.Result {
		sys := testenv.CombinedSystemContext(t, regs...)
		return mirror.Copy(context.Background(), images, mirror.Options{SourceCtx: sys, DestCtx: sys, Parallel: 2, Retry: policy})
	}
	checkDown := func(t *testing.T, res *mirror.Result, host string) {
		t.Helper()
		for _, im := range res.Images {
			var down *mirror.RegistryDownError
			if im.Status != mirror.StatusFailed || !errors.As(im.Err, &down) || down.Registry != host {
				t.Errorf("%s: %s, %v; want failed because %s is down", im.Source.StringWithinTransport(), im.Status, im.Err, host)
			}
		}
		if err := res.Err(); err == nil || !strings.Contains(err.Error(), "registry "+host+" is down") {
			t.Errorf("the run's error does not name %s as down: %v", host, err)
		}
	}

	t.Run("a destination that answers 500 to everything", func(t *testing.T) {
		proxy := dst.StartFaultProxy(t, testenv.Faults{ServerErrorEvery: 1, Ping: true})
		images, _ := severalImages(t, src, src, proxy.Registry(), n)
		res := copyAll(images, src, proxy.Registry())
		checkDown(t, res, proxy.Host)
		// Each image's checks and blobs, each retried on its own under six
		// attempts, cost about a hundred requests (containers/image sends
		// none for a client whose ping failed); noticing the registry is
		// down costs a few, whatever n is.
		if got := proxy.Received.Load(); got > 20 {
			t.Errorf("the registry that is down received %d requests for %d images", got, n)
		}
	})
	t.Run("a source that answers 500 to everything", func(t *testing.T) {
		proxy := src.StartFaultProxy(t, testenv.Faults{ServerErrorEvery: 1, Ping: true})
		images, _ := severalImages(t, src, proxy.Registry(), dst, n)
		res := copyAll(images, proxy.Registry(), dst)
		checkDown(t, res, proxy.Host)
		if got := proxy.Received.Load(); got > 20 {
			t.Errorf("the registry that is down received %d requests for %d images", got, n)
		}
		if n := dst.Traffic().ManifestPuts(); n != 0 {
			t.Errorf("%d manifests pushed from a source that is down", n)
		}
	})
	t.Run("a destination that is gone", func(t *testing.T) {
		gone := testenv.StartRegistry(t)
		images, _ := severalImages(t, src, src, gone, n)
		if err := gone.Close(); err != nil {
			t.Fatal(err)
		}
		checkDown(t, copyAll(images, src, gone), gone.Host)
	})
}

// TestMirrorRetriesABadBlobAmongGoodOnes: a source that fails every read of
// one blob, and serves the rest and its ping, is not down: that blob gets
// the policy's attempts of its own, its image fails naming it, and the
// other images arrive.
func TestMirrorRetriesABadBlobAmongGoodOnes(t *testing.T) {
	src := testenv.StartRegistry(t)
	dst := testenv.StartRegistry(t)
	policy := retry.Policy{Attempts: 6, Base: time.Millisecond, Max: 5 * time.Millisecond}
	var bad digest.Digest
	proxy := src.StartFaultProxy(t, testenv.Faults{ServerErrorEvery: 1, Kinds: []testenv.Kind{testenv.BlobGet},
		Only: func(req *http.Request) bool { return strings.HasSuffix(req.URL.Path, "/blobs/"+bad.String()) }})
	images, built := severalImages(t, src, proxy.Registry(), dst, 4)
	bad = built[2].LayerDigests[1]
	sys := testenv.CombinedSystemContext(t, proxy.Registry(), dst)
	res := mirror.Copy(context.Background(), images, mirror.Options{SourceCtx: sys, DestCtx: sys, Parallel: 2, Retry: policy})
	for i, im := range res.Images {
		var down *mirror.RegistryDownError
		switch {
		case i == 2 && (im.Status != mirror.StatusFailed || errors.As(im.Err, &down) || !strings.Contains(fmt.Sprint(im.Err), bad.String())):
			t.Errorf("the image with the bad blob: %s, %v; want failed naming %s, the registry not down", im.Status, im.Err, bad)
		case i != 2 && im.Status != mirror.StatusCopied:
			t.Errorf("%s: %s, %v; want copied", im.Source.StringWithinTransport(), im.Status, im.Err)
		}
	}
	if got := proxy.Errors.Load(); got != int64(policy.Attempts) {
		t.Errorf("the bad blob was read %d times, want the policy's %d attempts", got, policy.Attempts)
	}
}
