package testenv

import (
	"context"
	"io"
	"net/http"
	"strings"
	"testing"
)

func TestTrafficCountsUploadsAndManifests(t *testing.T) {
	r := StartRegistry(t)
	img := Image{Layers: []Layer{{Files: []File{{Name: "a", Data: []byte("a")}}}, {Files: []File{{Name: "b", Data: []byte("b")}}}}}
	built, err := img.Build()
	if err != nil {
		t.Fatal(err)
	}
	r.MustPushImage(t, "apps/a:1", img)
	up := r.Traffic().Uploads()
	for _, d := range append(built.LayerDigests, built.ConfigDigest) {
		if up[d] != 1 {
			t.Errorf("blob %s counted %d uploads, want 1", d, up[d])
		}
	}
	if n := r.Traffic().ManifestPuts(); n != 1 {
		t.Errorf("%d manifest puts, want 1", n)
	}
	r.Traffic().Reset()
	r.MustPushImage(t, "apps/a:1", img) // everything is there: nothing is uploaded
	if n := r.Traffic().TotalUploads(); n != 0 {
		t.Errorf("a second push counted %d uploads", n)
	}
}

func TestFaultProxyInjectsFaultsAndOtherwiseForwards(t *testing.T) {
	r := StartRegistry(t)
	p := r.StartFaultProxy(t, Faults{ServerErrorEvery: 2, TooManyEvery: 3})
	client := r.HTTPClient()
	get := func() *http.Response {
		req, err := http.NewRequestWithContext(context.Background(), http.MethodGet, "https://"+p.Host+"/v2/_catalog", nil)
		if err != nil {
			t.Fatal(err)
		}
		req.SetBasicAuth(r.Username, r.Password)
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp
	}
	var codes []int
	for range 4 {
		codes = append(codes, get().StatusCode)
	}
	want := []int{http.StatusOK, http.StatusInternalServerError, http.StatusTooManyRequests, http.StatusInternalServerError}
	for i := range want {
		if codes[i] != want[i] {
			t.Fatalf("statuses %v, want %v", codes, want)
		}
	}
	if resp := get(); resp.StatusCode != http.StatusOK {
		t.Errorf("fifth request: %d", resp.StatusCode)
	}

	// A blob upload through a proxy that resets every one fails mid-request.
	reset := r.StartFaultProxy(t, Faults{ResetBlobEvery: 1})
	view := reset.Registry()
	_, err := view.PushImage(context.Background(), "apps/a:1", Image{Layers: []Layer{{Files: []File{{Name: "a", Data: []byte(strings.Repeat("a", 4096))}}}}})
	if err == nil {
		t.Fatal("a push through a proxy that resets every upload succeeded")
	}
	if reset.Resets.Load() == 0 {
		t.Error("no reset was counted")
	}
}
