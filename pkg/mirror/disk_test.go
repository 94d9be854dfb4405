package mirror_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/containers/image/v5/types"
	digest "github.com/opencontainers/go-digest"
	imgspecv1 "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/airgap-ocp/oc-plugins/internal/testenv"
	"github.com/airgap-ocp/oc-plugins/pkg/archive"
	"github.com/airgap-ocp/oc-plugins/pkg/mirror"
	"github.com/airgap-ocp/oc-plugins/pkg/plan"
)

// toDisk mirrors the release rel to an archive in dir and returns the
// source -> manifest digest of every image.
func toDisk(t *testing.T, sys *types.SystemContext, rel *testenv.Release, dir string, opts archive.WriterOptions) (map[string]digest.Digest, *archive.Index) {
	t.Helper()
	w, err := archive.Create(dir, opts)
	if err != nil {
		t.Fatal(err)
	}
	dw := mirror.NewDiskWriter(w)
	images, _ := releaseImages(t, sys, rel, "archive.invalid/release")
	for i := range images {
		images[i].Dest = dw.Ref()
	}
	res := mirror.Copy(context.Background(), images, mirror.Options{SourceCtx: sys})
	if err := res.Err(); err != nil {
		t.Fatalf("mirror to disk: %v", err)
	}
	idx := &archive.Index{Tool: "test"}
	got := map[string]digest.Digest{}
	for _, im := range res.Images {
		src := strings.TrimPrefix(im.Source.StringWithinTransport(), "//")
		got[src] = im.Digest
		idx.Images = append(idx.Images, plan.Item{Source: src, Digest: im.Digest, MediaType: im.MIMEType})
	}
	if err := w.Finish(idx); err != nil {
		t.Fatal(err)
	}
	return got, idx
}

// fromDisk pushes every image of the archive in dir to repo of dst, each
// tagged by its position.
func fromDisk(t *testing.T, sys *types.SystemContext, dir, repo string) (*mirror.Result, []*archive.ChunkError) {
	t.Helper()
	ar, err := archive.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer ar.Close()
	bad := ar.Verify(2)
	dr := mirror.NewDiskReader(ar)
	var images []mirror.Image
	for _, im := range ar.Index().Images {
		images = append(images, mirror.Image{Source: dr.Ref(im.Digest), Dest: ref(t, repo+"@"+im.Digest.String())})
	}
	return mirror.Copy(context.Background(), images, mirror.Options{SourceCtx: sys, DestCtx: sys}), bad
}

func TestDiskRoundTripKeepsDigestsAndStoresEachBlobOnce(t *testing.T) {
	src := testenv.StartRegistry(t)
	dst := testenv.StartRegistry(t)
	rel := src.PushRelease(t, testenv.ReleaseSpec{Components: 12, Arches: []string{"amd64", "arm64"}})
	sys := testenv.CombinedSystemContext(t, src, dst)
	dir := filepath.Join(t.TempDir(), "archive")
	digests, idx := toDisk(t, sys, rel, dir, archive.WriterOptions{ChunkSize: 256 << 10})

	seen := map[digest.Digest]int{}
	for _, c := range idx.Chunks {
		for _, m := range c.Blobs {
			seen[m.Digest]++
		}
	}
	for d, n := range seen {
		if n != 1 {
			t.Errorf("blob %s stored %d times", d, n)
		}
	}
	for _, d := range rel.SharedBlobs {
		if seen[d] != 1 {
			t.Errorf("shared base layer %s stored %d times, want once", d, seen[d])
		}
	}
	if len(idx.Chunks) < 2 {
		t.Errorf("%d chunks at 256 KiB each, want several", len(idx.Chunks))
	}

	res, bad := fromDisk(t, sys, dir, dst.Ref("mirror/ocp"))
	if len(bad) != 0 {
		t.Fatalf("a fresh archive does not verify: %v", bad)
	}
	checkAllCopied(t, res, mirror.StatusCopied)
	for srcRef, d := range digests {
		if got := destDigest(t, dst.SystemContext(), dst.Ref("mirror/ocp")+"@"+d.String()); got != d {
			t.Errorf("%s: the destination serves %s", srcRef, got)
		}
	}
	for d, n := range dst.Traffic().Uploads() {
		if n != 1 {
			t.Errorf("blob %s uploaded %d times", d, n)
		}
	}

	// A second push finds everything there.
	dst.Traffic().Reset()
	again, _ := fromDisk(t, sys, dir, dst.Ref("mirror/ocp"))
	checkAllCopied(t, again, mirror.StatusPresent)
	if n := dst.Traffic().TotalUploads(); n != 0 {
		t.Errorf("second push uploaded %d blobs", n)
	}

	// Re-running mirror to disk on the finished archive writes nothing new.
	before, _ := os.ReadFile(filepath.Join(dir, archive.ChunksFile))
	toDisk(t, sys, rel, dir, archive.WriterOptions{ChunkSize: 256 << 10})
	after, _ := os.ReadFile(filepath.Join(dir, archive.ChunksFile))
	if string(before) != string(after) {
		t.Error("re-running mirror to disk on a finished archive changed its chunks")
	}
}

func TestDiskCorruptChunkFailsOnlyTheImagesThatNeedIt(t *testing.T) {
	src := testenv.StartRegistry(t)
	dst := testenv.StartRegistry(t)
	// Own layers larger than a chunk: each is alone in a chunk, whatever
	// order the blobs reach the writer in (at 48 KiB, small blobs joined
	// them when they came first).
	rel := src.PushRelease(t, testenv.ReleaseSpec{Components: 8, OwnLayerSize: 80 << 10})
	sys := testenv.CombinedSystemContext(t, src, dst)
	dir := filepath.Join(t.TempDir(), "archive")
	_, idx := toDisk(t, sys, rel, dir, archive.WriterOptions{ChunkSize: 64 << 10, Lanes: 1})

	// Flip a byte of a chunk that holds one component's own layer only.
	shared := map[digest.Digest]bool{}
	for _, d := range rel.SharedBlobs {
		shared[d] = true
	}
	var victim archive.Chunk
	for _, c := range idx.Chunks {
		if len(c.Blobs) == 1 && !shared[c.Blobs[0].Digest] && c.Blobs[0].Size >= 64<<10 {
			victim = c
			break
		}
	}
	if victim.Name == "" {
		t.Fatalf("no chunk holding one own layer alone among %+v", idx.Chunks)
	}
	path := filepath.Join(dir, victim.Name)
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	data[victim.Blobs[0].Offset+10] ^= 0x80
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}

	res, bad := fromDisk(t, sys, dir, dst.Ref("mirror/ocp"))
	if len(bad) != 1 || bad[0].Chunk != victim.Name {
		t.Fatalf("Verify: %v, want %s refused", bad, victim.Name)
	}
	var failed, copied int
	for _, im := range res.Images {
		switch im.Status {
		case mirror.StatusFailed:
			failed++
			msg := im.Err.Error()
			if !strings.Contains(msg, victim.Name) || !strings.Contains(msg, victim.Blobs[0].Digest.String()) {
				t.Errorf("failure %q does not name the chunk and the blob", msg)
			}
		case mirror.StatusCopied:
			copied++
		}
	}
	if failed != 1 || copied != len(res.Images)-1 {
		t.Errorf("%d failed, %d copied of %d; want exactly the one image that needs the chunk to fail", failed, copied, len(res.Images))
	}
	if n := dst.Traffic().Uploads()[victim.Blobs[0].Digest]; n != 0 {
		t.Errorf("the corrupt blob was pushed %d times", n)
	}
}

// TestDiskRefusesOnlyTheImageWhoseManifestLiesAboutABlobSize: an archive
// holds two intact images sharing a layer and a third whose manifest
// gives that layer another size. Pushed with the liar first (the engine
// moves each blob with the size the first image gives), the liar alone is
// refused, naming the blob; the intact images arrive; nothing of the liar
// (its own layer, its manifest) is pushed.
func TestDiskRefusesOnlyTheImageWhoseManifestLiesAboutABlobSize(t *testing.T) {
	src := testenv.StartRegistry(t)
	dst := testenv.StartRegistry(t)
	sys := testenv.CombinedSystemContext(t, src, dst)
	shared := testenv.Layer{Files: []testenv.File{{Name: "base", Data: testenv.PseudoRandom("base", 64<<10)}}}
	own := func(name string) testenv.Image {
		return testenv.Image{Layers: []testenv.Layer{shared, {Files: []testenv.File{{Name: name, Data: testenv.PseudoRandom(name, 16<<10)}}}}}
	}
	src.MustPushImage(t, "apps/a:v1", own("a"))
	src.MustPushImage(t, "apps/b:v1", own("b"))
	// The liar: an honest image's manifest with the shared layer's size
	// changed, pushed as it is (the registry checks that blobs exist, not
	// their sizes).
	honest, err := own("liar").Build()
	if err != nil {
		t.Fatal(err)
	}
	src.MustPushImage(t, "apps/liar:honest", own("liar"))
	var m imgspecv1.Manifest
	if err := json.Unmarshal(honest.Manifest, &m); err != nil {
		t.Fatal(err)
	}
	m.Layers[0].Size++
	lie, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	liarRef := ref(t, src.Ref("apps/liar:v1"))
	dest, err := liarRef.NewImageDestination(context.Background(), sys)
	if err != nil {
		t.Fatal(err)
	}
	if err := dest.PutManifest(context.Background(), lie, nil); err != nil {
		t.Fatalf("pushing the lying manifest: %v", err)
	}
	_ = dest.Close()

	// To disk, the liar last: the shared layer is written at its true size.
	dir := filepath.Join(t.TempDir(), "archive")
	w, err := archive.Create(dir, archive.WriterOptions{})
	if err != nil {
		t.Fatal(err)
	}
	dw := mirror.NewDiskWriter(w)
	var images []mirror.Image
	for _, name := range []string{"apps/a:v1", "apps/b:v1", "apps/liar:v1"} {
		images = append(images, mirror.Image{Source: ref(t, src.Ref(name)), Dest: dw.Ref()})
	}
	res := mirror.Copy(context.Background(), images, mirror.Options{SourceCtx: sys})
	if err := res.Err(); err != nil {
		t.Fatalf("mirror to disk: %v", err)
	}
	// The index puts the liar first.
	idx := &archive.Index{Tool: "test"}
	for _, i := range []int{2, 0, 1} {
		im := res.Images[i]
		idx.Images = append(idx.Images, plan.Item{Source: strings.TrimPrefix(im.Source.StringWithinTransport(), "//"), Digest: im.Digest, MediaType: im.MIMEType})
	}
	if err := w.Finish(idx); err != nil {
		t.Fatal(err)
	}

	out, bad := fromDisk(t, sys, dir, dst.Ref("mirror/apps"))
	if len(bad) != 0 {
		t.Fatalf("the archive does not verify: %v", bad)
	}
	for i, im := range out.Images {
		if i == 0 {
			if im.Status != mirror.StatusFailed || !strings.Contains(fmt.Sprint(im.Err), m.Layers[0].Digest.String()) ||
				!strings.Contains(fmt.Sprint(im.Err), "size") {
				t.Errorf("the lying image: %s, %v; want refused naming the blob and its size", im.Status, im.Err)
			}
			continue
		}
		if im.Status != mirror.StatusCopied {
			t.Errorf("intact image %d: %s, %v; want copied", i, im.Status, im.Err)
		}
	}
	if n := dst.Traffic().Uploads()[honest.LayerDigests[1]]; n != 0 {
		t.Errorf("the refused image's own layer was pushed %d times", n)
	}
	if n := dst.Traffic().ManifestPuts(); n != 2 {
		t.Errorf("%d manifests pushed, want the 2 intact images'", n)
	}
}
