package mirror_test

import (
	"bytes"
	"context"
	"fmt"
	"regexp"
	"strconv"
	"testing"
	"time"

	"github.com/containers/image/v5/docker"
	"github.com/containers/image/v5/docker/reference"

	"github.com/airgap-ocp/oc-plugins/internal/testenv"
	"github.com/airgap-ocp/oc-plugins/pkg/mirror"
)

// operatorLike pushes n images by digest, each in a repository of its own
// on a shared base layer, as an operator catalog's images are, and returns
// them as images going to repositories of their own at dst.
func operatorLike(t *testing.T, src, dst *testenv.Registry, n int) []mirror.Image {
	t.Helper()
	base := testenv.Layer{Files: []testenv.File{{Name: "base", Data: bytes.Repeat([]byte("shared base layer "), 4096)}}}
	var images []mirror.Image
	for i := range n {
		repo := fmt.Sprintf("operators/op-%02d", i)
		d := src.MustPushImage(t, repo, testenv.Image{Layers: []testenv.Layer{base, {Files: []testenv.File{{Name: "own", Data: []byte(repo)}}}}})
		from, err := reference.ParseNormalizedNamed(src.Ref(repo) + "@" + d.String())
		if err != nil {
			t.Fatal(err)
		}
		to, err := reference.ParseNormalizedNamed(dst.Ref("mirror/" + repo))
		if err != nil {
			t.Fatal(err)
		}
		s, err := docker.NewReference(from)
		if err != nil {
			t.Fatal(err)
		}
		dd, err := docker.NewReferenceUnknownDigest(to)
		if err != nil {
			t.Fatal(err)
		}
		images = append(images, mirror.Image{Source: s, Dest: dd})
	}
	return images
}

// TestOpenConnectionsDoNotGrowWithRepositories: every containers/image
// client holds a copy of the certificates it trusts and its idle
// connections, so a run that kept each repository's clients (and each
// image's destination) to its end grew with the number of repositories
// (an operator catalog names hundreds). A repository's clients are closed
// once its images are pushed: what is open at once follows --parallel.
func TestOpenConnectionsDoNotGrowWithRepositories(t *testing.T) {
	peak := func(repos int) (src, dst int) {
		s := testenv.StartRegistry(t)
		d := testenv.StartRegistry(t)
		sys := testenv.CombinedSystemContext(t, s, d)
		images := operatorLike(t, s, d, repos)
		s.Traffic().Reset()
		res := mirror.Copy(context.Background(), images, mirror.Options{SourceCtx: sys, DestCtx: sys, Parallel: 1})
		checkAllCopied(t, res, mirror.StatusCopied)
		src, dst = s.Traffic().PeakConnections(), d.Traffic().PeakConnections()
		t.Logf("%d repositories: at most %d connections open at once at the source, %d at the destination", repos, src, dst)
		return src, dst
	}
	const few, many, slack = 12, 36, 2
	src1, dst1 := peak(few)
	src2, dst2 := peak(many)
	if src2 > src1+slack {
		t.Errorf("source: %d connections open at once for %d repositories, %d for %d: want no more for more repositories",
			src2, many, src1, few)
	}
	if dst2 > dst1+slack {
		t.Errorf("destination: %d connections open at once for %d repositories, %d for %d: want no more for more repositories",
			dst2, many, dst1, few)
	}
}

// TestProgressCountsMountsAmongTheBlobsToBring: a blob mounted into a
// repository is one of the blobs done, so it is one of those to do too.
func TestProgressCountsMountsAmongTheBlobsToBring(t *testing.T) {
	src := testenv.StartRegistry(t)
	dst := testenv.StartRegistry(t)
	sys := testenv.CombinedSystemContext(t, src, dst)
	images := operatorLike(t, src, dst, 6)
	var progress bytes.Buffer
	res := mirror.Copy(context.Background(), images, mirror.Options{
		SourceCtx: sys, DestCtx: sys, Progress: &progress, ProgressInterval: time.Millisecond,
	})
	checkAllCopied(t, res, mirror.StatusCopied)
	if res.Stats.BlobsMounted == 0 {
		t.Fatalf("no blob mounted: the shared base layer should be uploaded once and mounted elsewhere")
	}
	lines := regexp.MustCompile(`blobs (\d+)/(\d+)`).FindAllStringSubmatch(progress.String(), -1)
	if len(lines) == 0 {
		t.Fatalf("no progress line; got %q", progress.String())
	}
	for _, m := range lines {
		done, _ := strconv.Atoi(m[1])
		total, _ := strconv.Atoi(m[2])
		if done > total {
			t.Fatalf("progress says %s: more blobs done than to do", m[0])
		}
	}
}

// TestPushedManifestsAreReadBackOverTheKeptClient: the check that the
// destination serves each pushed manifest byte for byte, like the reading
// of each source manifest, goes through the registry's kept client
// (exists.go), not a containers/image client per repository, each with a
// ping and handshakes of its own. Clients are set up per repository for
// its blobs: no more.
func TestPushedManifestsAreReadBackOverTheKeptClient(t *testing.T) {
	src := testenv.StartRegistry(t)
	dst := testenv.StartRegistry(t)
	sys := testenv.CombinedSystemContext(t, src, dst)
	const repos = 8
	images := operatorLike(t, src, dst, repos)
	src.Traffic().Reset()
	res := mirror.Copy(context.Background(), images, mirror.Options{SourceCtx: sys, DestCtx: sys, Parallel: 4})
	checkAllCopied(t, res, mirror.StatusCopied)
	// Per repository the clients of its blobs (two when its small and
	// large blobs overlap), and the kept client's one ping for the
	// registry (pushes and read-backs); a spare when requests overlap.
	_, dstPings := dst.Traffic().Requests()
	_, srcPings := src.Traffic().Requests()
	t.Logf("%d images in %d repositories: %d clients set up (pings) at the destination, %d at the source",
		len(images), repos, dstPings, srcPings)
	if want := 2*repos + 5; dstPings > want {
		t.Errorf("destination: %d clients set up (pings), want at most %d", dstPings, want)
	}
	// The source is read through the kept client alone: the manifests,
	// and the blobs over connections of its own (exists.go, bulk).
	if want := 1; srcPings > want {
		t.Errorf("source: %d clients set up (pings), want at most %d", srcPings, want)
	}
}
