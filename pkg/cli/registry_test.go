package cli

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/containers/image/v5/types"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"k8s.io/cli-runtime/pkg/genericclioptions"
	"k8s.io/cli-runtime/pkg/genericiooptions"
)

func TestRegistryFlags(t *testing.T) {
	dir := t.TempDir()
	parse := func(args ...string) *RegistryFlags {
		t.Helper()
		f := NewRegistryFlags()
		fs := pflag.NewFlagSet("test", pflag.ContinueOnError)
		f.AddFlags(fs)
		if err := fs.Parse(args); err != nil {
			t.Fatal(err)
		}
		return f
	}

	t.Run("TLS is verified unless a flag says otherwise", func(t *testing.T) {
		if sys := parse().SystemContext(); sys.DockerInsecureSkipTLSVerify != types.OptionalBoolUndefined {
			t.Errorf("default DockerInsecureSkipTLSVerify = %v", sys.DockerInsecureSkipTLSVerify)
		}
		if sys := parse("--tls-verify=false").SystemContext(); sys.DockerInsecureSkipTLSVerify != types.OptionalBoolTrue {
			t.Errorf("--tls-verify=false: DockerInsecureSkipTLSVerify = %v", sys.DockerInsecureSkipTLSVerify)
		}
	})

	t.Run("REGISTRY_AUTH_FILE is used when -a is not given", func(t *testing.T) {
		t.Setenv("REGISTRY_AUTH_FILE", filepath.Join(dir, "env.json"))
		if got := parse().SystemContext().AuthFilePath; got != filepath.Join(dir, "env.json") {
			t.Errorf("AuthFilePath = %q", got)
		}
		if got := parse("-a", "/x/flag.json").SystemContext().AuthFilePath; got != "/x/flag.json" {
			t.Errorf("-a: AuthFilePath = %q", got)
		}
	})

	t.Run("a missing file is bad input naming the flag", func(t *testing.T) {
		t.Setenv("REGISTRY_AUTH_FILE", "")
		for args, want := range map[string]string{
			"--authfile":        "--authfile",
			"--cert-dir":        "--cert-dir",
			"--registries-conf": "--registries-conf",
		} {
			err := parse(args, filepath.Join(dir, "missing")).Validate()
			if ExitCode(err) != ExitBadInput || err == nil || !strings.Contains(err.Error(), want) {
				t.Errorf("%s missing: err = %v (exit %d)", args, err, ExitCode(err))
			}
		}
		t.Setenv("REGISTRY_AUTH_FILE", filepath.Join(dir, "missing.json"))
		if err := parse().Validate(); ExitCode(err) != ExitBadInput || !strings.Contains(err.Error(), "REGISTRY_AUTH_FILE") {
			t.Errorf("REGISTRY_AUTH_FILE missing: err = %v", err)
		}
	})
}

// TestTurningTLSVerificationOffIsWarned: a flag that turns TLS verification
// off prints one warning line on stderr naming what is left unverified;
// verification left on, or asked for explicitly, prints nothing.
func TestTurningTLSVerificationOffIsWarned(t *testing.T) {
	newCmd := func(streams genericiooptions.IOStreams) *cobra.Command {
		cmd := &cobra.Command{Use: "oc-x", RunE: func(c *cobra.Command, _ []string) error {
			fmt.Fprintln(c.OutOrStdout(), "ran")
			return nil
		}}
		NewRegistryFlags().AddFlags(cmd.Flags())
		genericclioptions.NewConfigFlags(true).AddFlags(cmd.PersistentFlags())
		Setup(cmd, "oc x")
		return cmd
	}
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"registry TLS on by default", nil, ""},
		{"registry TLS asked for", []string{"--tls-verify=true"}, ""},
		{"registry TLS off", []string{"--tls-verify=false"}, "warning: --tls-verify=false: registry and signature store TLS certificates are not verified, and plain HTTP is allowed\n"},
		{"API server TLS off", []string{"--insecure-skip-tls-verify"}, "warning: --insecure-skip-tls-verify=true: the API server's TLS certificate is not verified\n"},
		{"API server TLS on", []string{"--insecure-skip-tls-verify=false"}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var out, errOut bytes.Buffer
			streams := genericiooptions.IOStreams{In: strings.NewReader(""), Out: &out, ErrOut: &errOut}
			cmd := newCmd(streams)
			cmd.SetArgs(append([]string{}, tc.args...))
			if code := Execute(cmd, streams); code != 0 {
				t.Fatalf("exit %d: %s", code, errOut.String())
			}
			if errOut.String() != tc.want {
				t.Errorf("stderr %q, want %q", errOut.String(), tc.want)
			}
			if out.String() != "ran\n" {
				t.Errorf("stdout %q: the warning must not go to stdout", out.String())
			}
		})
	}
}

// TestAuthFileIsParsedUpFront: an auth file that is not one is bad input
// (exit 2) from Validate, before any registry is contacted, naming the file
// and not what it holds.
func TestAuthFileIsParsedUpFront(t *testing.T) {
	dir := t.TempDir()
	write := func(name, data string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(data), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	good := write("auth.json", `{"auths": {"registry.example.com": {"auth": "dXNlcjpzM2NyM3Q="}}}`)
	bad := write("not-json.json", `{"auths": {"registry.example.com": {"auth": "dXNlcjpzM2NyM3Q="}`)
	yaml := write("auth.yaml", "auths:\n  registry.example.com: {auth: dXNlcjpzM2NyM3Q=}\n")

	f := &RegistryFlags{AuthFile: good, TLSVerify: true}
	if err := f.Validate(); err != nil {
		t.Errorf("a good auth file: %v", err)
	}
	for _, p := range []string{bad, yaml} {
		f := &RegistryFlags{AuthFile: p, TLSVerify: true}
		err := f.Validate()
		if ExitCode(err) != ExitBadInput || !strings.Contains(err.Error(), "--authfile "+p+": ") {
			t.Errorf("%s: exit %d, %v; want exit 2 naming --authfile and the file", p, ExitCode(err), err)
		}
		if err != nil && strings.Contains(err.Error(), "s3cr3t") || err != nil && strings.Contains(err.Error(), "dXNlcjpzM2NyM3Q") {
			t.Errorf("the error shows the credential: %v", err)
		}
	}
	t.Setenv("REGISTRY_AUTH_FILE", bad)
	if err := (&RegistryFlags{TLSVerify: true}).Validate(); ExitCode(err) != ExitBadInput || !strings.Contains(err.Error(), "REGISTRY_AUTH_FILE "+bad) {
		t.Errorf("REGISTRY_AUTH_FILE not JSON: %v", err)
	}
}
