package testenv

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"
)

func TestKindOfTellsRegistryRequestsApart(t *testing.T) {
	const d = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
	for _, tc := range []struct {
		method, url string
		body        bool
		want        Kind
	}{
		{"GET", "/v2/ocp/release/manifests/4.16.3-x86_64", false, ManifestGet},
		{"HEAD", "/v2/ocp/release/manifests/" + d, false, ManifestHead},
		{"PUT", "/v2/ocp/release/manifests/4.16.3", true, ManifestPut},
		{"GET", "/v2/ocp/release/blobs/" + d, false, BlobGet},
		{"HEAD", "/v2/ocp/release/blobs/" + d, false, BlobHead},
		{"POST", "/v2/ocp/release/blobs/uploads/", false, UploadStart},
		{"POST", "/v2/ocp/release/blobs/uploads/?mount=" + d + "&from=other", false, Mount},
		{"PATCH", "/v2/ocp/release/blobs/uploads/0a1b?_state=x", true, UploadData},
		{"PUT", "/v2/ocp/release/blobs/uploads/0a1b?_state=x&digest=" + d, false, UploadFinish},
		{"PUT", "/v2/ocp/release/blobs/uploads/0a1b?_state=x&digest=" + d, true, UploadData},
		{"GET", "/v2/_catalog", false, OtherRequest},
	} {
		var body io.Reader
		if tc.body {
			body = http.NoBody
		}
		req := httptest.NewRequest(tc.method, tc.url, body)
		if tc.body {
			req.ContentLength = 10
		}
		if got := KindOf(req); got != tc.want {
			t.Errorf("%s %s: %q, want %q", tc.method, tc.url, got, tc.want)
		}
	}
}

// TestFaultProxyCutsDownloadsAndHonoursItsPlan: a reset or a stall cuts a
// blob GET after half of the blob; a 429 carries Retry-After; the plan
// breaks exactly the request it names.
func TestFaultProxyCutsDownloadsAndHonoursItsPlan(t *testing.T) {
	r := StartRegistry(t)
	img := Image{Layers: []Layer{{Files: []File{{Name: "a", Data: PseudoRandom("a", 64<<10)}}}}}
	r.MustPushImage(t, "apps/a:1", img)
	built, err := img.Build()
	if err != nil {
		t.Fatal(err)
	}
	layerDigest, layerSize := built.LayerDigests[0], int64(len(built.Layers[0]))
	client := r.HTTPClient()
	get := func(p *FaultProxy) (status int, got int64, header http.Header, err error) {
		req, _ := http.NewRequestWithContext(context.Background(), http.MethodGet, "https://"+p.Host+"/v2/apps/a/blobs/"+layerDigest.String(), nil)
		req.SetBasicAuth(r.Username, r.Password)
		resp, err := client.Do(req)
		if err != nil {
			return 0, 0, nil, err
		}
		defer resp.Body.Close()
		got, err = io.Copy(io.Discard, resp.Body)
		return resp.StatusCode, got, resp.Header, err
	}

	for _, f := range []Faults{{ResetDownloadEvery: 1}, {StallEvery: 1, Kinds: []Kind{BlobGet}, Stall: 100 * time.Millisecond}} {
		p := r.StartFaultProxy(t, f)
		_, got, _, err := get(p)
		if err == nil {
			t.Errorf("%+v: the whole blob arrived", f)
		}
		if got < layerSize/2 || got >= layerSize {
			t.Errorf("%+v: %d of %d bytes arrived, want half", f, got, layerSize)
		}
		if p.Injected() != 1 {
			t.Errorf("%+v: %d faults counted", f, p.Injected())
		}
	}

	p := r.StartFaultProxy(t, Faults{RetryAfter: 2 * time.Second, Plan: func(k Kind, n int) Fault {
		if k == BlobGet && n == 2 {
			return TooManyRequests
		}
		return NoFault
	}})
	var statuses []int
	for range 3 {
		status, _, h, err := get(p)
		if err != nil {
			t.Fatal(err)
		}
		statuses = append(statuses, status)
		if status == http.StatusTooManyRequests && h.Get("Retry-After") != "2" {
			t.Errorf("Retry-After %q, want 2", h.Get("Retry-After"))
		}
	}
	if statuses[0] != 200 || statuses[1] != 429 || statuses[2] != 200 {
		t.Errorf("statuses %v, want the plan's 429 on the second GET only", statuses)
	}
	if _, ok := p.LeastWaitAfter429(); !ok {
		t.Error("the request after the 429 was not measured")
	}
}
