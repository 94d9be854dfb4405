package mirror_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/airgap-ocp/oc-plugins/internal/testenv"
	"github.com/airgap-ocp/oc-plugins/pkg/mirror"
)

// BenchmarkMirror copies a small synthetic release (20 components on three
// shared bases, about 9 MB unique) into a fresh destination registry per
// iteration, at several --parallel values: the measurement behind
// DefaultParallel. Run: make bench, or
// go test -run '^$' -bench Mirror -benchtime 3x ./pkg/mirror/
func BenchmarkMirror(b *testing.B) {
	src := testenv.StartRegistry(b)
	rel := src.PushRelease(b, testenv.ReleaseSpec{Components: 20, BaseLayerSize: 1 << 20, OwnLayerSize: 256 << 10})
	for _, parallel := range []int{1, 4, mirror.DefaultParallel, 16} {
		b.Run(fmt.Sprintf("parallel=%d", parallel), func(b *testing.B) {
			var bytes int64
			var requests, pings, srcRequests, srcPings, conns, srcConns int
			for range b.N {
				b.StopTimer()
				dst := testenv.StartRegistry(b)
				sys := testenv.CombinedSystemContext(b, src, dst)
				images, _ := releaseImages(b, sys, rel, dst.Ref("mirror/ocp"))
				src.Traffic().Reset()
				b.StartTimer()
				res := mirror.Copy(context.Background(), images, mirror.Options{SourceCtx: sys, DestCtx: sys, Parallel: parallel})
				b.StopTimer()
				if err := res.Err(); err != nil {
					b.Fatal(err)
				}
				bytes = res.Stats.BytesCopied
				r, p := dst.Traffic().Requests()
				sr, sp := src.Traffic().Requests()
				requests, pings, srcRequests, srcPings = requests+r, pings+p, srcRequests+sr, srcPings+sp
				conns, srcConns = conns+dst.Traffic().Connections(), srcConns+src.Traffic().Connections()
				if err := dst.Close(); err != nil {
					b.Fatal(err)
				}
				b.StartTimer()
			}
			b.SetBytes(bytes)
			// What each run asks of the registries, for issue-8 tuning.
			b.ReportMetric(float64(requests)/float64(b.N), "dest-requests/op")
			b.ReportMetric(float64(pings)/float64(b.N), "dest-pings/op")
			b.ReportMetric(float64(srcRequests)/float64(b.N), "src-requests/op")
			b.ReportMetric(float64(srcPings)/float64(b.N), "src-pings/op")
			b.ReportMetric(float64(conns)/float64(b.N), "dest-conns/op")
			b.ReportMetric(float64(srcConns)/float64(b.N), "src-conns/op")
		})
	}
}
