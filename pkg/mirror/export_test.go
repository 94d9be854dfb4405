package mirror

import "testing"

// SetTagPageSize makes tag lists ask for n tags a page until the test ends.
func SetTagPageSize(t testing.TB, n int) {
	old := tagPageSize
	tagPageSize = n
	t.Cleanup(func() { tagPageSize = old })
}

// MaxCheckConns is maxCheckConns.
const MaxCheckConns = maxCheckConns
