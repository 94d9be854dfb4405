package plugins

import (
	"strings"
	"testing"

	"k8s.io/cli-runtime/pkg/genericiooptions"
)

func TestLookupByTheNamesOcAndKubectlUse(t *testing.T) {
	for _, tt := range []struct {
		file     string
		name     string
		complete bool
		ok       bool
	}{
		{"/usr/local/bin/oc-mhc-pause", "mhc-pause", false, true},
		{"kubectl-mhc-resume", "mhc-resume", false, true},
		{"/root/.krew/bin/kubectl-mhc_pause", "mhc-pause", false, true},
		{"kubectl_complete-registries-verify", "registries-verify", true, true},
		{"oc_complete-release-sig", "release-sig", true, true},
		{"/usr/local/bin/oc-update-service", "update-service", false, true},
		{"release-sig", "release-sig", false, true},
		{"ocplugins", "ocplugins", false, false},
		{"oc-no-such-plugin", "no-such-plugin", false, false},
	} {
		name, complete, ok := Lookup(tt.file)
		if name != tt.name || complete != tt.complete || ok != tt.ok {
			t.Errorf("Lookup(%q) = %q, %v, %v; want %q, %v, %v", tt.file, name, complete, ok, tt.name, tt.complete, tt.ok)
		}
	}
}

func TestMainDispatches(t *testing.T) {
	run := func(argv ...string) (int, string, string) {
		streams, _, out, errOut := genericiooptions.NewTestIOStreams()
		code := Main(argv, streams)
		return code, out.String(), errOut.String()
	}
	if code, out, _ := run("/usr/bin/ocplugins", "--names"); code != 0 || out != strings.Join(Names(), "\n")+"\n" || len(Names()) != 7 {
		t.Errorf("--names: exit %d, %q", code, out)
	}
	if code, out, _ := run("/usr/bin/ocplugins", "icsp-migrate", "--help"); code != 0 || !strings.Contains(out, "ImageDigestMirrorSet") {
		t.Errorf("ocplugins icsp-migrate --help: exit %d:\n%s", code, out)
	}
	if code, out, _ := run("/usr/bin/oc-update-service", "status", "--help"); code != 0 || !strings.Contains(out, "--expect") {
		t.Errorf("oc-update-service status --help: exit %d:\n%s", code, out)
	}
	if code, _, errOut := run("/usr/bin/ocplugins", "nope"); code != 2 || !strings.Contains(errOut, "nope is not a plugin") {
		t.Errorf("ocplugins nope: exit %d, %q", code, errOut)
	}
	// A completion helper answers cobra's __complete: one choice a line,
	// then the directive.
	if code, out, _ := run("/usr/bin/kubectl_complete-mhc-pause", "-o", ""); code != 0 || !strings.Contains(out, "yaml\n") || !strings.HasSuffix(out, ":4\n") {
		t.Errorf("kubectl_complete-mhc-pause -o '': exit %d, %q", code, out)
	}
}
