package mirrorlite

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"

	"github.com/containers/image/v5/docker"
	"github.com/containers/image/v5/docker/reference"
	"github.com/containers/image/v5/types"
	digest "github.com/opencontainers/go-digest"
	configv1 "github.com/openshift/api/config/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/cli-runtime/pkg/genericiooptions"

	"github.com/airgap-ocp/oc-plugins/internal/testenv"
	"github.com/airgap-ocp/oc-plugins/pkg/cli"
	"github.com/airgap-ocp/oc-plugins/pkg/manifest"
	"github.com/airgap-ocp/oc-plugins/pkg/mirrorset"
)

func TestMain(m *testing.M) { testenv.Main(m) }

// env is a source and a destination registry and the flags that reach both.
type env struct {
	src, dst *testenv.Registry
	flags    []string
	secrets  []string
	dir      string
}

func newEnv(t *testing.T, dstOpts ...testenv.RegistryOption) *env {
	t.Helper()
	e := &env{src: testenv.StartRegistry(t), dst: testenv.StartRegistry(t, dstOpts...), dir: t.TempDir()}
	sys := testenv.CombinedSystemContext(t, e.src, e.dst)
	certs := filepath.Join(e.dir, "certs")
	if err := os.MkdirAll(certs, 0o755); err != nil {
		t.Fatal(err)
	}
	for name, r := range map[string]*testenv.Registry{"src.crt": e.src, "dst.crt": e.dst} {
		data, err := os.ReadFile(r.CACertFile)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(certs, name), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	e.flags = []string{"--authfile", sys.AuthFilePath, "--cert-dir", certs}
	e.secrets = []string{e.src.Password, e.dst.Password}
	return e
}

// run runs the command as main does and returns stdout, stderr and the exit code.
func (e *env) run(t *testing.T, stdin string, args ...string) (string, string, int) {
	t.Helper()
	var out, errOut bytes.Buffer
	streams := genericiooptions.IOStreams{In: strings.NewReader(stdin), Out: cli.HoldOutput(&out), ErrOut: &errOut}
	cmd := NewCmd(streams)
	if len(args) > 0 { // the root command has no registry flags
		args = append(args, e.flags...)
	}
	cmd.SetArgs(args)
	code := cli.Execute(cmd, streams)
	for _, s := range e.secrets {
		if strings.Contains(out.String(), s) || strings.Contains(errOut.String(), s) {
			t.Errorf("a registry password appears in the output of %v", args)
		}
	}
	return out.String(), errOut.String(), code
}

func (e *env) sys() *types.SystemContext { return e.dst.SystemContext() }

func digestAt(t *testing.T, sys *types.SystemContext, s string) digest.Digest {
	t.Helper()
	named, err := reference.ParseNormalizedNamed(s)
	if err != nil {
		t.Fatal(err)
	}
	ref, err := docker.NewReference(reference.TagNameOnly(named))
	if err != nil {
		t.Fatal(err)
	}
	d, err := docker.GetDigest(context.Background(), sys, ref)
	if err != nil {
		t.Fatalf("reading %s: %v", s, err)
	}
	return d
}

func decodeStream(t *testing.T, s string) []manifest.Object {
	t.Helper()
	objs, err := manifest.Read(strings.NewReader(s), "<stdout>")
	if err != nil {
		t.Fatalf("stdout is not an object stream: %v\n%s", err, s)
	}
	return objs
}

func kinds(objs []manifest.Object) []string {
	var ks []string
	for _, o := range objs {
		ks = append(ks, o.GetKind())
	}
	return ks
}

// signedRelease pushes a release and a file signature store holding a
// signature of its digest by key.
func signedRelease(t *testing.T, e *env, spec testenv.ReleaseSpec) (*testenv.Release, string, string) {
	t.Helper()
	rel := e.src.PushRelease(t, spec)
	key := testenv.NewSigningKey(t, nil)
	keyFile := filepath.Join(e.dir, "key.asc")
	if err := os.WriteFile(keyFile, key.ArmoredPublicKey(t), 0o644); err != nil {
		t.Fatal(err)
	}
	store := filepath.Join(e.dir, "signatures")
	sigDir := filepath.Join(store, "sha256="+rel.Digest.Encoded())
	if err := os.MkdirAll(sigDir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(sigDir, "signature-1"), key.SignRelease(t, rel.Digest.String(), rel.Tag), 0o644); err != nil {
		t.Fatal(err)
	}
	return rel, keyFile, "file://" + store
}

func TestReleaseMirrorsPayloadAndPrintsObjects(t *testing.T) {
	e := newEnv(t)
	rel, keyFile, store := signedRelease(t, e, testenv.ReleaseSpec{Version: "4.16.3"})
	to := e.dst.Ref("mirror/ocp")
	resources := filepath.Join(e.dir, "resources")
	cache := filepath.Join(e.dir, "cache")
	stdout, stderr, code := e.run(t, "", "release", rel.Tag, "--to", "docker://"+to,
		"--store", store, "--keyring", keyFile, "--resources-dir", resources, "--cache-dir", cache)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	objs := decodeStream(t, stdout)
	if got := strings.Join(kinds(objs), ","); got != "ImageDigestMirrorSet,ConfigMap" {
		t.Fatalf("printed %s, want the IDMS and the signature ConfigMap", got)
	}
	idms, err := mirrorset.DecodeIDMS(objs[0].Unstructured)
	if err != nil {
		t.Fatal(err)
	}
	if idms.Name != "release-4.16.3-x86-64" {
		t.Errorf("IDMS name %q", idms.Name)
	}
	wantSources := []string{rel.Repo, rel.ComponentRepo}
	if len(idms.Spec.ImageDigestMirrors) != 2 {
		t.Fatalf("IDMS entries %+v, want the release and the component repository", idms.Spec.ImageDigestMirrors)
	}
	for i, m := range idms.Spec.ImageDigestMirrors {
		if m.Source != wantSources[i] || len(m.Mirrors) != 1 || string(m.Mirrors[0]) != to {
			t.Errorf("entry %d: %s -> %v, want %s -> %s", i, m.Source, m.Mirrors, wantSources[i], to)
		}
	}
	cm := objs[1].Unstructured
	if cm.GetName() != "sha256-"+rel.Digest.Encoded() || cm.GetNamespace() != "openshift-config-managed" {
		t.Errorf("signature ConfigMap %s/%s", cm.GetNamespace(), cm.GetName())
	}

	for name, pullspec := range rel.Components {
		if got := digestAt(t, e.sys(), to+":4.16.3-x86_64-"+name); "@"+got.String() != pullspec[strings.LastIndex(pullspec, "@"):] {
			t.Errorf("component %s: mirror serves %s, want %s", name, got, pullspec)
		}
	}
	if got := digestAt(t, e.sys(), to+":4.16.3-x86_64"); got != rel.Digest {
		t.Errorf("release tag serves %s, want %s", got, rel.Digest)
	}
	wantUpgrade := "oc adm upgrade --allow-explicit-upgrade --to-image " + to + "@" + rel.Digest.String()
	if !strings.Contains(stderr, wantUpgrade) {
		t.Errorf("stderr lacks %q:\n%s", wantUpgrade, stderr)
	}
	if !strings.Contains(stderr, "images: 40 (40 copied, 0 already present, 0 failed)") {
		t.Errorf("summary missing or wrong:\n%s", stderr)
	}
	for _, f := range []string{"idms-oc-mirror.yaml", "signature-configmap.yaml", "mapping.txt"} {
		if _, err := os.Stat(filepath.Join(resources, f)); err != nil {
			t.Errorf("--resources-dir: %v", err)
		}
	}
	if _, err := os.Stat(filepath.Join(resources, "itms-oc-mirror.yaml")); err == nil {
		t.Error("an ITMS was written for a release, which is mirrored by digest only")
	}

	// The release's files are kept for the next run, by its digest.
	if _, err := os.Stat(filepath.Join(cache, "releases", "sha256-"+rel.Digest.Encoded()+".json")); err != nil {
		t.Errorf("--cache-dir: %v", err)
	}

	// Again: nothing moves, the same objects are printed.
	e.dst.Traffic().Reset()
	again, stderr2, code := e.run(t, "", "release", rel.Tag, "--to", "docker://"+to,
		"--signature-store", store, "--keyring", keyFile, "--cache-dir", cache)
	if code != 0 {
		t.Fatalf("second run: exit %d: %s", code, stderr2)
	}
	if again != stdout {
		t.Errorf("second run printed different objects")
	}
	if n := e.dst.Traffic().TotalUploads() + e.dst.Traffic().ManifestPuts(); n != 0 {
		t.Errorf("second run wrote %d blobs and manifests, want none", n)
	}
	if !strings.Contains(stderr2, "(0 copied, 40 already present, 0 failed)") {
		t.Errorf("second run summary:\n%s", stderr2)
	}
}

func TestReleaseDryRunPrintsMappingAndWritesNothing(t *testing.T) {
	e := newEnv(t)
	rel := e.src.PushRelease(t, testenv.ReleaseSpec{Components: 4, SigstoreSignature: true})
	to := e.dst.Ref("ocp/release")
	stdout, stderr, code := e.run(t, "", "release", rel.PullSpec, "--to", "docker://"+to, "--dry-run")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	lines := strings.Split(strings.TrimSpace(stdout), "\n")
	if len(lines) != 6 {
		t.Fatalf("mapping has %d lines, want release + 4 components + 1 signature:\n%s", len(lines), stdout)
	}
	if want := "docker://" + rel.PullSpec + "=docker://" + to + ":4.16.3-x86_64"; lines[0] != want {
		t.Errorf("first line %q, want %q", lines[0], want)
	}
	if want := "=docker://" + to + ":4.16.3-x86_64-agent-installer-api-server"; !strings.HasSuffix(lines[1], want) {
		t.Errorf("second line %q, want suffix %q", lines[1], want)
	}
	if !strings.Contains(stdout, "=docker://"+to+":sha256-"+rel.Digest.Encoded()+".sig\n") {
		t.Errorf("the sigstore signature is not in the mapping:\n%s", stdout)
	}
	if !strings.Contains(stderr, "kind: ImageDigestMirrorSet") {
		t.Errorf("the objects that would be printed are not on stderr:\n%s", stderr)
	}
	if n := e.dst.Traffic().TotalUploads() + e.dst.Traffic().ManifestPuts(); n != 0 {
		t.Errorf("a dry run wrote %d blobs and manifests", n)
	}

	// --max-nested-paths flattens the destination for registries that refuse deep paths.
	stdout, stderr, code = e.run(t, "", "release", rel.PullSpec, "--to", "docker://"+e.dst.Ref("org/ocp/release"), "--dry-run", "--max-nested-paths", "2")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	if want := "=docker://" + e.dst.Ref("org/ocp-release") + ":4.16.3-x86_64\n"; !strings.Contains(stdout, want) {
		t.Errorf("--max-nested-paths 2: no %q in\n%s", want, stdout)
	}
}

func TestReleaseWithoutReachableStoreWarnsWithTheCommand(t *testing.T) {
	e := newEnv(t)
	rel, keyFile, _ := signedRelease(t, e, testenv.ReleaseSpec{Components: 2})
	args := []string{"release", rel.Tag, "--to", "docker://" + e.dst.Ref("ocp/release"), "--keyring", keyFile,
		"--signature-store", "http://127.0.0.1:1/signatures"}
	stdout, stderr, code := e.run(t, "", args...)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	want := "oc-release-sig " + rel.PullSpec + " --keyring " + keyFile + " --store http://127.0.0.1:1/signatures"
	if !strings.Contains(stderr, "warning: no release signature ConfigMap") || !strings.Contains(stderr, want) {
		t.Errorf("stderr lacks the warning and %q:\n%s", want, stderr)
	}
	if strings.Contains(stdout, "kind: ConfigMap") {
		t.Error("a signature ConfigMap was printed without signatures")
	}
	_, stderr, code = e.run(t, "", append(args, "--require-signatures")...)
	if code != cli.ExitFailed {
		t.Errorf("--require-signatures with no store: exit %d, want 3: %s", code, stderr)
	}
}

func TestBadInputExitsTwoAndCopiesNothing(t *testing.T) {
	e := newEnv(t)
	e.src.MustPushImage(t, "apps/ubi:9", testenv.Image{Layers: []testenv.Layer{{Files: []testenv.File{{Name: "a", Data: []byte("a")}}}}})
	rel := e.src.PushRelease(t, testenv.ReleaseSpec{Components: 2})
	garbage := filepath.Join(e.dir, "not-a-key.asc")
	if err := os.WriteFile(garbage, []byte("not a key\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	mapping := filepath.Join(e.dir, "bad-mapping.txt")
	if err := os.WriteFile(mapping, []byte("# images\n"+e.src.Ref("apps/ubi:9")+" "+e.dst.Ref("apps/ubi@sha256:"+strings.Repeat("0", 64))+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"release without --to", []string{"release", "4.16.3"}, "--to is required"},
		{"unknown architecture", []string{"release", "4.16.3", "--arch", "sparc", "--to", "docker://" + e.dst.Ref("x")}, "unknown architecture"},
		{"--to with a tag", []string{"release", "4.16.3", "--to", "docker://" + e.dst.Ref("x:1")}, "without tag"},
		{"an image that is not a release", []string{"release", e.src.Ref("apps/ubi:9"), "--to", "docker://" + e.dst.Ref("x")}, "release-manifests/image-references"},
		{"a mapping with a digest destination", []string{"images", "-f", mapping}, "line 2"},
		{"a malformed argument", []string{"images", "just-one-image"}, "want SRC=DST"},
		{"a bad platform", []string{"images", "a=b", "--filter-by-os", "linux"}, "--filter-by-os"},
		{"no subcommand", []string{}, "subcommand"},
		{"a keyring that is not a key", []string{"release", rel.Tag, "--to", "docker://" + e.dst.Ref("x"), "--keyring", garbage}, "--keyring"},
		{"an invalid --name", []string{"release", rel.Tag, "--to", "docker://" + e.dst.Ref("x"), "--name", "Bad_Name"}, "--name"},
		{"negative --retry-times", []string{"release", rel.Tag, "--to", "docker://" + e.dst.Ref("x"), "--retry-times", "-1"}, "--retry-times"},
		{"no --idle-timeout", []string{"release", rel.Tag, "--to", "docker://" + e.dst.Ref("x"), "--idle-timeout", "0s"}, "--idle-timeout"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			stdout, stderr, code := e.run(t, "", tc.args...)
			if code != cli.ExitBadInput || !strings.Contains(stderr, tc.want) || stdout != "" {
				t.Errorf("exit %d, stdout %q, stderr %q; want exit 2 naming %q", code, stdout, stderr, tc.want)
			}
			if strings.Count(strings.TrimSpace(stderr), "\n") > 0 && strings.HasPrefix(stderr, "error:") {
				t.Errorf("want one error line, got %q", stderr)
			}
		})
	}
	if n := e.dst.Traffic().TotalUploads() + e.dst.Traffic().ManifestPuts(); n != 0 {
		t.Errorf("bad input wrote %d blobs and manifests", n)
	}
}

func TestImagesByTagAndDigestWithOneUnreachable(t *testing.T) {
	c := testenv.SharedCluster(t)
	e := newEnv(t)
	layer := func(s string) testenv.Image {
		return testenv.Image{Layers: []testenv.Layer{{Files: []testenv.File{{Name: s, Data: []byte(s)}}}}}
	}
	e.src.MustPushImage(t, "apps/ubi:9", layer("ubi"))
	d := e.src.MustPushImage(t, "apps/tools:v1", layer("tools"))
	mapping := filepath.Join(e.dir, "mapping.txt")
	content := "# tools by digest\n" + e.src.Ref("apps/tools@"+d.String()) + " " + e.dst.Ref("mirror/tools") + "\n"
	if err := os.WriteFile(mapping, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	stdout, stderr, code := e.run(t, "", "images", e.src.Ref("apps/ubi:9")+"="+e.dst.Ref("mirror/ubi"), "-f", mapping)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	objs := decodeStream(t, stdout)
	if got := strings.Join(kinds(objs), ","); got != "ImageDigestMirrorSet,ImageTagMirrorSet" {
		t.Fatalf("printed %s", got)
	}
	serverDryRun(t, c, stdout)
	itms, err := mirrorset.DecodeITMS(objs[1].Unstructured)
	if err != nil {
		t.Fatal(err)
	}
	if len(itms.Spec.ImageTagMirrors) != 1 || itms.Spec.ImageTagMirrors[0].Source != e.src.Ref("apps/ubi") {
		t.Errorf("ITMS %+v, want the tag-mirrored ubi only", itms.Spec.ImageTagMirrors)
	}
	if got := digestAt(t, e.sys(), e.dst.Ref("mirror/ubi:9")); got != digestAt(t, e.src.SystemContext(), e.src.Ref("apps/ubi:9")) {
		t.Errorf("mirror/ubi:9 is %s", got)
	}
	if got := digestAt(t, e.sys(), e.dst.Ref("mirror/tools@"+d.String())); got != d {
		t.Errorf("mirror/tools@%s is %s", d, got)
	}

	// A mapping on standard input, as `-f -`.
	if _, stderr, code := e.run(t, e.src.Ref("apps/ubi:9")+" "+e.dst.Ref("piped/ubi:9")+"\n", "images", "-f", "-"); code != 0 {
		t.Fatalf("-f -: exit %d: %s", code, stderr)
	}
	if got := digestAt(t, e.sys(), e.dst.Ref("piped/ubi:9")); got != digestAt(t, e.src.SystemContext(), e.src.Ref("apps/ubi:9")) {
		t.Errorf("piped/ubi:9 is %s", got)
	}

	// One image that cannot be read fails alone; the others are copied.
	gone := e.src.Ref("apps/gone@" + digest.FromString("gone").String())
	stdout, stderr, code = e.run(t, "", "images", gone+"="+e.dst.Ref("mirror/gone"),
		e.src.Ref("apps/ubi:9")+"="+e.dst.Ref("other/ubi"))
	if code != cli.ExitFailed {
		t.Fatalf("exit %d, want 3: %s", code, stderr)
	}
	if stdout != "" {
		t.Errorf("objects printed for an incomplete mirror: %s", stdout)
	}
	if !strings.Contains(stderr, "failed: "+gone) || !strings.Contains(stderr, "1 failed") {
		t.Errorf("stderr does not list the failure:\n%s", stderr)
	}
	if _, err := docker.GetDigest(context.Background(), e.sys(), mustRef(t, e.dst.Ref("other/ubi:9"))); err != nil {
		t.Errorf("the readable image was not copied: %v", err)
	}
}

func mustRef(t *testing.T, s string) types.ImageReference {
	t.Helper()
	ref, err := docker.ParseReference("//" + s)
	if err != nil {
		t.Fatal(err)
	}
	return ref
}

func TestIDMSSendsEveryComponentToTheMirror(t *testing.T) {
	e := newEnv(t)
	c := testenv.SharedCluster(t)
	rel := e.src.PushRelease(t, testenv.ReleaseSpec{Components: 8, Version: "4.17.2"})
	to := e.dst.Ref("ocp4/release")
	stdout, stderr, code := e.run(t, "", "release", rel.Tag, "--to", "docker://"+to, "--name", testenv.UniqueName("release"))
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	serverDryRun(t, c, stdout)
	objs := decodeStream(t, stdout)
	idmsObj := objs[0].Unstructured
	if err := applyAndGet(t, c, idmsObj); err != nil {
		t.Fatalf("the API server refused the IDMS: %v", err)
	}
	idms, err := mirrorset.DecodeIDMS(idmsObj)
	if err != nil {
		t.Fatal(err)
	}
	checkReleaseGoesToMirror(t, mirrorset.Config{IDMSs: []*configv1.ImageDigestMirrorSet{idms}}, rel, to)
}

func applyAndGet(t *testing.T, c *testenv.Cluster, obj *unstructured.Unstructured) error {
	t.Helper()
	return applyObject(t, c, obj)
}

// TestReleaseFromAMirrorThroughRegistriesConf re-mirrors a payload built
// for quay.example.com (which does not exist) from the registry that
// mirrors it, as registries.conf says: the way a mirror is carried into an
// enclave. The objects still name the payload's own sources.
func TestReleaseFromAMirrorThroughRegistriesConf(t *testing.T) {
	e := newEnv(t)
	const upstream = "quay.example.com"
	rel := e.src.PushRelease(t, testenv.ReleaseSpec{Components: 5, ReferenceHost: upstream})
	conf := filepath.Join(e.dir, "registries.conf")
	if err := os.WriteFile(conf, []byte(`
[[registry]]
location = "`+upstream+`/openshift-release-dev"
[[registry.mirror]]
location = "`+e.src.Ref("openshift-release-dev")+`"
`), 0o644); err != nil {
		t.Fatal(err)
	}
	to := e.dst.Ref("enclave/ocp")
	stdout, stderr, code := e.run(t, "", "release", rel.PullSpec, "--to", "docker://"+to, "--registries-conf", conf)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	idms, err := mirrorset.DecodeIDMS(decodeStream(t, stdout)[0].Unstructured)
	if err != nil {
		t.Fatal(err)
	}
	for i, want := range []string{upstream + "/openshift-release-dev/ocp-release", upstream + "/openshift-release-dev/ocp-v4.0-art-dev"} {
		if got := idms.Spec.ImageDigestMirrors[i].Source; got != want {
			t.Errorf("IDMS source %d is %s, want %s", i, got, want)
		}
	}
	if got := digestAt(t, e.sys(), to+":4.16.3-x86_64"); got != rel.Digest {
		t.Errorf("the enclave's release is %s, want %s", got, rel.Digest)
	}
}

func TestDestTLSVerifyIsSeparateFromTheSource(t *testing.T) {
	e := newEnv(t)
	e.src.MustPushImage(t, "apps/a:1", testenv.Image{Layers: []testenv.Layer{{Files: []testenv.File{{Name: "a", Data: []byte("a")}}}}})
	// Trust only the source's CA.
	e.flags = []string{"--authfile", e.flags[1], "--cert-dir", e.src.CertDir}
	mapping := e.src.Ref("apps/a:1") + "=" + e.dst.Ref("apps/a:1")
	_, stderr, code := e.run(t, "", "images", mapping, "--parallel", "2")
	if code != cli.ExitFailed || !strings.Contains(stderr, "certificate") {
		t.Errorf("an untrusted destination: exit %d, want 3 naming the certificate: %s", code, stderr)
	}
	_, stderr, code = e.run(t, "", "images", mapping, "--dest-tls-verify=false")
	if code != 0 {
		t.Errorf("--dest-tls-verify=false: exit %d: %s", code, stderr)
	}
	_, stderr, code = e.run(t, "", "images", mapping, "--src-tls-verify=false")
	if code != cli.ExitFailed {
		t.Errorf("--src-tls-verify=false leaves the destination verified: exit %d, want 3: %s", code, stderr)
	}
}

func TestInterruptedRunSaysARerunContinues(t *testing.T) {
	e := newEnv(t)
	e.src.MustPushImage(t, "apps/a:1", testenv.Image{Layers: []testenv.Layer{{Files: []testenv.File{{Name: "a", Data: []byte("a")}}}}})
	var out, errOut bytes.Buffer
	o := NewImagesOptions(genericiooptions.IOStreams{In: strings.NewReader(""), Out: &out, ErrOut: &errOut})
	o.Registry.AuthFile, o.Registry.CertDir = e.flags[1], e.flags[3]
	o.Parallel = 2
	if err := o.Complete(nil, []string{e.src.Ref("apps/a:1") + "=" + e.dst.Ref("apps/a:1")}); err != nil {
		t.Fatal(err)
	}
	if err := o.Validate(); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel() // as SIGINT does
	err := o.Run(ctx)
	if cli.ExitCode(err) != cli.ExitFailed || !strings.Contains(err.Error(), "a re-run continues") {
		t.Errorf("interrupted run: %v (exit %d)", err, cli.ExitCode(err))
	}
	if out.Len() != 0 {
		t.Errorf("an interrupted run printed objects: %s", out.String())
	}
}

// TestReadingThePayloadRetriesAsTheFlagsSay: the release payload is read
// under --retry-times, once: a source that answers every request with 500
// sees --retry-times+1 attempts at its manifest, not that many times the
// retries pkg/release makes on its own.
func TestReadingThePayloadRetriesAsTheFlagsSay(t *testing.T) {
	e := newEnv(t)
	rel := e.src.PushRelease(t, testenv.ReleaseSpec{Version: "4.16.3", Components: 2})
	proxy := e.src.StartFaultProxy(t, testenv.Faults{ServerErrorEvery: 1})
	via := proxy.Registry()
	sys := testenv.CombinedSystemContext(t, via, e.dst)
	var out, errOut bytes.Buffer
	streams := genericiooptions.IOStreams{In: strings.NewReader(""), Out: &out, ErrOut: &errOut}
	cmd := NewCmd(streams)
	cmd.SetArgs([]string{"release", via.Ref(strings.TrimPrefix(rel.Tag, e.src.Host+"/")), "--to", "docker://" + e.dst.Ref("mirror/ocp"),
		"--authfile", sys.AuthFilePath, "--cert-dir", e.flags[3], "--retry-times", "2", "--retry-delay", "10ms"})
	if code := cli.Execute(cmd, streams); code != cli.ExitFailed || out.Len() != 0 {
		t.Fatalf("exit %d, stdout %q, stderr %s; want exit 3 and nothing printed", code, out.String(), errOut.String())
	}
	if got := proxy.Errors.Load(); got != 3 {
		t.Errorf("the source was asked %d times, want 3 (--retry-times 2)", got)
	}
}

// TestAnInterruptWhileAskingTheStoresIsExit3: SIGTERM arrives while the
// signature store is being asked (the mirror itself has finished): the
// binary exits 3 with nothing on stdout, not a warning and the objects
// with exit 0. (The binary, as a signal to this test process would stop
// testenv's shared cluster.)
func TestAnInterruptWhileAskingTheStoresIsExit3(t *testing.T) {
	e := newEnv(t)
	rel, keyFile, _ := signedRelease(t, e, testenv.ReleaseSpec{Components: 2})
	bin := buildBinary(t)
	asked := make(chan struct{})
	var once sync.Once
	store := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		once.Do(func() { close(asked) })
		<-r.Context().Done()
	}))
	defer store.Close()
	var stdout, stderr bytes.Buffer
	cmd := exec.Command(bin, append([]string{"release", rel.Tag, "--to", "docker://" + e.dst.Ref("ocp/release"), "--keyring", keyFile, "--store", store.URL}, e.flags...)...)
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	var err error
	select {
	case <-asked:
		cmd.Process.Signal(syscall.SIGTERM)
		err = <-done
	case err = <-done:
		t.Fatalf("the run ended (%v) before asking the store: %s", err, stderr.String())
	}
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != cli.ExitFailed || stdout.Len() != 0 || !strings.Contains(stderr.String(), "interrupted") {
		t.Errorf("%v, stdout %q, stderr:\n%s", err, stdout.String(), stderr.String())
	}
}

// TestRegistryThatIsDownIsOneLineNamingIt: a mirror into a registry that
// is gone stops with exit 3 and one line naming the registry as down, not
// a line per image after each image's own retries.
func TestRegistryThatIsDownIsOneLineNamingIt(t *testing.T) {
	e := newEnv(t)
	rel := e.src.PushRelease(t, testenv.ReleaseSpec{Components: 4})
	if err := e.dst.Close(); err != nil {
		t.Fatal(err)
	}
	stdout, stderr, code := e.run(t, "", "release", rel.PullSpec, "--to", "docker://"+e.dst.Ref("ocp/release"))
	if code != cli.ExitFailed || stdout != "" {
		t.Fatalf("exit %d, stdout %q; want exit 3 and nothing printed: %s", code, stdout, stderr)
	}
	lines := strings.Split(strings.TrimSpace(stderr), "\n")
	if last := lines[len(lines)-1]; !strings.Contains(last, "registry "+e.dst.Host+" is down") {
		t.Errorf("the last line does not name %s as down: %s", e.dst.Host, last)
	}
	if strings.Contains(stderr, "failed: ") {
		t.Errorf("a line per image for one registry that is down:\n%s", stderr)
	}
}
