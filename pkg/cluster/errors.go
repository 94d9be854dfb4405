package cluster

import (
	"errors"
	"fmt"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// Error is a cluster operation that did not succeed. The commands turn it
// into an exit code (pkg/cli): a BadInput error is the user's to fix, any
// other is a failed cluster operation.
type Error struct {
	Err error
	// BadInput: the kubeconfig does not load, or the server rejected what
	// was sent as invalid.
	BadInput bool
}

func (e *Error) Error() string { return e.Err.Error() }
func (e *Error) Unwrap() error { return e.Err }

// failed marks err as a failed cluster operation.
func failed(err error) error {
	if err == nil {
		return nil
	}
	return &Error{Err: err}
}

// badInput marks err as the user's to fix.
func badInput(err error) error {
	if err == nil {
		return nil
	}
	return &Error{Err: err, BadInput: true}
}

// denied turns an RBAC denial into one line that names the verb and the
// resource; other errors are marked as failed operations.
func denied(err error, verb string, gvr schema.GroupVersionResource, namespace string) error {
	if err == nil {
		return nil
	}
	if !apierrors.IsForbidden(err) {
		return failed(err)
	}
	where := ""
	if namespace != "" {
		where = fmt.Sprintf(" in namespace %q", namespace)
	}
	reason := err.Error()
	var se apierrors.APIStatus
	if errors.As(err, &se) {
		reason = se.Status().Message
	}
	return failed(fmt.Errorf("not allowed to %s %s%s: %s", verb, gvr.GroupResource(), where, reason))
}
