package mirrorlite

import (
	"context"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/containers/image/v5/docker"
	digest "github.com/opencontainers/go-digest"

	"github.com/airgap-ocp/oc-plugins/internal/testenv"
	"github.com/airgap-ocp/oc-plugins/pkg/cli"
)

func smallImage(content string) testenv.Image {
	return testenv.Image{Layers: []testenv.Layer{{Files: []testenv.File{{Name: "f", Data: []byte(content)}}}}}
}

// TestDuplicateMappingsKeepTheirNamesThroughDisk: an image asked for twice
// is copied once, and after the air gap every image is still named by its
// own source: mapping.txt gives each source its own digest and destination.
func TestDuplicateMappingsKeepTheirNamesThroughDisk(t *testing.T) {
	e := newEnv(t)
	da := e.src.MustPushImage(t, "apps/a:1", smallImage("a"))
	db := e.src.MustPushImage(t, "apps/b:1", smallImage("b"))
	a, b := e.src.Ref("apps/a:1"), e.src.Ref("apps/b:1")
	dir := filepath.Join(e.dir, "dup")
	_, stderr, code := e.run(t, "", "images", a+"=m.example.com/m/a:1", a+"=m.example.com/m/a:1", b+"=m.example.com/m/b:1", "--to", "file://"+dir)
	if code != 0 {
		t.Fatalf("to disk: exit %d: %s", code, stderr)
	}
	if !strings.Contains(stderr, "merged: "+a) {
		t.Errorf("the duplicate was not said to be merged:\n%s", stderr)
	}
	out := filepath.Join(e.dir, "out")
	root := e.dst.Host + "/r"
	if _, stderr, code := e.run(t, "", "--from", "file://"+dir, "--to", "docker://"+root, "--resources-dir", out); code != 0 {
		t.Fatalf("from disk: exit %d: %s", code, stderr)
	}
	data, err := os.ReadFile(filepath.Join(out, "mapping.txt"))
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		"docker://" + e.src.Ref("apps/a@"+da.String()) + "=docker://" + root + "/m/a:1",
		"docker://" + e.src.Ref("apps/b@"+db.String()) + "=docker://" + root + "/m/b:1",
	}
	got := strings.Split(strings.TrimSpace(string(data)), "\n")
	sort.Strings(got)
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("mapping.txt:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

// TestBlockedImagesMatchTheDestinationLikeOcMirror: a blockedImages
// expression that names a release component (by the tag it gets at the
// destination) leaves that component out, lists it, and warns that the
// release is then incomplete.
func TestBlockedImagesMatchTheDestinationLikeOcMirror(t *testing.T) {
	e := newEnv(t)
	rel := e.src.PushRelease(t, testenv.ReleaseSpec{Version: "4.16.3", Components: 4})
	var names []string
	for n := range rel.Components {
		names = append(names, n)
	}
	sort.Strings(names)
	blocked := names[0]
	graph := testenv.StartGraph(t, testenv.GraphChannel{Name: "stable-4.16", Arch: "amd64",
		Releases: []testenv.GraphRelease{{Version: "4.16.3", Payload: rel.PullSpec}}})
	t.Setenv("UPDATE_URL_OVERRIDE", graph.URL)
	isc := filepath.Join(e.dir, "isc.yaml")
	doc := "apiVersion: mirror.openshift.io/v2alpha1\nkind: ImageSetConfiguration\nmirror:\n  platform:\n    kubeVirtContainer: false\n" +
		"    channels:\n    - name: stable-4.16\n  blockedImages:\n  - name: \"-(" + blocked + ")$\"\n"
	if err := os.WriteFile(isc, []byte(doc), 0o644); err != nil {
		t.Fatal(err)
	}
	stdout, stderr, code := e.run(t, "", "-c", isc, "--to", "docker://"+e.dst.Host+"/mirror", "--dry-run")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	if strings.Contains(stdout, "-"+blocked+"\n") || !strings.Contains(stdout, "-"+names[1]+"\n") {
		t.Errorf("the mapping does not leave out %s alone:\n%s", blocked, stdout)
	}
	if !strings.Contains(stderr, "blocked by mirror.blockedImages: "+rel.Components[blocked]) {
		t.Errorf("the blocked component is not listed:\n%s", stderr)
	}
	if !strings.Contains(stderr, "warning: release 4.16.3-x86_64: 1 images blocked") {
		t.Errorf("no warning that the release is incomplete:\n%s", stderr)
	}
}

// TestDryRunSaysWhatItCouldNotRead: a dry run whose source cannot be read
// is exit 3 with nothing on stdout, never a mapping with an empty digest.
func TestDryRunSaysWhatItCouldNotRead(t *testing.T) {
	e := newEnv(t)
	gone := e.src.Ref("apps/gone@" + digest.FromString("gone").String())
	stdout, stderr, code := e.run(t, "", "images", gone+"="+e.dst.Ref("mirror/gone"), "--dry-run")
	if code != cli.ExitFailed || stdout != "" {
		t.Fatalf("exit %d, stdout %q; want 3 and nothing: %s", code, stdout, stderr)
	}
	if !strings.Contains(stderr, "could not read: "+gone) {
		t.Errorf("the unreadable image is not named:\n%s", stderr)
	}

	// A readable image by digest: its digest is in the mapping.
	d := e.src.MustPushImage(t, "apps/here:1", smallImage("here"))
	here := e.src.Ref("apps/here@" + d.String())
	stdout, stderr, code = e.run(t, "", "images", here+"="+e.dst.Ref("mirror/here"), "--dry-run")
	if want := "=docker://" + e.dst.Ref("mirror/here@"+d.String()) + "\n"; code != 0 || !strings.HasSuffix(stdout, want) {
		t.Errorf("exit %d, mapping %q, want it to end %q: %s", code, stdout, want, stderr)
	}
}

// TestDryRunToDiskWritesNothing says what would go into the archive and
// its size, and leaves no directory behind.
func TestDryRunToDiskWritesNothing(t *testing.T) {
	e := newEnv(t)
	e.src.MustPushImage(t, "apps/a:1", smallImage("a"))
	dir := filepath.Join(e.dir, "never")
	stdout, stderr, code := e.run(t, "", "images", e.src.Ref("apps/a:1")+"=m.example.com/m/a:1", "--to", "file://"+dir, "--dry-run")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	if !strings.Contains(stdout, "=file://"+dir+"#m/a:1") || !strings.Contains(stderr, "would hold 1 images, 2 blobs") {
		t.Errorf("stdout %q, stderr %q; want the image and the archive's size", stdout, stderr)
	}
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Errorf("a dry run created %s (%v)", dir, err)
	}
}

// TestEnclavePushesWhatItsImageSetSelects: one archive feeds several
// enclaves; each pushes only what its own image set asks for, and asking
// for what the archive lacks is exit 2 naming the field.
func TestEnclavePushesWhatItsImageSetSelects(t *testing.T) {
	e := newEnv(t)
	e.src.MustPushImage(t, "apps/a:1", smallImage("a"))
	e.src.MustPushImage(t, "apps/b:1", smallImage("b"))
	dir := filepath.Join(e.dir, "archive")
	isc := func(name string, images ...string) string {
		doc := "apiVersion: mirror.openshift.io/v2alpha1\nkind: ImageSetConfiguration\nmirror:\n  additionalImages:\n"
		for _, im := range images {
			doc += "  - name: docker://" + im + "\n" // oc-mirror's spelling, with the transport
		}
		path := filepath.Join(e.dir, name)
		if err := os.WriteFile(path, []byte(doc), 0o644); err != nil {
			t.Fatal(err)
		}
		return path
	}
	all := isc("all.yaml", e.src.Ref("apps/a:1"), e.src.Ref("apps/b:1"))
	if _, stderr, code := e.run(t, "", "-c", all, "--to", "file://"+dir); code != 0 {
		t.Fatalf("to disk: exit %d: %s", code, stderr)
	}
	root := e.dst.Host + "/enclave"
	stdout, stderr, code := e.run(t, "", "--from", dir, "-c", isc("a.yaml", e.src.Ref("apps/a:1")), "--to", "docker://"+root)
	if code != 0 {
		t.Fatalf("enclave: exit %d: %s", code, stderr)
	}
	if !strings.Contains(stdout, root+"/apps/a") || strings.Contains(stdout, root+"/apps/b") {
		t.Errorf("the enclave's objects are not for apps/a alone:\n%s", stdout)
	}
	if _, err := digestAtErr(e, root+"/apps/b:1"); err == nil {
		t.Error("apps/b, which the enclave did not ask for, was pushed")
	}
	_, stderr, code = e.run(t, "", "--from", dir, "-c", isc("c.yaml", e.src.Ref("apps/c:1")), "--to", "docker://"+root)
	if code != cli.ExitBadInput || !strings.Contains(stderr, "mirror.additionalImages[0]") || !strings.Contains(stderr, "not in the archive") {
		t.Errorf("an image the archive lacks: exit %d: %s", code, stderr)
	}
}

// TestFailedImagesAreWrittenAsAMappingToRetry: with --resources-dir, the
// images that could not be copied are written as a mapping file that
// `images -f` takes back.
func TestFailedImagesAreWrittenAsAMappingToRetry(t *testing.T) {
	e := newEnv(t)
	e.src.MustPushImage(t, "apps/a:1", smallImage("a"))
	gone := e.src.Ref("apps/gone:1")
	out := filepath.Join(e.dir, "res")
	_, stderr, code := e.run(t, "", "images", gone+"="+e.dst.Ref("m/gone:1"), e.src.Ref("apps/a:1")+"="+e.dst.Ref("m/a:1"), "--resources-dir", out)
	if code != cli.ExitFailed {
		t.Fatalf("exit %d, want 3: %s", code, stderr)
	}
	path := filepath.Join(out, "failed-mapping.txt")
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := string(data), "docker://"+gone+"=docker://"+e.dst.Ref("m/gone:1")+"\n"; got != want {
		t.Errorf("failed-mapping.txt %q, want %q", got, want)
	}
	if !strings.Contains(stderr, "images -f "+path) {
		t.Errorf("the error does not say how to retry:\n%s", stderr)
	}
	// The image appears; the retry copies exactly it.
	e.src.MustPushImage(t, "apps/gone:1", smallImage("gone"))
	_, stderr, code = e.run(t, "", "images", "-f", path)
	if code != 0 || !strings.Contains(stderr, "images: 1 (1 copied") {
		t.Errorf("retry: exit %d: %s", code, stderr)
	}
}

func digestAtErr(e *env, s string) (digest.Digest, error) {
	ref, err := dockerRef(s, false)
	if err != nil {
		return "", err
	}
	return docker.GetDigest(context.Background(), e.sys(), ref)
}

// TestDryRunFromDiskSaysWhatItWouldPush: a dry run of disk to mirror reads
// the archive and asks the destination, and lists only what it lacks.
func TestDryRunFromDiskSaysWhatItWouldPush(t *testing.T) {
	e := newEnv(t)
	e.src.MustPushImage(t, "apps/a:1", smallImage("a"))
	e.src.MustPushImage(t, "apps/b:1", smallImage("b"))
	dir := filepath.Join(e.dir, "archive")
	a, b := e.src.Ref("apps/a:1"), e.src.Ref("apps/b:1")
	if _, stderr, code := e.run(t, "", "images", a+"=m.example.com/m/a:1", b+"=m.example.com/m/b:1", "--to", "file://"+dir); code != 0 {
		t.Fatalf("to disk: exit %d: %s", code, stderr)
	}
	root := e.dst.Host + "/r"
	if _, stderr, code := e.run(t, "", "images", a+"="+root+"/m/a:1"); code != 0 {
		t.Fatalf("a first: exit %d: %s", code, stderr)
	}
	e.dst.Traffic().Reset()
	stdout, stderr, code := e.run(t, "", "--from", dir, "--to", "docker://"+root, "--dry-run")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	if strings.Contains(stdout, "/m/a:1") || !strings.Contains(stdout, "docker://"+root+"/m/b:1") {
		t.Errorf("the dry run lists %q; want m/b alone, which the destination lacks", stdout)
	}
	if !strings.Contains(stderr, "1 of 2 images are at the destination already") {
		t.Errorf("stderr does not say what the destination holds:\n%s", stderr)
	}
	if n := e.dst.Traffic().TotalUploads() + e.dst.Traffic().ManifestPuts(); n != 0 {
		t.Errorf("a dry run wrote %d blobs and manifests", n)
	}
}
