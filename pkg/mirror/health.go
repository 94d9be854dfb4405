package mirror

import (
	"context"
	"fmt"
	"sync"

	"github.com/containers/image/v5/docker"
	"github.com/containers/image/v5/docker/reference"
	"github.com/containers/image/v5/types"

	"github.com/airgap-ocp/oc-plugins/pkg/retry"
)

// A registry that is down (gone, or answering every request with an
// error) fails every request of a run. Retried one by one, each request
// spends the whole retry policy on it, and a run spends that many times
// over, growing with its blobs. So the run watches each registry: after
// downAfter requests to it in a row have failed for a transient reason, it
// pings the registry; if the ping fails too, the registry is down and
// every request to it, waiting or to come, fails at once. One bad blob
// among good ones is not that: the requests around it succeed, or the
// ping does, and the blob keeps its own retries.

// downAfter is the number of requests in a row to one registry that must
// fail before the run pings it.
const downAfter = 3

// RegistryDownError is a request not made, or given up on, because its
// registry was found down. It is final: retrying it is no use.
type RegistryDownError struct {
	Registry string
	// Failures is the number of requests in a row that failed; Ping is
	// how the ping that followed them failed.
	Failures int
	Ping     error
}

func (e *RegistryDownError) Error() string {
	return fmt.Sprintf("registry %s is down: %d requests to it in a row failed, and so did its ping: %v", e.Registry, e.Failures, e.Ping)
}

// Transient is false: a registry found down is not retried request by
// request.
func (e *RegistryDownError) Transient() bool { return false }

func (e *RegistryDownError) Unwrap() error { return e.Ping }

// endpoint is a registry as the requests of a run reach it: the system
// context (certificates, registries.conf) that reaches it. The zero value
// is no registry (an archive), not watched.
type endpoint struct {
	host string
	sys  *types.SystemContext
}

// at is the registry of ref, reached with sys.
func at(ref types.ImageReference, sys *types.SystemContext) endpoint {
	if ref == nil || ref.Transport().Name() != docker.Transport.Name() || ref.DockerReference() == nil {
		return endpoint{}
	}
	return endpoint{host: reference.Domain(ref.DockerReference()), sys: sys}
}

func (r *run) atSource(ref types.ImageReference) endpoint { return at(ref, r.opts.SourceCtx) }
func (r *run) atDest(ref types.ImageReference) endpoint   { return at(ref, r.opts.DestCtx) }

// health is what a run knows of its registries' health.
type health struct {
	mu    sync.Mutex
	hosts map[string]*hostHealth
	// ping asks whether a registry answers at all.
	ping func(ctx context.Context, ep endpoint) error
}

type hostHealth struct {
	ep       endpoint
	failures int // transient failures in a row
	pinging  bool
	down     *RegistryDownError
	// gone ends when the registry is found down: requests waiting for
	// their next try stop waiting.
	gone     context.Context
	markGone context.CancelFunc
}

// of is the health record of ep's registry; nil for no registry.
func (h *health) of(ep endpoint) *hostHealth {
	if ep.host == "" {
		return nil
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.hosts == nil {
		h.hosts = map[string]*hostHealth{}
	}
	hh := h.hosts[ep.host]
	if hh == nil {
		hh = &hostHealth{ep: ep}
		hh.gone, hh.markGone = context.WithCancel(context.Background())
		h.hosts[ep.host] = hh
	}
	return hh
}

// downErr is the *RegistryDownError of the first of hs found down, or nil.
func (h *health) downErr(hs ...*hostHealth) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, hh := range hs {
		if hh != nil && hh.down != nil {
			return hh.down
		}
	}
	return nil
}

// bind is ctx, ended also when one of hs is found down.
func (h *health) bind(ctx context.Context, hs ...*hostHealth) (context.Context, func()) {
	ctx, cancel := context.WithCancel(ctx)
	stops := []func() bool{}
	for _, hh := range hs {
		if hh != nil {
			stops = append(stops, context.AfterFunc(hh.gone, cancel))
		}
	}
	return ctx, func() {
		for _, stop := range stops {
			stop()
		}
		cancel()
	}
}

// record notes how a request to hh's registry ended; after downAfter
// transient failures in a row it pings the registry, and marks it down
// when the ping fails too. ctx is the request's caller's: a request
// cancelled by it says nothing of the registry.
func (h *health) record(ctx context.Context, hh *hostHealth, err error) {
	if hh == nil || ctx.Err() != nil {
		return
	}
	h.mu.Lock()
	if !retry.IsTransient(err) {
		// An answer, even an error such as "not found", is a registry up.
		hh.failures = 0
		h.mu.Unlock()
		return
	}
	hh.failures++
	if hh.failures < downAfter || hh.pinging || hh.down != nil {
		h.mu.Unlock()
		return
	}
	hh.pinging = true
	failures := hh.failures
	h.mu.Unlock()

	perr := h.ping(ctx, hh.ep)

	h.mu.Lock()
	defer h.mu.Unlock()
	hh.pinging = false
	switch {
	case perr == nil || !retry.IsTransient(perr) || ctx.Err() != nil:
		// Up, or refusing for a reason the requests show themselves.
		hh.failures = 0
	case hh.down == nil:
		hh.down = &RegistryDownError{Registry: hh.ep.host, Failures: failures, Ping: perr}
		hh.markGone()
	}
}

// retry runs fn, a request to ep's registry, under the retry policy, each
// attempt with its own timeout and idle timeout; it fails at once, with a
// *RegistryDownError, when the registry is (or is found) down.
func (r *run) retry(ctx context.Context, ep endpoint, size int64, fn func(context.Context) error) error {
	hh := r.health.of(ep)
	bound, stop := r.health.bind(ctx, hh)
	defer stop()
	err := retry.Do(bound, r.opts.Retry, func(ctx context.Context) error {
		if err := r.health.downErr(hh); err != nil {
			return err
		}
		err := r.attempt(ctx, size, func(ctx context.Context, _ *watch) error { return fn(ctx) })
		r.health.record(ctx, hh, err)
		return err
	})
	return r.health.instead(ctx, err, hh)
}

// instead is the *RegistryDownError of the first of hs found down in place
// of err, a request's failure, unless the caller's ctx ended it.
func (h *health) instead(ctx context.Context, err error, hs ...*hostHealth) error {
	if err == nil || ctx.Err() != nil {
		return err
	}
	if down := h.downErr(hs...); down != nil {
		return down
	}
	return err
}

// pingRegistry asks ep's registry for its API root (GET /v2/), as
// containers/image does before its first request, with ep's certificates
// and registries.conf, twice before saying it failed. An answer that the
// credentials are wrong is a registry that answers.
func (r *run) pingRegistry(ctx context.Context, ep endpoint) error {
	p := r.opts.Retry
	if p.Attempts <= 0 {
		p = retry.Default
	}
	p.Attempts = 2
	return retry.Do(ctx, p, func(ctx context.Context) error {
		return r.attempt(ctx, 0, func(ctx context.Context, _ *watch) error {
			return docker.CheckAuth(ctx, ep.sys, "", "", ep.host)
		})
	})
}
