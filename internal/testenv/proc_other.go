//go:build !unix

package testenv

type watchdog struct{}

// startWatchdog has no watchdog to start outside unix: the cluster depends
// on Stop alone.
func startWatchdog(string) *watchdog { return nil }

func (w *watchdog) stop() {}
