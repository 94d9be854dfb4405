package mirror_test

import (
	"context"
	"testing"

	"github.com/containers/image/v5/pkg/blobinfocache/none"
	"github.com/containers/image/v5/types"

	"github.com/airgap-ocp/oc-plugins/internal/testenv"
	"github.com/airgap-ocp/oc-plugins/pkg/mirror"
)

// A run that stopped after some uploads leaves a repository with blobs and no tag. The next
// run must not upload those blobs again, and must count them as present, not copied; and it
// sets up a client at the destination about once per image (for the push), not once per
// check as well.
func TestMirrorIntoRepositoryWithBlobsButNoTagsUploadsOnlyWhatIsMissing(t *testing.T) {
	ctx := context.Background()
	src := testenv.StartRegistry(t)
	dst := testenv.StartRegistry(t)
	rel := src.PushRelease(t, testenv.ReleaseSpec{Version: "4.16.3"})
	sys := testenv.CombinedSystemContext(t, src, dst)
	to := dst.Ref("mirror/ocp")
	images, _ := releaseImages(t, sys, rel, to)

	// The shared base layers are already in mirror/ocp, as an interrupted run leaves them.
	from, err := ref(t, rel.Components["cli"]).NewImageSource(ctx, sys)
	if err != nil {
		t.Fatal(err)
	}
	defer from.Close()
	into, err := ref(t, to+":interrupted").NewImageDestination(ctx, sys)
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range rel.SharedBlobs {
		rc, _, err := from.GetBlob(ctx, types.BlobInfo{Digest: d, Size: -1}, none.NoCache)
		if err != nil {
			t.Fatal(err)
		}
		_, err = into.PutBlob(ctx, rc, types.BlobInfo{Digest: d, Size: -1}, none.NoCache, false)
		rc.Close()
		if err != nil {
			t.Fatal(err)
		}
	}
	into.Close()

	dst.Traffic().Reset()
	res := mirror.Copy(ctx, images, mirror.Options{SourceCtx: sys, DestCtx: sys})
	checkAllCopied(t, res, mirror.StatusCopied)
	uploads := dst.Traffic().Uploads()
	for _, d := range rel.SharedBlobs {
		if uploads[d] != 0 {
			t.Errorf("shared base layer %s, already there, uploaded %d times", d, uploads[d])
		}
	}
	for d, n := range uploads {
		if n != 1 {
			t.Errorf("blob %s uploaded %d times, want once", d, n)
		}
	}
	if res.Stats.BlobsPresent < len(rel.SharedBlobs) {
		t.Errorf("stats say %d blobs present, want at least the %d that were there", res.Stats.BlobsPresent, len(rel.SharedBlobs))
	}
	if res.Stats.BlobsCopied != len(uploads) {
		t.Errorf("stats say %d blobs copied, the registry stored %d", res.Stats.BlobsCopied, len(uploads))
	}
	// One client per image for its push, plus the existence checks' kept client and the
	// repository's pools of blob destinations and read-back sources (two requests per
	// client: half the default parallelism each, at most).
	if _, pings := dst.Traffic().Requests(); pings > len(images)+mirror.DefaultParallel+2 {
		t.Errorf("%d clients set up at the destination for %d images, want about one per image", pings, len(images))
	}
}
