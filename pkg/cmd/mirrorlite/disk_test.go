package mirrorlite

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/containers/image/v5/docker"
	"github.com/containers/image/v5/types"
	digest "github.com/opencontainers/go-digest"

	"github.com/airgap-ocp/oc-plugins/internal/testenv"
	"github.com/airgap-ocp/oc-plugins/pkg/archive"
	"github.com/airgap-ocp/oc-plugins/pkg/cli"
	"github.com/airgap-ocp/oc-plugins/pkg/imageset"
)

// dirSize is the bytes of the regular files under dir.
// dockerRef is the docker reference of a pull spec.
func dockerRef(s string, _ bool) (types.ImageReference, error) {
	return docker.ParseReference("//" + s)
}

func dirSize(t *testing.T, dir string) int64 {
	t.Helper()
	var n int64
	_ = filepath.Walk(dir, func(_ string, fi os.FileInfo, err error) error {
		if err == nil && fi.Mode().IsRegular() {
			n += fi.Size()
		}
		return nil
	})
	return n
}

func idmsMirrors(t *testing.T, stdout string) map[string][]string {
	t.Helper()
	out := map[string][]string{}
	for _, o := range decodeStream(t, stdout) {
		if o.GetKind() != "ImageDigestMirrorSet" {
			continue
		}
		list, _, _ := unstructuredSlice(o.Object, "spec", "imageDigestMirrors")
		for _, m := range list {
			mm := m.(map[string]any)
			for _, x := range mm["mirrors"].([]any) {
				out[mm["source"].(string)] = append(out[mm["source"].(string)], x.(string))
			}
		}
	}
	return out
}

func unstructuredSlice(obj map[string]any, fields ...string) ([]any, bool, error) {
	var cur any = obj
	for _, f := range fields {
		m, ok := cur.(map[string]any)
		if !ok {
			return nil, false, nil
		}
		cur = m[f]
	}
	s, ok := cur.([]any)
	return s, ok, nil
}

// TestAirGapEndToEndKilledAndResumed runs the built binary as a runbook
// does: mirror to disk from one registry, killed with SIGKILL mid-way and
// run again; then disk to mirror into another registry, watching the disk
// while it pushes; skopeo reads a component back by digest, and the
// emitted IDMS points at the second registry.
func TestAirGapEndToEndKilledAndResumed(t *testing.T) {
	skopeo, err := exec.LookPath("skopeo")
	if err != nil {
		t.Fatalf("skopeo is needed to read the mirror back (Debian package skopeo): %v", err)
	}
	bin := buildBinary(t)
	e := newEnv(t)
	rel, keyFile, store := signedRelease(t, e, testenv.ReleaseSpec{Components: 24, BaseLayerSize: 1 << 20, OwnLayerSize: 384 << 10, SigstoreSignature: true})
	dir := filepath.Join(e.dir, "usb", "ocp")
	mirrorArgs := append([]string{"release", rel.Tag, "--to", "file://" + dir, "--archive-size", "3Mi", "--parallel", "1",
		"--keyring", keyFile, "--signature-store", store}, e.flags...)

	// 1. Killed with SIGKILL once a chunk is being written.
	cmd := exec.Command(bin, mirrorArgs...)
	var killedErr bytes.Buffer
	cmd.Stderr = &killedErr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		// A chunk is finished and another is being written.
		parts, _ := filepath.Glob(filepath.Join(dir, "chunk-*.tar.part"))
		_, err := os.Stat(filepath.Join(dir, archive.ChunksFile))
		if err == nil && len(parts) > 0 {
			if st, err := os.Stat(parts[0]); err == nil && st.Size() > 512<<10 {
				break
			}
		}
		time.Sleep(2 * time.Millisecond)
	}
	_ = cmd.Process.Signal(syscall.SIGKILL)
	_ = cmd.Wait()
	if _, err := os.Stat(filepath.Join(dir, archive.IndexFile)); err == nil {
		t.Fatalf("the run finished before it could be killed; stderr:\n%s", killedErr.String())
	}
	if _, err := archive.Open(dir); err == nil || !strings.Contains(err.Error(), "not complete") {
		t.Errorf("an interrupted archive opens: %v", err)
	}
	written := dirSize(t, dir)

	// 2. The same command continues.
	e.src.Traffic().Reset()
	var stderr bytes.Buffer
	cmd = exec.Command(bin, mirrorArgs...)
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("resumed mirror to disk: %v\n%s", err, stderr.String())
	}
	idx, err := archive.ReadIndexFile(dir)
	if err != nil {
		t.Fatal(err)
	}
	var archived int64
	stored := map[digest.Digest]bool{}
	for _, c := range idx.Chunks {
		archived += c.Size
		for _, m := range c.Blobs {
			stored[m.Digest] = true
		}
	}
	if written < 1<<20 {
		t.Errorf("only %d bytes were written before the kill", written)
	}
	if !strings.Contains(stderr.String(), "resuming "+dir) {
		t.Errorf("the second run did not keep what the first wrote:\n%s", stderr.String())
	}
	if len(idx.Releases) != 1 || len(idx.Releases[0].Signatures) == 0 {
		t.Errorf("the index carries no verified release signature: %+v", idx.Releases)
	}
	for _, d := range rel.SharedBlobs {
		if !stored[d] {
			t.Errorf("shared layer %s is not in the archive", d)
		}
	}

	// 3. Disk to mirror, with nothing unpacked: the disk holds the archive
	// and nothing more while it pushes.
	tmp := filepath.Join(e.dir, "tmp")
	if err := os.MkdirAll(tmp, 0o755); err != nil {
		t.Fatal(err)
	}
	to := e.dst.Ref("disconnected/ocp")
	var stdout bytes.Buffer
	stderr.Reset()
	cmd = exec.Command(bin, append([]string{"--from", "file://" + dir, "--to", "docker://" + to}, e.flags...)...)
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	cmd.Env = append(os.Environ(), "TMPDIR="+tmp)
	var peak int64
	var wg sync.WaitGroup
	done := make(chan struct{})
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			if n := dirSize(t, dir) + dirSize(t, tmp); n > peak {
				peak = n
			}
			select {
			case <-done:
				return
			case <-time.After(5 * time.Millisecond):
			}
		}
	}()
	err = cmd.Run()
	close(done)
	wg.Wait()
	if err != nil {
		t.Fatalf("disk to mirror: %v\n%s", err, stderr.String())
	}
	total := dirSize(t, dir)
	if peak > total+64<<10 {
		t.Errorf("disk use peaked at %d bytes while pushing an archive of %d (%d in chunks): something was unpacked", peak, total, archived)
	}
	for _, s := range e.secrets {
		if strings.Contains(stdout.String()+stderr.String(), s) {
			t.Error("a registry password appears in the output")
		}
	}

	// 4. The IDMS points at the second registry; the signature ConfigMap
	// came across in the archive.
	mirrors := idmsMirrors(t, stdout.String())
	if got := mirrors[rel.ComponentRepo]; len(got) != 1 || got[0] != to {
		t.Errorf("IDMS sends %s to %v, want %s", rel.ComponentRepo, got, to)
	}
	if !strings.Contains(stdout.String(), "sha256-"+rel.Digest.Encoded()) {
		t.Errorf("no signature ConfigMap for %s on stdout", rel.Digest)
	}
	if !strings.Contains(stderr.String(), "--to-image "+to+"@"+rel.Digest.String()) {
		t.Errorf("no upgrade command for the pushed release:\n%s", stderr.String())
	}

	// The release's sigstore signature came across too.
	sigRef, err := dockerRef(to+rel.SignatureTag[strings.LastIndex(rel.SignatureTag, ":"):], false)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := docker.GetDigest(context.Background(), e.dst.SystemContext(), sigRef); err != nil {
		t.Errorf("the sigstore signature %s was not carried across: %v", rel.SignatureTag, err)
	}

	// 5. skopeo reads a component back by digest.
	cli := rel.Components["cli"]
	want := digest.Digest(cli[strings.LastIndex(cli, "@")+1:])
	out := filepath.Join(t.TempDir(), "cli")
	sk := exec.Command(skopeo, "copy", "--src-authfile", e.dst.AuthFile, "--src-cert-dir", e.dst.CertDir,
		"docker://"+to+"@"+want.String(), "dir:"+out)
	if b, err := sk.CombinedOutput(); err != nil {
		t.Fatalf("skopeo copy: %v\n%s", err, b)
	}
	raw, err := os.ReadFile(filepath.Join(out, "manifest.json"))
	if err != nil {
		t.Fatal(err)
	}
	if got := digest.FromBytes(raw); got != want {
		t.Errorf("skopeo read %s, want %s", got, want)
	}
}

func TestSinceArchiveHoldsOnlyNewBlobs(t *testing.T) {
	e := newEnv(t)
	old := e.src.PushRelease(t, testenv.ReleaseSpec{Version: "4.16.3", Components: 6})
	next := e.src.PushRelease(t, testenv.ReleaseSpec{Version: "4.16.4", Components: 6})
	first, second := filepath.Join(e.dir, "a"), filepath.Join(e.dir, "b")
	if _, stderr, code := e.run(t, "", "release", old.Tag, "--to", "file://"+first); code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	if _, stderr, code := e.run(t, "", "release", next.Tag, "--to", "file://"+second, "--since", first); code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	a, err := archive.ReadIndexFile(first)
	if err != nil {
		t.Fatal(err)
	}
	b, err := archive.ReadIndexFile(second)
	if err != nil {
		t.Fatal(err)
	}
	manifests := map[digest.Digest]bool{}
	for _, im := range b.Images {
		manifests[im.Digest] = true
	}
	inA := map[digest.Digest]bool{}
	for _, d := range a.Blobs() {
		inA[d] = true
	}
	newBlobs := 0
	for _, d := range b.Blobs() {
		if inA[d] && !manifests[d] {
			t.Errorf("blob %s is in both archives", d)
		}
		if !inA[d] {
			newBlobs++
		}
	}
	if newBlobs == 0 {
		t.Error("the second archive holds nothing new")
	}
	if b.Since == nil || b.Since.Archive != a.ID || len(b.Since.Blobs) == 0 {
		t.Errorf("the second index does not record what it depends on: %+v", b.Since)
	}
	for _, d := range next.SharedBlobs {
		if !inA[d] {
			t.Fatalf("test set-up: shared layer %s not in the first archive", d)
		}
	}

	// Alone, into an empty registry, the second archive is refused with
	// the reason, image by image.
	e.dst.Traffic().Reset()
	_, stderr, code := e.run(t, "", "--from", "file://"+second, "--to", "docker://"+e.dst.Ref("fresh/ocp"))
	if code != cli.ExitFailed || !strings.Contains(stderr, "left out") || !strings.Contains(stderr, a.ID) {
		t.Errorf("pushing an incremental archive alone: exit %d, stderr:\n%s", code, stderr)
	}
	// Checked before anything is pushed, said once, naming the base archive
	// by its release and path as well as its ID.
	if n := e.dst.Traffic().TotalUploads() + e.dst.Traffic().ManifestPuts(); n != 0 {
		t.Errorf("%d blobs and manifests were pushed before the missing base archive was found", n)
	}
	if lines := strings.Count(strings.TrimSpace(stderr[strings.Index(stderr, "error:"):]), "\n"); lines != 0 ||
		!strings.Contains(stderr, "release 4.16.3-x86_64, written to "+first) || strings.Contains(stderr, "failed: ") {
		t.Errorf("want one error line naming release 4.16.3-x86_64 and %s:\n%s", first, stderr)
	}
	// After the first, it goes.
	to := e.dst.Ref("mirror/ocp")
	for _, d := range []string{first, second} {
		if _, stderr, code := e.run(t, "", "--from", "file://"+d, "--to", "docker://"+to); code != 0 {
			t.Fatalf("pushing %s: exit %d: %s", d, code, stderr)
		}
	}
}

func TestFromDiskMissingChunkPushesTheRestAndNamesIt(t *testing.T) {
	e := newEnv(t)
	// Own layers over a MiB go by size, one after another (small blobs
	// come after them), and two do not fit in a chunk.
	rel := e.src.PushRelease(t, testenv.ReleaseSpec{Components: 6, OwnLayerSize: 1100 << 10})
	dir := filepath.Join(e.dir, "a")
	if _, stderr, code := e.run(t, "", "release", rel.Tag, "--to", "file://"+dir, "--archive-size", "2Mi", "--parallel", "1"); code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	idx, err := archive.ReadIndexFile(dir)
	if err != nil {
		t.Fatal(err)
	}
	shared := map[digest.Digest]bool{}
	for _, d := range rel.SharedBlobs {
		shared[d] = true
	}
	var gone archive.Chunk
	for _, c := range idx.Chunks {
		if len(c.Blobs) == 1 && !shared[c.Blobs[0].Digest] && c.Blobs[0].Size > 32<<10 {
			gone = c
		}
	}
	if gone.Name == "" {
		t.Fatal("no chunk holding one own layer alone")
	}
	if err := os.Remove(filepath.Join(dir, gone.Name)); err != nil {
		t.Fatal(err)
	}
	stdout, stderr, code := e.run(t, "", "--from", "file://"+dir, "--to", "docker://"+e.dst.Ref("mirror/ocp"))
	if code != cli.ExitFailed {
		t.Errorf("exit %d, want %d", code, cli.ExitFailed)
	}
	if !strings.Contains(stderr, gone.Name+": missing") || !strings.Contains(stderr, gone.Blobs[0].Digest.String()) {
		t.Errorf("stderr does not name the chunk and blob:\n%s", stderr)
	}
	if stdout != "" {
		t.Errorf("objects printed after a failure:\n%s", stdout)
	}
	if n := strings.Count(stderr, "failed: "); n != 1 {
		t.Errorf("%d images failed, want the one that needs %s:\n%s", n, gone.Name, stderr)
	}
	if up := e.dst.Traffic().Uploads(); len(up) == 0 {
		t.Error("nothing was pushed: the images that do not need the chunk should go")
	}
}

func TestImageSetConfigurationFromGraph(t *testing.T) {
	e := newEnv(t)
	rel := e.src.PushRelease(t, testenv.ReleaseSpec{Version: "4.16.3", Components: 4})
	older := e.src.PushRelease(t, testenv.ReleaseSpec{Version: "4.16.2", Components: 4})
	ubi := testenv.Image{Layers: []testenv.Layer{{Files: []testenv.File{{Name: "etc/os-release", Data: []byte("ID=rhel\n")}}}}}
	e.src.MustPushImage(t, "ubi9/ubi:latest", ubi)
	e.src.MustPushImage(t, "ubi9/debug-tools:latest", ubi)
	graph := testenv.StartGraph(t, testenv.GraphChannel{Name: "stable-4.16", Arch: "amd64",
		Releases: []testenv.GraphRelease{{Version: "4.16.2", Payload: older.PullSpec}, {Version: "4.16.3", Payload: rel.PullSpec}},
		Edges:    [][2]string{{"4.16.2", "4.16.3"}}})
	t.Setenv("UPDATE_URL_OVERRIDE", graph.URL)
	isc := filepath.Join(e.dir, "isc.yaml")
	doc := `apiVersion: mirror.openshift.io/v2alpha1
kind: ImageSetConfiguration
mirror:
  platform:
    channels:
    - name: stable-4.16
  additionalImages:
  - name: ` + e.src.Ref("ubi9/ubi:latest") + `
  - name: ` + e.src.Ref("ubi9/debug-tools:latest") + `
  blockedImages:
  - name: debug-tools
`
	if err := os.WriteFile(isc, []byte(doc), 0o644); err != nil {
		t.Fatal(err)
	}
	root := e.dst.Host + "/mirror"
	stdout, stderr, code := e.run(t, "", "-c", isc, "--to", "docker://"+root)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	if got := graph.Requests(); len(got) != 1 || got[0] != "stable-4.16/amd64" {
		t.Errorf("graph requests %v", got)
	}
	mirrors := idmsMirrors(t, stdout)
	if got := mirrors[rel.ComponentRepo]; len(got) != 1 || got[0] != root+"/"+imageset.ReleasePath {
		t.Errorf("components go to %v, want %s", got, root+"/"+imageset.ReleasePath)
	}
	if !strings.Contains(stdout, "kind: ImageTagMirrorSet") || !strings.Contains(stdout, root+"/ubi9/ubi") {
		t.Errorf("no ITMS for the additional image:\n%s", stdout)
	}
	if strings.Contains(stdout, "debug-tools") || !strings.Contains(stderr, "blocked by mirror.blockedImages") {
		t.Errorf("the blocked image was mirrored:\n%s\n%s", stdout, stderr)
	}
	if !strings.Contains(stderr, "release 4.16.3") || strings.Contains(stderr, "release 4.16.2") {
		t.Errorf("without a range the head of the channel, 4.16.3 only, is mirrored:\n%s", stderr)
	}

	bad := filepath.Join(e.dir, "bad.yaml")
	// oc-mirror's scenario 15, a range on a package and on its channel:
	// refused before anything is read, naming the field.
	op := "  operators:\n  - catalog: registry.redhat.io/redhat/redhat-operator-index:v4.16\n" +
		"    packages: [{name: x, minVersion: 1.0.0, channels: [{name: a, maxVersion: 2.0.0}]}]\n  blockedImages:"
	if err := os.WriteFile(bad, []byte(strings.Replace(doc, "  blockedImages:", op, 1)), 0o644); err != nil {
		t.Fatal(err)
	}
	_, stderr, code = e.run(t, "", "-c", bad, "--to", "docker://"+root)
	if code != cli.ExitBadInput || !strings.Contains(stderr, "bad.yaml: mirror.operators[0].packages[0].channels[0].maxVersion") {
		t.Errorf("operators section: exit %d: %s", code, stderr)
	}
}

func TestImagesToDiskAndBack(t *testing.T) {
	e := newEnv(t)
	ubi := testenv.Image{Layers: []testenv.Layer{{Files: []testenv.File{{Name: "etc/os-release", Data: []byte("ID=rhel\n")}}}}}
	want := e.src.MustPushImage(t, "ubi9/ubi:latest", ubi)
	dir := filepath.Join(e.dir, "imgs")
	if _, stderr, code := e.run(t, "", "images", e.src.Ref("ubi9/ubi:latest")+"=mirror.example.com/base/ubi:9", "--to", "file://"+dir); code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	root := e.dst.Host + "/enclave"
	stdout, stderr, code := e.run(t, "", "--from", "file://"+dir, "--to", "docker://"+root)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	r, err := dockerRef(root+"/base/ubi:9", false)
	if err != nil {
		t.Fatal(err)
	}
	got, err := docker.GetDigest(context.Background(), e.dst.SystemContext(), r)
	if err != nil || got != want {
		t.Errorf("%s/base/ubi:9 serves %s (%v), want %s", root, got, err, want)
	}
	if !strings.Contains(stdout, "kind: ImageTagMirrorSet") || !strings.Contains(stdout, "- "+root+"/base/ubi") {
		t.Errorf("no ITMS to %s/base/ubi:\n%s", root, stdout)
	}
}

func TestAirGapBadUsage(t *testing.T) {
	e := newEnv(t)
	regular := filepath.Join(e.dir, "a-file")
	if err := os.WriteFile(regular, []byte("not an archive\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--from", "file:///x", "--to", "file:///y"}, "docker://"},
		{[]string{"--from", "docker://x", "--to", "docker://example.com/x"}, "file://DIR"},
		{[]string{"--from", "file:///nonexistent", "--to", "docker://example.com/x"}, "index"},
		{[]string{"release", "4.16.3", "--to", "docker://example.com/x", "--since", "/x"}, "--since"},
		{[]string{"release", "4.16.3", "--to", "file:///tmp/x", "--archive-size", "big"}, "--archive-size"},
		{[]string{"release", "4.16.3", "--to", "file:///tmp/x", "--to-release-image", "example.com/x:1"}, "--to-release-image"},
		{[]string{"release", "4.16.3", "--to", "file:///tmp/x", "--archive-size", "NaN"}, `--archive-size: "NaN": not a number of GiB`},
		{[]string{"release", "4.16.3", "--to", "file:///tmp/x", "--archive-size", "Inf"}, `--archive-size: "Inf": not a number of GiB`},
		{[]string{"release", "4.16.3", "--to", "file:///tmp/x", "--archive-size", "1e30"}, `--archive-size: "1e30": must be between 1Mi and 1Pi`},
		{[]string{"release", "4.16.3", "--to", "file:///tmp/x", "--archive-size", "1e-30"}, `--archive-size: "1e-30": must be between 1Mi and 1Pi`},
		{[]string{"release", "4.16.3", "--to", "file:///tmp/x", "--archive-size", "2Pi"}, `must be between 1Mi and 1Pi`},
		{[]string{"release", "4.16.3", "--to", "file://" + regular}, "is not a directory"},
		{[]string{"images", "a/b:1=c/d:1", "--to", "file://" + regular}, "is not a directory"},
		{[]string{"images", "a/b:1=c/d:1", "--to", "docker://example.com/x"}, "file://DIR only"},
	} {
		_, stderr, code := e.run(t, "", tc.args...)
		if code != cli.ExitBadInput || !strings.Contains(stderr, tc.want) || strings.Count(strings.TrimSpace(stderr), "\n") > 0 {
			t.Errorf("%v: exit %d, stderr %q; want exit 2 and one line about %s", tc.args, code, stderr, tc.want)
		}
	}
}

// TestFromDiskVerifiesArchivedSignaturesWithKeyring: with --keyring, the
// far side checks the archive's signatures again before pushing: the
// connected side's key gives the ConfigMap; another key (or an archive
// whose signatures were swapped on the way) gives none, and with
// --require-signatures exit 1 with nothing pushed.
func TestFromDiskVerifiesArchivedSignaturesWithKeyring(t *testing.T) {
	e := newEnv(t)
	rel, keyFile, store := signedRelease(t, e, testenv.ReleaseSpec{Components: 4})
	dir := filepath.Join(e.dir, "usb")
	if _, stderr, code := e.run(t, "", "release", rel.Tag, "--to", "file://"+dir,
		"--keyring", keyFile, "--signature-store", store); code != 0 {
		t.Fatalf("mirror to disk: exit %d: %s", code, stderr)
	}
	other := filepath.Join(e.dir, "other.asc")
	if err := os.WriteFile(other, testenv.NewSigningKey(t, nil).ArmoredPublicKey(t), 0o644); err != nil {
		t.Fatal(err)
	}
	cm := "sha256-" + rel.Digest.Encoded()

	// The right key: the ConfigMap, no warning.
	stdout, stderr, code := e.run(t, "", "--from", "file://"+dir, "--to", "docker://"+e.dst.Ref("good/ocp"),
		"--keyring", keyFile, "--require-signatures")
	if code != 0 || !strings.Contains(stdout, cm) || strings.Contains(stderr, "warning") {
		t.Fatalf("with the signing key: exit %d, ConfigMap printed: %v, stderr:\n%s", code, strings.Contains(stdout, cm), stderr)
	}

	// Another key: no ConfigMap, a warning saying why.
	stdout, stderr, code = e.run(t, "", "--from", "file://"+dir, "--to", "docker://"+e.dst.Ref("other/ocp"),
		"--keyring", other)
	if code != 0 || strings.Contains(stdout, cm) || !strings.Contains(stderr, "did not verify with --keyring") {
		t.Errorf("with another key: exit %d, ConfigMap printed: %v, stderr:\n%s", code, strings.Contains(stdout, cm), stderr)
	}

	// Another key and --require-signatures: exit 1 before anything is pushed.
	e.dst.Traffic().Reset()
	stdout, stderr, code = e.run(t, "", "--from", "file://"+dir, "--to", "docker://"+e.dst.Ref("strict/ocp"),
		"--keyring", other, "--require-signatures")
	if code != cli.ExitDiffers || stdout != "" || !strings.Contains(stderr, rel.Digest.String()) {
		t.Errorf("with another key and --require-signatures: exit %d, stdout %q, stderr:\n%s", code, stdout, stderr)
	}
	if n := e.dst.Traffic().TotalUploads() + e.dst.Traffic().ManifestPuts(); n != 0 {
		t.Errorf("%d blobs and manifests were pushed before the signatures were refused", n)
	}
}

// TestToDiskRefusesALinkPlantedAsAChunk: a symbolic link planted as the
// chunk being written is exit 2 naming it, and the file it points to,
// outside the archive, is left alone.
func TestToDiskRefusesALinkPlantedAsAChunk(t *testing.T) {
	e := newEnv(t)
	rel := e.src.PushRelease(t, testenv.ReleaseSpec{Components: 2})
	dir := filepath.Join(e.dir, "a")
	outside := filepath.Join(e.dir, "precious")
	if err := os.WriteFile(outside, []byte("keep me\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(outside, filepath.Join(dir, "chunk-00001.tar.part")); err != nil {
		t.Fatal(err)
	}
	stdout, stderr, code := e.run(t, "", "release", rel.Tag, "--to", "file://"+dir)
	if code != cli.ExitBadInput || !strings.Contains(stderr, "chunk-00001.tar.part: a symbolic link, not a regular file: refused") || stdout != "" {
		t.Errorf("exit %d, stdout %q, stderr:\n%s", code, stdout, stderr)
	}
	if data, _ := os.ReadFile(outside); string(data) != "keep me\n" {
		t.Errorf("the file the link points to was changed: %q", data)
	}
}

// TestASecondRunIntoTheSameArchiveIsRefused: while another process writes
// an archive directory (here the test itself holds it), mirror to disk
// into it is exit 2 naming that process, and writes nothing.
func TestASecondRunIntoTheSameArchiveIsRefused(t *testing.T) {
	e := newEnv(t)
	rel := e.src.PushRelease(t, testenv.ReleaseSpec{Components: 2})
	dir := filepath.Join(e.dir, "a")
	w, err := archive.Create(dir, archive.WriterOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	stdout, stderr, code := e.run(t, "", "release", rel.Tag, "--to", "file://"+dir)
	want := fmt.Sprintf("the archive is being written by process %d", os.Getpid())
	if code != cli.ExitBadInput || !strings.Contains(stderr, want) || stdout != "" {
		t.Errorf("exit %d, stdout %q, stderr:\n%s\nwant exit 2 and %q", code, stdout, stderr, want)
	}
	if parts, _ := filepath.Glob(filepath.Join(dir, "chunk-*")); len(parts) != 0 {
		t.Errorf("the refused run wrote %v", parts)
	}
}

// TestRerunToDiskRepairsADamagedChunk: a finished chunk damaged after the
// first run is found by the rerun on the connected side and written
// again, so the far side gets a whole archive.
func TestRerunToDiskRepairsADamagedChunk(t *testing.T) {
	e := newEnv(t)
	rel := e.src.PushRelease(t, testenv.ReleaseSpec{Components: 4, OwnLayerSize: 600 << 10})
	dir := filepath.Join(e.dir, "a")
	args := []string{"release", rel.Tag, "--to", "file://" + dir, "--archive-size", "1Mi", "--parallel", "1"}
	if _, stderr, code := e.run(t, "", args...); code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	idx, err := archive.ReadIndexFile(dir)
	if err != nil {
		t.Fatal(err)
	}
	bad := idx.Chunks[len(idx.Chunks)/2].Name
	data, err := os.ReadFile(filepath.Join(dir, bad))
	if err != nil {
		t.Fatal(err)
	}
	data[len(data)/3] ^= 0xff
	if err := os.WriteFile(filepath.Join(dir, bad), data, 0o644); err != nil {
		t.Fatal(err)
	}
	_, stderr, code := e.run(t, "", args...)
	if code != 0 || !strings.Contains(stderr, bad+" is damaged") {
		t.Fatalf("rerun: exit %d, stderr:\n%s", code, stderr)
	}
	_, stderr, code = e.run(t, "", "--from", "file://"+dir, "--to", "docker://"+e.dst.Ref("mirror/ocp"))
	if code != 0 || strings.Contains(stderr, "refused") {
		t.Errorf("pushing the repaired archive: exit %d, stderr:\n%s", code, stderr)
	}
}
