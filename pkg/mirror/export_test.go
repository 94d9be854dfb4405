package mirror

import (
	"testing"

	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
)

// SetTagPageSize makes tag lists ask for n tags a page until the test ends.
func SetTagPageSize(t testing.TB, n int) {
	old := tagPageSize
	tagPageSize = n
	t.Cleanup(func() { tagPageSize = old })
}

// MaxCheckConns is maxCheckConns.
const MaxCheckConns = maxCheckConns

// KeepChallenge keeps in dir, as a run before would have, that host asks
// for scheme with params.
func KeepChallenge(dir, host, scheme string, params map[string]string) {
	challengeCache{dir: dir}.store(host, &transport.Challenge{Scheme: scheme, Parameters: params})
}

// KeptChallenge is the scheme dir keeps for host, "" if none.
func KeptChallenge(dir, host string) string {
	if ch := (challengeCache{dir: dir}).load(host); ch != nil {
		return ch.Scheme
	}
	return ""
}
