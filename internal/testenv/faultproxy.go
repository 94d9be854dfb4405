package testenv

import (
	"crypto/tls"
	"errors"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"path/filepath"
	"regexp"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// Kind is what a registry request does, as the fault proxy tells them apart.
type Kind string

// The kinds of registry requests.
const (
	ManifestGet  Kind = "manifest GET"
	ManifestHead Kind = "manifest HEAD"
	ManifestPut  Kind = "manifest PUT"
	BlobGet      Kind = "blob GET"
	BlobHead     Kind = "blob HEAD"
	UploadStart  Kind = "upload POST"     // starts an upload session
	UploadData   Kind = "upload data"     // PATCH, or PUT/POST with a body
	UploadFinish Kind = "upload PUT"      // ends a session, no body
	Mount        Kind = "blob mount POST" // POST ?mount=
	OtherRequest Kind = "other"
)

// Fault is what the proxy does to one request.
type Fault int

// The faults.
const (
	NoFault Fault = iota
	// Reset resets the TCP connection: mid-body for blob data (after half
	// of an upload's body is read; after half of a download's body is
	// sent), else before answering.
	Reset
	// Stall stops mid-body as Reset does, but holds the connection silent
	// for Faults.Stall (or until the client goes away or the proxy closes),
	// then resets it.
	Stall
	InternalError   // 500
	BadGateway      // 502
	Unavailable     // 503
	TooManyRequests // 429 with Retry-After
)

// Faults says which requests a FaultProxy breaks. Counting starts at 1 and
// is per field; zero disables a field. The /v2/ ping passes unless Ping
// says otherwise: clients give up on a registry that fails it.
type Faults struct {
	// ResetBlobEvery resets every n-th upload of blob data (PATCH, or
	// PUT/POST with a body) after half of its body.
	ResetBlobEvery int
	// ResetDownloadEvery resets every n-th blob GET after half of the
	// blob was sent.
	ResetDownloadEvery int
	// The fields below count and break only the requests of Kinds (all
	// but the ping when empty), each over one count: the n-th of those
	// requests gets the first fault whose field divides n.
	ServerErrorEvery int // 500
	BadGatewayEvery  int // 502
	UnavailableEvery int // 503
	TooManyEvery     int // 429 with "Retry-After: <RetryAfter>"
	StallEvery       int // Stall
	Kinds            []Kind
	// RetryAfter is the 429's Retry-After, in whole seconds; 1s if zero.
	RetryAfter time.Duration
	// Stall is how long a stalled request stays silent before its
	// connection is reset; until the client goes away if zero.
	Stall time.Duration
	// Plan, when set, is asked first about every request but the ping,
	// with the request's kind and its number among requests of that kind
	// (from 1): a deterministic fault plan.
	Plan func(k Kind, n int) Fault
	// Only, when set, picks the requests the fields above apply to (a
	// blob by its digest); the others pass untouched and uncounted.
	Only func(*http.Request) bool
	// Ping breaks the /v2/ ping too, as the fields above say (it is then
	// of kind OtherRequest): a registry that is down, not one with a bad
	// blob.
	Ping bool
}

// FaultProxy is an HTTPS reverse proxy in front of a Registry that breaks
// requests as its Faults say. It serves the registry's certificate, so
// clients that trust the registry trust the proxy; the registry's
// credentials work through it.
type FaultProxy struct {
	// Host is 127.0.0.1:port.
	Host string

	faults   Faults
	reg      *Registry
	authFile string
	server   *http.Server
	closing  chan struct{}
	n        atomic.Int64
	nBlob    atomic.Int64
	nGet     atomic.Int64
	// Resets, Errors (5xx), Busies (429) and Stalls count injected faults;
	// Received counts every request, the pings too.
	Resets, Errors, Busies, Stalls, Received atomic.Int64
	closeOnce                                sync.Once

	mu       sync.Mutex
	perKind  map[Kind]int
	last429  time.Time
	minAfter time.Duration // least time from a 429 to the next request
	seen     []Kind
}

// StartFaultProxy starts a proxy in front of r for the test, stopped when the
// test ends.
func (r *Registry) StartFaultProxy(t testing.TB, f Faults) *FaultProxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("listening for the fault proxy: %v", err)
	}
	if f.RetryAfter <= 0 {
		f.RetryAfter = time.Second
	}
	p := &FaultProxy{
		Host: ln.Addr().String(), faults: f, reg: r, authFile: filepath.Join(t.TempDir(), "auth.json"),
		closing: make(chan struct{}), perKind: map[Kind]int{}, minAfter: -1,
	}
	if err := writeAuthFile(p.authFile, r.Username, r.Password, p.Host); err != nil {
		t.Fatal(err)
	}
	target := &url.URL{Scheme: "https", Host: r.Host}
	rp := &httputil.ReverseProxy{
		Director: func(req *http.Request) {
			// Keep the Host header: the registry writes upload locations
			// with it, and they must point back at the proxy.
			req.URL.Scheme, req.URL.Host = target.Scheme, target.Host
		},
		Transport: r.HTTPClient().Transport,
		ErrorLog:  log.New(io.Discard, "", 0),
	}
	p.server = &http.Server{
		Handler:           http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) { p.serve(w, req, rp) }),
		ReadHeaderTimeout: 30 * time.Second,
		ErrorLog:          log.New(io.Discard, "", 0),
		TLSConfig:         &tls.Config{Certificates: []tls.Certificate{r.certs.cert}, MinVersion: tls.VersionTLS12},
		// HTTP/1.1 only, so that a connection can be reset mid-request.
		TLSNextProto: map[string]func(*http.Server, *tls.Conn, http.Handler){},
	}
	go func() { _ = p.server.ServeTLS(ln, "", "") }()
	t.Cleanup(p.Close)
	return p
}

// Close stops the proxy and ends the stalls it holds.
func (p *FaultProxy) Close() {
	p.closeOnce.Do(func() {
		close(p.closing)
		_ = p.server.Close()
	})
}

// Ref returns the image reference of name through the proxy.
func (p *FaultProxy) Ref(name string) string { return p.Host + "/" + name }

// Registry returns a view of the proxied registry as reached through the
// proxy (Host and AuthFile are the proxy's), for Ref, SystemContext,
// PushImage and CombinedSystemContext. Do not Close it.
func (p *FaultProxy) Registry() *Registry {
	return &Registry{
		Host: p.Host, Username: p.reg.Username, Password: p.reg.Password, Dir: p.reg.Dir,
		CACertFile: p.reg.CACertFile, CertDir: p.reg.CertDir, AuthFile: p.authFile, certs: p.reg.certs,
	}
}

// Injected is the number of faults injected so far.
func (p *FaultProxy) Injected() int64 {
	return p.Resets.Load() + p.Errors.Load() + p.Busies.Load() + p.Stalls.Load()
}

// LeastWaitAfter429 is the shortest time between a 429 and the next request
// the proxy received (the ping aside), and false when no request followed
// a 429. With one request in flight at a time, that next request is the
// client's retry: a client that honours Retry-After waits at least that.
func (p *FaultProxy) LeastWaitAfter429() (time.Duration, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.minAfter, p.minAfter >= 0
}

// Seen lists the kinds of the requests the proxy received, in order (the
// ping aside).
func (p *FaultProxy) Seen() []Kind {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]Kind(nil), p.seen...)
}

var blobPath = regexp.MustCompile(`^/v2/.+/blobs/[a-z0-9]+:[a-f0-9]+$`)

// KindOf tells what req does.
func KindOf(req *http.Request) Kind {
	path, q := req.URL.Path, req.URL.Query()
	switch {
	case uploadPath.MatchString(path):
		switch {
		case req.Method == http.MethodPatch:
			return UploadData
		case req.Method == http.MethodPost && q.Get("mount") != "":
			return Mount
		case (req.Method == http.MethodPut || req.Method == http.MethodPost) && q.Get("digest") != "" && req.ContentLength != 0:
			return UploadData
		case req.Method == http.MethodPost:
			return UploadStart
		case req.Method == http.MethodPut:
			return UploadFinish
		}
	case blobPath.MatchString(path):
		switch req.Method {
		case http.MethodGet:
			return BlobGet
		case http.MethodHead:
			return BlobHead
		}
	case manifestPath.MatchString(path):
		switch req.Method {
		case http.MethodGet:
			return ManifestGet
		case http.MethodHead:
			return ManifestHead
		case http.MethodPut:
			return ManifestPut
		}
	}
	return OtherRequest
}

func every(n int, count int64) bool { return n > 0 && count%int64(n) == 0 }

// decide picks the fault for a request of kind k.
func (p *FaultProxy) decide(k Kind) Fault {
	f := p.faults
	p.mu.Lock()
	p.perKind[k]++
	nk := p.perKind[k]
	now := time.Now()
	if !p.last429.IsZero() {
		if gap := now.Sub(p.last429); p.minAfter < 0 || gap < p.minAfter {
			p.minAfter = gap
		}
		p.last429 = time.Time{}
	}
	p.seen = append(p.seen, k)
	p.mu.Unlock()
	if f.Plan != nil {
		if fault := f.Plan(k, nk); fault != NoFault {
			return fault
		}
	}
	if k == UploadData && every(f.ResetBlobEvery, p.nBlob.Add(1)) {
		return Reset
	}
	if k == BlobGet && every(f.ResetDownloadEvery, p.nGet.Add(1)) {
		return Reset
	}
	if len(f.Kinds) > 0 {
		match := false
		for _, want := range f.Kinds {
			match = match || want == k
		}
		if !match {
			return NoFault
		}
	}
	n := p.n.Add(1)
	switch {
	case every(f.ServerErrorEvery, n):
		return InternalError
	case every(f.BadGatewayEvery, n):
		return BadGateway
	case every(f.UnavailableEvery, n):
		return Unavailable
	case every(f.TooManyEvery, n):
		return TooManyRequests
	case every(f.StallEvery, n):
		return Stall
	}
	return NoFault
}

func (p *FaultProxy) serve(w http.ResponseWriter, req *http.Request, next http.Handler) {
	p.Received.Add(1)
	if (req.URL.Path == "/v2/" || req.URL.Path == "/v2") && !p.faults.Ping ||
		p.faults.Only != nil && !p.faults.Only(req) {
		next.ServeHTTP(w, req)
		return
	}
	k := KindOf(req)
	fault := p.decide(k)
	switch fault {
	case NoFault:
		next.ServeHTTP(w, req)
	case InternalError, BadGateway, Unavailable, TooManyRequests:
		code := map[Fault]int{InternalError: 500, BadGateway: 502, Unavailable: 503, TooManyRequests: 429}[fault]
		_, _ = io.Copy(io.Discard, req.Body)
		if fault == TooManyRequests {
			p.Busies.Add(1)
			w.Header().Set("Retry-After", strconv.Itoa(int(p.faults.RetryAfter.Round(time.Second)/time.Second)))
			defer func() {
				p.mu.Lock()
				p.last429 = time.Now()
				p.mu.Unlock()
			}()
		} else {
			p.Errors.Add(1)
		}
		http.Error(w, "injected fault", code)
	case Reset, Stall:
		if fault == Reset {
			p.Resets.Add(1)
		} else {
			p.Stalls.Add(1)
		}
		if req.Method == http.MethodGet {
			// Half of the answer, then silence or a reset.
			next.ServeHTTP(&cutWriter{ResponseWriter: w, p: p, req: req, stall: fault == Stall}, req)
			return
		}
		if req.ContentLength != 0 && req.Body != nil {
			half := req.ContentLength / 2
			if half <= 0 {
				half = 512
			}
			_, _ = io.CopyN(io.Discard, req.Body, half)
		}
		if fault == Stall {
			p.hold(req)
		}
		p.reset(w)
	}
}

// hold keeps a stalled request silent.
func (p *FaultProxy) hold(req *http.Request) {
	var timeout <-chan time.Time
	if p.faults.Stall > 0 {
		t := time.NewTimer(p.faults.Stall)
		defer t.Stop()
		timeout = t.C
	}
	select {
	case <-timeout:
	case <-req.Context().Done():
	case <-p.closing:
	}
}

// reset hijacks the connection and resets it (RST, not FIN).
func (p *FaultProxy) reset(w http.ResponseWriter) {
	rc := http.NewResponseController(w)
	if conn, _, err := rc.Hijack(); err == nil {
		if tcp, ok := underlyingTCP(conn); ok {
			_ = tcp.SetLinger(0)
		}
		_ = conn.Close()
		return
	}
	panic(http.ErrAbortHandler)
}

var errCut = errors.New("cut by the fault proxy")

// cutWriter passes the first half of a response body (by its
// Content-Length; 512 bytes when unknown), then stalls or resets.
type cutWriter struct {
	http.ResponseWriter
	p       *FaultProxy
	req     *http.Request
	stall   bool
	limit   int64
	written int64
	cut     bool
}

func (c *cutWriter) Write(b []byte) (int, error) {
	if c.cut {
		return 0, errCut
	}
	if c.limit == 0 {
		c.limit = 512
		if n, err := strconv.ParseInt(c.Header().Get("Content-Length"), 10, 64); err == nil && n > 1 {
			c.limit = n / 2
		}
	}
	if room := c.limit - c.written; int64(len(b)) < room {
		n, err := c.ResponseWriter.Write(b)
		c.written += int64(n)
		return n, err
	} else if room > 0 {
		n, _ := c.ResponseWriter.Write(b[:room])
		c.written += int64(n)
	}
	c.cut = true
	if f, ok := c.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
	if c.stall {
		c.p.hold(c.req)
	}
	c.p.reset(c.ResponseWriter)
	return 0, errCut
}

func (c *cutWriter) Unwrap() http.ResponseWriter { return c.ResponseWriter }

func underlyingTCP(c net.Conn) (*net.TCPConn, bool) {
	if tc, ok := c.(*tls.Conn); ok {
		c = tc.NetConn()
	}
	tcp, ok := c.(*net.TCPConn)
	return tcp, ok
}
