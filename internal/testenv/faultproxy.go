package testenv

import (
	"crypto/tls"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// Faults says which requests a FaultProxy breaks. Counting starts at 1 and
// is per kind; zero disables a kind.
type Faults struct {
	// ResetBlobEvery cuts every n-th request that carries blob data (PATCH,
	// or PUT/POST with a body to blobs/uploads) after half of its body: the
	// proxy reads that much, then resets the TCP connection.
	ResetBlobEvery int
	// ServerErrorEvery answers every n-th request with 500 Internal Server Error.
	ServerErrorEvery int
	// TooManyEvery answers every n-th request with 429 Too Many Requests
	// and "Retry-After: 1".
	TooManyEvery int
}

// FaultProxy is an HTTPS reverse proxy in front of a Registry that breaks
// requests as its Faults say. It serves the registry's certificate, so
// clients that trust the registry trust the proxy; the registry's
// credentials work through it.
type FaultProxy struct {
	// Host is 127.0.0.1:port.
	Host string

	faults                 Faults
	reg                    *Registry
	authFile               string
	server                 *http.Server
	n, nBlob               atomic.Int64
	Resets, Errors, Busies atomic.Int64
	closeOnce              sync.Once
}

// StartFaultProxy starts a proxy in front of r for the test, stopped when the
// test ends.
func (r *Registry) StartFaultProxy(t testing.TB, f Faults) *FaultProxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("listening for the fault proxy: %v", err)
	}
	p := &FaultProxy{Host: ln.Addr().String(), faults: f, reg: r, authFile: filepath.Join(t.TempDir(), "auth.json")}
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

// Close stops the proxy.
func (p *FaultProxy) Close() {
	p.closeOnce.Do(func() { _ = p.server.Close() })
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

func every(n int, count int64) bool { return n > 0 && count%int64(n) == 0 }

func (p *FaultProxy) serve(w http.ResponseWriter, req *http.Request, next http.Handler) {
	if req.URL.Path == "/v2/" || req.URL.Path == "/v2" {
		next.ServeHTTP(w, req) // the ping: clients give up on a registry that fails it
		return
	}
	n := p.n.Add(1)
	isBlobData := req.ContentLength != 0 && uploadPath.MatchString(req.URL.Path) &&
		(req.Method == http.MethodPatch || req.Method == http.MethodPut || req.Method == http.MethodPost)
	if isBlobData && req.Method == http.MethodPost && req.URL.Query().Get("digest") == "" {
		isBlobData = false
	}
	if isBlobData && every(p.faults.ResetBlobEvery, p.nBlob.Add(1)) {
		p.Resets.Add(1)
		half := req.ContentLength / 2
		if half <= 0 {
			half = 512
		}
		_, _ = io.CopyN(io.Discard, req.Body, half)
		if conn, _, err := http.NewResponseController(w).Hijack(); err == nil {
			if tcp, ok := underlyingTCP(conn); ok {
				_ = tcp.SetLinger(0) // RST, not FIN
			}
			_ = conn.Close()
			return
		}
		panic(http.ErrAbortHandler)
	}
	switch {
	case every(p.faults.ServerErrorEvery, n):
		p.Errors.Add(1)
		_, _ = io.Copy(io.Discard, req.Body)
		http.Error(w, "injected fault", http.StatusInternalServerError)
		return
	case every(p.faults.TooManyEvery, n):
		p.Busies.Add(1)
		_, _ = io.Copy(io.Discard, req.Body)
		w.Header().Set("Retry-After", strconv.Itoa(1))
		http.Error(w, "injected fault", http.StatusTooManyRequests)
		return
	}
	next.ServeHTTP(w, req)
}

func underlyingTCP(c net.Conn) (*net.TCPConn, bool) {
	if tc, ok := c.(*tls.Conn); ok {
		c = tc.NetConn()
	}
	tcp, ok := c.(*net.TCPConn)
	return tcp, ok
}
