package archive

import (
	"errors"
	"fmt"
	"io"
	"os"
	"syscall"
)

// RefusedError is an archive directory this package will not use as it
// stands: a file in it that is not a regular file, or a directory another
// process holds. It is for the user to resolve (bad input), not a failed
// operation.
type RefusedError struct {
	Path string
	Why  string
}

func (e *RefusedError) Error() string { return e.Path + ": " + e.Why }

// BadInput marks the error as bad input for the command layer.
func (e *RefusedError) BadInput() bool { return true }

// openRegular opens path only if it is a regular file: a symbolic link is
// not followed (a planted chunk-NNNNN.tar.part must not make the writer
// truncate what it points to) and a FIFO or device is not waited on (a
// FIFO in place of a chunk would block a reader forever).
func openRegular(path string, flag int, perm os.FileMode) (*os.File, error) {
	f, err := os.OpenFile(path, flag|syscall.O_NOFOLLOW|syscall.O_NONBLOCK, perm)
	if err != nil {
		if errors.Is(err, syscall.ELOOP) {
			return nil, &RefusedError{path, "a symbolic link, not a regular file: refused"}
		}
		return nil, err
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, err
	}
	if !st.Mode().IsRegular() {
		f.Close()
		return nil, notRegular(path, st.Mode())
	}
	return f, nil
}

// checkRegular is openRegular for a file that is only looked at (Lstat).
func checkRegular(path string) (os.FileInfo, error) {
	st, err := os.Lstat(path)
	if err != nil {
		return nil, err
	}
	if !st.Mode().IsRegular() {
		return nil, notRegular(path, st.Mode())
	}
	return st, nil
}

func notRegular(path string, m os.FileMode) error {
	what := "special file"
	switch {
	case m&os.ModeSymlink != 0:
		what = "symbolic link"
	case m.IsDir():
		what = "directory"
	case m&os.ModeNamedPipe != 0:
		what = "FIFO"
	case m&os.ModeSocket != 0:
		what = "socket"
	case m&os.ModeDevice != 0:
		what = "device"
	}
	return &RefusedError{path, fmt.Sprintf("a %s, not a regular file: refused", what)}
}

// readRegular reads a regular file of at most limit bytes.
func readRegular(path string, limit int64) ([]byte, error) {
	f, err := openRegular(path, os.O_RDONLY, 0)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, limit+1))
	if err != nil {
		return nil, err
	}
	if int64(len(data)) > limit {
		return nil, fmt.Errorf("%s: larger than %d MiB: not an archive file", path, limit>>20)
	}
	return data, nil
}
