package mirror

import "testing"

// A manifest with a subject (a signature or SBOM attached the OCI 1.1
// way) is pushed through containers/image: go-containerregistry would
// also rewrite the subject's referrers tag on a registry without the
// referrers API, a tag the user never asked for.
func TestHasSubject(t *testing.T) {
	for _, tc := range []struct {
		raw  string
		want bool
	}{
		{`{"schemaVersion":2,"config":{},"layers":[]}`, false},
		{`{"schemaVersion":2,"subject":null}`, false},
		{`{"schemaVersion":2,"subject":{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:` +
			`0000000000000000000000000000000000000000000000000000000000000000","size":2}}`, true},
		{`not json`, false},
	} {
		if got := hasSubject([]byte(tc.raw)); got != tc.want {
			t.Errorf("hasSubject(%s) = %v, want %v", tc.raw, got, tc.want)
		}
	}
}
