package signature

import (
	"encoding/json"
	"testing"
)

// FuzzParsePayload feeds the atomic container signature parser arbitrary
// bytes: it never panics, and what it accepts is one JSON object of the
// right type claiming a non-empty identity and digest.
func FuzzParsePayload(f *testing.F) {
	for _, seed := range []string{
		`{"critical":{"type":"atomic container signature","image":{"docker-manifest-digest":"sha256:e3f12513a4b22a2d7c0e7c9207f52128113758d9d68c7d06b11a0ac7672966f7"},"identity":{"docker-reference":"quay.io/openshift-release-dev/ocp-release:4.16.3-x86_64"}},"optional":{"creator":"Red Hat","timestamp":1719913496}}`,
		`{"critical":{"type":"atomic container signature","image":{"docker-manifest-digest":"sha256:0"},"identity":{"docker-reference":"x"}}}`,
		`{"critical":{"type":"x"}}`,
		`{"critical":{},"critical":{}}`,
		`{"optional":{"timestamp":1e400}}`,
		`{"optional":{"timestamp":"1"}}`,
		`[]`, `null`, ``, `{`,
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := parsePayload(data)
		if err != nil {
			if c != nil {
				t.Fatal("claims returned with an error")
			}
			return
		}
		var v map[string]json.RawMessage
		if err := json.Unmarshal(data, &v); err != nil {
			t.Fatalf("accepted a payload that is not a JSON object: %v", err)
		}
		if _, ok := v["critical"]; !ok {
			t.Fatal("accepted a payload without critical")
		}
		if c.typ != SignatureType || c.identity == "" || c.digest == "" {
			t.Fatalf("accepted incomplete claims %+v", c)
		}
	})
}
