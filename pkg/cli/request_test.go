package cli_test

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/containers/image/v5/docker"
	"github.com/spf13/cobra"
	"k8s.io/cli-runtime/pkg/genericiooptions"

	"github.com/airgap-ocp/oc-plugins/internal/testenv"
	"github.com/airgap-ocp/oc-plugins/pkg/cli"
)

// inspectCmd is a plugin command that opens an image in a registry with the
// registry flags, as the plugins do.
func inspectCmd(ref string) *cobra.Command {
	flags := cli.NewRegistryFlags()
	cmd := &cobra.Command{
		Use: "oc-x",
		RunE: func(c *cobra.Command, _ []string) error {
			if err := flags.Validate(); err != nil {
				return err
			}
			r, err := docker.ParseReference("//" + ref)
			if err != nil {
				return cli.BadInput(err)
			}
			src, err := r.NewImageSource(c.Context(), flags.SystemContext())
			if err != nil {
				return cli.Failed(fmt.Errorf("reading %s: %w", ref, err))
			}
			defer src.Close()
			if _, _, err := src.GetManifest(c.Context(), nil); err != nil {
				return cli.Failed(fmt.Errorf("reading %s: %w", ref, err))
			}
			return nil
		},
	}
	flags.AddFlags(cmd.Flags())
	cli.Setup(cmd, "oc x")
	return cmd
}

func runInspect(t *testing.T, ref string, args ...string) (int, string) {
	t.Helper()
	var out, errOut bytes.Buffer
	streams := genericiooptions.IOStreams{In: strings.NewReader(""), Out: &out, ErrOut: &errOut}
	cmd := inspectCmd(ref)
	cmd.SetArgs(args)
	code := cli.Execute(cmd, streams)
	return code, errOut.String()
}

// noCredentials leaves the process no registry credentials but what a flag
// gives: no REGISTRY_AUTH_FILE, no containers or docker auth file at home.
func noCredentials(t *testing.T) {
	home := t.TempDir()
	t.Setenv("HOME", home)
	t.Setenv("XDG_RUNTIME_DIR", home)
	t.Setenv("REGISTRY_AUTH_FILE", "")
	t.Setenv("DOCKER_CONFIG", filepath.Join(home, ".docker"))
}

// TestRegistryErrorsEndWithAHint runs a registry request against the real
// TLS registry with htpasswd auth: an untrusted CA and missing or wrong
// credentials each end the one error line with what to do.
func TestRegistryErrorsEndWithAHint(t *testing.T) {
	reg := testenv.StartRegistry(t)
	reg.MustPushImage(t, "hint/image:1", testenv.Image{Layers: []testenv.Layer{{Files: []testenv.File{{Name: "f", Data: []byte("x")}}}}})
	noCredentials(t)
	wrong := filepath.Join(t.TempDir(), "wrong.json")
	if err := testenv.WriteAuthFile(wrong, reg.Username, "not-the-password", reg.Host); err != nil {
		t.Fatal(err)
	}
	ref := reg.Ref("hint/image:1")
	for _, tc := range []struct {
		name  string
		args  []string
		code  int
		cause string
		hint  string
	}{
		{"the registry's CA not given", []string{"-a", reg.AuthFile}, cli.ExitFailed, "x509: certificate signed by unknown authority",
			"; give the registry's CA with --cert-dir DIR (or --tls-verify=false)\n"},
		{"no credentials", []string{"--cert-dir", reg.CertDir}, cli.ExitFailed, "authentication required",
			"; registry credentials come from -a/--authfile FILE, else $REGISTRY_AUTH_FILE, else ${XDG_RUNTIME_DIR}/containers/auth.json (podman login), else ~/.docker/config.json (docker login)\n"},
		{"a wrong password", []string{"--cert-dir", reg.CertDir, "-a", wrong}, cli.ExitFailed, "authentication required",
			"; registry credentials come from -a/--authfile FILE"},
		{"the right CA and credentials", []string{"--cert-dir", reg.CertDir, "-a", reg.AuthFile}, cli.ExitOK, "", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, stderr := runInspect(t, ref, tc.args...)
			if code != tc.code {
				t.Fatalf("exit %d, want %d: %s", code, tc.code, stderr)
			}
			if tc.code == cli.ExitOK {
				if stderr != "" {
					t.Errorf("stderr %q, want nothing", stderr)
				}
				return
			}
			if strings.Count(stderr, "\n") != 1 || !strings.HasPrefix(stderr, "error: reading "+ref+": ") {
				t.Errorf("stderr is not one error line about %s:\n%s", ref, stderr)
			}
			if !strings.Contains(stderr, tc.cause) || !strings.Contains(stderr, tc.hint) {
				t.Errorf("stderr %q, want %q and the hint %q", stderr, tc.cause, tc.hint)
			}
		})
	}
}

// TestVerboseTracesRegistryRequestsWithoutCredentials: -v=6 shows each
// request to the real registry (method and URL), and even at -v=9 neither
// the password nor the Authorization header value appears.
func TestVerboseTracesRegistryRequestsWithoutCredentials(t *testing.T) {
	reg := testenv.StartRegistry(t)
	reg.MustPushImage(t, "trace/image:1", testenv.Image{Layers: []testenv.Layer{{Files: []testenv.File{{Name: "f", Data: []byte("x")}}}}})
	noCredentials(t)
	ref := reg.Ref("trace/image:1")
	basic := base64.StdEncoding.EncodeToString([]byte(reg.Username + ":" + reg.Password))

	code, quiet := runInspect(t, ref, "--cert-dir", reg.CertDir, "-a", reg.AuthFile)
	if code != 0 || quiet != "" {
		t.Fatalf("without -v: exit %d, stderr %q; want 0 and nothing", code, quiet)
	}
	code, v6 := runInspect(t, ref, "--cert-dir", reg.CertDir, "-a", reg.AuthFile, "-v=6")
	if code != 0 {
		t.Fatalf("-v=6: exit %d: %s", code, v6)
	}
	for _, want := range []string{"registry: GET https://" + reg.Host + "/v2/", "registry: GET https://" + reg.Host + "/v2/trace/image/manifests/1"} {
		if !strings.Contains(v6, want) {
			t.Errorf("-v=6 does not show %q:\n%s", want, v6)
		}
	}
	code, v9 := runInspect(t, ref, "--cert-dir", reg.CertDir, "-a", reg.AuthFile, "--v=9")
	if code != 0 {
		t.Fatalf("--v=9: exit %d: %s", code, v9)
	}
	if !strings.Contains(v9, "registry: GET https://"+reg.Host+"/v2/") {
		t.Errorf("--v=9 does not show the requests:\n%s", v9)
	}
	t.Logf("-v=6:\n%s", v6)
	for _, secret := range []string{reg.Password, basic} {
		if strings.Contains(v6+v9, secret) {
			t.Errorf("a credential appears in the -v output")
		}
	}
	if _, err := os.Stat(reg.AuthFile); err != nil {
		t.Fatal(err)
	}
}
