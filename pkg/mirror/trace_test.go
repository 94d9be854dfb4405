package mirror_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"flag"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"k8s.io/klog/v2"

	"github.com/airgap-ocp/oc-plugins/internal/testenv"
	"github.com/airgap-ocp/oc-plugins/pkg/mirror"
	"github.com/airgap-ocp/oc-plugins/pkg/retry"
)

// syncBuffer is a bytes.Buffer that klog may write from several goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// verbose sets klog's -v to level for the test, its lines into the buffer.
func verbose(t *testing.T, level string) *syncBuffer {
	t.Helper()
	fs := flag.NewFlagSet("klog", flag.ContinueOnError)
	klog.InitFlags(fs)
	for name, value := range map[string]string{"v": level, "logtostderr": "false", "alsologtostderr": "false", "stderrthreshold": "FATAL"} {
		if err := fs.Set(name, value); err != nil {
			t.Fatal(err)
		}
	}
	buf := &syncBuffer{}
	klog.SetOutput(buf)
	t.Cleanup(func() {
		_ = fs.Set("v", "0")
		klog.SetOutput(nil)
	})
	return buf
}

// TestTraceGivesEachRequestsStatusAndTime: at -v=6 each registry request
// of a mirror is one line with its registry, how it ended (the HTTP status
// of an error answer) and the time taken, and no credential.
func TestTraceGivesEachRequestsStatusAndTime(t *testing.T) {
	src := testenv.StartRegistry(t)
	dst := testenv.StartRegistry(t)
	proxy := src.StartFaultProxy(t, testenv.Faults{Plan: planned{testenv.ManifestGet: {1: testenv.InternalError}}.plan})
	img := oneImage(t, src, dst)
	img.Source = ref(t, proxy.Ref("apps/a:v1"))
	sys := testenv.CombinedSystemContext(t, proxy.Registry(), dst)
	quiet := verbose(t, "5")
	res := mirror.Copy(context.Background(), []mirror.Image{img}, mirror.Options{SourceCtx: sys, DestCtx: sys, Parallel: 1,
		Retry: retry.Policy{Attempts: 3, Base: time.Millisecond, Max: 5 * time.Millisecond}})
	checkAllCopied(t, res, mirror.StatusCopied)
	if strings.Contains(quiet.String(), "registry: ") {
		t.Errorf("the trace shows below -v=6:\n%s", quiet)
	}

	img.Dest = ref(t, dst.Ref("mirror/again:v1"))
	proxy2 := src.StartFaultProxy(t, testenv.Faults{Plan: planned{testenv.ManifestGet: {1: testenv.InternalError}}.plan})
	img.Source = ref(t, proxy2.Ref("apps/a:v1"))
	sys = testenv.CombinedSystemContext(t, proxy2.Registry(), dst)
	out := verbose(t, "6")
	res = mirror.Copy(context.Background(), []mirror.Image{img}, mirror.Options{SourceCtx: sys, DestCtx: sys, Parallel: 1,
		Retry: retry.Policy{Attempts: 3, Base: time.Millisecond, Max: 5 * time.Millisecond}})
	checkAllCopied(t, res, mirror.StatusCopied)
	log := out.String()
	line := func(host, how string) *regexp.Regexp {
		return regexp.MustCompile(`registry: ` + regexp.QuoteMeta(host) + `: ` + how + ` in [0-9.]+[mµn]?s \(\d+ HTTP requests, \d+ new connections, \d+ TLS handshakes\)`)
	}
	for _, want := range []*regexp.Regexp{
		line(proxy2.Host, "HTTP 500 Internal Server Error"), // the planned fault
		line(proxy2.Host, "ok"),                             // its retry
		line(dst.Host, "ok"),
	} {
		if !want.MatchString(log) {
			t.Errorf("-v=6 has no line matching %s:\n%s", want, log)
		}
	}
	basic := base64.StdEncoding.EncodeToString([]byte(src.Username + ":" + src.Password))
	for _, secret := range []string{src.Password, dst.Password, basic} {
		if strings.Contains(log, secret) {
			t.Error("a credential appears in the trace")
		}
	}
}

// TestTraceSaysASignatureTagIsNotThere: the look-up of a signature tag
// the source does not hold is answered 404; its line says so, not that no
// answer came.
func TestTraceSaysASignatureTagIsNotThere(t *testing.T) {
	src := testenv.StartRegistry(t)
	dst := testenv.StartRegistry(t)
	img := oneImage(t, src, dst)
	sys := testenv.CombinedSystemContext(t, src, dst)
	out := verbose(t, "6")
	res := mirror.Copy(context.Background(), []mirror.Image{img}, mirror.Options{SourceCtx: sys, DestCtx: sys, SigstoreAttachments: true})
	checkAllCopied(t, res, mirror.StatusCopied)
	log := out.String()
	if want := regexp.MustCompile(`registry: ` + regexp.QuoteMeta(src.Host) + `: no such tag \(HTTP 404 Not Found\) in `); !want.MatchString(log) {
		t.Errorf("-v=6 has no line matching %s:\n%s", want, log)
	}
	if strings.Contains(log, "no HTTP answer") {
		t.Errorf("a request is said to have had no answer:\n%s", log)
	}
}
