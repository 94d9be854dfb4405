//go:build unix

package testenv

import (
	"os"
	"os/exec"
	"syscall"
)

// watchdogScript waits for its stdin to reach end of file, which happens
// when the process holding the pipe's other end exits however it exits
// (killed, crashed, a test timeout), then kills the etcd and kube-apiserver
// whose data and certificate folders are under $1, and removes $1.
const watchdogScript = `read _
for p in /proc/[0-9]*; do
	args=$(tr '\0' '\n' < "$p/cmdline" 2>/dev/null) || continue
	case "$args" in
	*"--data-dir=$1/etcd"*|*"--cert-dir=$1/apiserver"*) kill -KILL "${p#/proc/}" 2>/dev/null ;;
	esac
done
rm -rf "$1"
`

// watchdog stops a cluster's processes if this process dies without
// stopping them.
type watchdog struct {
	cmd  *exec.Cmd
	pipe *os.File // kept open (and reachable) while this process lives
}

// startWatchdog starts a watchdog for the cluster in dir. Without /bin/sh it
// returns nil: the cluster then depends on Stop alone.
func startWatchdog(dir string) *watchdog {
	r, w, err := os.Pipe()
	if err != nil {
		return nil
	}
	cmd := exec.Command("/bin/sh", "-c", watchdogScript, "sh", dir)
	cmd.Stdin = r
	// Its own process group: a Ctrl-C for the test binary must not end it first.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	err = cmd.Start()
	r.Close()
	if err != nil {
		w.Close()
		return nil
	}
	return &watchdog{cmd: cmd, pipe: w}
}

// stop ends the watchdog without letting it act.
func (w *watchdog) stop() {
	if w == nil {
		return
	}
	_ = w.cmd.Process.Kill()
	_ = w.cmd.Wait()
	w.pipe.Close()
}
