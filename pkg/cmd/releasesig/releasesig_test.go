package releasesig

import (
	"bytes"
	"encoding/json"
	"encoding/pem"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/airgap-ocp/oc-plugins/internal/testenv"
	"github.com/airgap-ocp/oc-plugins/pkg/cli"
	"github.com/airgap-ocp/oc-plugins/pkg/manifest"
	"github.com/airgap-ocp/oc-plugins/pkg/signature"
)

func TestMain(m *testing.M) { testenv.Main(m) }

// The real Red Hat signature and key (see pkg/signature/testdata).
const (
	redhatDigest   = "sha256:e3f12513a4b22a2d7c0e7c9207f52128113758d9d68c7d06b11a0ac7672966f7"
	redhatIdentity = "registry.access.redhat.com/rhel7:7.6"
	ciDigest       = "sha256:edd9824f0404f1a139688017e7001370e2f3fbc088b94da84506653b473fe140"
	otherDigest    = "sha256:0000000000000000000000000000000000000000000000000000000000000001"
)

var fixtures = filepath.Join("..", "..", "signature", "testdata")

type result = testenv.Result

// run runs the command as a user would, with stdin and arguments.
func run(t *testing.T, stdin string, args ...string) result {
	t.Helper()
	return testenv.Run(NewCmd, stdin, args...)
}

func writeFile(t *testing.T, path string, data []byte) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
}

func readFixture(t *testing.T, parts ...string) []byte {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(append([]string{fixtures}, parts...)...))
	if err != nil {
		t.Fatal(err)
	}
	return data
}

// store writes a file:// signature store holding sigs[digest] as
// signature-1, signature-2, ... and returns its URL.
func store(t *testing.T, sigs map[string][][]byte) string {
	t.Helper()
	dir := t.TempDir()
	for d, list := range sigs {
		for i, s := range list {
			writeFile(t, filepath.Join(dir, "sha256="+strings.TrimPrefix(d, "sha256:"), "signature-"+string(rune('1'+i))), s)
		}
	}
	return "file://" + dir
}

// env is a release published the way Red Hat publishes one: release images
// in a registry, signed by a key, the signatures in a store.
type env struct {
	reg                *testenv.Registry
	key                *testenv.SigningKey
	digests            map[string]string // by arch
	storeURL           string
	keyring            string // armored: the test key, then Red Hat's
	dir                string
	registryFlags      []string
	repo, amd64, arm64 string
}

func newEnv(t *testing.T) *env {
	t.Helper()
	e := &env{reg: testenv.StartRegistry(t), key: testenv.NewSigningKey(t, nil), dir: t.TempDir(), digests: map[string]string{}}
	e.repo = e.reg.Ref("ocp/release")
	sigs := map[string][][]byte{redhatDigest: {readFixture(t, "store", "sha256="+strings.TrimPrefix(redhatDigest, "sha256:"), "signature-1")}}
	for _, arch := range []struct{ goArch, tag string }{{"amd64", "x86_64"}, {"arm64", "aarch64"}} {
		img := testenv.Image{Architecture: arch.goArch, Layers: []testenv.Layer{{Files: []testenv.File{
			{Name: "release-manifests/release-metadata", Data: []byte(`{"kind":"cincinnati-metadata-v0","version":"4.16.3"}`)},
		}}}}
		spec := "ocp/release:4.16.3-" + arch.tag
		d := e.reg.MustPushImage(t, spec, img).String()
		e.digests[arch.tag] = d
		sigs[d] = [][]byte{e.key.SignRelease(t, d, "quay.io/openshift-release-dev/ocp-release:4.16.3-"+arch.tag)}
	}
	e.amd64, e.arm64 = e.digests["x86_64"], e.digests["aarch64"]
	e.storeURL = store(t, sigs)
	e.keyring = filepath.Join(e.dir, "keys.asc")
	writeFile(t, e.keyring, append(e.key.ArmoredPublicKey(t), readFixture(t, "keyrings", "redhat.txt")...))
	e.registryFlags = []string{"--authfile", e.reg.AuthFile, "--cert-dir", e.reg.CertDir}
	return e
}

func decodeConfigMap(t *testing.T, out string) *corev1.ConfigMap {
	t.Helper()
	objs, err := manifest.Read(strings.NewReader(out), "stdout")
	if err != nil || len(objs) != 1 {
		t.Fatalf("stdout is not one object (%v):\n%s", err, out)
	}
	cm, err := signature.ConfigMapFromObject(objs[0].Object)
	if err != nil {
		t.Fatal(err)
	}
	return cm
}

func TestVersionResolvesThroughTheRegistryToTheVerifiedConfigMap(t *testing.T) {
	e := newEnv(t)
	args := append([]string{"4.16.3", "--release-repo", e.repo, "--store", e.storeURL, "--keyring", e.keyring, "--to-dir", e.dir}, e.registryFlags...)
	r := run(t, "", args...)
	if r.Code != 0 {
		t.Fatalf("exit %d: %s", r.Code, r.Stderr)
	}
	raw, err := os.ReadFile(filepath.Join(strings.TrimPrefix(e.storeURL, "file://"), "sha256="+strings.TrimPrefix(e.amd64, "sha256:"), "signature-1"))
	if err != nil {
		t.Fatal(err)
	}
	want, err := signature.ConfigMap(e.amd64, [][]byte{raw})
	if err != nil {
		t.Fatal(err)
	}
	got := decodeConfigMap(t, r.Stdout)
	if got.Name != want.Name || got.Namespace != "openshift-config-managed" || !equalData(got.BinaryData, want.BinaryData) {
		t.Fatalf("ConfigMap = %s/%s %v, want %s/%s with %d keys", got.Namespace, got.Name, keys(got.BinaryData), want.Namespace, want.Name, len(want.BinaryData))
	}
	if _, ok := got.Labels[signature.ConfigMapLabel]; !ok {
		t.Errorf("labels = %v", got.Labels)
	}
	if !strings.Contains(r.Stderr, e.repo+":4.16.3-x86_64 is "+e.amd64) {
		t.Errorf("stderr does not say what the version resolved to:\n%s", r.Stderr)
	}

	// --to-dir wrote the same ConfigMap, as JSON, under oc's file name.
	file := filepath.Join(e.dir, "signature-sha256-"+strings.TrimPrefix(e.amd64, "sha256:")[:16]+".json")
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatalf("--to-dir: %v", err)
	}
	var u unstructured.Unstructured
	if err := json.Unmarshal(data, &u.Object); err != nil {
		t.Fatalf("%s is not JSON: %v", file, err)
	}
	fromFile, err := signature.ConfigMapFromObject(u.Object)
	if err != nil || fromFile.Name != want.Name || !equalData(fromFile.BinaryData, want.BinaryData) {
		t.Errorf("%s holds %v (%v)", file, fromFile, err)
	}

	// Another architecture is another release image, another digest.
	args = append([]string{"4.16.3", "--arch", "arm64", "--release-repo", e.repo, "--store", e.storeURL, "--keyring", e.keyring, "--name", "release-image-4.16.3"}, e.registryFlags...)
	r = run(t, "", args...)
	if r.Code != 0 {
		t.Fatalf("arm64: exit %d: %s", r.Code, r.Stderr)
	}
	got = decodeConfigMap(t, r.Stdout)
	if got.Name != "release-image-4.16.3" || len(got.BinaryData) != 1 || got.BinaryData[strings.Replace(e.arm64, ":", "-", 1)+"-1"] == nil {
		t.Errorf("arm64 with --name: %s %v", got.Name, keys(got.BinaryData))
	}
}

func TestRealRedHatSignatureThroughAnHTTPSStore(t *testing.T) {
	var requests atomic.Int32
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		requests.Add(1)
		http.FileServer(http.Dir(filepath.Join(fixtures, "store"))).ServeHTTP(w, r)
	}))
	srv.Config.ErrorLog = log.New(io.Discard, "", 0) // the refused handshake below is expected
	srv.StartTLS()
	defer srv.Close()
	certDir := t.TempDir()
	writeFile(t, filepath.Join(certDir, "ca.crt"), pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw}))
	redhatKey := filepath.Join(fixtures, "keyrings", "redhat.txt")

	r := run(t, "", "--digest", redhatDigest, "--store", srv.URL, "--keyring", redhatKey, "--cert-dir", certDir)
	if r.Code != 0 {
		t.Fatalf("exit %d: %s", r.Code, r.Stderr)
	}
	cm := decodeConfigMap(t, r.Stdout)
	if !bytes.Equal(cm.BinaryData[strings.Replace(redhatDigest, ":", "-", 1)+"-1"], readFixture(t, "store", "sha256="+strings.TrimPrefix(redhatDigest, "sha256:"), "signature-1")) {
		t.Errorf("ConfigMap does not carry the signature byte for byte: %v", keys(cm.BinaryData))
	}
	if !strings.Contains(r.Stderr, redhatIdentity) || !strings.Contains(r.Stderr, "567E347AD0044ADE55BA8A5F199E2F91FD431D51") {
		t.Errorf("stderr does not say what verified:\n%s", r.Stderr)
	}

	// The store's certificate is verified: without its CA, the store fails.
	before := requests.Load()
	r = run(t, "", "--digest", redhatDigest, "--store", srv.URL, "--keyring", redhatKey)
	if r.Code != cli.ExitFailed || !strings.Contains(r.Stderr, srv.URL) || r.Stdout != "" {
		t.Fatalf("untrusted store: exit %d, stdout %q, stderr %s", r.Code, r.Stdout, r.Stderr)
	}
	if requests.Load() != before {
		t.Errorf("a request reached the store over unverified TLS")
	}
	// ... unless the user says so.
	if r := run(t, "", "--digest", redhatDigest, "--store", srv.URL, "--keyring", redhatKey, "--tls-verify=false"); r.Code != 0 {
		t.Fatalf("--tls-verify=false: exit %d: %s", r.Code, r.Stderr)
	}
	// The CI signature's key expired: not packaged.
	r = run(t, "", "--digest", ciDigest, "--store", srv.URL, "--keyring", filepath.Join(fixtures, "keyrings", "simple.txt"), "--cert-dir", certDir)
	if r.Code != cli.ExitDiffers || !strings.Contains(r.Stderr, "expired") || r.Stdout != "" {
		t.Fatalf("expired CI key: exit %d, stdout %q, stderr %s", r.Code, r.Stdout, r.Stderr)
	}
}

// Every way a signature can be wrong stops the command with exit 1, one line
// saying which, and nothing written.
func TestBadSignaturesExit1AndWriteNothing(t *testing.T) {
	key := testenv.NewSigningKey(t, nil)
	stranger := testenv.NewSigningKey(t, nil)
	good := key.SignRelease(t, otherDigest, "quay.io/openshift-release-dev/ocp-release:4.16.3-x86_64")
	tampered := append([]byte{}, good...)
	tampered[len(tampered)-40] ^= 0x01
	dir := t.TempDir()
	keyring := filepath.Join(dir, "key.asc")
	writeFile(t, keyring, key.ArmoredPublicKey(t))

	for _, tc := range []struct {
		name string
		sigs [][]byte
		want string
	}{
		{"no signature in the store", nil, "no signatures of " + otherDigest},
		{"a signature of another digest", [][]byte{key.SignRelease(t, redhatDigest, "x")}, "signature is for another digest"},
		{"a signature by a key not in the keyring", [][]byte{stranger.SignRelease(t, otherDigest, "x")}, "signed by a key not in the keyring"},
		{"a tampered byte", [][]byte{tampered}, "signature-1"},
		{"a body that is not OpenPGP", [][]byte{[]byte("<html>Access denied</html>")}, "not an OpenPGP message"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out := t.TempDir()
			r := run(t, "", "--digest", otherDigest, "--store", store(t, map[string][][]byte{otherDigest: tc.sigs}), "--keyring", keyring, "--to-dir", out, "--kubeconfig", filepath.Join(dir, "none"))
			if r.Code != cli.ExitDiffers {
				t.Fatalf("exit %d, want 1: %s", r.Code, r.Stderr)
			}
			if lines := strings.Split(strings.TrimSpace(r.Stderr), "\n"); !strings.HasPrefix(lines[len(lines)-1], "error: ") || !strings.Contains(lines[len(lines)-1], tc.want) {
				t.Errorf("last stderr line does not say %q:\n%s", tc.want, r.Stderr)
			}
			if r.Stdout != "" {
				t.Errorf("stdout = %q", r.Stdout)
			}
			if entries, _ := os.ReadDir(out); len(entries) != 0 {
				t.Errorf("--to-dir holds %d files", len(entries))
			}
		})
	}
	t.Run("--insecure-skip-verify packages what it cannot verify, and says so", func(t *testing.T) {
		unverifiable := stranger.SignRelease(t, otherDigest, "x")
		r := run(t, "", "--digest", otherDigest, "--store", store(t, map[string][][]byte{otherDigest: {unverifiable}}), "--insecure-skip-verify")
		if r.Code != 0 || !strings.Contains(r.Stderr, "WITHOUT verification") {
			t.Fatalf("exit %d: %s", r.Code, r.Stderr)
		}
		if cm := decodeConfigMap(t, r.Stdout); !bytes.Equal(cm.BinaryData[cm.Name+"-1"], unverifiable) {
			t.Errorf("binaryData = %v", keys(cm.BinaryData))
		}
	})
	t.Run("one good signature among bad ones is packaged alone", func(t *testing.T) {
		r := run(t, "", "--digest", otherDigest, "--store", store(t, map[string][][]byte{otherDigest: {stranger.SignRelease(t, otherDigest, "x"), good}}), "--keyring", keyring)
		if r.Code != 0 {
			t.Fatalf("exit %d: %s", r.Code, r.Stderr)
		}
		cm := decodeConfigMap(t, r.Stdout)
		if len(cm.BinaryData) != 1 || !bytes.Equal(cm.BinaryData[cm.Name+"-1"], good) {
			t.Errorf("binaryData = %v, want only the good signature as -1", keys(cm.BinaryData))
		}
	})
}

func TestStoreFailures(t *testing.T) {
	key := testenv.NewSigningKey(t, nil)
	dir := t.TempDir()
	keyring := filepath.Join(dir, "key.asc")
	writeFile(t, keyring, key.ArmoredPublicKey(t))
	good := key.SignRelease(t, otherDigest, "x")

	var calls atomic.Int32
	flaky := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch {
		case !strings.HasSuffix(r.URL.Path, "/signature-1"):
			http.NotFound(w, r)
		case calls.Add(1) == 1:
			http.Error(w, "try again", http.StatusInternalServerError)
		default:
			w.Write(good)
		}
	}))
	defer flaky.Close()
	if r := run(t, "", "--digest", otherDigest, "--store", flaky.URL, "--keyring", keyring); r.Code != 0 {
		t.Fatalf("500 then success: exit %d: %s", r.Code, r.Stderr)
	}

	broken := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "down", http.StatusServiceUnavailable)
	}))
	defer broken.Close()
	r := run(t, "", "--digest", otherDigest, "--store", broken.URL, "--keyring", keyring)
	if r.Code != cli.ExitFailed || !strings.Contains(r.Stderr, broken.URL) || r.Stdout != "" {
		t.Fatalf("store down: exit %d, stdout %q, stderr %s", r.Code, r.Stdout, r.Stderr)
	}

	huge := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Write(bytes.Repeat([]byte("x"), 1<<20))
	}))
	defer huge.Close()
	r = run(t, "", "--digest", otherDigest, "--store", huge.URL, "--keyring", keyring)
	if r.Code != cli.ExitFailed || r.Stdout != "" {
		t.Fatalf("huge body: exit %d, stdout %q, stderr %s", r.Code, r.Stdout, r.Stderr)
	}
}

func TestBadUsageIsExit2(t *testing.T) {
	dir := t.TempDir()
	keyring := filepath.Join(dir, "key.asc")
	writeFile(t, keyring, testenv.NewSigningKey(t, nil).ArmoredPublicKey(t))
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"no release", []string{"--keyring", keyring}, "name the release"},
		{"a release twice", []string{"4.16.3", "--digest", otherDigest, "--keyring", keyring}, "give the release once"},
		{"a digest that is not sha256", []string{"--digest", "sha256:abc", "--keyring", keyring}, "--digest"},
		{"no keyring", []string{"4.16.3"}, "no keys to verify with"},
		{"a keyring that does not exist", []string{"4.16.3", "--keyring", filepath.Join(dir, "missing.asc")}, "--keyring"},
		{"a keyring that holds no key", []string{"--digest", otherDigest, "--keyring", "releasesig.go", "--store", "file://" + dir}, "--keyring releasesig.go"},
		{"an unknown architecture", []string{"4.16.3", "--arch", "sparc", "--keyring", keyring}, "unknown architecture"},
		{"a minor version, never sent to Docker Hub", []string{"4.16", "--keyring", keyring}, `release "4.16": want a version X.Y.Z`},
		{"a channel", []string{"stable-4.16", "--keyring", keyring}, "or a fully qualified pull spec"},
		{"a pull spec that does not parse", []string{"quay.io/UPPER/Case:tag", "--keyring", keyring}, "quay.io/UPPER/Case:tag"},
		{"a store with another scheme", []string{"4.16.3", "--keyring", keyring, "--store", "ftp://x/y"}, "--store"},
		{"a --name that is not a Kubernetes name", []string{"4.16.3", "--keyring", keyring, "--name", "Release_4"}, "--name"},
		{"a missing auth file", []string{"4.16.3", "--keyring", keyring, "--authfile", filepath.Join(dir, "auth.json")}, "--authfile"},
		{"an unknown flag", []string{"4.16.3", "--keyring", keyring, "--nope"}, "--nope"},
		{"verify: a version instead of a pull spec", []string{"verify", "4.16.3", "--keyring", keyring, "-f", "-"}, "not a version"},
		{"verify: --from-cluster without a release", []string{"verify", "--from-cluster", "--keyring", keyring}, "--from-cluster needs"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := run(t, "", tc.args...)
			if r.Code != cli.ExitBadInput || !strings.Contains(r.Stderr, tc.want) || r.Stdout != "" {
				t.Fatalf("exit %d, stdout %q, stderr %q; want exit 2 mentioning %q", r.Code, r.Stdout, r.Stderr, tc.want)
			}
			if n := strings.Count(strings.TrimSpace(r.Stderr), "\n"); n != 0 {
				t.Errorf("error is %d lines, want 1:\n%s", n+1, r.Stderr)
			}
		})
	}
}

// TestVerifyNamesABadBinaryDataField: a signature ConfigMap whose binaryData
// value is not base64 is bad input pointed at by file, document and field.
func TestVerifyNamesABadBinaryDataField(t *testing.T) {
	dir := t.TempDir()
	keyring := filepath.Join(dir, "key.asc")
	writeFile(t, keyring, testenv.NewSigningKey(t, nil).ArmoredPublicKey(t))
	key := strings.Replace(otherDigest, ":", "-", 1) + "-1"
	stream := "apiVersion: v1\nkind: Namespace\nmetadata: {name: demo}\n---\n" +
		"apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: " + strings.Replace(otherDigest, ":", "-", 1) +
		"\n  namespace: openshift-config-managed\n  labels: {release.openshift.io/verification-signatures: \"\"}\n" +
		"binaryData:\n  " + key + ": \"!!!not base64\"\n"
	r := run(t, stream, "verify", "--keyring", keyring, "-f", "-")
	want := "error: <stdin>: document 2: binaryData." + key + ": not base64: "
	if r.Code != cli.ExitBadInput || r.Stdout != "" || !strings.HasPrefix(r.Stderr, want) {
		t.Fatalf("exit %d, stdout %q, stderr %q; want exit 2 and %q", r.Code, r.Stdout, r.Stderr, want)
	}
}

func equalData(a, b map[string][]byte) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if !bytes.Equal(v, b[k]) {
			return false
		}
	}
	return true
}

func keys(m map[string][]byte) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	return out
}

// TestAPortalDoesNotHideAGoodStore: the first store to answer serves a
// captive portal's page; the second, answering after it, the signature.
// The signature is packaged (exit 0). (pkg/signature's test orders the
// two exactly and checks the page is reported.)
func TestAPortalDoesNotHideAGoodStore(t *testing.T) {
	key := testenv.NewSigningKey(t, nil)
	dir := t.TempDir()
	keyring := filepath.Join(dir, "key.asc")
	writeFile(t, keyring, key.ArmoredPublicKey(t))
	good := key.SignRelease(t, otherDigest, "x")
	answered := make(chan struct{})
	var once sync.Once
	portal := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasSuffix(r.URL.Path, "/signature-1") {
			w.Write([]byte("<html>Log in to the hotel Wi-Fi</html>"))
			return
		}
		http.NotFound(w, r) // signature-2: the portal's last answer
		once.Do(func() { close(answered) })
	}))
	defer portal.Close()
	store := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		<-answered
		if strings.HasSuffix(r.URL.Path, "/signature-1") {
			w.Write(good)
			return
		}
		http.NotFound(w, r)
	}))
	defer store.Close()
	r := run(t, "", "--digest", otherDigest, "--store", portal.URL, "--store", store.URL, "--keyring", keyring)
	if r.Code != 0 {
		t.Fatalf("exit %d, stderr:\n%s", r.Code, r.Stderr)
	}
	if cm := decodeConfigMap(t, r.Stdout); !bytes.Equal(cm.BinaryData[cm.Name+"-1"], good) {
		t.Errorf("binaryData = %v, want the good store's signature", keys(cm.BinaryData))
	}
}

// TestASilentStoreIsExit3NamingIt: a store that accepts the request and
// never answers is given up on after --idle-timeout (and the retries):
// exit 3 naming it, nothing printed.
func TestASilentStoreIsExit3NamingIt(t *testing.T) {
	key := testenv.NewSigningKey(t, nil)
	dir := t.TempDir()
	keyring := filepath.Join(dir, "key.asc")
	writeFile(t, keyring, key.ArmoredPublicKey(t))
	quit := make(chan struct{})
	silent := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-quit:
		}
	}))
	defer silent.Close()
	defer close(quit)
	r := run(t, "", "--digest", otherDigest, "--store", silent.URL, "--keyring", keyring, "--idle-timeout", "100ms")
	if r.Code != cli.ExitFailed || !strings.Contains(r.Stderr, "store "+silent.URL) || !strings.Contains(r.Stderr, "stalled") || r.Stdout != "" {
		t.Fatalf("exit %d, stdout %q, stderr:\n%s", r.Code, r.Stdout, r.Stderr)
	}
}
