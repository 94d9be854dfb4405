package signature

import (
	"bytes"
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func fileStoreURL(t *testing.T, dir string) string {
	t.Helper()
	abs, err := filepath.Abs(dir)
	if err != nil {
		t.Fatal(err)
	}
	return "file://" + filepath.ToSlash(abs)
}

func newStore(t *testing.T, u string, c *http.Client) Store {
	t.Helper()
	s, err := NewStore(u, c)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// testdataServer serves testdata/store over TLS, as the public stores lay it out.
func testdataServer(t *testing.T) *httptest.Server {
	srv := httptest.NewTLSServer(http.FileServer(http.Dir(filepath.Join("testdata", "store"))))
	t.Cleanup(srv.Close)
	return srv
}

func TestFileStore(t *testing.T) {
	s := newStore(t, fileStoreURL(t, "testdata/store"), nil)
	for _, d := range []string{redhatDigest, ciDigest} {
		sigs, err := s.Fetch(context.Background(), d)
		if err != nil {
			t.Fatal(err)
		}
		if len(sigs) != 1 || !bytes.Equal(sigs[0], fixtureSig(t, d)) {
			t.Errorf("%s: got %d signatures", d, len(sigs))
		}
	}
	sigs, err := s.Fetch(context.Background(), otherDigest)
	if err != nil || len(sigs) != 0 {
		t.Errorf("digest without signatures: %d, %v", len(sigs), err)
	}
	missing := newStore(t, fileStoreURL(t, filepath.Join(t.TempDir(), "nope")), nil)
	if _, err := missing.Fetch(context.Background(), redhatDigest); err == nil {
		t.Error("missing store directory is not an error")
	}
}

func TestNewStoreRejects(t *testing.T) {
	for _, u := range []string{"ftp://example.com/x", "https://", "file://host/path", "::"} {
		if _, err := NewStore(u, nil); err == nil {
			t.Errorf("%q accepted", u)
		}
	}
}

func TestHTTPSStoreServesTestdata(t *testing.T) {
	srv := testdataServer(t)
	s := newStore(t, srv.URL+"/", srv.Client())
	sigs, err := s.Fetch(context.Background(), redhatDigest)
	if err != nil {
		t.Fatal(err)
	}
	if len(sigs) != 1 || !bytes.Equal(sigs[0], fixtureSig(t, redhatDigest)) {
		t.Fatalf("got %d signatures", len(sigs))
	}
}

func TestHTTPStoreStopsAtFirst404(t *testing.T) {
	var mu sync.Mutex
	var hits []string
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		hits = append(hits, r.URL.Path)
		mu.Unlock()
		switch {
		case strings.HasSuffix(r.URL.Path, "/signature-1"), strings.HasSuffix(r.URL.Path, "/signature-2"):
			w.Write([]byte("sig " + r.URL.Path))
		default:
			http.NotFound(w, r)
		}
	}))
	defer srv.Close()
	sigs, err := newStore(t, srv.URL+"/base", srv.Client()).Fetch(context.Background(), otherDigest)
	if err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(sigs) != 2 || len(hits) != 3 {
		t.Fatalf("got %d signatures after %v", len(sigs), hits)
	}
	want := "/base/sha256=" + strings.TrimPrefix(otherDigest, "sha256:") + "/signature-3"
	if hits[2] != want {
		t.Errorf("last request %s, want %s", hits[2], want)
	}
}

func TestHTTPStoreRetries500ThenSucceeds(t *testing.T) {
	var calls atomic.Int32
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !strings.HasSuffix(r.URL.Path, "/signature-1") {
			http.NotFound(w, r)
			return
		}
		if calls.Add(1) == 1 {
			http.Error(w, "boom", http.StatusInternalServerError)
			return
		}
		w.Write([]byte("payload"))
	}))
	defer srv.Close()
	sigs, err := newStore(t, srv.URL, srv.Client()).Fetch(context.Background(), otherDigest)
	if err != nil {
		t.Fatal(err)
	}
	if len(sigs) != 1 || string(sigs[0]) != "payload" || calls.Load() != 2 {
		t.Fatalf("sigs=%q calls=%d", sigs, calls.Load())
	}
}

func TestHTTPStoreReportsPersistentErrorWithURL(t *testing.T) {
	var calls atomic.Int32
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		http.Error(w, "down", http.StatusServiceUnavailable)
	}))
	defer srv.Close()
	_, err := newStore(t, srv.URL, srv.Client()).Fetch(context.Background(), otherDigest)
	if err == nil {
		t.Fatal("no error")
	}
	if !strings.Contains(err.Error(), srv.URL+"/sha256=") || !strings.Contains(err.Error(), "503") {
		t.Errorf("err = %q, want the URL and the status", err)
	}
	if calls.Load() != 3 {
		t.Errorf("%d attempts, want 3", calls.Load())
	}
}

func TestHTTPStoreRefusesHugeBody(t *testing.T) {
	for _, chunked := range []bool{false, true} {
		var calls atomic.Int32
		srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			calls.Add(1)
			body := bytes.Repeat([]byte("x"), maxSignatureSize+1)
			if chunked {
				w.Write(body[:10])
				w.(http.Flusher).Flush()
				w.Write(body[10:])
				return
			}
			w.Write(body)
		}))
		_, err := newStore(t, srv.URL, srv.Client()).Fetch(context.Background(), otherDigest)
		srv.Close()
		if err == nil || !strings.Contains(err.Error(), "larger than") {
			t.Errorf("chunked=%v: err = %v, want a size error", chunked, err)
		}
		if calls.Load() != 1 {
			t.Errorf("chunked=%v: %d requests, a size error is not retried", chunked, calls.Load())
		}
	}
	// Exactly 50 KiB is allowed.
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasSuffix(r.URL.Path, "/signature-1") {
			w.Write(bytes.Repeat([]byte("x"), maxSignatureSize))
			return
		}
		http.NotFound(w, r)
	}))
	defer srv.Close()
	if sigs, err := newStore(t, srv.URL, srv.Client()).Fetch(context.Background(), otherDigest); err != nil || len(sigs) != 1 {
		t.Errorf("50 KiB body: %d signatures, %v", len(sigs), err)
	}
}

func TestFind(t *testing.T) {
	srv := testdataServer(t)
	empty := newStore(t, fileStoreURL(t, t.TempDir()), nil)
	full := newStore(t, srv.URL, srv.Client())
	redhat := keyring(t, "redhat.txt")
	t.Run("first store has nothing, second has signatures", func(t *testing.T) {
		found, err := Find(context.Background(), []Store{empty, full}, ciDigest, nil)
		if err != nil {
			t.Fatal(err)
		}
		if len(found.Verified) != 1 || !bytes.Equal(found.Verified[0], fixtureSig(t, ciDigest)) || found.Store != full.String() {
			t.Fatalf("found %+v", found)
		}
	})
	t.Run("a failing store does not hide a good one", func(t *testing.T) {
		broken := newStore(t, fileStoreURL(t, filepath.Join(t.TempDir(), "missing")), nil)
		found, err := Find(context.Background(), []Store{broken, full}, redhatDigest, &redhat)
		if err != nil || len(found.Verified) != 1 {
			t.Fatalf("found %+v, %v", found, err)
		}
	})
	t.Run("nothing anywhere is nothing found and no error", func(t *testing.T) {
		found, err := Find(context.Background(), []Store{empty, full}, otherDigest, &redhat)
		if err != nil || len(found.Verified) != 0 || len(found.Failed) != 0 || len(found.Verdicts) != 0 {
			t.Fatalf("found %+v, %v", found, err)
		}
	})
	t.Run("only failures name the store", func(t *testing.T) {
		broken := newStore(t, fileStoreURL(t, filepath.Join(t.TempDir(), "missing")), nil)
		found, err := Find(context.Background(), []Store{broken, empty}, otherDigest, &redhat)
		if err != nil || len(found.Failed) != 1 || !strings.Contains(found.Failed[0].Error(), "missing") {
			t.Fatalf("found %+v, %v", found, err)
		}
	})
	t.Run("bad digest", func(t *testing.T) {
		if _, err := Find(context.Background(), []Store{full}, "sha256:xyz", nil); err == nil {
			t.Fatal("accepted")
		}
	})
}

// orderedStore fetches only after wait is closed, and closes done once it
// has: the test decides which store answers first.
type orderedStore struct {
	Store
	wait, done chan struct{}
}

func (s orderedStore) Fetch(ctx context.Context, digest string) ([][]byte, error) {
	if s.wait != nil {
		<-s.wait
	}
	sigs, err := s.Store.Fetch(ctx, digest)
	if s.done != nil {
		close(s.done)
	}
	return sigs, err
}

// TestAStoreWhoseSignaturesDoNotVerifyDoesNotHideAGoodOne: a captive portal
// (or a store with another release's signature) answers first; the good
// store starts only once it has. The good store's signature is taken, and
// what the first served is reported as refused.
func TestAStoreWhoseSignaturesDoNotVerifyDoesNotHideAGoodOne(t *testing.T) {
	for _, tc := range []struct {
		name, want string
		body       []byte
	}{
		{"a captive portal", "not an OpenPGP message", []byte("<html>Log in to the hotel Wi-Fi</html>")},
		{"another release's signature, by another key", "not in the keyring", fixtureSig(t, ciDigest)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			portal := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if !strings.HasSuffix(r.URL.Path, "/signature-1") {
					http.NotFound(w, r)
					return
				}
				w.Write(tc.body)
			}))
			defer portal.Close()
			good := testdataServer(t)
			first := make(chan struct{})
			stores := []Store{
				orderedStore{Store: newStore(t, portal.URL, nil), done: first},
				orderedStore{Store: newStore(t, good.URL, good.Client()), wait: first},
			}
			redhat := keyring(t, "redhat.txt")
			found, err := Find(context.Background(), stores, redhatDigest, &redhat)
			if err != nil {
				t.Fatal(err)
			}
			if found.Store != good.URL || len(found.Verified) != 1 || !bytes.Equal(found.Verified[0], fixtureSig(t, redhatDigest)) {
				t.Fatalf("took %q with %d signatures, want the good store's one", found.Store, len(found.Verified))
			}
			rejected := Rejected(found.Verdicts)
			if len(rejected) != 1 || !strings.Contains(rejected[0].Error(), "signature-1 of "+portal.URL) || !strings.Contains(rejected[0].Error(), tc.want) {
				t.Errorf("rejected = %v", rejected)
			}
		})
	}
}

func TestDefaultStoresAreTheOfficialOnes(t *testing.T) {
	want := []string{
		"https://mirror.openshift.com/pub/openshift-v4/signatures/openshift/release",
		"https://storage.googleapis.com/openshift-release/official/signatures/openshift/release",
	}
	if len(DefaultStores) != 2 || DefaultStores[0] != want[0] || DefaultStores[1] != want[1] {
		t.Fatalf("DefaultStores = %v", DefaultStores)
	}
	for _, u := range DefaultStores {
		newStore(t, u, nil) // parse only; tests never contact them
	}
}

// TestAStoreThatHangsIsGivenUpOn: a store that never answers, one that
// answers a byte at a time for ever, and one that accepts the connection
// but never speaks TLS each end in an error naming the store (after the
// retries), instead of hanging the command.
func TestAStoreThatHangsIsGivenUpOn(t *testing.T) {
	quit := make(chan struct{})
	defer close(quit)
	silent := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-quit:
		}
	}))
	defer silent.Close()
	trickle := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", "40000")
		for {
			if _, err := w.Write([]byte("x")); err != nil {
				return
			}
			w.(http.Flusher).Flush()
			select {
			case <-r.Context().Done():
				return
			case <-quit:
				return
			case <-time.After(20 * time.Millisecond):
			}
		}
	}))
	defer trickle.Close()
	mute, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer mute.Close()
	go func() {
		for {
			c, err := mute.Accept()
			if err != nil {
				return
			}
			go func() { <-quit; c.Close() }()
		}
	}()

	for _, tc := range []struct {
		name, url, want string
		t               Timeouts
	}{
		{"no answer", silent.URL, "stalled: no data for 100ms", Timeouts{Idle: 100 * time.Millisecond}},
		{"a byte at a time", trickle.URL, "gave up on the store after 500ms", Timeouts{Idle: time.Minute, Deadline: 500 * time.Millisecond}},
		{"no TLS handshake", "https://" + mute.Addr().String(), "TLS handshake timeout", Timeouts{Connect: 100 * time.Millisecond}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			stores, err := OpenStores([]string{tc.url}, nil, tc.t)
			if err != nil {
				t.Fatal(err)
			}
			found, err := Find(context.Background(), stores, otherDigest, nil)
			if err != nil {
				t.Fatal(err)
			}
			if len(found.Failed) != 1 || !strings.Contains(found.Failed[0].Error(), "store "+tc.url) || !strings.Contains(found.Failed[0].Error(), tc.want) {
				t.Errorf("failed = %v, want the store named and %q", found.Failed, tc.want)
			}
		})
	}
}
