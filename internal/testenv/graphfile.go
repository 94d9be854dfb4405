package testenv

import (
	"crypto/tls"
	"net"
	"net/http"
	"os"
)

// NewGraphFileServer serves, over HTTPS with a CA of its own (CAPEM), the
// update graph held in file (the graph API's JSON, read at each request
// whatever the channel and architecture), as a policy engine behind its
// route does: for the sandbox, whose demo writes the graph of what it
// mirrored. stop ends it.
func NewGraphFileServer(file string) (g *GraphServer, stop func(), err error) {
	certs, err := newServerCerts("graph")
	if err != nil {
		return nil, nil, err
	}
	mux := http.NewServeMux()
	mux.HandleFunc(GraphPath, func(w http.ResponseWriter, r *http.Request) {
		data, err := os.ReadFile(file)
		if err != nil {
			// As the real service answers a channel it does not know.
			data = []byte(`{"nodes":[],"edges":[]}`)
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(data)
	})
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, nil, err
	}
	srv := &http.Server{Handler: mux, TLSConfig: &tls.Config{Certificates: []tls.Certificate{certs.cert}, MinVersion: tls.VersionTLS12}}
	go func() { _ = srv.ServeTLS(l, "", "") }()
	base := "https://" + l.Addr().String()
	return &GraphServer{URL: base + GraphPath, Base: base, CAPEM: certs.caPEM}, func() { _ = srv.Close() }, nil
}
