package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	digest "github.com/opencontainers/go-digest"

	"github.com/airgap-ocp/oc-plugins/internal/testenv"
)

// Fault tests run oc-mirror-lite with short retry waits and idle timeout,
// so that a stall costs seconds, not the default minute.
const (
	faultFlags  = "--retry-delay 100ms --idle-timeout 3s"
	faultStall  = 30 * time.Second // how long the proxy keeps a stalled request silent
	faultRepo   = "ocp/release"
	faultLayers = 128 << 10
)

// The requests each side's faults hit: what a mirror asks of its source,
// and of its destination.
var (
	sourceKinds = []testenv.Kind{testenv.ManifestGet, testenv.BlobGet}
	destKinds   = []testenv.Kind{testenv.BlobHead, testenv.ManifestHead, testenv.UploadStart, testenv.UploadData, testenv.UploadFinish, testenv.ManifestPut}
)

// faultEnv is a release mirrored from src to dst by oc-mirror-lite, with a
// fault-injecting proxy in front of the source or the destination.
type faultEnv struct {
	e                *env
	src, dst         *testenv.Registry
	rel              *testenv.Release
	srcHost, dstHost string // what the command is given: a proxy or the registry
	proxy            *testenv.FaultProxy
	authFile         string
	certDir          string
}

func newFaultEnv(t *testing.T, side string, f testenv.Faults, components int) *faultEnv {
	t.Helper()
	fe := &faultEnv{e: newEnv(t, "", ""), src: testenv.StartRegistry(t), dst: testenv.StartRegistry(t)}
	fe.srcHost, fe.dstHost = fe.src.Host, fe.dst.Host
	spec := testenv.ReleaseSpec{Version: "4.16.3", Components: components, BaseLayerSize: faultLayers}
	regs := []*testenv.Registry{fe.src, fe.dst}
	switch side {
	case "source":
		fe.proxy = fe.src.StartFaultProxy(t, f)
		fe.srcHost = fe.proxy.Host
		// image-references names the components through the proxy too.
		spec.ReferenceHost = fe.proxy.Host
		regs = append(regs, fe.proxy.Registry())
	case "destination":
		fe.proxy = fe.dst.StartFaultProxy(t, f)
		fe.dstHost = fe.proxy.Host
		regs = append(regs, fe.proxy.Registry())
	default:
		t.Fatalf("side %q", side)
	}
	fe.rel = fe.src.PushRelease(t, spec)
	fe.authFile = testenv.CombinedSystemContext(t, regs...).AuthFilePath
	ca, err := os.ReadFile(fe.src.CACertFile)
	if err != nil {
		t.Fatal(err)
	}
	dstCA, err := os.ReadFile(fe.dst.CACertFile)
	if err != nil {
		t.Fatal(err)
	}
	fe.e.write(t, "certs/src.crt", ca)
	fe.certDir = filepath.Dir(fe.e.write(t, "certs/dst.crt", dstCA))
	fe.e.secrets = append(fe.e.secrets, fe.src.Password, fe.dst.Password)
	return fe
}

// release is the release image's pull spec by tag, through srcHost.
func (fe *faultEnv) release() string {
	return fe.srcHost + "/openshift-release-dev/ocp-release:" + fe.rel.Tag[strings.LastIndex(fe.rel.Tag, ":")+1:]
}

func (fe *faultEnv) regFlags() string {
	return fmt.Sprintf("--authfile %s --cert-dir %s", fe.authFile, fe.certDir)
}

// mirror runs oc-mirror-lite from the source (as given) to the destination
// (as given), with extra flags.
func (fe *faultEnv) mirror(t *testing.T, flags string) result {
	t.Helper()
	return fe.e.sh(t, "", fmt.Sprintf("oc-mirror-lite release %s --to docker://%s/%s %s %s %s > resources.yaml",
		fe.release(), fe.dstHost, faultRepo, fe.regFlags(), faultFlags, flags))
}

// checkDestination fails the test if the destination serves a manifest whose
// content it lacks; when complete, the release and a component must be
// there by digest, read back whole by skopeo.
func (fe *faultEnv) checkDestination(t *testing.T, complete bool) {
	t.Helper()
	if missing := danglingManifests(t, fe.dst, faultRepo); len(missing) > 0 {
		t.Errorf("the destination serves manifests whose content is missing:\n%s", strings.Join(missing, "\n"))
	}
	if !complete {
		return
	}
	pullspec := anyComponent(fe.rel)
	d := digest.Digest(pullspec[strings.LastIndex(pullspec, "@")+1:])
	skopeoPulls(t, fe.dst, fe.dst.Ref(faultRepo)+"@"+d.String(), d)
	skopeoPulls(t, fe.dst, fe.dst.Ref(faultRepo)+"@"+fe.rel.Digest.String(), fe.rel.Digest)
}

// checkCleanFailure: exit 3, the last line an error, what failed named
// (each failed image is listed above it), nothing printed on stdout, and no
// manifest whose blobs are missing.
func (fe *faultEnv) checkCleanFailure(t *testing.T, r result, names ...string) {
	t.Helper()
	if r.code != 3 {
		t.Errorf("exit %d, want 3:\n%s", r.code, r.stderr)
	}
	last := strings.TrimSpace(r.stderr[strings.LastIndex(strings.TrimRight(r.stderr, "\n"), "\n")+1:])
	if !strings.HasPrefix(last, "error: ") {
		t.Errorf("the last line is not the error: %q", last)
	}
	for _, name := range names {
		if !strings.Contains(r.stderr, name) {
			t.Errorf("stderr does not name %s:\n%s", name, r.stderr)
		}
	}
	if data, _ := os.ReadFile(filepath.Join(fe.e.dir, "resources.yaml")); len(data) != 0 {
		t.Errorf("objects were printed for a failed mirror:\n%s", data)
	}
	fe.checkDestination(t, false)
}

// TestMirrorThroughFaults puts a fault-injecting proxy between
// oc-mirror-lite and each registry in turn. With every kind of fault now and
// then (500, 502, 503, 429 with Retry-After, a connection reset mid-blob
// while downloading or uploading, a request stalled mid-body for far longer
// than the idle timeout) the mirror completes, and the destination holds
// every image whole (skopeo reads the release and a component back by
// digest). Never does the destination serve a manifest whose blobs are
// missing.
func TestMirrorThroughFaults(t *testing.T) {
	for _, tc := range []struct {
		side   string
		faults testenv.Faults
	}{
		{"source", testenv.Faults{
			ResetDownloadEvery: 4, ServerErrorEvery: 11, BadGatewayEvery: 13, UnavailableEvery: 17, TooManyEvery: 19, StallEvery: 23,
			Kinds: sourceKinds, Stall: faultStall,
		}},
		{"destination", testenv.Faults{
			ResetBlobEvery: 4, ServerErrorEvery: 17, BadGatewayEvery: 19, UnavailableEvery: 23, TooManyEvery: 29, StallEvery: 31,
			Kinds: destKinds, Stall: faultStall,
		}},
	} {
		t.Run(tc.side, func(t *testing.T) {
			fe := newFaultEnv(t, tc.side, tc.faults, 6)
			r := fe.mirror(t, "--retry-times 8 --parallel 4")
			if r.code != 0 {
				t.Fatalf("exit %d after %d faults:\n%s", r.code, fe.proxy.Injected(), r.stderr)
			}
			for what, n := range map[string]int64{"resets": fe.proxy.Resets.Load(), "5xx": fe.proxy.Errors.Load(), "429s": fe.proxy.Busies.Load(), "stalls": fe.proxy.Stalls.Load()} {
				if n == 0 {
					t.Errorf("the proxy injected no %s: the run did not meet that fault", what)
				}
			}
			fe.checkDestination(t, true)
		})
	}
}

// TestMirrorFailsCleanlyWhenFaultsLast: a registry that fails every request
// of a kind, whatever the fault, makes oc-mirror-lite give up after its
// retries: exit 3, the registry that failed named, nothing on stdout, and
// no manifest at the destination whose blobs are missing.
func TestMirrorFailsCleanlyWhenFaultsLast(t *testing.T) {
	for _, tc := range []struct {
		name   string
		side   string
		faults testenv.Faults
		want   string // also in the error
	}{
		{"source answers 503", "source", testenv.Faults{UnavailableEvery: 1, Kinds: []testenv.Kind{testenv.ManifestGet}}, "503"},
		{"source stalls every blob", "source", testenv.Faults{StallEvery: 1, Kinds: []testenv.Kind{testenv.BlobGet}, Stall: faultStall}, "stalled"},
		{"destination resets every upload", "destination", testenv.Faults{ResetBlobEvery: 1}, ""},
		{"destination answers 502 to every upload start", "destination", testenv.Faults{BadGatewayEvery: 1, Kinds: []testenv.Kind{testenv.UploadStart}}, "502"},
		{"destination stalls every upload", "destination", testenv.Faults{StallEvery: 1, Kinds: []testenv.Kind{testenv.UploadData}, Stall: faultStall}, "stalled"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fe := newFaultEnv(t, tc.side, tc.faults, 1)
			r := fe.mirror(t, "--retry-times 1")
			if fe.proxy.Injected() == 0 {
				t.Fatalf("the proxy injected no fault")
			}
			names := []string{fe.proxy.Host}
			if tc.want != "" {
				names = append(names, tc.want)
			}
			fe.checkCleanFailure(t, r, names...)
		})
	}
}

// TestMirrorHonoursRetryAfter: every few requests to either registry are
// answered 429 with "Retry-After: 1"; with one request in flight, the next
// request the registry sees after a 429 is the retry, and it must come no
// sooner than the registry asked. (A behaviour of the client towards the
// registry, not a measure of our speed.)
func TestMirrorHonoursRetryAfter(t *testing.T) {
	for _, side := range []string{"source", "destination"} {
		t.Run(side, func(t *testing.T) {
			// Each 429 costs a second or two: a few are enough.
			f := testenv.Faults{TooManyEvery: 7, Kinds: destKinds, RetryAfter: time.Second}
			if side == "source" {
				f.TooManyEvery, f.Kinds = 4, sourceKinds
			}
			fe := newFaultEnv(t, side, f, 1)
			r := fe.mirror(t, "--parallel 1")
			if r.code != 0 {
				t.Fatalf("exit %d:\n%s", r.code, r.stderr)
			}
			least, ok := fe.proxy.LeastWaitAfter429()
			if !ok || fe.proxy.Busies.Load() < 2 {
				t.Fatalf("%d 429s answered, with a request after one: %v", fe.proxy.Busies.Load(), ok)
			}
			if least < f.RetryAfter {
				t.Errorf("a request came %v after a 429 with Retry-After: %v (kinds seen: %v)", least, f.RetryAfter, fe.proxy.Seen())
			}
			fe.checkDestination(t, true)
		})
	}
}

// TestMirrorAcrossAnAirGapThroughFaults: mirror to disk through a source
// that resets downloads mid-blob and answers 503, then push the archive
// from disk through a destination that resets uploads mid-blob and answers
// 503: both complete, and the destination holds the release whole.
func TestMirrorAcrossAnAirGapThroughFaults(t *testing.T) {
	fe := newFaultEnv(t, "source", testenv.Faults{ResetDownloadEvery: 3, UnavailableEvery: 7, Kinds: sourceKinds}, 4)
	// Every n-th request fails, and a retry can fall on the next multiple
	// again: more retries than the default keep that from failing the run.
	toDisk := fe.e.sh(t, "", fmt.Sprintf("oc-mirror-lite release %s --to file://$PWD/usb --archive-size 1Mi --retry-times 8 %s %s",
		fe.release(), fe.regFlags(), faultFlags))
	if toDisk.code != 0 {
		t.Fatalf("to disk: exit %d:\n%s", toDisk.code, toDisk.stderr)
	}
	if fe.proxy.Resets.Load() == 0 || fe.proxy.Errors.Load() == 0 {
		t.Errorf("to disk met %d resets and %d 503s, want some of each", fe.proxy.Resets.Load(), fe.proxy.Errors.Load())
	}

	dstProxy := fe.dst.StartFaultProxy(t, testenv.Faults{ResetBlobEvery: 3, UnavailableEvery: 7, Kinds: destKinds})
	auth := testenv.CombinedSystemContext(t, fe.dst, dstProxy.Registry()).AuthFilePath
	fromDisk := fe.e.sh(t, "", fmt.Sprintf("oc-mirror-lite --from file://$PWD/usb --to docker://%s/%s --retry-times 8 --authfile %s --cert-dir %s %s > resources.yaml",
		dstProxy.Host, faultRepo, auth, fe.certDir, faultFlags))
	if fromDisk.code != 0 {
		t.Fatalf("from disk: exit %d:\n%s", fromDisk.code, fromDisk.stderr)
	}
	if dstProxy.Resets.Load() == 0 || dstProxy.Errors.Load() == 0 {
		t.Errorf("from disk met %d resets and %d 503s, want some of each", dstProxy.Resets.Load(), dstProxy.Errors.Load())
	}
	fe.checkDestination(t, true)
}
