package testenv

import (
	"net"
	"net/http"
	"regexp"
	"sync"
	"time"

	digest "github.com/opencontainers/go-digest"
)

// Traffic counts the writes a registry accepted, so tests can check what a
// client really transferred: blob uploads completed (per digest), blobs
// mounted from another repository, and manifests stored.
type Traffic struct {
	mu        sync.Mutex
	uploads   map[digest.Digest]int
	mounts    map[digest.Digest]int
	manifests int
	requests  int
	pings     int
	tokens    int
	conns     int
	// open are the connections open now, peak the most at once.
	open, peak int
	// inFlight are the requests being served now; last when one ended.
	inFlight int
	last     time.Time
}

func newTraffic() *Traffic {
	t := &Traffic{}
	t.Reset()
	return t
}

// Traffic returns the registry's write counters.
func (r *Registry) Traffic() *Traffic { return r.traffic }

// Reset sets every count to zero.
func (t *Traffic) Reset() {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.uploads = map[digest.Digest]int{}
	t.mounts = map[digest.Digest]int{}
	t.manifests = 0
	t.requests, t.pings, t.tokens, t.conns = 0, 0, 0, 0
	t.peak = t.open
}

// Requests is the number of requests served, whatever their outcome, and
// Pings how many of them were the API version check (GET /v2/) a client
// makes when it sets up.
func (t *Traffic) Requests() (requests, pings int) {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.requests, t.pings
}

// Tokens is the number of token requests served (WithTokenAuth), among
// Requests.
func (t *Traffic) Tokens() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.tokens
}

// Connections is the number of connections clients opened: each one a TLS
// handshake.
func (t *Traffic) Connections() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.conns
}

// WaitIdle waits until no request has been served for quiet: a client
// killed mid-run leaves requests the registry goes on serving (a manifest
// whose tag is half written), and requests it had sent that the registry
// has not read yet.
func (t *Traffic) WaitIdle(quiet time.Duration) {
	for {
		t.mu.Lock()
		idle := t.inFlight == 0 && time.Since(t.last) >= quiet
		t.mu.Unlock()
		if idle {
			return
		}
		time.Sleep(quiet / 10)
	}
}

// PeakConnections is the most connections open at once: each holds
// buffers at both ends, and a client that keeps idle connections it no
// longer needs shows here.
func (t *Traffic) PeakConnections() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.peak
}

// connState counts connections opened, and those open (http.Server.ConnState).
func (t *Traffic) connState(_ net.Conn, state http.ConnState) {
	t.mu.Lock()
	defer t.mu.Unlock()
	switch state {
	case http.StateNew:
		t.conns++
		t.open++
		t.peak = max(t.peak, t.open)
	case http.StateClosed, http.StateHijacked:
		t.open--
	}
}

// Uploads returns how many times each blob was uploaded (completed with 201).
func (t *Traffic) Uploads() map[digest.Digest]int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return copyCounts(t.uploads)
}

// Mounts returns how many times each blob was mounted from another repository.
func (t *Traffic) Mounts() map[digest.Digest]int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return copyCounts(t.mounts)
}

// TotalUploads is the number of completed blob uploads.
func (t *Traffic) TotalUploads() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	n := 0
	for _, c := range t.uploads {
		n += c
	}
	return n
}

// ManifestPuts is the number of manifests stored.
func (t *Traffic) ManifestPuts() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.manifests
}

func copyCounts(m map[digest.Digest]int) map[digest.Digest]int {
	out := make(map[digest.Digest]int, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

var (
	uploadPath   = regexp.MustCompile(`^/v2/.+/blobs/uploads/[^/]*$`)
	manifestPath = regexp.MustCompile(`^/v2/.+/manifests/[^/]+$`)
)

// wrap counts the requests h completes successfully.
func (t *Traffic) wrap(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		rec := &statusRecorder{ResponseWriter: w, status: http.StatusOK}
		t.mu.Lock()
		t.inFlight++
		t.mu.Unlock()
		h.ServeHTTP(rec, req)
		t.mu.Lock()
		defer t.mu.Unlock()
		t.inFlight--
		t.last = time.Now()
		t.requests++
		if req.URL.Path == "/v2/" || req.URL.Path == "/v2" {
			t.pings++
		}
		if req.URL.Path == tokenPath {
			t.tokens++
		}
		if rec.status != http.StatusCreated {
			return
		}
		q := req.URL.Query()
		switch {
		case req.Method == http.MethodPost && uploadPath.MatchString(req.URL.Path) && q.Get("mount") != "":
			t.mounts[digest.Digest(q.Get("mount"))]++
		case (req.Method == http.MethodPut || req.Method == http.MethodPost) && uploadPath.MatchString(req.URL.Path) && q.Get("digest") != "":
			t.uploads[digest.Digest(q.Get("digest"))]++
		case req.Method == http.MethodPut && manifestPath.MatchString(req.URL.Path):
			t.manifests++
		}
	})
}

type statusRecorder struct {
	http.ResponseWriter
	status  int
	written bool
}

func (s *statusRecorder) WriteHeader(code int) {
	if !s.written {
		s.status, s.written = code, true
	}
	s.ResponseWriter.WriteHeader(code)
}

func (s *statusRecorder) Write(b []byte) (int, error) {
	s.written = true
	return s.ResponseWriter.Write(b)
}

func (s *statusRecorder) Unwrap() http.ResponseWriter { return s.ResponseWriter }

func (s *statusRecorder) Flush() {
	if f, ok := s.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}
