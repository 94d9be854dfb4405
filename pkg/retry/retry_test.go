package retry

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"syscall"
	"testing"
	"time"

	"github.com/containers/image/v5/docker"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// lasting is a failure known to last, such as a registry found down.
type lasting struct{ error }

func (lasting) Transient() bool { return false }
func (e lasting) Unwrap() error { return e.error }

func TestIsTransient(t *testing.T) {
	gr := schema.GroupResource{Resource: "x"}
	for _, tc := range []struct {
		name string
		err  error
		want bool
	}{
		{"a connection reset is retried", fmt.Errorf("writing: %w", &url.Error{Op: "Patch", URL: "https://r/v2/x", Err: syscall.ECONNRESET}), true},
		{"an EOF mid-request is retried", fmt.Errorf("writing: %w", &url.Error{Op: "Patch", URL: "https://r/v2/x", Err: io.EOF}), true},
		{"an unexpected EOF is retried", io.ErrUnexpectedEOF, true},
		{"429 is retried", docker.ErrTooManyRequests, true},
		{"429 with an unparsed body is retried", errors.New(`uploading layer chunked: StatusCode: 429, "busy"`), true},
		{"500 is retried", docker.UnexpectedHTTPStatusError{StatusCode: 500}, true},
		{"408 is retried", errors.New("error parsing HTTP 408 response body: no error details found"), true},
		{"404 is final", docker.UnexpectedHTTPStatusError{StatusCode: 404}, false},
		{"a per-request timeout is retried", fmt.Errorf("reading: %w", context.DeadlineExceeded), true},
		{"the caller's cancel is final", context.Canceled, false},
		{"wrong credentials are final", docker.ErrUnauthorizedForCredentials{Err: errors.New("401")}, false},
		{"an unknown failure is final", errors.New("manifest invalid"), false},
		{"an unknown host is final", &url.Error{Op: "Get", URL: "https://nowhere.example/v2/", Err: &net.OpError{Op: "dial", Err: &net.DNSError{Err: "no such host", Name: "nowhere.example", IsNotFound: true}}}, false},
		{"a DNS timeout is retried", &net.DNSError{Err: "timeout", Name: "r.example", IsTimeout: true}, true},
		{"a signature store's 503 is retried", fmt.Errorf("fetching x: %w", &StatusError{Code: 503, Status: "503 Service Unavailable"}), true},
		{"a signature store's 403 is final", &StatusError{Code: 403, Status: "403 Forbidden"}, false},
		{"an API server that is unavailable is retried", apierrors.NewServiceUnavailable("x"), true},
		{"an API server's 429 is retried", apierrors.NewTooManyRequests("x", 1), true},
		{"an API server timeout is retried", apierrors.NewServerTimeout(gr, "get", 1), true},
		{"an API server's internal error is retried", apierrors.NewInternalError(errors.New("x")), true},
		{"an API conflict is final", apierrors.NewConflict(gr, "x", errors.New("x")), false},
		{"an API denial is final", apierrors.NewForbidden(gr, "x", errors.New("x")), false},
		{"an API not found is final", apierrors.NewNotFound(gr, "x"), false},
		{"an invalid object is final", apierrors.NewBadRequest("x"), false},
		{"an error that says it is final is, whatever it wraps", fmt.Errorf("copying: %w", lasting{docker.UnexpectedHTTPStatusError{StatusCode: 500}}), false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := IsTransient(tc.err); got != tc.want {
				t.Errorf("IsTransient(%v) = %v, want %v", tc.err, got, tc.want)
			}
		})
	}
}

func TestDoRetriesTransientErrorsOnly(t *testing.T) {
	p := Policy{Attempts: 4, Base: time.Millisecond, Max: 2 * time.Millisecond}
	calls := 0
	err := Do(context.Background(), p, func(context.Context) error {
		calls++
		if calls < 3 {
			return io.ErrUnexpectedEOF
		}
		return nil
	})
	if err != nil || calls != 3 {
		t.Errorf("Do: err %v after %d calls, want success on the third", err, calls)
	}
	calls = 0
	final := errors.New("denied")
	if err := Do(context.Background(), p, func(context.Context) error { calls++; return final }); !errors.Is(err, final) || calls != 1 {
		t.Errorf("Do with a final error: %v after %d calls, want it after one", err, calls)
	}
	calls = 0
	if err := Do(context.Background(), p, func(context.Context) error { calls++; return io.ErrUnexpectedEOF }); err == nil || calls != 4 {
		t.Errorf("Do with a lasting transient error: %v after %d calls, want failure after 4", err, calls)
	}
}

func TestBackoffGrowsWithJitterUpToMax(t *testing.T) {
	p := Policy{Attempts: 10, Base: 100 * time.Millisecond, Max: time.Second}
	for n, want := range map[int]time.Duration{1: 100 * time.Millisecond, 2: 200 * time.Millisecond, 3: 400 * time.Millisecond, 8: time.Second} {
		for range 50 {
			if got := p.Backoff(n); got < want/2 || got > want {
				t.Fatalf("Backoff(%d) = %v, want within [%v, %v]", n, got, want/2, want)
			}
		}
	}
}

func TestDoStepsGivesEachStepItsOwnAttempts(t *testing.T) {
	p := Policy{Attempts: 2, Base: time.Millisecond, Max: 2 * time.Millisecond}
	// Each step fails once: five failures in all, none twice.
	fails := []int{0, 1, 2, 3}
	calls := 0
	err := DoSteps(context.Background(), p, func(context.Context) (int, error) {
		calls++
		if len(fails) > 0 {
			step := fails[0]
			fails = fails[1:]
			return step, io.ErrUnexpectedEOF
		}
		return 0, nil
	})
	if err != nil || calls != 5 {
		t.Errorf("DoSteps: %v after %d calls, want success on the fifth", err, calls)
	}
	// One step that keeps failing uses up its attempts, however the others fare.
	calls = 0
	err = DoSteps(context.Background(), p, func(context.Context) (int, error) {
		calls++
		return 2, io.ErrUnexpectedEOF
	})
	if err == nil || calls != 2 {
		t.Errorf("DoSteps with a lasting failure of one step: %v after %d calls, want failure after 2", err, calls)
	}
	calls = 0
	final := errors.New("denied")
	if err := DoSteps(context.Background(), p, func(context.Context) (int, error) { calls++; return 1, final }); !errors.Is(err, final) || calls != 1 {
		t.Errorf("DoSteps with a final error: %v after %d calls, want it after one", err, calls)
	}
}

type afterErr time.Duration

func (a afterErr) Error() string             { return "busy" }
func (a afterErr) RetryAfter() time.Duration { return time.Duration(a) }
func (a afterErr) Unwrap() error             { return io.ErrUnexpectedEOF }

func TestWaitHonoursRetryAfterAndWaitsOutAHiddenOne(t *testing.T) {
	p := Policy{Attempts: 3, Base: time.Millisecond, Max: 10 * time.Second}
	if got := p.wait(1, afterErr(3*time.Second)); got != 3*time.Second {
		t.Errorf("wait with Retry-After 3s = %v", got)
	}
	// A 429 whose header containers/image dropped (a PATCH): its own default.
	hidden := errors.New(`uploading layer chunked: StatusCode: 429, "busy"`)
	if got := p.wait(1, hidden); got < TooManyRequestsWait {
		t.Errorf("wait after a 429 without Retry-After = %v, want at least %v", got, TooManyRequestsWait)
	}
	if got := p.wait(1, io.ErrUnexpectedEOF); got > time.Millisecond {
		t.Errorf("wait after a reset = %v, want the backoff", got)
	}
}
