package retry

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

func TestGetRetriesWhatIsTransientAndRefusesTooLargeBodies(t *testing.T) {
	var calls atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n := calls.Add(1)
		switch r.URL.Path {
		case "/flaky":
			if n == 1 {
				http.Error(w, "busy", http.StatusServiceUnavailable)
				return
			}
			w.Write([]byte(r.Header.Get("Accept")))
		case "/big":
			w.Write([]byte(strings.Repeat("x", 11)))
		default:
			http.NotFound(w, r)
		}
	}))
	defer srv.Close()
	ctx := context.Background()
	p := Policy{Attempts: 3, Base: time.Millisecond, Max: 2 * time.Millisecond}

	data, err := Get(ctx, srv.Client(), p, srv.URL+"/flaky", "application/json", 100)
	if err != nil || string(data) != "application/json" || calls.Load() != 2 {
		t.Errorf("after a 503: %q, %v, %d requests; want the body on the second", data, err, calls.Load())
	}

	calls.Store(0)
	_, err = Get(ctx, srv.Client(), p, srv.URL+"/missing", "", 100)
	var se *StatusError
	if !errors.As(err, &se) || se.Code != http.StatusNotFound || calls.Load() != 1 {
		t.Errorf("a 404: %v after %d requests, want a StatusError after one", err, calls.Load())
	}

	calls.Store(0)
	_, err = Get(ctx, srv.Client(), p, srv.URL+"/big", "", 10)
	var tl *TooLargeError
	if !errors.As(err, &tl) || tl.Limit != 10 || calls.Load() != 1 {
		t.Errorf("11 bytes with a limit of 10: %v after %d requests, want TooLargeError after one", err, calls.Load())
	}
	if data, err := Get(ctx, srv.Client(), p, srv.URL+"/big", "", 11); err != nil || len(data) != 11 {
		t.Errorf("11 bytes with a limit of 11: %d bytes, %v", len(data), err)
	}
}
