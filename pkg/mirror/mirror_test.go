package mirror_test

import (
	"bytes"
	"context"
	"errors"
	"path/filepath"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/containers/image/v5/docker"
	"github.com/containers/image/v5/docker/reference"
	"github.com/containers/image/v5/manifest"
	"github.com/containers/image/v5/types"
	digest "github.com/opencontainers/go-digest"

	"github.com/airgap-ocp/oc-plugins/internal/testenv"
	"github.com/airgap-ocp/oc-plugins/pkg/mirror"
	"github.com/airgap-ocp/oc-plugins/pkg/plan"
	"github.com/airgap-ocp/oc-plugins/pkg/release"
	"github.com/airgap-ocp/oc-plugins/pkg/retry"
)

func ref(t testing.TB, s string) types.ImageReference {
	t.Helper()
	named, err := reference.ParseNormalizedNamed(s)
	if err != nil {
		t.Fatal(err)
	}
	r, err := docker.NewReference(reference.TagNameOnly(named))
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// releaseImages plans the release as oc adm release mirror --to does and
// turns the plan into images for the engine.
func releaseImages(t testing.TB, sys *types.SystemContext, rel *testenv.Release, to string) ([]mirror.Image, *releasePlan) {
	t.Helper()
	p, err := release.ReadPayload(context.Background(), sys, rel.PullSpec)
	if err != nil {
		t.Fatal(err)
	}
	pl, err := p.Plan(to, "")
	if err != nil {
		t.Fatal(err)
	}
	out := &releasePlan{}
	var images []mirror.Image
	for _, it := range pl.Items {
		dest, err := it.Dest("", 0)
		if err != nil {
			t.Fatal(err)
		}
		m := mapping{Source: it.Source, Dest: dest}
		if it.Kind == plan.ReleaseImage {
			out.Release = m
		}
		out.all = append(out.all, m)
		images = append(images, mirror.Image{Source: ref(t, m.Source), Dest: ref(t, m.Dest)})
	}
	return images, out
}

// releasePlan is a release's plan as pull specs.
type releasePlan struct {
	Release mapping
	all     []mapping
}

type mapping struct{ Source, Dest string }

// All is the release image and its components, source and destination.
func (p *releasePlan) All() []mapping { return p.all }

// destDigest is the digest dst serves for ref, read with a client of its own.
func destDigest(t testing.TB, sys *types.SystemContext, s string) digest.Digest {
	t.Helper()
	d, err := docker.GetDigest(context.Background(), sys, ref(t, s))
	if err != nil {
		t.Fatalf("reading %s back: %v", s, err)
	}
	return d
}

func sourceDigest(t testing.TB, s string) digest.Digest {
	t.Helper()
	i := strings.LastIndex(s, "@")
	if i < 0 {
		t.Fatalf("%s is not by digest", s)
	}
	return digest.Digest(s[i+1:])
}

func checkAllCopied(t *testing.T, res *mirror.Result, want mirror.Status) {
	t.Helper()
	if err := res.Err(); err != nil {
		t.Fatalf("mirror failed: %v", err)
	}
	for _, im := range res.Images {
		if im.Status != want {
			t.Errorf("%s: status %s, want %s", im.Source.StringWithinTransport(), im.Status, want)
		}
	}
}

func TestMirrorReleaseCopiesEveryImageOnceAndByteForByte(t *testing.T) {
	src := testenv.StartRegistry(t)
	dst := testenv.StartRegistry(t)
	rel := src.PushRelease(t, testenv.ReleaseSpec{Version: "4.16.3"})
	sys := testenv.CombinedSystemContext(t, src, dst)
	to := dst.Ref("mirror/ocp")
	images, plan := releaseImages(t, sys, rel, to)
	if len(images) < 31 {
		t.Fatalf("the synthetic release has %d images, want 31 or more", len(images))
	}

	var progress bytes.Buffer
	res := mirror.Copy(context.Background(), images, mirror.Options{
		SourceCtx: sys, DestCtx: sys, Progress: &progress, ProgressInterval: 10 * time.Millisecond,
	})
	checkAllCopied(t, res, mirror.StatusCopied)

	// Every destination tag serves the source's digest.
	for _, m := range plan.All() {
		if got, want := destDigest(t, dst.SystemContext(), m.Dest), sourceDigest(t, m.Source); got != want {
			t.Errorf("%s serves %s, the source %s is %s", m.Dest, got, m.Source, want)
		}
	}
	if got := destDigest(t, dst.SystemContext(), to+":4.16.3-x86_64-cli"); got != sourceDigest(t, rel.Components["cli"]) {
		t.Errorf("4.16.3-x86_64-cli is %s, want the cli component %s", got, rel.Components["cli"])
	}

	// Each blob, the shared base layers above all, was uploaded once.
	uploads := dst.Traffic().Uploads()
	for d, n := range uploads {
		if n != 1 {
			t.Errorf("blob %s uploaded %d times, want once", d, n)
		}
	}
	for _, d := range rel.SharedBlobs {
		if uploads[d] != 1 {
			t.Errorf("shared base layer %s uploaded %d times, want once", d, uploads[d])
		}
	}
	if res.Stats.BlobsCopied != len(uploads) {
		t.Errorf("stats say %d blobs copied, the registry stored %d", res.Stats.BlobsCopied, len(uploads))
	}
	if !strings.Contains(progress.String(), "images ") {
		t.Errorf("no progress line on a non-terminal writer; got %q", progress.String())
	}

	// A second run finds everything and moves nothing.
	dst.Traffic().Reset()
	again := mirror.Copy(context.Background(), images, mirror.Options{SourceCtx: sys, DestCtx: sys})
	checkAllCopied(t, again, mirror.StatusPresent)
	if n := dst.Traffic().TotalUploads(); n != 0 {
		t.Errorf("second run uploaded %d blobs, want none", n)
	}
	if n := dst.Traffic().ManifestPuts(); n != 0 {
		t.Errorf("second run pushed %d manifests, want none", n)
	}
}

func TestMirrorMultiArchKeepsListsWhole(t *testing.T) {
	src := testenv.StartRegistry(t)
	dst := testenv.StartRegistry(t)
	rel := src.PushRelease(t, testenv.ReleaseSpec{Components: 6, Arches: []string{"amd64", "arm64"}})
	sys := testenv.CombinedSystemContext(t, src, dst)
	images, plan := releaseImages(t, sys, rel, dst.Ref("mirror/ocp"))
	if !strings.HasSuffix(plan.Release.Dest, ":4.16.3-multi") {
		t.Errorf("release destination %s, want tag 4.16.3-multi", plan.Release.Dest)
	}
	res := mirror.Copy(context.Background(), images, mirror.Options{SourceCtx: sys, DestCtx: sys})
	checkAllCopied(t, res, mirror.StatusCopied)
	for _, m := range plan.All() {
		if got, want := destDigest(t, dst.SystemContext(), m.Dest), sourceDigest(t, m.Source); got != want {
			t.Errorf("%s serves %s, want the list %s", m.Dest, got, want)
		}
	}
	for _, im := range res.Images {
		if !manifest.MIMETypeIsMultiImage(im.MIMEType) {
			t.Errorf("%s copied as %s, want the manifest list", im.Source.StringWithinTransport(), im.MIMEType)
		}
	}
}

func TestMirrorSelectsOnePlatform(t *testing.T) {
	src := testenv.StartRegistry(t)
	dst := testenv.StartRegistry(t)
	ctx := context.Background()
	var imgs []testenv.Image
	for _, arch := range []string{"amd64", "arm64"} {
		imgs = append(imgs, testenv.Image{Architecture: arch, Layers: []testenv.Layer{{Files: []testenv.File{{Name: "arch", Data: []byte(arch)}}}}})
	}
	if _, err := src.PushImageList(ctx, "tools/ubi:9", imgs); err != nil {
		t.Fatal(err)
	}
	arm, err := imgs[1].Build()
	if err != nil {
		t.Fatal(err)
	}
	sys := testenv.CombinedSystemContext(t, src, dst)
	res := mirror.Copy(ctx, []mirror.Image{{
		Source: ref(t, src.Ref("tools/ubi:9")), Dest: ref(t, dst.Ref("tools/ubi:9")),
		Platform: &plan.Platform{OS: "linux", Architecture: "arm64"},
	}}, mirror.Options{SourceCtx: sys, DestCtx: sys})
	checkAllCopied(t, res, mirror.StatusCopied)
	if got := destDigest(t, dst.SystemContext(), dst.Ref("tools/ubi:9")); got != arm.Digest {
		t.Errorf("destination serves %s, want the linux/arm64 image %s", got, arm.Digest)
	}
}

func TestMirrorMountsSharedBlobsAcrossRepositories(t *testing.T) {
	src := testenv.StartRegistry(t)
	dst := testenv.StartRegistry(t)
	base := testenv.Layer{Files: []testenv.File{{Name: "base", Data: testenv.PseudoRandom("base", 32<<10)}}}
	var images []mirror.Image
	for _, name := range []string{"a", "b", "c"} {
		src.MustPushImage(t, "apps/"+name+":v1", testenv.Image{Layers: []testenv.Layer{base, {Files: []testenv.File{{Name: name, Data: []byte(name)}}}}})
		images = append(images, mirror.Image{Source: ref(t, src.Ref("apps/"+name+":v1")), Dest: ref(t, dst.Ref("mirror/"+name+":v1"))})
	}
	baseBuilt, err := testenv.Image{Layers: []testenv.Layer{base}}.Build()
	if err != nil {
		t.Fatal(err)
	}
	sys := testenv.CombinedSystemContext(t, src, dst)
	res := mirror.Copy(context.Background(), images, mirror.Options{SourceCtx: sys, DestCtx: sys})
	checkAllCopied(t, res, mirror.StatusCopied)
	d := baseBuilt.LayerDigests[0]
	if n := dst.Traffic().Uploads()[d]; n != 1 {
		t.Errorf("the shared layer was uploaded %d times into three repositories, want once", n)
	}
	if n := dst.Traffic().Mounts()[d]; n != 2 {
		t.Errorf("the shared layer was mounted %d times, want 2 (into the other two repositories)", n)
	}
	if res.Stats.BlobsMounted != 2 {
		t.Errorf("stats: %d blobs mounted, want 2", res.Stats.BlobsMounted)
	}
}

func TestMirrorThroughFaultsYieldsCompleteMirror(t *testing.T) {
	src := testenv.StartRegistry(t)
	dst := testenv.StartRegistry(t)
	proxy := dst.StartFaultProxy(t, testenv.Faults{ResetBlobEvery: 5, ServerErrorEvery: 13, TooManyEvery: 17})
	rel := src.PushRelease(t, testenv.ReleaseSpec{Components: 12, OwnLayerSize: 256 << 10})
	sys := testenv.CombinedSystemContext(t, src, proxy.Registry())
	images, plan := releaseImages(t, sys, rel, proxy.Ref("mirror/ocp"))
	res := mirror.Copy(context.Background(), images, mirror.Options{
		SourceCtx: sys, DestCtx: sys,
		Retry: retry.Policy{Attempts: 12, Base: 20 * time.Millisecond, Max: 100 * time.Millisecond},
	})
	checkAllCopied(t, res, mirror.StatusCopied)
	if proxy.Resets.Load() == 0 || proxy.Errors.Load() == 0 || proxy.Busies.Load() == 0 {
		t.Fatalf("the proxy injected %d resets, %d 500s, %d 429s; want some of each",
			proxy.Resets.Load(), proxy.Errors.Load(), proxy.Busies.Load())
	}
	// Verified straight from the registry, not through the proxy.
	for _, m := range plan.All() {
		direct := dst.Ref(strings.TrimPrefix(m.Dest, proxy.Host+"/"))
		if got, want := destDigest(t, dst.SystemContext(), direct), sourceDigest(t, m.Source); got != want {
			t.Errorf("%s serves %s, want %s", direct, got, want)
		}
	}
}

func TestMirrorOneUnreachableImageFailsOnlyThatImage(t *testing.T) {
	src := testenv.StartRegistry(t)
	dst := testenv.StartRegistry(t)
	rel := src.PushRelease(t, testenv.ReleaseSpec{Components: 5})
	sys := testenv.CombinedSystemContext(t, src, dst)
	images, _ := releaseImages(t, sys, rel, dst.Ref("mirror/ocp"))
	missing := rel.ComponentRepo + "@" + digest.FromString("gone").String()
	images = append(images, mirror.Image{Source: ref(t, missing), Dest: ref(t, dst.Ref("mirror/ocp:gone"))})

	var progress bytes.Buffer
	res := mirror.Copy(context.Background(), images, mirror.Options{
		SourceCtx: sys, DestCtx: sys, Progress: &progress,
		Retry: retry.Policy{Attempts: 2, Base: 10 * time.Millisecond},
	})
	err := res.Err()
	var fe *mirror.FailedError
	if !errors.As(err, &fe) || len(fe.Failures) != 1 {
		t.Fatalf("want exactly one failed image, got %v", err)
	}
	if !strings.Contains(err.Error(), missing) {
		t.Errorf("the error does not name the failed image %s: %v", missing, err)
	}
	if res.Stats.ImagesCopied != len(images)-1 {
		t.Errorf("%d images copied, want all %d others", res.Stats.ImagesCopied, len(images)-1)
	}
	for _, s := range []string{err.Error(), progress.String()} {
		for _, secret := range []string{src.Password, dst.Password} {
			if strings.Contains(s, secret) {
				t.Errorf("a password appears in the output: %q", s)
			}
		}
	}
}

func TestMirrorWrongCredentialsFailWithoutShowingThem(t *testing.T) {
	src := testenv.StartRegistry(t)
	dst := testenv.StartRegistry(t)
	src.MustPushImage(t, "apps/a:v1", testenv.Image{Layers: []testenv.Layer{{Files: []testenv.File{{Name: "a", Data: []byte("a")}}}}})
	sys := testenv.CombinedSystemContext(t, src, dst)
	wrong := *sys
	wrong.AuthFilePath = filepath.Join(t.TempDir(), "auth.json")
	const secret = "not-the-password-3141"
	if err := testenv.WriteAuthFile(wrong.AuthFilePath, dst.Username, secret, src.Host, dst.Host); err != nil {
		t.Fatal(err)
	}
	var progress bytes.Buffer
	res := mirror.Copy(context.Background(), []mirror.Image{{Source: ref(t, src.Ref("apps/a:v1")), Dest: ref(t, dst.Ref("apps/a:v1"))}},
		mirror.Options{SourceCtx: sys, DestCtx: &wrong, Progress: &progress, Retry: retry.Policy{Attempts: 2, Base: time.Millisecond}})
	err := res.Err()
	if err == nil {
		t.Fatal("a push with wrong credentials succeeded")
	}
	for _, s := range []string{err.Error(), progress.String()} {
		for _, bad := range []string{secret, dst.Password, src.Password} {
			if strings.Contains(s, bad) {
				t.Errorf("a credential appears in %q", s)
			}
		}
	}
}

func TestMirrorCopiesSigstoreAttachments(t *testing.T) {
	src := testenv.StartRegistry(t)
	dst := testenv.StartRegistry(t)
	rel := src.PushRelease(t, testenv.ReleaseSpec{Components: 3, SigstoreSignature: true})
	sys := testenv.CombinedSystemContext(t, src, dst)
	images, _ := releaseImages(t, sys, rel, dst.Ref("mirror/ocp"))
	res := mirror.Copy(context.Background(), images, mirror.Options{SourceCtx: sys, DestCtx: sys, SigstoreAttachments: true})
	checkAllCopied(t, res, mirror.StatusCopied)
	tag := rel.SignatureTag[strings.LastIndex(rel.SignatureTag, ":")+1:]
	want := destDigest(t, src.SystemContext(), rel.SignatureTag)
	if got := destDigest(t, dst.SystemContext(), dst.Ref("mirror/ocp:"+tag)); got != want {
		t.Errorf("the signature tag in the mirror is %s, want %s", got, want)
	}
	attached := 0
	for _, im := range res.Images {
		if im.Attachment {
			attached++
		}
	}
	if attached != 1 {
		t.Errorf("%d attachments copied, want the release's one", attached)
	}
}

func TestMirrorWithinOneRegistryMountsInsteadOfUploading(t *testing.T) {
	reg := testenv.StartRegistry(t)
	rel := reg.PushRelease(t, testenv.ReleaseSpec{Components: 6})
	sys := testenv.CombinedSystemContext(t, reg)
	images, plan := releaseImages(t, sys, rel, reg.Ref("enclave/ocp"))
	reg.Traffic().Reset()
	res := mirror.Copy(context.Background(), images, mirror.Options{SourceCtx: sys, DestCtx: sys})
	checkAllCopied(t, res, mirror.StatusCopied)
	if n := reg.Traffic().TotalUploads(); n != 0 {
		t.Errorf("%d blobs uploaded within one registry, want all mounted", n)
	}
	if res.Stats.BlobsMounted == 0 {
		t.Error("no blob was mounted")
	}
	for _, m := range plan.All() {
		if got, want := destDigest(t, reg.SystemContext(), m.Dest), sourceDigest(t, m.Source); got != want {
			t.Errorf("%s serves %s, want %s", m.Dest, got, want)
		}
	}
}

// TestMirrorStreamsBlobs copies a 64 MiB layer and watches the heap: a
// blob held whole in memory would add at least its size.
func TestMirrorStreamsBlobs(t *testing.T) {
	src := testenv.StartRegistry(t)
	dst := testenv.StartRegistry(t)
	const size = 64 << 20
	src.MustPushImage(t, "big/layer:1", testenv.Image{Layers: []testenv.Layer{{Files: []testenv.File{{Name: "big", Data: testenv.PseudoRandom("big", size)}}}}})
	sys := testenv.CombinedSystemContext(t, src, dst)
	images := []mirror.Image{{Source: ref(t, src.Ref("big/layer:1")), Dest: ref(t, dst.Ref("big/layer:1"))}}

	runtime.GC()
	var base runtime.MemStats
	runtime.ReadMemStats(&base)
	var peak atomic.Uint64
	done := make(chan struct{})
	go func() {
		var m runtime.MemStats
		for {
			select {
			case <-done:
				return
			case <-time.After(5 * time.Millisecond):
				runtime.ReadMemStats(&m)
				if m.HeapInuse > peak.Load() {
					peak.Store(m.HeapInuse)
				}
			}
		}
	}()
	res := mirror.Copy(context.Background(), images, mirror.Options{SourceCtx: sys, DestCtx: sys})
	close(done)
	checkAllCopied(t, res, mirror.StatusCopied)
	if res.Stats.BytesCopied < size {
		t.Fatalf("copied %d bytes, want the %d-byte layer", res.Stats.BytesCopied, size)
	}
	if grew := int64(peak.Load()) - int64(base.HeapInuse); grew > size/2 {
		t.Errorf("the heap grew by %d MiB while copying a %d MiB blob: it is buffered, not streamed", grew>>20, size>>20)
	}
}

// TestCopyReportsEachImageAtItsIndex: an image given twice is copied once
// and reported at both places; the results never shift.
func TestCopyReportsEachImageAtItsIndex(t *testing.T) {
	src := testenv.StartRegistry(t)
	dst := testenv.StartRegistry(t)
	layer := func(s string) testenv.Image {
		return testenv.Image{Layers: []testenv.Layer{{Files: []testenv.File{{Name: "f", Data: []byte(s)}}}}}
	}
	da := src.MustPushImage(t, "apps/a:1", layer("a"))
	db := src.MustPushImage(t, "apps/b:1", layer("b"))
	a := mirror.Image{Source: ref(t, src.Ref("apps/a:1")), Dest: ref(t, dst.Ref("m/a:1"))}
	b := mirror.Image{Source: ref(t, src.Ref("apps/b:1")), Dest: ref(t, dst.Ref("m/b:1"))}
	sys := testenv.CombinedSystemContext(t, src, dst)
	res := mirror.Copy(context.Background(), []mirror.Image{a, a, b}, mirror.Options{SourceCtx: sys, DestCtx: sys})
	if len(res.Images) != 3 || res.Stats.Images != 2 || res.Stats.ManifestsPushed != 2 {
		t.Fatalf("%d results, %d images, %d manifests pushed; want 3 results for 2 images copied once", len(res.Images), res.Stats.Images, res.Stats.ManifestsPushed)
	}
	for i, want := range []digest.Digest{da, da, db} {
		if res.Images[i].Digest != want || res.Images[i].Status != mirror.StatusCopied {
			t.Errorf("result %d: %s %s, want %s copied", i, res.Images[i].Digest, res.Images[i].Status, want)
		}
	}
}
