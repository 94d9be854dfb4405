package release

import (
	"context"
	"encoding/json"
	"os"
	"reflect"
	"testing"

	"github.com/airgap-ocp/oc-plugins/internal/testenv"
)

// TestReadPayloadKeepsItsFilesByDigest: a re-run reads the release
// image's manifest and no layer when its digest was read before; what it
// returns is what the first read found. A damaged entry is read again
// from the registry and written anew.
func TestReadPayloadKeepsItsFilesByDigest(t *testing.T) {
	reg := testenv.StartRegistry(t)
	for _, tc := range []struct {
		name string
		spec testenv.ReleaseSpec
	}{
		{"release", testenv.ReleaseSpec{Version: "4.16.3", Components: 5}},
		{"multi-arch release", testenv.ReleaseSpec{Version: "4.18.0", Components: 3, Arches: []string{"amd64", "arm64"}, ReleaseRepo: "multi/release", ComponentRepo: "multi/art"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			dir := t.TempDir()
			rel := reg.PushRelease(t, tc.spec)
			read := func() (*Payload, int) {
				t.Helper()
				reg.Traffic().Reset()
				p, err := ReadPayload(ctx, reg.SystemContext(), rel.Tag, WithCache(dir))
				if err != nil {
					t.Fatal(err)
				}
				requests, pings := reg.Traffic().Requests()
				return p, requests - pings
			}
			first, n := read()
			again, m := read()
			t.Logf("first read: %d requests, the next: %d", n, m)
			if m != 1 {
				t.Errorf("the read of a release read before made %d requests besides the ping, want 1 (its manifest)", m)
			}
			if !reflect.DeepEqual(again, first) {
				t.Errorf("read from the cache:\n%+v\nwant what the registry gave:\n%+v", again, first)
			}

			entry := payloadCache{dir: dir}.path(first.Digest)
			if err := os.WriteFile(entry, []byte(`{"imageReferences": "bm90IGFuIGltYWdlc3RyZWFt"}`), 0o644); err != nil {
				t.Fatal(err)
			}
			if fixed, m := read(); m <= 1 || !reflect.DeepEqual(fixed, first) {
				t.Errorf("a damaged entry: %d requests, payload %+v; want the release read again", m, fixed)
			}
			var e cachedPayload
			if data, err := os.ReadFile(entry); err != nil || json.Unmarshal(data, &e) != nil || string(e.ImageReferences) != string(first.ImageReferences) {
				t.Errorf("the damaged entry was not written anew: %v", err)
			}
		})
	}
}
