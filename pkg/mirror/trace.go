package mirror

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptrace"
	"sort"
	"strings"
	"sync"
	"time"

	"k8s.io/klog/v2"

	"github.com/airgap-ocp/oc-plugins/pkg/retry"
)

// The registry request trace at -v=6. containers/image logs each HTTP
// request's method and URL (its debug log, which pkg/cli shows at 6) but
// not its status or time, and takes no HTTP client or transport from
// outside (types.SystemContext has no such field; upstream declined one):
// so it cannot be traced as client-go's requests are. What does reach its
// requests is the context: net/http calls the httptrace hooks of a
// request's context whoever built the request. Each engine request (one
// attempt of a manifest read, a blob check, an upload...) runs under a
// context of its own, so its hooks see that request's HTTP requests, one
// after another; the line they make says where they went, how it ended
// (the HTTP status when the registry answered with an error), the time
// taken, and what it cost in connections. No header is seen or logged.

const traceLevel = 6

type requestTrace struct {
	start time.Time
	mu    sync.Mutex
	hosts map[string]bool
	// requests sent, connections opened for them, TLS handshakes done.
	requests, dials, handshakes int
}

// traced returns ctx with a request trace when -v is 6 or more, and the
// function that logs its line once the request has ended with err.
func traced(ctx context.Context) (context.Context, func(err error)) {
	if !klog.V(traceLevel).Enabled() {
		return ctx, func(error) {}
	}
	t := &requestTrace{start: time.Now(), hosts: map[string]bool{}}
	ct := &httptrace.ClientTrace{
		GetConn: func(hostPort string) {
			t.mu.Lock()
			t.hosts[hostPort] = true
			t.mu.Unlock()
		},
		GotConn: func(info httptrace.GotConnInfo) {
			if !info.Reused {
				t.mu.Lock()
				t.dials++
				t.mu.Unlock()
			}
		},
		TLSHandshakeDone: func(_ tls.ConnectionState, err error) {
			if err == nil {
				t.mu.Lock()
				t.handshakes++
				t.mu.Unlock()
			}
		},
		WroteRequest: func(httptrace.WroteRequestInfo) {
			t.mu.Lock()
			t.requests++
			t.mu.Unlock()
		},
	}
	return httptrace.WithClientTrace(ctx, ct), func(err error) { t.log(err) }
}

func (t *requestTrace) log(err error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if len(t.hosts) == 0 {
		return // no HTTP request (an archive)
	}
	hosts := make([]string, 0, len(t.hosts))
	for h := range t.hosts {
		hosts = append(hosts, h)
	}
	sort.Strings(hosts)
	klog.V(traceLevel).Infof("registry: %s: %s in %s (%d HTTP requests, %d new connections, %d TLS handshakes)",
		strings.Join(hosts, ", "), outcome(err), time.Since(t.start).Round(time.Millisecond), t.requests, t.dials, t.handshakes)
}

// outcome says how a request ended: ok, the HTTP status it was answered
// with, or why it got no answer.
func outcome(err error) string {
	switch {
	case err == nil:
		return "ok"
	case errors.Is(err, context.Canceled):
		return "cancelled"
	case errors.Is(err, errNoAttachment):
		return "no such tag (HTTP 404 Not Found)"
	}
	if code, ok := retry.HTTPStatus(err); ok {
		return fmt.Sprintf("HTTP %d %s", code, http.StatusText(code))
	}
	var stalled *StalledError
	if errors.As(err, &stalled) || errors.Is(err, context.DeadlineExceeded) {
		return "timed out"
	}
	return "failed with no HTTP answer"
}
