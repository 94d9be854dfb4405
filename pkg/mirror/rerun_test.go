package mirror_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/containers/image/v5/docker"
	"github.com/containers/image/v5/docker/reference"
	"github.com/containers/image/v5/types"
	digest "github.com/opencontainers/go-digest"

	"github.com/airgap-ocp/oc-plugins/internal/testenv"
	"github.com/airgap-ocp/oc-plugins/pkg/mirror"
	"github.com/airgap-ocp/oc-plugins/pkg/release"
	"github.com/airgap-ocp/oc-plugins/pkg/retry"
)

// TestRerunAsksOverKeptConnections: a re-run that finds everything in place
// asks each destination tag for its digest and the source for each
// image's signature tag; containers/image would open a client for each
// question (two TLS handshakes: its ping's connection and the request's).
// They go over a kept connection now: fewer connections than images on
// either side.
func TestRerunAsksOverKeptConnections(t *testing.T) {
	r := startRelease(t, testenv.ReleaseSpec{Components: 16, SigstoreSignature: true})
	src, dst, sys, images := r.src, r.dst, r.sys, r.images
	opts := mirror.Options{SourceCtx: sys, DestCtx: sys, SigstoreAttachments: true}
	again := rerun(t, src, dst, images, opts)
	if n := len(again.Images); n != len(images)+1 {
		t.Errorf("%d results, want %d images and the release's signature", n, len(images))
	}
	for _, reg := range sides(src, dst) {
		requests, pings := reg.r.Traffic().Requests()
		conns := reg.r.Traffic().Connections()
		t.Logf("re-run, %s: %d connections, %d pings, %d requests", reg.name, conns, pings, requests)
		if conns >= len(images) {
			t.Errorf("re-run, %s: %d connections for %d images, want fewer than one per image", reg.name, conns, len(images))
		}
		// The destination's tag list too: containers/image would set up
		// a client of its own for it, a ping and two handshakes. (The
		// source has two: the kept client's, and containers/image's that
		// reads the release's signature.)
		if reg.r == dst && pings != 1 {
			t.Errorf("re-run, %s: %d clients set up (pings), want the one that keeps its connections", reg.name, pings)
		}
	}
}

// TestReleaseRerunConnectsOncePerRegistry: a command that reads a
// release before it copies shares the kept clients with its copies
// (mirror.Clients): the release is read over the connection the source's
// checks then use, and the destination is connected to, and its tag list
// read, while the release is read. A re-run is then one connection and
// one ping per registry, and the destination is asked its tags once.
func TestReleaseRerunConnectsOncePerRegistry(t *testing.T) {
	ctx := context.Background()
	r := startRelease(t, testenv.ReleaseSpec{Components: 16})
	src, dst, sys, images := r.src, r.dst, r.sys, r.images
	opts := mirror.Options{SourceCtx: sys, DestCtx: sys, SigstoreAttachments: true}
	checkAllCopied(t, mirror.Copy(ctx, images, opts), mirror.StatusCopied)
	src.Traffic().Reset()
	dst.Traffic().Reset()

	clients := mirror.NewClients(opts)
	defer clients.Close()
	dstRepo, err := docker.ParseReference("//" + dst.Ref("mirror/ocp"))
	if err != nil {
		t.Fatal(err)
	}
	connected := make(chan struct{})
	go func() {
		defer close(connected)
		clients.Connect(ctx, sys, dstRepo, true)
	}()
	p, err := release.ReadPayload(ctx, sys, r.rel.PullSpec, release.WithOpen(func(ctx context.Context, ref types.ImageReference) (types.ImageSource, error) {
		return clients.OpenSource(ctx, sys, ref)
	}))
	if err != nil {
		t.Fatal(err)
	}
	if p.Digest != r.rel.Digest || len(p.Components) != 16 {
		t.Fatalf("read release %s with %d components, want %s with 16", p.Digest, len(p.Components), r.rel.Digest)
	}
	<-connected
	opts.Clients = clients
	checkAllCopied(t, mirror.Copy(ctx, images, opts), mirror.StatusPresent)

	for _, reg := range sides(src, dst) {
		requests, pings := reg.r.Traffic().Requests()
		conns := reg.r.Traffic().Connections()
		t.Logf("re-run, %s: %d connections, %d pings, %d requests", reg.name, conns, pings, requests)
		if conns != 1 || pings != 1 {
			t.Errorf("re-run, %s: %d connections and %d pings, want one of each", reg.name, conns, pings)
		}
	}
	// The ping, the tag list and a HEAD per destination tag.
	if requests, _ := dst.Traffic().Requests(); requests != 2+len(images) {
		t.Errorf("re-run, destination: %d requests, want %d: a ping, one tag list and a HEAD per image", requests, 2+len(images))
	}
}

// TestRerunCatchesAMovedTag: a destination tag moved to another image
// behind the mirror's back is put back by the re-run, the rest left alone.
func TestRerunCatchesAMovedTag(t *testing.T) {
	ctx := context.Background()
	r := startRelease(t, testenv.ReleaseSpec{Components: 4})
	dst, sys, images, plan := r.dst, r.sys, r.images, r.plan
	opts := mirror.Options{SourceCtx: sys, DestCtx: sys}
	checkAllCopied(t, mirror.Copy(ctx, images, opts), mirror.StatusCopied)

	moved := plan.all[1]
	dst.MustPushImage(t, strings.TrimPrefix(moved.Dest, dst.Host+"/"), testenv.Image{Layers: []testenv.Layer{{Files: []testenv.File{{Name: "other", Data: []byte("not the planned image")}}}}})
	if got := destDigest(t, dst.SystemContext(), moved.Dest); got == sourceDigest(t, moved.Source) {
		t.Fatalf("%s was not moved", moved.Dest)
	}

	again := mirror.Copy(ctx, images, opts)
	for i, im := range again.Images {
		want := mirror.StatusPresent
		if i == 1 {
			want = mirror.StatusCopied
		}
		if im.Status != want {
			t.Errorf("%s: %s, %v; want %s", im.Dest.StringWithinTransport(), im.Status, im.Err, want)
		}
	}
	if got, want := destDigest(t, dst.SystemContext(), moved.Dest), sourceDigest(t, moved.Source); got != want {
		t.Errorf("after the re-run %s serves %s, want %s", moved.Dest, got, want)
	}
}

// TestRerunCopiesANewSignature: a sigstore signature that appeared at the
// source after the first run is copied by the re-run.
func TestRerunCopiesANewSignature(t *testing.T) {
	ctx := context.Background()
	r := startRelease(t, testenv.ReleaseSpec{Components: 3})
	src, dst, sys, images, plan := r.src, r.dst, r.sys, r.images, r.plan
	opts := mirror.Options{SourceCtx: sys, DestCtx: sys, SigstoreAttachments: true}
	first := mirror.Copy(ctx, images, opts)
	checkAllCopied(t, first, mirror.StatusCopied)
	if len(first.Images) != len(images) {
		t.Fatalf("%d results before any signature, want %d", len(first.Images), len(images))
	}

	signed := plan.all[0]
	d := sourceDigest(t, signed.Source)
	sigTag := strings.Replace(d.String(), ":", "-", 1) + ".sig"
	repo := signed.Source[:strings.LastIndex(signed.Source, "@")]
	sigRepo := strings.TrimPrefix(repo, src.Host+"/")
	want := src.MustPushImage(t, sigRepo+":"+sigTag, testenv.Image{Layers: []testenv.Layer{{Files: []testenv.File{{Name: "signature", Data: []byte(d.String())}}}}})

	again := mirror.Copy(ctx, images, opts)
	if err := again.Err(); err != nil {
		t.Fatal(err)
	}
	copied := 0
	for _, im := range again.Images {
		if im.Attachment && im.Status == mirror.StatusCopied {
			copied++
		}
	}
	if copied != 1 {
		t.Errorf("%d new signatures copied, want 1", copied)
	}
	destRepo := signed.Dest[:strings.LastIndexAny(signed.Dest, ":@")]
	if got := destDigest(t, dst.SystemContext(), destRepo+":"+sigTag); got != want {
		t.Errorf("the new signature in the mirror is %s, want %s", got, want)
	}
}

// TestMirrorCopiesNoSignatureOfAnImageItCannotRead: the signatures of
// images asked for by digest are looked up while the manifests are read;
// one found for an image whose manifest cannot be read is not copied, as
// none was when the look-up came after the read.
func TestMirrorCopiesNoSignatureOfAnImageItCannotRead(t *testing.T) {
	ctx := context.Background()
	src := testenv.StartRegistry(t)
	dst := testenv.StartRegistry(t)
	sys := testenv.CombinedSystemContext(t, src, dst)
	layer := func(data string) testenv.Image {
		return testenv.Image{Layers: []testenv.Layer{{Files: []testenv.File{{Name: "f", Data: []byte(data)}}}}}
	}
	there := src.MustPushImage(t, "app:there", layer("an image"))
	gone := digest.FromString("an image the source no longer holds")
	for _, d := range []digest.Digest{there, gone} {
		src.MustPushImage(t, "app:"+strings.Replace(d.String(), ":", "-", 1)+".sig", layer("signature of "+d.String()))
	}
	images := []mirror.Image{
		{Source: ref(t, src.Ref("app@"+there.String())), Dest: ref(t, dst.Ref("mirror/app:there"))},
		{Source: ref(t, src.Ref("app@"+gone.String())), Dest: ref(t, dst.Ref("mirror/app:gone"))},
	}
	res := mirror.Copy(ctx, images, mirror.Options{SourceCtx: sys, DestCtx: sys, SigstoreAttachments: true, Parallel: 2})
	if res.Images[0].Status != mirror.StatusCopied || res.Images[1].Status != mirror.StatusFailed {
		t.Fatalf("statuses %s, %s; want the image there copied, the one gone failed", res.Images[0].Status, res.Images[1].Status)
	}
	var attached []string
	for _, im := range res.Images[2:] {
		attached = append(attached, im.Source.StringWithinTransport())
		if im.Parent != 0 || im.Status != mirror.StatusCopied {
			t.Errorf("attachment %s of image %d: %s", im.Source.StringWithinTransport(), im.Parent, im.Status)
		}
	}
	if len(attached) != 1 {
		t.Errorf("attachments %v, want the signature of the image there only", attached)
	}
	sigOfGone := dst.Ref("mirror/app:" + strings.Replace(gone.String(), ":", "-", 1) + ".sig")
	if _, err := docker.GetDigest(ctx, dst.SystemContext(), ref(t, sigOfGone)); err == nil {
		t.Errorf("the mirror holds %s, the signature of an image it could not copy", sigOfGone)
	}
}

// spread pushes one small image to each of repos at the source and maps
// each, by digest, to the same path under mirror/ at the destination: by
// tag v1, or by digest when byDigest.
func spread(t *testing.T, src, dst *testenv.Registry, repos []string, byDigest bool) []mirror.Image {
	t.Helper()
	var images []mirror.Image
	for i, repo := range repos {
		d := src.MustPushImage(t, fmt.Sprintf("%s:v%d", repo, i), testenv.Image{Layers: []testenv.Layer{{Files: []testenv.File{{Name: "f", Data: []byte(fmt.Sprintf("image %d of %s", i, repo))}}}}})
		im := mirror.Image{Source: ref(t, src.Ref(repo+"@"+d.String())), Dest: ref(t, dst.Ref(fmt.Sprintf("mirror/%s:v%d", repo, i)))}
		if byDigest {
			named, err := reference.ParseNormalizedNamed(dst.Ref("mirror/" + repo))
			if err != nil {
				t.Fatal(err)
			}
			if im.Dest, err = docker.NewReferenceUnknownDigest(named); err != nil {
				t.Fatal(err)
			}
		}
		images = append(images, im)
	}
	return images
}

// TestRerunSetsUpEachRegistryOnce: a re-run's checks in several
// repositories of a registry that asks for Basic credentials share one
// client set-up (one ping) and, over HTTP/2, the one connection it made:
// not a ping per repository, nor a connection per check that started
// before the first one was up.
func TestRerunSetsUpEachRegistryOnce(t *testing.T) {
	src := testenv.StartRegistry(t)
	dst := testenv.StartRegistry(t)
	sys := testenv.CombinedSystemContext(t, src, dst)
	images := spread(t, src, dst, []string{"apps/a", "apps/b", "apps/c", "apps/d", "apps/e", "apps/f"}, false)
	opts := mirror.Options{SourceCtx: sys, DestCtx: sys, SigstoreAttachments: true}
	rerun(t, src, dst, images, opts)
	for _, reg := range sides(src, dst) {
		requests, pings := reg.r.Traffic().Requests()
		conns := reg.r.Traffic().Connections()
		t.Logf("re-run, %s: %d connections, %d pings, %d requests", reg.name, conns, pings, requests)
		if pings != 1 || conns != 1 {
			t.Errorf("re-run, %s: %d pings and %d connections for %d repositories, want one of each", reg.name, pings, conns, len(images))
		}
	}
}

// TestRerunByDigestListsNoTags: an image whose destination is by digest
// is found present by its digest alone; a re-run that finds everything
// there lists no repository's tags (a request per repository).
func TestRerunByDigestListsNoTags(t *testing.T) {
	ctx := context.Background()
	src := testenv.StartRegistry(t)
	dst := testenv.StartRegistry(t)
	sys := testenv.CombinedSystemContext(t, src, dst)
	images := spread(t, src, dst, []string{"apps/a", "apps/b", "apps/c"}, true)
	opts := mirror.Options{SourceCtx: sys, DestCtx: sys}
	checkAllCopied(t, mirror.Copy(ctx, images, opts), mirror.StatusCopied)

	dst.Traffic().Reset()
	checkAllCopied(t, mirror.Copy(ctx, images, opts), mirror.StatusPresent)
	requests, pings := dst.Traffic().Requests()
	if want := pings + len(images); requests != want {
		t.Errorf("re-run: %d requests at the destination (%d pings), want %d: the ping and a HEAD per image", requests, pings, want)
	}
}

// signSource pushes a sigstore signature tag for the image src names (by
// digest) beside it, and returns where the mirror must hold it.
func signSource(t *testing.T, src *testenv.Registry, im mirror.Image) (sigRef string) {
	t.Helper()
	named := im.Source.DockerReference()
	d := named.(reference.Digested).Digest()
	tag := strings.Replace(d.String(), ":", "-", 1) + ".sig"
	src.MustPushImage(t, reference.Path(named)+":"+tag, testenv.Image{Layers: []testenv.Layer{{Files: []testenv.File{{Name: "signature", Data: []byte(d.String())}}}}})
	return im.Dest.DockerReference().Name() + ":" + tag
}

// signatureRerun mirrors images with their signatures, signs the second
// one at the source, and re-runs: it returns the source's requests
// (pings aside) in the re-run before the signature, and checks that the
// re-run after it copied the signature.
func signatureRerun(t *testing.T, src, dst *testenv.Registry, images []mirror.Image, opts mirror.Options) int {
	t.Helper()
	ctx := context.Background()
	rerun(t, src, dst, images, opts)
	requests, pings := src.Traffic().Requests()

	sig := signSource(t, src, images[1])
	res := mirror.Copy(ctx, images, opts)
	if err := res.Err(); err != nil {
		t.Fatal(err)
	}
	if n := len(res.Images) - len(images); n != 1 || res.Images[len(images)].Status != mirror.StatusCopied {
		t.Errorf("%d signatures found by the re-run (%v), want the new one copied", n, res.Images[len(images):])
	}
	if _, err := docker.GetDigest(ctx, dst.SystemContext(), ref(t, sig)); err != nil {
		t.Errorf("the mirror lacks the new signature %s: %v", sig, err)
	}
	return requests - pings
}

// TestRerunListsASourceRepositoryForItsSignatures: where a source
// repository holds several of the images, one tag list answers whether
// any has a signature, in place of a HEAD per image; a signature that
// appears there is still found and copied.
func TestRerunListsASourceRepositoryForItsSignatures(t *testing.T) {
	src := testenv.StartRegistry(t)
	dst := testenv.StartRegistry(t)
	sys := testenv.CombinedSystemContext(t, src, dst)
	images := spread(t, src, dst, []string{"apps/a", "apps/a", "apps/a", "apps/a", "apps/b"}, false)
	got := signatureRerun(t, src, dst, images, mirror.Options{SourceCtx: sys, DestCtx: sys, SigstoreAttachments: true})
	if got != 2 {
		t.Errorf("re-run: %d requests at the source, want 2: a tag list for the four images of apps/a, a HEAD for apps/b's", got)
	}
}

// TestRerunAsksEachSignatureWhereTheListIsLong: a repository with more
// tags than are worth listing for the images it holds (one page per ten
// images) is asked for each image's signature tag after one page.
func TestRerunAsksEachSignatureWhereTheListIsLong(t *testing.T) {
	mirror.SetTagPageSize(t, 2)
	src := testenv.StartRegistry(t)
	dst := testenv.StartRegistry(t)
	sys := testenv.CombinedSystemContext(t, src, dst)
	images := spread(t, src, dst, []string{"apps/a", "apps/a", "apps/a"}, false)
	got := signatureRerun(t, src, dst, images, mirror.Options{SourceCtx: sys, DestCtx: sys, SigstoreAttachments: true})
	if got != 4 {
		t.Errorf("re-run: %d requests at the source, want 4: one page of the tag list, then a HEAD per image", got)
	}
}

// TestRerunAsksEachSignatureWhenTheListFails: a tag list the registry
// fails (here every time) leaves the signatures to a HEAD each: a new
// one is still found.
func TestRerunAsksEachSignatureWhenTheListFails(t *testing.T) {
	src := testenv.StartRegistry(t)
	dst := testenv.StartRegistry(t)
	proxy := src.StartFaultProxy(t, testenv.Faults{ServerErrorEvery: 1, Kinds: []testenv.Kind{testenv.OtherRequest}})
	sys := testenv.CombinedSystemContext(t, proxy.Registry(), dst)
	images := spread(t, src, dst, []string{"apps/a", "apps/a", "apps/a"}, false)
	for i := range images {
		images[i].Source = ref(t, strings.Replace(images[i].Source.DockerReference().String(), src.Host, proxy.Host, 1))
	}
	policy := retry.Policy{Attempts: 2, Base: time.Millisecond, Max: 5 * time.Millisecond}
	signatureRerun(t, src, dst, images, mirror.Options{SourceCtx: sys, DestCtx: sys, SigstoreAttachments: true, Retry: policy})
	if proxy.Injected() == 0 {
		t.Error("no tag list was failed: the test tests nothing")
	}
}

// TestRerunAsksATokenRegistryWithOnePing: a registry that asks for
// Bearer tokens (quay.io, registry.redhat.io) is pinged once too; each
// repository then costs a token (its scope), not a ping and a token.
func TestRerunAsksATokenRegistryWithOnePing(t *testing.T) {
	src := testenv.StartRegistry(t, testenv.WithTokenAuth())
	dst := testenv.StartRegistry(t, testenv.WithTokenAuth())
	sys := testenv.CombinedSystemContext(t, src, dst)
	repos := []string{"apps/a", "apps/b", "apps/c", "apps/d"}
	images := spread(t, src, dst, repos, false)
	opts := mirror.Options{SourceCtx: sys, DestCtx: sys, SigstoreAttachments: true}
	rerun(t, src, dst, images, opts)
	for _, reg := range sides(src, dst) {
		requests, pings := reg.r.Traffic().Requests()
		tokens := reg.r.Traffic().Tokens()
		t.Logf("re-run, %s: %d connections, %d pings, %d tokens, %d requests", reg.name, reg.r.Traffic().Connections(), pings, tokens, requests)
		if pings != 1 || tokens != len(repos) {
			t.Errorf("re-run, %s: %d pings and %d tokens for %d repositories, want one ping and a token each", reg.name, pings, tokens, len(repos))
		}
	}
}

// started is a release pushed to a source registry and planned to a
// destination registry's mirror/ocp, as most re-run tests begin.
type started struct {
	src, dst *testenv.Registry
	rel      *testenv.Release
	sys      *types.SystemContext
	images   []mirror.Image
	plan     *releasePlan
}

func startRelease(t *testing.T, spec testenv.ReleaseSpec) started {
	t.Helper()
	r := started{src: testenv.StartRegistry(t), dst: testenv.StartRegistry(t)}
	r.rel = r.src.PushRelease(t, spec)
	r.sys = testenv.CombinedSystemContext(t, r.src, r.dst)
	r.images, r.plan = releaseImages(t, r.sys, r.rel, r.dst.Ref("mirror/ocp"))
	return r
}

// side is a registry of a test, named for its messages.
type side struct {
	name string
	r    *testenv.Registry
}

func sides(src, dst *testenv.Registry) []side {
	return []side{{"source", src}, {"destination", dst}}
}

// rerun copies images, then copies them again with both registries'
// traffic counted from zero, and returns the second run's result, which
// must have found every image present.
func rerun(t *testing.T, src, dst *testenv.Registry, images []mirror.Image, opts mirror.Options) *mirror.Result {
	t.Helper()
	ctx := context.Background()
	checkAllCopied(t, mirror.Copy(ctx, images, opts), mirror.StatusCopied)
	src.Traffic().Reset()
	dst.Traffic().Reset()
	again := mirror.Copy(ctx, images, opts)
	checkAllCopied(t, again, mirror.StatusPresent)
	return again
}
