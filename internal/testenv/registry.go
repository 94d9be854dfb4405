package testenv

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/containers/image/v5/types"
	"github.com/distribution/distribution/v3/configuration"
	"github.com/distribution/distribution/v3/registry/handlers"
	"github.com/sirupsen/logrus"
	"golang.org/x/crypto/bcrypt"

	// The registry's htpasswd access controller and filesystem storage
	// register themselves by name.
	_ "github.com/distribution/distribution/v3/registry/auth/htpasswd"
	_ "github.com/distribution/distribution/v3/registry/storage/driver/filesystem"
)

// Registry is a distribution (v3) registry served in-process on 127.0.0.1
// over TLS, with htpasswd authentication and filesystem storage.
//
// Its files, under Dir:
//
//	auth.json                    AuthFile: the credentials, for REGISTRY_AUTH_FILE / --authfile
//	certs/ca.crt                 CACertFile, in CertDir (containers/image DockerCertPath, skopeo --cert-dir)
//	certs.d/<host:port>/ca.crt   CertsD, per-host certificate folders (DockerPerHostCertDirPath)
//	htpasswd                     the registry's user file
//	storage/                     the registry's blobs and manifests
type Registry struct {
	// Host is 127.0.0.1:port, the registry part of image references.
	Host string
	// Username and Password are the only credentials the registry accepts.
	Username, Password string
	// Dir holds every file of the registry.
	Dir string
	// CACertFile is the PEM file of the CA that signed the server certificate.
	CACertFile string
	// CertDir is a folder holding only ca.crt.
	CertDir string
	// CertsD is a certs.d-style folder with <Host>/ca.crt and localhost:<port>/ca.crt.
	CertsD string
	// AuthFile is a containers auth.json with the credentials for Host and localhost:<port>.
	AuthFile string

	certs  *serverCerts
	app    *handlers.App
	server *http.Server
	served chan error
	// traffic counts the writes the registry accepted (traffic.go).
	traffic *Traffic

	closeOnce sync.Once
	closeErr  error
}

// RegistryOption changes how a registry starts.
type RegistryOption func(*registryOptions)

type registryOptions struct {
	log            io.Writer
	front          func(listen string) (string, error)
	deleteDisabled bool
	tokenAuth      bool
	http1Only      bool
}

// WithFront puts something between the registry and its clients (the
// benchmark's emulated link): front gets the address the registry listens
// on and returns the one clients reach it at, which becomes Host (and the
// name in its auth file, its certs.d and the references made with Ref).
// The registry's certificate is for 127.0.0.1, whatever the port.
func WithFront(front func(listen string) (string, error)) RegistryOption {
	return func(o *registryOptions) { o.front = front }
}

// WithDeletesDisabled makes the registry refuse manifest and blob deletes
// (405 Unsupported), as distribution does unless storage.delete.enabled is
// set, and as many registries do by default.
func WithDeletesDisabled() RegistryOption {
	return func(o *registryOptions) { o.deleteDisabled = true }
}

// WithHTTP1Only makes the registry refuse HTTP/2, as a registry behind
// some proxies does: a client then needs a connection per request in
// flight.
func WithHTTP1Only() RegistryOption {
	return func(o *registryOptions) { o.http1Only = true }
}

// WithLog sends the registry's log (requests, errors, TLS handshake
// failures) to w. Without it the registry is silent.
func WithLog(w io.Writer) RegistryOption {
	return func(o *registryOptions) { o.log = w }
}

// StartRegistry starts a registry for the test, with its files in a
// temporary folder, and closes it when the test ends. It fails the test when
// the registry cannot start.
func StartRegistry(t testing.TB, opts ...RegistryOption) *Registry {
	t.Helper()
	r, err := NewRegistry(t.TempDir(), opts...)
	if err != nil {
		t.Fatalf("starting test registry: %v", err)
	}
	t.Cleanup(func() {
		if err := r.Close(); err != nil {
			t.Errorf("closing test registry %s: %v", r.Host, err)
		}
	})
	return r
}

// NewRegistry starts a registry with its files in dir (created if missing),
// with a fresh CA, server certificate, user and password. Close stops it;
// the files stay.
func NewRegistry(dir string, opts ...RegistryOption) (_ *Registry, retErr error) {
	var o registryOptions
	for _, opt := range opts {
		opt(&o)
	}
	dir, err := filepath.Abs(dir)
	if err != nil {
		return nil, err
	}
	r := &Registry{
		Dir:      dir,
		Username: "testenv-" + randomHex(4),
		Password: randomHex(16),
		CertDir:  filepath.Join(dir, "certs"),
		CertsD:   filepath.Join(dir, "certs.d"),
		AuthFile: filepath.Join(dir, "auth.json"),
	}
	r.CACertFile = filepath.Join(r.CertDir, "ca.crt")
	storage := filepath.Join(dir, "storage")
	htpasswd := filepath.Join(dir, "htpasswd")
	for _, d := range []string{r.CertDir, r.CertsD, storage} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return nil, err
		}
	}

	r.certs, err = newServerCerts("oc-plugins testenv registry")
	if err != nil {
		return nil, fmt.Errorf("generating registry certificates: %w", err)
	}
	if err := os.WriteFile(r.CACertFile, r.certs.caPEM, 0o644); err != nil {
		return nil, err
	}
	// bcrypt's minimum cost: the registry checks the password on every request.
	hash, err := bcrypt.GenerateFromPassword([]byte(r.Password), bcrypt.MinCost)
	if err != nil {
		return nil, err
	}
	if err := os.WriteFile(htpasswd, fmt.Appendf(nil, "%s:%s\n", r.Username, hash), 0o600); err != nil {
		return nil, err
	}

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("listening for the test registry: %w", err)
	}
	defer func() {
		if retErr != nil {
			ln.Close()
		}
	}()
	r.Host = ln.Addr().String()
	if o.front != nil {
		if r.Host, err = o.front(r.Host); err != nil {
			return nil, fmt.Errorf("putting a front before the test registry: %w", err)
		}
	}
	_, port, _ := net.SplitHostPort(r.Host)
	hosts := []string{r.Host, "localhost:" + port}

	if err := writeAuthFile(r.AuthFile, r.Username, r.Password, hosts...); err != nil {
		return nil, err
	}
	for _, h := range hosts {
		if err := os.MkdirAll(filepath.Join(r.CertsD, h), 0o755); err != nil {
			return nil, err
		}
		if err := os.WriteFile(filepath.Join(r.CertsD, h, "ca.crt"), r.certs.caPEM, 0o644); err != nil {
			return nil, err
		}
	}
	// Empty registries.conf and registries.d, so SystemContext does not
	// read the host's configuration.
	for _, d := range []string{"containers/registries.conf.d", "containers/registries.d"} {
		if err := os.MkdirAll(filepath.Join(dir, filepath.FromSlash(d)), 0o755); err != nil {
			return nil, err
		}
	}
	if err := os.WriteFile(filepath.Join(dir, "containers", "registries.conf"), nil, 0o644); err != nil {
		return nil, err
	}

	cfg := &configuration.Configuration{
		Storage: configuration.Storage{
			"filesystem": configuration.Parameters{"rootdirectory": storage},
			"delete":     configuration.Parameters{"enabled": !o.deleteDisabled},
			"maintenance": configuration.Parameters{
				"uploadpurging": map[any]any{"enabled": false},
			},
		},
		Auth: configuration.Auth{
			"htpasswd": configuration.Parameters{"realm": "oc-plugins-testenv", "path": htpasswd},
		},
	}
	cfg.HTTP.Secret = randomHex(16)
	var issue http.Handler
	if o.tokenAuth {
		var params configuration.Parameters
		if params, issue, err = tokenIssuerFor(r.Host, filepath.Join(dir, "jwks.json"), r.Username, r.Password); err != nil {
			return nil, fmt.Errorf("setting up the token realm: %w", err)
		}
		cfg.Auth = configuration.Auth{"token": params}
	}

	installLogRouter()
	logSink := o.log
	if logSink == nil {
		logSink = io.Discard
	}
	routeLog(hosts, o.log)
	defer func() {
		if retErr != nil {
			routeLog(hosts, nil)
		}
	}()

	r.app, err = newApp(cfg)
	if err != nil {
		return nil, err
	}
	r.traffic = newTraffic()
	var handler http.Handler = r.app
	if issue != nil {
		handler = withTokenRealm(handler, issue)
	}
	r.server = &http.Server{
		Handler:           r.traffic.wrap(handler),
		ConnState:         r.traffic.connState,
		ReadHeaderTimeout: 30 * time.Second,
		ErrorLog:          log.New(logSink, "registry "+r.Host+": ", 0),
		TLSConfig: &tls.Config{
			Certificates: []tls.Certificate{r.certs.cert},
			MinVersion:   tls.VersionTLS12,
		},
	}
	if o.http1Only {
		r.server.TLSNextProto = map[string]func(*http.Server, *tls.Conn, http.Handler){}
	}
	r.served = make(chan error, 1)
	go func() { r.served <- r.server.ServeTLS(ln, "", "") }()
	return r, nil
}

// newApp builds the registry application, turning its panics on bad
// configuration into an error.
func newApp(cfg *configuration.Configuration) (app *handlers.App, err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("configuring the distribution registry: %v", p)
		}
	}()
	return handlers.NewApp(context.Background(), cfg), nil
}

// Close stops the registry. It is safe to call more than once.
func (r *Registry) Close() error {
	r.closeOnce.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		err := r.server.Shutdown(ctx)
		if err != nil {
			err = errors.Join(err, r.server.Close())
		}
		if serveErr := <-r.served; serveErr != nil && !errors.Is(serveErr, http.ErrServerClosed) {
			err = errors.Join(err, serveErr)
		}
		err = errors.Join(err, r.app.Shutdown())
		_, port, _ := net.SplitHostPort(r.Host)
		routeLog([]string{r.Host, "localhost:" + port}, nil)
		r.closeErr = err
	})
	return r.closeErr
}

// Ref returns the image reference of name (a repository with an optional
// tag or digest, e.g. "ocp/release:4.16.1") in this registry.
func (r *Registry) Ref(name string) string {
	return r.Host + "/" + name
}

// SystemContext returns a containers/image context that trusts the
// registry's CA, logs in with its credentials, and ignores the host's
// registries.conf, registries.d and auth files.
func (r *Registry) SystemContext() *types.SystemContext {
	return &types.SystemContext{
		AuthFilePath:                r.AuthFile,
		DockerCertPath:              r.CertDir,
		SystemRegistriesConfPath:    filepath.Join(r.Dir, "containers", "registries.conf"),
		SystemRegistriesConfDirPath: filepath.Join(r.Dir, "containers", "registries.conf.d"),
		RegistriesDirPath:           filepath.Join(r.Dir, "containers", "registries.d"),
		DockerRegistryUserAgent:     "oc-plugins-testenv",
	}
}

// HTTPClient returns an HTTP client that trusts the registry's CA.
func (r *Registry) HTTPClient() *http.Client {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.TLSClientConfig = &tls.Config{RootCAs: r.certs.pool, MinVersion: tls.VersionTLS12}
	return &http.Client{Transport: tr}
}

// CombinedSystemContext returns a containers/image context that trusts and
// logs in to every one of regs (for copies between registries), with its
// files (auth.json, certs.d) in a temporary folder of the test.
func CombinedSystemContext(t testing.TB, regs ...*Registry) *types.SystemContext {
	t.Helper()
	dir := t.TempDir()
	auths := map[string]authEntry{}
	certsD := filepath.Join(dir, "certs.d")
	for _, r := range regs {
		_, port, _ := net.SplitHostPort(r.Host)
		for _, h := range []string{r.Host, "localhost:" + port} {
			auths[h] = newAuthEntry(r.Username, r.Password)
			if err := os.MkdirAll(filepath.Join(certsD, h), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(certsD, h, "ca.crt"), r.certs.caPEM, 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	authFile := filepath.Join(dir, "auth.json")
	if err := writeJSON(authFile, authConfig{Auths: auths}); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(dir, "registries.d"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "registries.conf"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	return &types.SystemContext{
		AuthFilePath:                authFile,
		DockerPerHostCertDirPath:    certsD,
		SystemRegistriesConfPath:    filepath.Join(dir, "registries.conf"),
		SystemRegistriesConfDirPath: filepath.Join(dir, "registries.d"),
		RegistriesDirPath:           filepath.Join(dir, "registries.d"),
		DockerRegistryUserAgent:     "oc-plugins-testenv",
	}
}

// WriteAuthFile writes a containers auth.json at path holding username and
// password for each of hosts (e.g. to test what wrong credentials do).
func WriteAuthFile(path, username, password string, hosts ...string) error {
	return writeAuthFile(path, username, password, hosts...)
}

type authConfig struct {
	Auths map[string]authEntry `json:"auths"`
}

type authEntry struct {
	Auth string `json:"auth"`
}

func newAuthEntry(username, password string) authEntry {
	return authEntry{Auth: base64.StdEncoding.EncodeToString([]byte(username + ":" + password))}
}

func writeAuthFile(path, username, password string, hosts ...string) error {
	auths := map[string]authEntry{}
	for _, h := range hosts {
		auths[h] = newAuthEntry(username, password)
	}
	return writeJSON(path, authConfig{Auths: auths})
}

func writeJSON(path string, v any) error {
	data, err := json.MarshalIndent(v, "", "\t")
	if err != nil {
		return err
	}
	return os.WriteFile(path, append(data, '\n'), 0o600)
}

func randomHex(n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic(err)
	}
	return hex.EncodeToString(b)
}

// The distribution registry logs through logrus's standard logger, which
// the rest of the process (containers/image) shares. Its entries carry a
// "go.version" field, which others do not; logRouter sends them to the
// writer registered for the request's host, or nowhere, and formats every
// other entry as before.
type logRouter struct {
	next  logrus.Formatter
	mu    sync.RWMutex
	sinks map[string]io.Writer
}

var (
	routerOnce sync.Once
	router     *logRouter
)

func installLogRouter() {
	routerOnce.Do(func() {
		std := logrus.StandardLogger()
		router = &logRouter{next: std.Formatter, sinks: map[string]io.Writer{}}
		std.SetFormatter(router)
	})
}

func routeLog(hosts []string, w io.Writer) {
	router.mu.Lock()
	defer router.mu.Unlock()
	for _, h := range hosts {
		if w == nil {
			delete(router.sinks, h)
		} else {
			router.sinks[h] = w
		}
	}
}

func (l *logRouter) Format(e *logrus.Entry) ([]byte, error) {
	if _, ok := e.Data["go.version"]; !ok {
		return l.next.Format(e)
	}
	host, _ := e.Data["http.request.host"].(string)
	l.mu.RLock()
	w := l.sinks[host]
	l.mu.RUnlock()
	if w == nil {
		return nil, nil
	}
	if b, err := l.next.Format(e); err == nil {
		_, _ = w.Write(b)
	}
	return nil, nil
}
