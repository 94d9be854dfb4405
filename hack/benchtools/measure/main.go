// Command measure runs a command and writes what it cost to a JSON file:
// wall seconds, CPU seconds (user and system) and peak resident set, from
// wait4's rusage, the command's children included.
//
// The mirroring benchmark (hack/bench) runs every tool through it rather
// than forking the tool itself because Linux counts, in a process's peak
// RSS, the memory of the process that forked it up to the exec: forked
// from the benchmark, whose in-process registries hold about 100 MB, every
// tool would show at least that. This program is small, so the floor it
// adds is a few MB.
//
// Usage: measure OUT.json COMMAND [ARG...]
package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"syscall"
	"time"
)

// Result is what OUT.json holds.
type Result struct {
	Wall     float64 `json:"wallSeconds"`
	CPU      float64 `json:"cpuSeconds"`
	RSSKiB   int64   `json:"peakRSSKiB"`
	ExitCode int     `json:"exitCode"`
}

func main() {
	if len(os.Args) < 3 {
		fmt.Fprintln(os.Stderr, "usage: measure OUT.json COMMAND [ARG...]")
		os.Exit(2)
	}
	cmd := exec.Command(os.Args[2], os.Args[3:]...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
	start := time.Now()
	err := cmd.Run()
	res := Result{Wall: time.Since(start).Seconds()}
	var exit *exec.ExitError
	switch {
	case errors.As(err, &exit):
		res.ExitCode = exit.ExitCode()
	case err != nil:
		fmt.Fprintln(os.Stderr, "measure:", err)
		os.Exit(127)
	}
	if ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage); ok {
		res.CPU = float64(ru.Utime.Sec+ru.Stime.Sec) + float64(ru.Utime.Usec+ru.Stime.Usec)/1e6
		res.RSSKiB = ru.Maxrss // KiB on Linux
	}
	data, err := json.Marshal(res)
	if err == nil {
		err = os.WriteFile(os.Args[1], data, 0o644)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "measure:", err)
		os.Exit(127)
	}
	os.Exit(res.ExitCode)
}
