//go:build !unix

package testenv

// lockFile does not lock where flock is missing; the testbin build then
// relies on one test binary building it first.
func lockFile(string) (unlock func(), err error) { return func() {}, nil }

type watchdog struct{}

// startWatchdog has no watchdog to start outside unix: the cluster depends
// on Stop alone.
func startWatchdog(string) *watchdog { return nil }

func (w *watchdog) stop() {}
