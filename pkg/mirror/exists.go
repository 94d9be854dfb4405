package mirror

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptrace"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/containers/image/v5/docker"
	"github.com/containers/image/v5/docker/reference"
	"github.com/containers/image/v5/pkg/docker/config"
	"github.com/containers/image/v5/pkg/sysregistriesv2"
	"github.com/containers/image/v5/pkg/tlsclientconfig"
	"github.com/containers/image/v5/types"
	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	ggcrv1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
	digest "github.com/opencontainers/go-digest"

	"github.com/airgap-ocp/oc-plugins/pkg/retry"
)

// The re-run's questions, asked once per image: does a destination tag
// still point at the planned digest (a tag moved behind our back must be
// caught), and does the source hold a sigstore signature tag for an image
// (a new signature must be copied; one tag list answers for the images
// of a source repository where that saves requests, resolve.go)? containers/image answers each with a
// client of its own, so a connection for its ping (whose response it
// closes unread, losing the connection) and one for the request: two TLS
// handshakes per question, three round trips each before the first byte,
// seconds on a long link for a re-run that moves nothing.
//
// So these questions go through go-containerregistry's client, one per
// registry and credentials, over one HTTP transport that keeps its
// connections, with containers/image's own answers to what the copies
// depend on: credentials from its auth files (config.GetCredentialsForRef,
// per repository as it looks them up), certificates from the same
// certs.d folders or --cert-dir, TLS verification and "blocked" as its
// registries.conf (sysregistriesv2) and the system context say. Where
// registries.conf rewrites or mirrors the reference, or the context
// carries a bearer token, the question goes to containers/image as
// before: its resolution is not redone here.

// checker holds the clients of a run's existence checks.
type checker struct {
	parallel int
	// challengeDir keeps each registry's challenge between runs ("" none).
	challengeDir string
	mu           sync.Mutex
	clients      map[checkKey]*checkClient
	// resolved is each reference's client as reference found it (nil:
	// containers/image must answer), so that registries.conf and the
	// credentials are looked up once per reference, not once per check,
	// push or blob read of it.
	resolved map[resolvedKey]*checkClient
}

type resolvedKey struct {
	sys *types.SystemContext
	ref string
}

type checkKey struct {
	sys                    *types.SystemContext
	host                   string
	user, secret, identity string
}

// checkClient is the kept client of one registry and credentials, over
// its session (session.go), set up the first time a request needs it. A
// failed set-up is tried again by the next request (the retry policy's
// next attempt).
type checkClient struct {
	reg name.Registry
	// base carries the checks, manifests and pushes, over HTTP/2 where
	// the registry speaks it; bulk the blobs read (blobSource), uploads
	// those written (upload.go), each over HTTP/1.1, a connection per
	// blob in flight.
	base, bulk, uploads http.RoundTripper
	auth                authn.Authenticator
	opts                []name.Option
	err                 error // the client cannot be built (certificates)

	challenges challengeCache
	setup      chan struct{} // held while the session is set up
	sess       atomic.Pointer[session]
	forgot     atomic.Bool // the remembered challenge was refused this run
}

// repoClient is a client set up once (a token fetched), by the first
// caller that needs it.
type repoClient[T any] struct {
	setup chan struct{}
	done  atomic.Pointer[T]
}

// repoClientOf is m's entry for key, made if missing; the session's mu
// is held.
func repoClientOf[T any](m *map[string]*repoClient[T], key string) *repoClient[T] {
	if *m == nil {
		*m = map[string]*repoClient[T]{}
	}
	rc := (*m)[key]
	if rc == nil {
		rc = &repoClient[T]{setup: make(chan struct{}, 1)}
		(*m)[key] = rc
	}
	return rc
}

// repoScoped returns the client for repo in the session's map that m
// picks, built once over base by build: where the registry challenges with
// Bearer, repo's own, with a token for scope fetched with the session's
// challenge; else one for every repository.
func repoScoped[T any](ctx context.Context, cl *checkClient, m func(*session) *map[string]*repoClient[T], repo name.Repository, scope string, base http.RoundTripper, build func(http.RoundTripper) (*T, error)) (*T, error) {
	s, err := cl.session(ctx)
	if err != nil {
		return nil, err
	}
	key := ""
	if s.bearer() {
		key = repo.RepositoryStr()
	}
	s.mu.Lock()
	rc := repoClientOf(m(s), key)
	s.mu.Unlock()
	return once(ctx, rc.setup, &rc.done, func() (*T, error) {
		var tr http.RoundTripper
		if s.bearer() {
			tr, err = cl.tokenTransport(ctx, s, scope, base)
		} else {
			tr, err = transport.FromToken(cl.reg, cl.auth, cl.schemed(s, base), s.ch, nil)
		}
		if err != nil {
			if s.unconfirmed() {
				// The token service it named may be gone: ask again.
				cl.end(s)
				return nil, fmt.Errorf("%w: %w", staleChallengeError{host: cl.reg.RegistryStr()}, err)
			}
			return nil, err
		}
		return build(tr)
	})
}

// puller returns the client's puller for repo: the session's shared one,
// or for a Bearer challenge repo's own (repoScoped).
func (cl *checkClient) puller(ctx context.Context, repo name.Repository) (*remote.Puller, error) {
	s, err := cl.session(ctx)
	if err != nil {
		return nil, err
	}
	if s.shared != nil {
		return s.shared, nil
	}
	return repoScoped(ctx, cl, func(s *session) *map[string]*repoClient[remote.Puller] { return &s.pullers },
		repo, repo.Scope(transport.PullScope), cl.base, cl.newPuller)
}

// tokenTransport authenticates with a token for scope, fetched with the
// session's Bearer challenge (transport.Exchange, FromToken) rather than
// after a ping of its own, as NewWithContext would.
func (cl *checkClient) tokenTransport(ctx context.Context, s *session, scope string, base http.RoundTripper) (http.RoundTripper, error) {
	tr := cl.schemed(s, base)
	tok, err := transport.Exchange(ctx, cl.reg, cl.auth, tr, []string{scope}, s.ch)
	if err != nil {
		return nil, err
	}
	if tok.Token == "" {
		tok.Token = tok.AccessToken // some token services send only this
	}
	return transport.FromToken(cl.reg, cl.auth, tr, s.ch, tok)
}

// schemed is next with the scheme the session's challenge found, and
// for a remembered challenge, watching for its refusal.
func (cl *checkClient) schemed(s *session, next http.RoundTripper) http.RoundTripper {
	scheme := "https"
	if s.ch.Insecure {
		scheme = "http"
	}
	next = schemed{next: next, host: cl.reg.RegistryStr(), scheme: scheme}
	if s.remembered {
		next = refusal{next: next, cl: cl, s: s}
	}
	return transport.NewUserAgent(next, "")
}

func (cl *checkClient) newPuller(tr http.RoundTripper) (*remote.Puller, error) {
	return remote.NewPuller(remote.WithAuth(cl.auth), remote.WithTransport(tr), remote.WithPageSize(tagPageSize))
}

// once runs set, holding sem, unless *done is already set (set's nil
// result leaves it unset); a caller waiting for sem gives up with its
// ctx.
func once[T any](ctx context.Context, sem chan struct{}, done *atomic.Pointer[T], set func() (*T, error)) (*T, error) {
	if p := done.Load(); p != nil {
		return p, nil
	}
	select {
	case sem <- struct{}{}:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	defer func() { <-sem }()
	if p := done.Load(); p != nil {
		return p, nil
	}
	p, err := set()
	if err != nil {
		return nil, err
	}
	if p != nil {
		done.Store(p)
	}
	return p, nil
}

// schemed sends the requests to host with the scheme the ping found
// (go-containerregistry picks plain HTTP for loopback and private
// addresses until a ping says otherwise; the transport NewWithContext
// builds does the same).
type schemed struct {
	next         http.RoundTripper
	host, scheme string
}

func (s schemed) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.URL.Host == s.host && req.URL.Scheme != s.scheme {
		req = req.Clone(req.Context())
		req.URL.Scheme = s.scheme
	}
	return s.next.RoundTrip(req)
}

// tagPageSize is how many tags a tag list asks for per request
// (go-containerregistry's default; a registry may send fewer).
var tagPageSize = 1000

// errNoFastCheck means the question must go to containers/image.
var errNoFastCheck = errors.New("resolved by containers/image only")

// digestOf is the digest ref's tag points at, read with a HEAD through
// the registry's kept client; errNoFastCheck when containers/image must
// answer. A tag that does not exist is an error, as for docker.GetDigest.
func (c *checker) digestOf(ctx context.Context, sys *types.SystemContext, ref types.ImageReference) (digest.Digest, error) {
	cl, named, gref, err := c.reference(sys, ref)
	if err != nil {
		return "", err
	}
	desc, err := pulled(ctx, cl, cl.pullerOf(gref.Context()), func(p *remote.Puller) (*ggcrv1.Descriptor, error) {
		return p.Head(ctx, gref)
	})
	if err != nil {
		return "", statusOf(named, err)
	}
	return digest.Parse(desc.Digest.String())
}

// tags lists the tags of ref's repository through the registry's kept
// client, as docker.GetRepositoryTags would (errNoFastCheck when it must):
// one round trip on a connection the checks then reuse, where
// containers/image would open a client, ping and handshake twice. A
// repository the registry does not know has no tags.
func (c *checker) tags(ctx context.Context, sys *types.SystemContext, ref types.ImageReference) ([]string, error) {
	cl, named, gref, err := c.reference(sys, ref)
	if err != nil {
		return nil, err
	}
	tags, err := pulled(ctx, cl, cl.pullerOf(gref.Context()), func(p *remote.Puller) ([]string, error) {
		return p.List(ctx, gref.Context())
	})
	var terr *transport.Error
	if errors.As(err, &terr) {
		for _, d := range terr.Errors {
			if d.Code == transport.NameUnknownErrorCode {
				return nil, nil
			}
		}
	}
	if err != nil {
		return nil, statusOf(named, err)
	}
	return tags, nil
}

// tagsUpTo lists the tags of ref's repository through the registry's
// kept client, a page (tagPageSize) per request, but no more than pages
// requests: complete is false when the repository holds more tags than
// that. errNoFastCheck when containers/image must answer for ref.
func (c *checker) tagsUpTo(ctx context.Context, sys *types.SystemContext, ref types.ImageReference, pages int) (tags []string, complete bool, err error) {
	cl, named, gref, err := c.reference(sys, ref)
	if err != nil {
		return nil, false, err
	}
	complete = true
	err = cl.afresh(func() error {
		tags = nil
		p, err := cl.puller(ctx, gref.Context())
		if err != nil {
			return err
		}
		l, err := p.Lister(ctx, gref.Context())
		if err != nil {
			return err
		}
		for n := 0; l.HasNext(); n++ {
			if n == pages {
				complete = false
				return nil
			}
			page, err := l.Next(ctx)
			if err != nil {
				return err
			}
			tags = append(tags, page.Tags...)
		}
		return nil
	})
	if err != nil {
		return nil, false, statusOf(named, err)
	}
	return tags, complete, nil
}

// reference is the kept client for ref's registry and ref as
// go-containerregistry names it; errNoFastCheck when containers/image
// must answer for ref.
func (c *checker) reference(sys *types.SystemContext, ref types.ImageReference) (*checkClient, reference.Named, name.Reference, error) {
	if ref.Transport().Name() != docker.Transport.Name() || ref.DockerReference() == nil {
		return nil, nil, nil, errNoFastCheck
	}
	named := ref.DockerReference()
	key := resolvedKey{sys, named.String()}
	c.mu.Lock()
	cl, ok := c.resolved[key]
	c.mu.Unlock()
	if !ok {
		var err error
		if cl, err = c.resolve(sys, named); err != nil && !errors.Is(err, errNoFastCheck) {
			return nil, nil, nil, err // looked up again next time
		}
		c.mu.Lock()
		if c.resolved == nil {
			c.resolved = map[resolvedKey]*checkClient{}
		}
		c.resolved[key] = cl
		c.mu.Unlock()
	}
	if cl == nil {
		return nil, nil, nil, errNoFastCheck
	}
	gref, err := name.ParseReference(named.String(), cl.opts...)
	if err != nil {
		return nil, nil, nil, errNoFastCheck
	}
	return cl, named, gref, nil
}

// resolve is the kept client for named as registries.conf and the
// credentials say; errNoFastCheck when containers/image must answer.
func (c *checker) resolve(sys *types.SystemContext, named reference.Named) (*checkClient, error) {
	reg, err := sysregistriesv2.FindRegistry(sys, named.String())
	if err != nil {
		return nil, err
	}
	if reg != nil && (reg.Blocked || len(reg.Mirrors) > 0 || reg.Location != reg.Prefix) ||
		sys != nil && sys.DockerBearerRegistryToken != "" {
		return nil, errNoFastCheck
	}
	insecure := reg != nil && reg.Insecure
	if sys != nil && sys.DockerInsecureSkipTLSVerify != types.OptionalBoolUndefined {
		insecure = sys.DockerInsecureSkipTLSVerify == types.OptionalBoolTrue
	}
	return c.client(sys, named, insecure)
}

// closeIdle closes the idle connections of the kept clients, whose
// owner is done with them.
func (c *checker) closeIdle() {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, cl := range c.clients {
		for _, tr := range []http.RoundTripper{cl.base, cl.bulk, cl.uploads} {
			if t, ok := tr.(interface{ CloseIdleConnections() }); ok {
				t.CloseIdleConnections()
			}
		}
	}
}

// statusOf is err with the HTTP status of the registry's answer, as the
// retry policy reads it.
func statusOf(named reference.Named, err error) error {
	var terr *transport.Error
	if errors.As(err, &terr) {
		return fmt.Errorf("reading %s: %w", named, &retry.StatusError{Code: terr.StatusCode, Status: fmt.Sprintf("%d %s", terr.StatusCode, http.StatusText(terr.StatusCode))})
	}
	return err
}

// hasTag reports whether ref (a tag) exists: true, or false with a nil
// error when the registry says it does not, or an error (errNoFastCheck
// when containers/image must answer).
func (c *checker) hasTag(ctx context.Context, sys *types.SystemContext, ref types.ImageReference) (bool, error) {
	_, err := c.digestOf(ctx, sys, ref)
	if code, ok := retry.HTTPStatus(err); ok && code == http.StatusNotFound {
		return false, nil
	}
	return err == nil, err
}

func (c *checker) client(sys *types.SystemContext, named reference.Named, insecure bool) (*checkClient, error) {
	auth, err := config.GetCredentialsForRef(sys, named)
	if err != nil {
		return nil, err
	}
	host := reference.Domain(named)
	key := checkKey{sys: sys, host: host, user: auth.Username, secret: auth.Password, identity: auth.IdentityToken}
	c.mu.Lock()
	if c.clients == nil {
		c.clients = map[checkKey]*checkClient{}
	}
	cl := c.clients[key]
	if cl == nil {
		cl = &checkClient{}
		c.clients[key] = cl
	}
	if cl.setup == nil {
		cl.setup = make(chan struct{}, 1)
		var a authn.Authenticator = authn.Anonymous
		if auth.Username != "" || auth.Password != "" || auth.IdentityToken != "" {
			a = authn.FromConfig(authn.AuthConfig{Username: auth.Username, Password: auth.Password, IdentityToken: auth.IdentityToken})
		}
		cl.auth = a
		cl.opts = []name.Option{name.WeakValidation}
		if insecure {
			cl.opts = append(cl.opts, name.Insecure)
		}
		if !insecure {
			// TLS is verified: the challenge came from the registry.
			cl.challenges = challengeCache{dir: c.challengeDir}
		}
		if cl.reg, cl.err = name.NewRegistry(host, cl.opts...); cl.err == nil {
			cl.base, cl.bulk, cl.uploads, cl.err = c.transport(sys, host, insecure)
		}
	}
	c.mu.Unlock()
	return cl, cl.err
}

// maxCheckConns bounds the connections of a kept client where the
// registry speaks HTTP/1.1 (a connection per request in flight), unless
// --parallel asks for more; over HTTP/2 the checks share one.
const maxCheckConns = 64

// transport is an HTTP transport to host that keeps up to parallel idle
// connections and opens no more than maxCheckConns (or parallel),
// trusting what containers/image would trust there, and sending nothing
// in plain HTTP unless TLS is not verified for host (go-containerregistry
// falls back to HTTP for loopback and private addresses otherwise); and
// bulk and uploads, the same over HTTP/1.1 only, for the blobs read and
// written: over one HTTP/2 connection a long link's loss would slow every
// blob in flight at once, where a connection each keeps the others going.
func (c *checker) transport(sys *types.SystemContext, host string, insecure bool) (base, bulk, uploads http.RoundTripper, err error) {
	tlsc := &tls.Config{MinVersion: tls.VersionTLS12}
	if dir := certDir(sys, host); dir != "" {
		if err := tlsclientconfig.SetupCertificates(dir, tlsc); err != nil {
			return nil, nil, nil, err
		}
	}
	tlsc.InsecureSkipVerify = insecure
	dialer := &net.Dialer{Timeout: 30 * time.Second, KeepAlive: 30 * time.Second}
	newTransport := func() *http.Transport {
		tr := &http.Transport{
			Proxy:               http.ProxyFromEnvironment,
			DialContext:         dialer.DialContext,
			TLSClientConfig:     tlsc.Clone(), // HTTP/2 adds its protocol to it
			TLSHandshakeTimeout: 10 * time.Second,
			IdleConnTimeout:     90 * time.Second,
		}
		if sys != nil && sys.DockerProxyURL != nil {
			tr.Proxy = http.ProxyURL(sys.DockerProxyURL)
		}
		return tr
	}
	tr := newTransport()
	tr.MaxIdleConnsPerHost = max(c.parallel, 2)
	tr.MaxConnsPerHost = max(c.parallel, maxCheckConns)
	tr.ForceAttemptHTTP2 = true
	// Every blob worker's connection is kept for its next blob, and no
	// more are opened than there are workers (transfers and small
	// blobs): a worker's next request waits for its last connection to
	// come back rather than dial another. A worker reads and writes at
	// once, so reads and uploads have a transport each: within one
	// registry, a worker holds a connection of each.
	blobs := func() http.RoundTripper {
		t := newTransport()
		t.TLSNextProto = map[string]func(string, *tls.Conn) http.RoundTripper{} // no HTTP/2
		t.MaxIdleConnsPerHost = max(2*c.parallel, 2)
		t.MaxConnsPerHost = max(2*c.parallel, 2)
		return tlsOnly{next: t, plainOK: insecure}
	}
	return &firstConn{next: tlsOnly{next: tr, plainOK: insecure}, ready: make(chan struct{})}, blobs(), blobs(), nil
}

// firstConn sends a client's first request alone until it has its
// connection: the requests that arrive meanwhile then share it over
// HTTP/2, where at once they would each dial one (a run's checks start
// together, and with a remembered challenge no ping goes first).
type firstConn struct {
	next    tlsOnly
	started atomic.Bool
	ready   chan struct{} // closed once the first request has a connection, or failed
}

func (f *firstConn) CloseIdleConnections() { f.next.CloseIdleConnections() }

func (f *firstConn) RoundTrip(req *http.Request) (*http.Response, error) {
	if f.started.CompareAndSwap(false, true) {
		var once sync.Once
		open := func() { once.Do(func() { close(f.ready) }) }
		defer open()
		ctx := httptrace.WithClientTrace(req.Context(), &httptrace.ClientTrace{GotConn: func(httptrace.GotConnInfo) { open() }})
		return f.next.RoundTrip(req.WithContext(ctx))
	}
	select {
	case <-f.ready:
	case <-req.Context().Done():
		return nil, req.Context().Err()
	}
	return f.next.RoundTrip(req)
}

type tlsOnly struct {
	next    *http.Transport
	plainOK bool
}

func (t tlsOnly) CloseIdleConnections() { t.next.CloseIdleConnections() }

func (t tlsOnly) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.URL.Scheme != "https" && !t.plainOK {
		return nil, fmt.Errorf("refusing plain HTTP to %s: TLS is verified for it", req.URL.Host)
	}
	return t.next.RoundTrip(req)
}

// certDir is the folder of host's certificates, as containers-certs.d(5)
// says containers/image looks for it: --cert-dir, else the per-host
// folders under the system context's, the user's or the system's
// certs.d; "" if none exists.
func certDir(sys *types.SystemContext, host string) string {
	if sys != nil && sys.DockerCertPath != "" {
		return sys.DockerCertPath
	}
	if sys != nil && sys.DockerPerHostCertDirPath != "" {
		return filepath.Join(sys.DockerPerHostCertDirPath, host)
	}
	root := ""
	if sys != nil {
		root = sys.RootForImplicitAbsolutePaths
	}
	var dirs []string
	if home, err := os.UserHomeDir(); err == nil {
		dirs = append(dirs, filepath.Join(home, ".config", "containers", "certs.d"))
	}
	dirs = append(dirs, filepath.Join(root, "/etc/containers/certs.d"), filepath.Join(root, "/etc/docker/certs.d"))
	for _, d := range dirs {
		if _, err := os.Stat(filepath.Join(d, host)); err == nil {
			return filepath.Join(d, host)
		}
	}
	return ""
}

// manifest reads the manifest ref names (by digest) through the
// registry's kept client, as served, with its media type; errNoFastCheck
// when containers/image must answer. Reading the manifests of hundreds of
// repositories so opens no containers/image client for each (a ping, two
// handshakes and a copy of the trusted certificates).
func (c *checker) manifest(ctx context.Context, sys *types.SystemContext, ref types.ImageReference) ([]byte, string, error) {
	cl, named, gref, err := c.reference(sys, ref)
	if err != nil {
		return nil, "", err
	}
	desc, err := pulled(ctx, cl, cl.pullerOf(gref.Context()), func(p *remote.Puller) (*remote.Descriptor, error) {
		return p.Get(ctx, gref)
	})
	if err != nil {
		return nil, "", statusOf(named, err)
	}
	return desc.Manifest, string(desc.MediaType), nil
}
