package cli

import (
	"bytes"
	"os"
	"runtime"
	"runtime/pprof"
	"time"
)

// StartProfile writes a CPU profile of the run to the file named by
// OC_PLUGINS_CPUPROFILE, and a heap profile taken when the heap in use was
// largest to the file named by OC_PLUGINS_HEAPPROFILE, for the mirroring
// benchmark (hack/bench); unset, they do nothing. It returns the function
// that ends them.
func StartProfile() func() {
	stopCPU := startCPUProfile(os.Getenv("OC_PLUGINS_CPUPROFILE"))
	stopHeap := startHeapProfile(os.Getenv("OC_PLUGINS_HEAPPROFILE"))
	return func() {
		stopCPU()
		stopHeap()
	}
}

func startCPUProfile(name string) func() {
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

// startHeapProfile collects the garbage twice a second and keeps the
// profile of the largest live heap: the peak is what a memory target is
// about, and it is gone by the time the run ends. (A heap profile is as
// of the collection before last, hence two.)
func startHeapProfile(name string) func() {
	if name == "" {
		return func() {}
	}
	done, stopped := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(stopped)
		var peak uint64
		var best []byte
		tick := time.NewTicker(500 * time.Millisecond)
		defer tick.Stop()
		for {
			runtime.GC()
			runtime.GC()
			var ms runtime.MemStats
			runtime.ReadMemStats(&ms)
			if ms.HeapAlloc > peak {
				var buf bytes.Buffer
				if pprof.Lookup("heap").WriteTo(&buf, 0) == nil {
					peak, best = ms.HeapAlloc, buf.Bytes()
				}
			}
			select {
			case <-done:
				_ = os.WriteFile(name, best, 0o644)
				return
			case <-tick.C:
			}
		}
	}()
	return func() {
		close(done)
		<-stopped
	}
}
