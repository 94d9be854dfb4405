package mirror

import "testing"

// Existence checks are round trips only: eight to a request slot, but no
// more than maxChecks at once, and never fewer than the requests a user
// asked for; one when the user asked for one request at a time. Manifest
// pushes, a containers/image client each, four to a slot and 64 at most.
func TestCheckParallelIsEightPerSlotCappedButNeverBelowParallelAndOneAtOne(t *testing.T) {
	for parallel, want := range map[int][2]int{1: {1, 1}, 2: {16, 8}, 8: {64, 32}, DefaultParallel: {256, 64}, 64: {256, 64}, 300: {300, 300}} {
		r := &run{opts: Options{Parallel: parallel}}
		if got := [2]int{r.checkParallel(), r.pushParallel()}; got != want {
			t.Errorf("--parallel %d: %d checks and %d pushes at once, want %d and %d", parallel, got[0], got[1], want[0], want[1])
		}
	}
}
