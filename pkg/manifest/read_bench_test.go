package manifest

import (
	"bytes"
	"fmt"
	"testing"
)

// stream returns a YAML stream of at least size bytes: ConfigMaps of a
// few KB each, separated by ---, as `oc get -o yaml` piped through a
// filter produces them.
func stream(size int) ([]byte, int) {
	var buf bytes.Buffer
	n := 0
	for buf.Len() < size {
		fmt.Fprintf(&buf, "---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: config-%d\n  namespace: openshift-config\n  labels:\n    app: bench\n    index: \"%d\"\ndata:\n", n, n)
		for k := range 40 {
			fmt.Fprintf(&buf, "  key-%02d: \"value %d of config %d, long enough to look like a real setting\"\n", k, k, n)
		}
		n++
	}
	return buf.Bytes(), n
}

// BenchmarkRead10MB parses a 10 MB YAML stream into objects (issue 8:
// under 1 s).
func BenchmarkRead10MB(b *testing.B) {
	data, docs := stream(10 << 20)
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		objs, err := Read(bytes.NewReader(data), "bench.yaml")
		if err != nil {
			b.Fatal(err)
		}
		if len(objs) != docs {
			b.Fatalf("read %d objects, want %d", len(objs), docs)
		}
	}
}
