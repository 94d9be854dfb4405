package mirrorlite

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/containers/image/v5/manifest"
	digest "github.com/opencontainers/go-digest"

	"github.com/airgap-ocp/oc-plugins/internal/testenv"
)

// buildBinary returns the plugin binary: the one `make test` built into
// $OC_PLUGINS_BIN, or else one built from cmd/oc-mirror-lite now.
func buildBinary(t *testing.T) string {
	t.Helper()
	if dir := os.Getenv("OC_PLUGINS_BIN"); dir != "" {
		if bin := filepath.Join(dir, Name); fileExists(bin) {
			return bin
		}
	}
	root, err := testenv.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(t.TempDir(), Name)
	cmd := exec.Command("go", "build", "-o", bin, "./cmd/oc-mirror-lite")
	cmd.Dir = root
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("building %s: %v\n%s", Name, err, out)
	}
	return bin
}

func fileExists(path string) bool {
	st, err := os.Stat(path)
	return err == nil && st.Mode().IsRegular()
}

// TestEndToEndSkopeoPullsMirroredComponentByDigest runs the built binary
// the way a runbook does, then reads a mirrored component back by digest
// with skopeo, a client that shares no code path with ours.
func TestEndToEndSkopeoPullsMirroredComponentByDigest(t *testing.T) {
	skopeo, err := exec.LookPath("skopeo")
	if err != nil {
		t.Fatalf("skopeo is needed to read the mirror back (Debian package skopeo; .ci/run installs it): %v", err)
	}
	bin := buildBinary(t)
	e := newEnv(t)
	rel := e.src.PushRelease(t, testenv.ReleaseSpec{Components: 6, Arches: []string{"amd64", "arm64"}})
	to := e.dst.Ref("ocp/release")

	var stdout, stderr bytes.Buffer
	cmd := exec.Command(bin, append([]string{"release", rel.Tag, "--to", "docker://" + to}, e.flags...)...)
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	cmd.Env = append(os.Environ(), "REGISTRY_AUTH_FILE=/nonexistent-so-the-flag-is-used")
	if err := cmd.Run(); err != nil {
		t.Fatalf("%s: %v\n%s", Name, err, stderr.String())
	}
	for _, secret := range e.secrets {
		if strings.Contains(stdout.String()+stderr.String(), secret) {
			t.Error("a registry password appears in the output")
		}
	}
	if !strings.Contains(stdout.String(), "kind: ImageDigestMirrorSet") {
		t.Errorf("no IDMS on stdout:\n%s", stdout.String())
	}

	cli := rel.Components["cli"]
	want := digest.Digest(cli[strings.LastIndex(cli, "@")+1:])
	pull := to + "@" + want.String()
	out := filepath.Join(t.TempDir(), "cli")
	sk := exec.Command(skopeo, "copy", "--all", "--src-authfile", e.dst.AuthFile, "--src-cert-dir", e.dst.CertDir,
		"docker://"+pull, "dir:"+out)
	if b, err := sk.CombinedOutput(); err != nil {
		t.Fatalf("skopeo copy %s: %v\n%s", pull, err, b)
	}
	raw, err := os.ReadFile(filepath.Join(out, "manifest.json"))
	if err != nil {
		t.Fatal(err)
	}
	if got := digest.FromBytes(raw); got != want {
		t.Errorf("skopeo read %s from the mirror, want %s", got, want)
	}
	if !manifest.MIMETypeIsMultiImage(manifest.GuessMIMEType(raw)) {
		t.Errorf("the mirrored cli component is not a manifest list: %s", raw)
	}
}
