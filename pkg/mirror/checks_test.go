package mirror

import "testing"

// Existence checks are round trips only: four to a request slot, but no
// more than maxChecks at once (a connection each on an HTTP/1.1
// registry), and never fewer than the requests a user asked for; one
// when the user asked for one request at a time.
func TestCheckParallelIsFourPerSlotCappedButNeverBelowParallelAndOneAtOne(t *testing.T) {
	for parallel, want := range map[int]int{1: 1, 2: 8, 8: 32, DefaultParallel: 64, 64: 64, 100: 100} {
		r := &run{opts: Options{Parallel: parallel}}
		if got := r.checkParallel(); got != want {
			t.Errorf("--parallel %d: %d checks at once, want %d", parallel, got, want)
		}
	}
}
