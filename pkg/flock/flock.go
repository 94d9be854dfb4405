// Package flock takes advisory locks (flock(2)) without waiting, on the
// folders two runs must not use at once: an archive being written, a
// catalog copy kept between runs.
package flock

import (
	"errors"
	"os"
	"syscall"
)

var (
	// ErrHeld: another process holds a lock that excludes this one.
	ErrHeld = errors.New("held by another process")
	// ErrUnsupported: the file system has no locks (some network file
	// systems); callers go on unlocked, as before they took locks.
	ErrUnsupported = errors.New("the file system has no locks")
)

// Try takes f's lock, exclusive or shared, without waiting; it lasts
// until f (every descriptor of it) is closed.
func Try(f *os.File, exclusive bool) error {
	how := syscall.LOCK_SH
	if exclusive {
		how = syscall.LOCK_EX
	}
	err := syscall.Flock(int(f.Fd()), how|syscall.LOCK_NB)
	switch {
	case err == nil:
		return nil
	case errors.Is(err, syscall.EWOULDBLOCK):
		return ErrHeld
	case errors.Is(err, syscall.ENOTSUP), errors.Is(err, syscall.ENOLCK):
		return ErrUnsupported
	}
	return err
}
