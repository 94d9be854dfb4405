package cli

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/containers/image/v5/types"
	"github.com/spf13/pflag"
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
