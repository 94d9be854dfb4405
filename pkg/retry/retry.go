// Package retry is the one retry policy of the suite: which failures of a
// registry, an HTTP signature store or the API server are worth repeating,
// and how long to wait before the next try (exponential backoff with jitter,
// or the server's Retry-After).
package retry

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"regexp"
	"syscall"
	"time"

	"github.com/containers/image/v5/docker"
	"github.com/docker/distribution/registry/api/errcode"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
)

// Policy is how often and how patiently a request is retried. The zero value
// is Default.
type Policy struct {
	// Attempts is the number of tries, the first included.
	Attempts int
	// Base is the first backoff; each retry doubles it, up to Max.
	Base, Max time.Duration
}

// Default retries six times over about half a minute.
var Default = Policy{Attempts: 6, Base: 500 * time.Millisecond, Max: 15 * time.Second}

func (p Policy) orDefault() Policy {
	if p.Attempts <= 0 {
		return Default
	}
	if p.Base <= 0 {
		p.Base = Default.Base
	}
	if p.Max < p.Base {
		p.Max = p.Base
	}
	return p
}

// Backoff is the wait before retry number n (1 for the first retry): an
// exponential backoff with full jitter (a random wait between half the
// exponential value and the value), capped at Max.
func (p Policy) Backoff(n int) time.Duration {
	p = p.orDefault()
	d := p.Base
	for i := 1; i < n && d < p.Max; i++ {
		d *= 2
	}
	d = min(d, p.Max)
	return d/2 + rand.N(d/2+1)
}

// AfterError is an error that carries the server's Retry-After delay.
type AfterError interface {
	error
	RetryAfter() time.Duration
}

// Do calls fn until it succeeds, returns an error that is not transient, or
// the policy's attempts are used up; it waits between attempts as the error's
// Retry-After asks, or else with the policy's backoff. It returns fn's last
// error. fn gets ctx; Do stops early when ctx ends.
func Do(ctx context.Context, p Policy, fn func(context.Context) error) error {
	return DoSteps(ctx, p, func(ctx context.Context) (int, error) { return 0, fn(ctx) })
}

// DoSteps is Do for an operation of several requests that can only be
// repeated whole, such as a blob upload (check, start, send, finish): fn
// says which step an attempt failed at (0 for the first), and each step has
// the policy's attempts of its own. The operation gives up when one step has
// failed Attempts times, not after Attempts attempts in all: faults that
// hit a different request each time (a 500 on the start, a reset while
// sending, a 503 on the finish) must not add up to a failure that no single
// request had. Steps are small numbers; the total is bounded by steps times
// Attempts.
func DoSteps(ctx context.Context, p Policy, fn func(context.Context) (step int, err error)) error {
	p = p.orDefault()
	failures := map[int]int{}
	for {
		step, err := fn(ctx)
		if err == nil || !IsTransient(err) {
			return err
		}
		failures[step]++
		if failures[step] >= p.Attempts || ctx.Err() != nil {
			return err
		}
		t := time.NewTimer(p.wait(failures[step], err))
		select {
		case <-ctx.Done():
			t.Stop()
			return err
		case <-t.C:
		}
	}
}

// TooManyRequestsWait is the least wait after a 429 whose Retry-After the
// client could not see: containers/image honours the header on the requests
// it repeats itself (those without a body) and drops it on the others
// (blob data, manifests), so this is its own default for a 429 without one.
const TooManyRequestsWait = 2 * time.Second

// wait is the pause before retry number n after err.
func (p Policy) wait(n int, err error) time.Duration {
	wait := p.Backoff(n)
	var ra AfterError
	if errors.As(err, &ra) && ra.RetryAfter() > 0 {
		return min(ra.RetryAfter(), 2*p.Max)
	}
	if isTooManyRequests(err) {
		wait = max(wait, TooManyRequestsWait)
	}
	return wait
}

// statusInMessage finds the HTTP status of registry responses that
// containers/image reports only in text (bodies it could not parse).
var statusInMessage = regexp.MustCompile(`(?:HTTP|status:|StatusCode:) (\d{3})\b`)

// IsTransient reports whether a failed registry or HTTP request is worth
// repeating: 408, 429 and 5xx responses, a reset or refused connection, an
// unexpected EOF, a TLS failure during transfer, or a per-request timeout
// (context.DeadlineExceeded of a request context, not the caller's cancel).
// Authentication failures, "not found" and bad requests are not. An error
// that says itself (a Transient method) is taken at its word.
func IsTransient(err error) bool {
	if err == nil || errors.Is(err, context.Canceled) {
		return false
	}
	var says interface{ Transient() bool }
	if errors.As(err, &says) {
		return says.Transient()
	}
	var status apierrors.APIStatus
	if errors.As(err, &status) {
		// The API server's answers: busy, unavailable or timed out is
		// worth another try; a conflict, a denial or an invalid object is not.
		return apierrors.IsServerTimeout(err) || apierrors.IsTimeout(err) || apierrors.IsTooManyRequests(err) ||
			apierrors.IsServiceUnavailable(err) || apierrors.IsInternalError(err)
	}
	if code, ok := httpStatus(err); ok {
		return code == http.StatusRequestTimeout || code == http.StatusTooManyRequests || code >= 500
	}
	var uerr docker.ErrUnauthorizedForCredentials
	if errors.As(err, &uerr) {
		return false
	}
	var certErr *tls.CertificateVerificationError
	var unknownAuth x509.UnknownAuthorityError
	var hostErr x509.HostnameError
	if errors.As(err, &certErr) || errors.As(err, &unknownAuth) || errors.As(err, &hostErr) {
		return false // a certificate the user must fix, not a hiccup
	}
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) ||
		errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.EPIPE) ||
		errors.Is(err, syscall.ECONNABORTED) || errors.Is(err, net.ErrClosed) || errors.Is(err, http.ErrHandlerTimeout) {
		return true
	}
	var dnsErr *net.DNSError
	if errors.As(err, &dnsErr) {
		return dnsErr.IsTimeout || dnsErr.IsTemporary // not an unknown host
	}
	var recErr tls.RecordHeaderError
	var alert tls.AlertError
	if errors.As(err, &recErr) || errors.As(err, &alert) {
		return true
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return true
	}
	var opErr *net.OpError
	return errors.As(err, &opErr) // a network operation failed mid-way
}

func isTooManyRequests(err error) bool {
	code, ok := httpStatus(err)
	return ok && code == http.StatusTooManyRequests
}

// StatusError is an HTTP response that was not the one wanted, for clients
// that talk plain HTTP (signature stores); IsTransient decides by its code.
type StatusError struct {
	Code   int
	Status string // e.g. "503 Service Unavailable"
}

func (e *StatusError) Error() string { return "HTTP status " + e.Status }

// HTTPStatus is the HTTP status a failed registry or HTTP request was
// answered with, when the error says.
func HTTPStatus(err error) (int, bool) {
	if err == nil {
		return 0, false
	}
	return httpStatus(err)
}

// httpStatus digs the HTTP status out of the errors containers/image returns.
func httpStatus(err error) (int, bool) {
	var he *StatusError
	if errors.As(err, &he) {
		return he.Code, true
	}
	if errors.Is(err, docker.ErrTooManyRequests) {
		return http.StatusTooManyRequests, true
	}
	var se docker.UnexpectedHTTPStatusError
	if errors.As(err, &se) {
		return se.StatusCode, true
	}
	// errcode.ErrorCodeUnknown stands for any code the client does not
	// know, whatever the status was: it says nothing.
	var ec errcode.Error
	if errors.As(err, &ec) && ec.Code != errcode.ErrorCodeUnknown {
		return ec.Code.Descriptor().HTTPStatusCode, true
	}
	var ecs errcode.Errors
	if errors.As(err, &ecs) && len(ecs) > 0 {
		if e, ok := ecs[0].(errcode.Error); ok && e.Code != errcode.ErrorCodeUnknown {
			return e.Code.Descriptor().HTTPStatusCode, true
		}
	}
	var code errcode.ErrorCode
	if errors.As(err, &code) && code != errcode.ErrorCodeUnknown {
		return code.Descriptor().HTTPStatusCode, true
	}
	if m := statusInMessage.FindStringSubmatch(err.Error()); m != nil {
		var n int
		for _, c := range m[1] {
			n = n*10 + int(c-'0')
		}
		return n, true
	}
	return 0, false
}
