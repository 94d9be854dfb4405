package archive

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/airgap-ocp/oc-plugins/pkg/flock"
)

// lockFile names, while a Writer holds the directory, the process that
// does, for the message a second run prints.
const lockFile = ".lock"

// dirLock is a flock on an archive directory: exclusive while a Writer
// writes it, shared while a Reader reads it, so that two runs never write
// the same archive and none is read while it is being written.
type dirLock struct {
	d       *os.File
	pidFile string
}

func lockDir(dir string, exclusive bool) (*dirLock, error) {
	d, err := os.Open(dir)
	if errors.Is(err, os.ErrNotExist) && !exclusive {
		return &dirLock{}, nil // nothing to read: reading the index says so
	}
	if err != nil {
		return nil, err
	}
	if err := flock.Try(d, exclusive); err != nil {
		d.Close()
		switch {
		case errors.Is(err, flock.ErrHeld):
			return nil, &RefusedError{dir, holder(dir)}
		case errors.Is(err, flock.ErrUnsupported):
			return &dirLock{}, nil // as before locks
		}
		return nil, fmt.Errorf("locking %s: %w", dir, err)
	}
	l := &dirLock{d: d}
	if exclusive {
		l.pidFile = filepath.Join(dir, lockFile)
		f, err := openRegular(l.pidFile, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644)
		if err == nil {
			_, err = fmt.Fprintf(f, "%d %s\n", os.Getpid(), filepath.Base(os.Args[0]))
			err = errors.Join(err, f.Close())
		}
		if err != nil {
			l.release()
			return nil, err
		}
	}
	return l, nil
}

// holder says who holds dir: a writer (by its process) or readers.
func holder(dir string) string {
	if d, err := os.Open(dir); err == nil {
		defer d.Close()
		if flock.Try(d, false) == nil {
			return "the archive is being read by another process (--from); run again when it is done"
		}
	}
	data, err := readRegular(filepath.Join(dir, lockFile), 4096)
	if pid, prog, ok := strings.Cut(strings.TrimSpace(string(data)), " "); err == nil && ok {
		return fmt.Sprintf("the archive is being written by process %s (%s); wait for it to finish or stop it", pid, prog)
	}
	return "the archive is being written by another process; wait for it to finish or stop it"
}

func (l *dirLock) release() {
	if l == nil || l.d == nil {
		return
	}
	if l.pidFile != "" {
		os.Remove(l.pidFile)
	}
	l.d.Close() // closing the last descriptor drops the flock
	l.d = nil
}
