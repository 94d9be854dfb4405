package mirror

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/airgap-ocp/oc-plugins/pkg/retry"
)

// DefaultIdleTimeout is how long a registry request may go without moving a
// byte when Options does not say: kubelet's old image pull progress
// deadline. A registry that accepted a connection and then went silent
// (a stalled load balancer, a half-dead TCP path) costs this long per
// attempt, not the whole blob's request timeout, nor forever.
const DefaultIdleTimeout = time.Minute

// StalledError is a request given up on because no data moved for Idle. It
// is a timeout (errors.Is context.DeadlineExceeded), so the request is
// retried.
type StalledError struct {
	Idle time.Duration
	// Err is what the request returned when it was stopped.
	Err error
}

func (e *StalledError) cause() string {
	return fmt.Sprintf("stalled: no data moved for %s", e.Idle)
}

func (e *StalledError) Error() string {
	if e.Err == nil {
		return e.cause()
	}
	if msg := e.Err.Error(); strings.Contains(msg, e.cause()) {
		return msg
	}
	return e.Err.Error() + " (" + e.cause() + ")"
}

// Unwrap is context.DeadlineExceeded alone: the request's own error says
// "context canceled", which would read as the caller's cancel.
func (e *StalledError) Unwrap() error { return context.DeadlineExceeded }

// watch cancels a request's context when no byte has moved for idle.
type watch struct {
	ctx     context.Context
	cancel  context.CancelCauseFunc
	idle    time.Duration
	last    atomic.Int64 // UnixNano of the last byte moved
	stalled atomic.Bool
	timer   *time.Timer
}

func startWatch(ctx context.Context, idle time.Duration) *watch {
	w := &watch{idle: idle}
	w.ctx, w.cancel = context.WithCancelCause(ctx)
	if idle <= 0 {
		return w
	}
	w.last.Store(time.Now().UnixNano())
	w.timer = time.AfterFunc(idle, w.check)
	return w
}

// check runs when idle may have passed since the last byte: it stops the
// request, or looks again when that much has passed since the last byte.
func (w *watch) check() {
	since := time.Since(time.Unix(0, w.last.Load()))
	if since < w.idle {
		w.timer.Reset(w.idle - since)
		return
	}
	w.stalled.Store(true)
	w.cancel(&StalledError{Idle: w.idle})
}

// moved notes progress; cheap enough for every Read.
func (w *watch) moved() {
	if w.timer != nil {
		w.last.Store(time.Now().UnixNano())
	}
}

func (w *watch) stop() {
	if w.timer != nil {
		w.timer.Stop()
	}
	w.cancel(nil)
}

// attempt runs fn once: within the request timeout for size bytes, and
// stopped when no byte moves for the idle timeout (fn reports bytes through
// the watch; a request that reports none, such as a manifest GET, must be
// done within the idle timeout).
func (r *run) attempt(ctx context.Context, size int64, fn func(context.Context, *watch) error) error {
	return attempt(ctx, r.timeout(size), r.opts.IdleTimeout, fn)
}

func attempt(ctx context.Context, timeout, idle time.Duration, fn func(context.Context, *watch) error) error {
	rctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	rctx, done := traced(rctx)
	w := startWatch(rctx, idle)
	defer w.stop()
	err := fn(w.ctx, w)
	done(err)
	switch {
	case err == nil:
		return nil
	case ctx.Err() != nil:
		return errors.Join(ctx.Err(), err) // the caller's cancel is not transient
	case w.stalled.Load():
		return &StalledError{Idle: w.idle, Err: err}
	}
	return err
}

// Request runs fn, a registry read outside a Mirror run (a release
// payload's metadata before the plan), as the engine runs its own: retried
// under opts.Retry, each attempt within opts.RequestTimeout and stopped
// when it has not finished within opts.IdleTimeout (fn's bytes are not
// seen, so the whole attempt counts as one silence).
func Request(ctx context.Context, opts Options, fn func(context.Context) error) error {
	opts = opts.withDefaults()
	return retry.Do(ctx, opts.Retry, func(ctx context.Context) error {
		return attempt(ctx, opts.RequestTimeout, opts.IdleTimeout, func(ctx context.Context, _ *watch) error { return fn(ctx) })
	})
}

// countingReader counts the bytes of a blob as the destination reads them,
// tells the watch, and remembers how far the read got and why it stopped.
// The HTTP client reads it from its own goroutine.
type countingReader struct {
	r    io.Reader
	n    *atomic.Int64
	w    *watch
	size int64 // the blob's size, when known (-1 if not)
	read atomic.Int64
	eof  atomic.Bool
	mu   sync.Mutex
	err  error // a failed read of the source (not io.EOF)
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n.Add(int64(n))
	c.read.Add(int64(n))
	if n > 0 && c.w != nil {
		c.w.moved()
	}
	if err == io.EOF {
		c.eof.Store(true)
	} else if err != nil {
		c.mu.Lock()
		if c.err == nil {
			c.err = err
		}
		c.mu.Unlock()
	}
	return n, err
}

// readErr is the error a read of the source failed with, if one did.
func (c *countingReader) readErr() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.err
}

// Steps of a blob upload, for retry.DoSteps: each has its own attempts.
const (
	stepSource = iota // opening the source blob
	stepStart         // the destination's check and upload start, before any data
	stepSend          // sending the data
	stepFinish        // the data was all read: the upload's end and commit
)

// step is the step an upload attempt that read through c failed at with
// err: by the method of the request that failed when the HTTP client says
// (a reset PATCH is the sending step even when its whole body was already
// handed to the kernel), else by how much of the blob was read.
func (c *countingReader) step(err error) int {
	var ue *url.Error
	if c != nil && errors.As(err, &ue) {
		switch ue.Op {
		case "Patch":
			return stepSend
		case "Put":
			return stepFinish
		case "Post", "Head":
			return stepStart
		}
	}
	switch {
	case c == nil:
		return stepSource
	case c.eof.Load(), c.size > 0 && c.read.Load() >= c.size:
		// An HTTP client sends Content-Length bytes and need not read on to EOF.
		return stepFinish
	case c.read.Load() > 0:
		return stepSend
	}
	return stepStart
}
