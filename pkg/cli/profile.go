package cli

import (
	"os"
	"runtime/pprof"
)

// StartProfile writes a CPU profile of the run to the file named by
// OC_PLUGINS_CPUPROFILE, for the mirroring benchmark (hack/bench); unset,
// it does nothing. It returns the function that ends the profile.
func StartProfile() func() {
	name := os.Getenv("OC_PLUGINS_CPUPROFILE")
	if name == "" {
		return func() {}
	}
	f, err := os.Create(name)
	if err != nil {
		return func() {}
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return func() {}
	}
	return func() {
		pprof.StopCPUProfile()
		f.Close()
	}
}
