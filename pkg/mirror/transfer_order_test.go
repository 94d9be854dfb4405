package mirror

import (
	"slices"
	"testing"

	"github.com/containers/image/v5/types"
	digest "github.com/opencontainers/go-digest"
)

// Workers that take blobs by size from both ends leave the blobs of
// middling size for last, and with them nearly every image: the pushes
// then come after the bytes, a tail of round trips on a long link. A
// worker in image order completes the first image first.
func TestQueueInImageOrderCompletesTheFirstImageFirstWhileOthersTakeTheLargest(t *testing.T) {
	// Two images: the first needs blobs 0-2 (sizes 5, 50, 20), the second
	// blobs 3-5 (sizes 10, 40, 30).
	sizes := []int64{5, 50, 20, 10, 40, 30}
	var groups []*blobGroup
	for i, size := range sizes {
		groups = append(groups, &blobGroup{seq: i, info: types.BlobInfo{Digest: digest.FromBytes([]byte{byte(i)}), Size: size}})
	}
	bySize := slices.Clone(groups)
	slices.SortStableFunc(bySize, func(a, b *blobGroup) int { return int(b.info.Size - a.info.Size) })
	q := newQueue(bySize)

	var got []int
	take := func(inOrder bool) {
		g, ok := q.next(inOrder)
		if !ok {
			t.Fatalf("next(%v): none left; want a blob", inOrder)
		}
		got = append(got, g.seq)
	}
	take(false) // the largest: 50, of the first image
	take(true)  // the first image's first blob
	take(true)  // its last, 50 being taken
	take(false) // the largest left: 40
	take(true)  // the second image's first
	take(false) // 30: the last left
	if want := []int{1, 0, 2, 4, 3, 5}; !slices.Equal(got, want) {
		t.Fatalf("blobs handed out %v, want %v", got, want)
	}
	if _, ok := q.next(true); ok {
		t.Error("a blob was handed out twice")
	}
}
