package signature

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/airgap-ocp/oc-plugins/pkg/retry"
)

// storeRetry is how often a store request is tried: a signature is small,
// and a store that keeps failing is one of several.
var storeRetry = retry.Policy{Attempts: 3, Base: 200 * time.Millisecond, Max: time.Second}

// Timeouts bound what one store may cost, so that a store that never
// answers, or answers a byte every few seconds, cannot hang a command.
// Zero fields take DefaultTimeouts'.
type Timeouts struct {
	// Connect bounds the TCP connection and the TLS handshake.
	Connect time.Duration
	// Idle gives up on, and retries, a request that has moved no byte for
	// this long (waiting for the answer counts): the copy engine's
	// --idle-timeout.
	Idle time.Duration
	// Deadline bounds one store: every signature, every retry.
	Deadline time.Duration
}

// DefaultTimeouts: Idle is the copy engine's default idle timeout.
var DefaultTimeouts = Timeouts{Connect: 30 * time.Second, Idle: time.Minute, Deadline: 5 * time.Minute}

func (t Timeouts) orDefault() Timeouts {
	if t.Connect <= 0 {
		t.Connect = DefaultTimeouts.Connect
	}
	if t.Idle <= 0 {
		t.Idle = DefaultTimeouts.Idle
	}
	if t.Deadline <= 0 {
		t.Deadline = DefaultTimeouts.Deadline
	}
	return t
}

// DefaultStores are the public stores the cluster itself reads release signatures from.
var DefaultStores = []string{
	"https://mirror.openshift.com/pub/openshift-v4/signatures/openshift/release",
	"https://storage.googleapis.com/openshift-release/official/signatures/openshift/release",
}

// MaxSignatures is the highest N of signature-<N> fetched from a store.
const MaxSignatures = 9

// Store serves the signatures of one digest.
type Store interface {
	// Fetch returns signature-1, signature-2, ... up to the first that does
	// not exist. No signatures is not an error.
	Fetch(ctx context.Context, digest string) ([][]byte, error)
	// String names the store in messages.
	String() string
}

// NewStore opens an http://, https:// or file:// store with DefaultTimeouts.
// client is used for HTTP(S); nil means http.DefaultClient.
func NewStore(rawURL string, client *http.Client) (Store, error) {
	return openStore(rawURL, client, DefaultTimeouts)
}

func openStore(rawURL string, client *http.Client, t Timeouts) (Store, error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		return nil, fmt.Errorf("signature store %q: %w", rawURL, err)
	}
	switch u.Scheme {
	case "http", "https":
		if u.Host == "" {
			return nil, fmt.Errorf("signature store %q: no host", rawURL)
		}
		u.Path = strings.TrimSuffix(u.Path, "/")
		t = t.orDefault()
		return &httpStore{base: u, client: withConnectTimeout(client, t.Connect), retry: storeRetry, t: t}, nil
	case "file":
		if u.Host != "" && u.Host != "localhost" {
			return nil, fmt.Errorf("signature store %q: file URL must not name a host (use file:///path)", rawURL)
		}
		if u.Path == "" {
			return nil, fmt.Errorf("signature store %q: no path", rawURL)
		}
		return &fileStore{dir: filepath.FromSlash(u.Path)}, nil
	}
	return nil, fmt.Errorf("signature store %q: scheme must be https, http or file", rawURL)
}

// Found is what Find found for one digest.
type Found struct {
	// Store names the store whose signatures were taken; "" when none was.
	Store string
	// Verified are that store's signatures that verified (without a
	// keyring: all of them, unverified).
	Verified [][]byte
	// Verdicts are the verdicts on every signature checked, of every store
	// that answered with some before the one taken, and of that one.
	Verdicts []Verdict
	// Failed are the errors of the stores that could not be read, each
	// naming its store.
	Failed []error
}

// Find asks every store at once and verifies each store's signatures with
// kr as they arrive. It takes the first store with a signature that
// verifies, as the Cluster Version Operator keeps looking past a store
// whose signatures do not verify (a captive portal, another release's
// signature), so such a store cannot hide a good one. With a nil kr the
// first store with any signature is taken, unverified. The error is for a
// bad digest, no stores, or ctx ending (an interrupt): nothing found is a
// Found with nothing Verified.
func Find(ctx context.Context, stores []Store, digest string, kr *Keyring) (*Found, error) {
	if err := ValidateDigest(digest); err != nil {
		return nil, err
	}
	if len(stores) == 0 {
		return nil, errors.New("no signature stores")
	}
	fctx, cancel := context.WithCancel(ctx)
	defer cancel()
	type result struct {
		store string
		sigs  [][]byte
		err   error
	}
	results := make(chan result, len(stores))
	for _, s := range stores {
		go func() {
			sigs, err := s.Fetch(fctx, digest)
			if err != nil {
				err = fmt.Errorf("store %s: %w", s, err)
			}
			results <- result{s.String(), sigs, err}
		}()
	}
	found := &Found{}
	for range stores {
		var r result
		select {
		case r = <-results:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		switch {
		case r.err != nil:
			found.Failed = append(found.Failed, r.err)
			continue
		case len(r.sigs) == 0:
			continue
		case kr == nil:
			found.Store, found.Verified = r.store, r.sigs
			return found, nil
		}
		vs := VerifyEach(r.sigs, digest, *kr)
		for i := range vs {
			vs[i].Store = r.store
		}
		found.Verdicts = append(found.Verdicts, vs...)
		if good := Verified(vs); len(good) > 0 {
			found.Store, found.Verified = r.store, good
			return found, nil
		}
	}
	return found, nil
}

func digestDir(digest string) string {
	return "sha256=" + strings.TrimPrefix(digest, "sha256:")
}

type fileStore struct{ dir string }

func (s *fileStore) String() string { return "file://" + filepath.ToSlash(s.dir) }

func (s *fileStore) Fetch(ctx context.Context, digest string) ([][]byte, error) {
	if err := ValidateDigest(digest); err != nil {
		return nil, err
	}
	if fi, err := os.Stat(s.dir); err != nil {
		return nil, fmt.Errorf("signature store: %w", err)
	} else if !fi.IsDir() {
		return nil, fmt.Errorf("signature store %s: not a directory", s.dir)
	}
	var sigs [][]byte
	for n := 1; n <= MaxSignatures; n++ {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		path := filepath.Join(s.dir, digestDir(digest), "signature-"+strconv.Itoa(n))
		data, err := readCapped(path)
		if errors.Is(err, fs.ErrNotExist) {
			break
		}
		if err != nil {
			return nil, err
		}
		sigs = append(sigs, data)
	}
	return sigs, nil
}

func readCapped(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxSignatureSize+1))
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", path, err)
	}
	if len(data) > maxSignatureSize {
		return nil, fmt.Errorf("reading %s: larger than %d bytes", path, maxSignatureSize)
	}
	if len(data) == 0 {
		return nil, fmt.Errorf("reading %s: empty", path)
	}
	return data, nil
}

type httpStore struct {
	base   *url.URL
	client *http.Client
	retry  retry.Policy
	t      Timeouts
}

// withConnectTimeout is client with connections and TLS handshakes bounded
// by d.
func withConnectTimeout(client *http.Client, d time.Duration) *http.Client {
	if client == nil {
		client = http.DefaultClient
	}
	tr, ok := client.Transport.(*http.Transport)
	if client.Transport == nil {
		tr, ok = http.DefaultTransport.(*http.Transport)
	}
	if !ok {
		return client
	}
	tr = tr.Clone()
	tr.DialContext = (&net.Dialer{Timeout: d, KeepAlive: 30 * time.Second}).DialContext
	tr.TLSHandshakeTimeout = d
	c := *client
	c.Transport = tr
	return &c
}

// StalledError is a store request given up on because no byte moved for
// Idle. It is a timeout (errors.Is context.DeadlineExceeded), so it is
// retried.
type StalledError struct{ Idle time.Duration }

func (e *StalledError) Error() string {
	return fmt.Sprintf("stalled: no data for %s", e.Idle)
}
func (e *StalledError) Unwrap() error { return context.DeadlineExceeded }

// String names the store without the password a URL may carry (user:password@host).
func (s *httpStore) String() string { return s.base.Redacted() }

func (s *httpStore) Fetch(ctx context.Context, digest string) (sigs [][]byte, err error) {
	if err := ValidateDigest(digest); err != nil {
		return nil, err
	}
	parent := ctx
	ctx, cancel := context.WithTimeout(ctx, s.t.Deadline)
	defer cancel()
	defer func() {
		if err != nil && parent.Err() == nil && ctx.Err() != nil {
			err = fmt.Errorf("%w (gave up on the store after %s)", err, s.t.Deadline)
		}
	}()
	for n := 1; n <= MaxSignatures; n++ {
		u := *s.base
		u.Path = s.base.Path + "/" + digestDir(digest) + "/signature-" + strconv.Itoa(n)
		data, err := s.get(ctx, &u)
		if err != nil {
			return nil, err
		}
		if data == nil {
			break
		}
		sigs = append(sigs, data)
	}
	return sigs, nil
}

// idleBody restarts the idle timer whenever a byte arrives.
type idleBody struct {
	io.ReadCloser
	timer *time.Timer
	idle  time.Duration
}

func (b *idleBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	if n > 0 {
		b.timer.Reset(b.idle)
	}
	return n, err
}

// get returns the body, nil on 404, or an error after the retries the
// suite's policy allows.
func (s *httpStore) get(ctx context.Context, u *url.URL) ([]byte, error) {
	var data []byte
	err := retry.Do(ctx, s.retry, func(ctx context.Context) error {
		var err error
		data, err = s.getOnce(ctx, u.String())
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("fetching %s: %w", u.Redacted(), err)
	}
	return data, nil
}

func (s *httpStore) getOnce(ctx context.Context, u string) (data []byte, err error) {
	// Stopped when no byte has moved for the idle timeout, waiting for
	// the answer included.
	rctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	stalled := &StalledError{Idle: s.t.Idle}
	timer := time.AfterFunc(s.t.Idle, func() { cancel(stalled) })
	defer timer.Stop()
	defer func() {
		if err != nil && context.Cause(rctx) == stalled {
			err = stalled
		}
	}()
	req, err := http.NewRequestWithContext(rctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, err
	}
	resp, err := s.client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	resp.Body = &idleBody{ReadCloser: resp.Body, timer: timer, idle: s.t.Idle}
	switch {
	case resp.StatusCode == http.StatusNotFound:
		return nil, nil
	case resp.StatusCode != http.StatusOK:
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, maxSignatureSize))
		return nil, &retry.StatusError{Code: resp.StatusCode, Status: resp.Status}
	}
	if resp.ContentLength > maxSignatureSize {
		return nil, fmt.Errorf("body of %d bytes is larger than %d", resp.ContentLength, maxSignatureSize)
	}
	data, err = io.ReadAll(io.LimitReader(resp.Body, maxSignatureSize+1))
	if err != nil {
		return nil, fmt.Errorf("reading body: %w", err)
	}
	if len(data) > maxSignatureSize {
		return nil, fmt.Errorf("body larger than %d bytes", maxSignatureSize)
	}
	if len(data) == 0 {
		return nil, errors.New("empty body")
	}
	return data, nil
}
