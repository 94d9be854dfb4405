// Package cli holds what every plugin command shares: IO streams, kubeconfig
// and output flags, reading input objects, and one policy for errors and exit
// codes.
package cli

import (
	"errors"
	"fmt"
	"io"
	"strings"

	apierrors "k8s.io/apimachinery/pkg/api/errors"

	"github.com/airgap-ocp/oc-plugins/pkg/cluster"
	"github.com/airgap-ocp/oc-plugins/pkg/manifest"
)

// Exit codes, the same in every plugin.
const (
	// ExitOK: done, or verified.
	ExitOK = 0
	// ExitDiffers: a check found a difference (drift, a bad signature, an
	// object left in a state the user asked to be rid of).
	ExitDiffers = 1
	// ExitBadInput: bad usage or bad input; nothing was changed.
	ExitBadInput = 2
	// ExitFailed: a registry, network or cluster operation failed.
	ExitFailed = 3
)

// Version is the plugins' version, set at build time with -ldflags -X.
var Version = "v0.0.0-dev"

// exitError carries an exit code with an error.
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string { return e.err.Error() }
func (e *exitError) Unwrap() error { return e.err }

// BadInput marks err as bad usage or input (exit 2).
func BadInput(err error) error { return withCode(ExitBadInput, err) }

// BadInputf is BadInput(fmt.Errorf(format, args...)).
func BadInputf(format string, args ...any) error { return BadInput(fmt.Errorf(format, args...)) }

// Differs marks err as a check that found a difference (exit 1).
func Differs(err error) error { return withCode(ExitDiffers, err) }

// Failed marks err as a failed registry, network or cluster operation (exit 3).
func Failed(err error) error { return withCode(ExitFailed, err) }

func withCode(code int, err error) error {
	if err == nil {
		return nil
	}
	return &exitError{code: code, err: err}
}

// ExitCode is the exit code for err. Errors that were not marked are
// classified by what they are: bad input read from a stream, errors whose
// BadInput method says so (a cluster error that is the user's to fix among
// them) and API requests the server rejected as invalid are exit 2,
// anything else (a network or cluster failure) exit 3.
func ExitCode(err error) int {
	if err == nil {
		return ExitOK
	}
	var ee *exitError
	if errors.As(err, &ee) {
		return ee.code
	}
	var me *manifest.Error
	if errors.As(err, &me) {
		return ExitBadInput
	}
	var ce *cluster.Error
	if errors.As(err, &ce) {
		if ce.BadInput {
			return ExitBadInput
		}
		return ExitFailed
	}
	if apierrors.IsInvalid(err) || apierrors.IsBadRequest(err) {
		return ExitBadInput
	}
	// A package below cli says its error is the user's to resolve (an
	// archive directory holding a link, or held by another run).
	var bad interface{ BadInput() bool }
	if errors.As(err, &bad) && bad.BadInput() {
		return ExitBadInput
	}
	return ExitFailed
}

// PrintError writes err to w as the one line every plugin prints:
// "error: what failed: where: why", and for a registry that is not trusted
// or refuses the credentials, "; " and what to do about it.
func PrintError(w io.Writer, err error) {
	if err == nil {
		return
	}
	msg := strings.Join(strings.Fields(strings.ReplaceAll(err.Error(), "\n", " ")), " ")
	if h := hint(err); h != "" {
		msg += "; " + h
	}
	fmt.Fprintf(w, "error: %s\n", msg)
}
