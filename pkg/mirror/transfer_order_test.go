package mirror

import (
	"slices"
	"testing"

	"github.com/containers/image/v5/types"
	digest "github.com/opencontainers/go-digest"
)

// queueOf queues blobs of the given sizes, each its own image's blob in
// that order, largest first as checkBlobs hands them over.
func queueOf(sizes ...int64) *queue {
	var groups []*blobGroup
	for i, size := range sizes {
		groups = append(groups, &blobGroup{seq: i, info: types.BlobInfo{Digest: digest.FromBytes([]byte{byte(i)}), Size: size}})
	}
	slices.SortStableFunc(groups, func(a, b *blobGroup) int { return int(b.info.Size - a.info.Size) })
	return newQueue(groups)
}

func take(t *testing.T, q *queue, l lane) int {
	t.Helper()
	g, ok := q.next(l)
	if !ok {
		t.Fatalf("next(%v): none left; want a blob", l)
	}
	return g.seq
}

// Workers that take blobs by size from both ends leave the blobs of
// middling size for last, and with them nearly every image: the pushes
// then come after the bytes, a tail of round trips on a long link. A
// worker in image order completes the first image first.
func TestQueueInImageOrderCompletesTheFirstImageFirstWhileOthersTakeTheLargest(t *testing.T) {
	const mib = 1 << 20
	// Blobs 0-2 (5, 50, 20 MiB) and 3-5 (10, 40, 30 MiB), in image order.
	q := queueOf(5*mib, 50*mib, 20*mib, 10*mib, 40*mib, 30*mib)
	got := []int{
		take(t, q, largest),    // 50 MiB, of the first image
		take(t, q, imageOrder), // the first image's first blob
		take(t, q, imageOrder), // its last, 50 MiB being taken
		take(t, q, largest),    // the largest left: 40 MiB
		take(t, q, imageOrder), // the second image's first
		take(t, q, largest),    // 30 MiB: the last left
	}
	if want := []int{1, 0, 2, 4, 3, 5}; !slices.Equal(got, want) {
		t.Fatalf("blobs handed out %v, want %v", got, want)
	}
	if _, ok := q.next(imageOrder); ok {
		t.Error("a blob was handed out twice")
	}
}

// Small blobs (configs, empty layers) are all round trips: left to the
// transfer workers they end a run hundreds in a row, a transfer slot
// each, with too few bytes in flight to fill a long link. Workers of
// their own take them, in image order, and never a large one; a
// transfer worker with no large blob left helps with them.
func TestQueueGivesSmallBlobsALaneOfTheirOwn(t *testing.T) {
	const mib = 1 << 20
	// Blob 0 is 2 MiB, 1 a 1 KiB config, 2 an empty layer, 3 just under
	// a MiB, 4 of unknown size (large until known).
	q := queueOf(2*mib, 1024, 0, mib-1, -1)
	got := []int{
		take(t, q, smallOnly),  // the first small blob in image order
		take(t, q, largest),    // 2 MiB
		take(t, q, imageOrder), // the unknown size, in image order
		take(t, q, smallOnly),  // the empty layer
	}
	if want := []int{1, 0, 4, 2}; !slices.Equal(got, want) {
		t.Fatalf("blobs handed out %v, want %v", got, want)
	}
	if got := take(t, q, largest); got != 3 {
		t.Fatalf("a transfer worker with no large blob left got blob %d, want the small blob 3", got)
	}
	if _, ok := q.next(smallOnly); ok {
		t.Error("a blob was handed out twice")
	}

	q = queueOf(2*mib, 3*mib)
	if g, ok := q.next(smallOnly); ok {
		t.Fatalf("a small-blob worker took a %d-byte blob", g.info.Size)
	}
}
