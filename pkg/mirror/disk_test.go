package mirror_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/containers/image/v5/types"
	digest "github.com/opencontainers/go-digest"

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
	rel := src.PushRelease(t, testenv.ReleaseSpec{Components: 8, OwnLayerSize: 48 << 10})
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
		if len(c.Blobs) == 1 && !shared[c.Blobs[0].Digest] && c.Blobs[0].Size >= 40<<10 {
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
