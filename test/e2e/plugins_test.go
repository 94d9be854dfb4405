package e2e

import (
	"strings"
	"testing"
)

// TestKubectlFindsThePlugins checks that kubectl's plugin lookup finds every
// plugin by its kubectl-* file name, that help reads as the command the user
// typed, and that a command run through kubectl reaches the cluster.
func TestKubectlFindsThePlugins(t *testing.T) {
	e, _ := clusterEnv(t)
	list := e.must(t, "kubectl plugin list")
	if strings.Contains(list.stderr, "warning") {
		t.Errorf("kubectl plugin list warns:\n%s", list.stderr)
	}
	for _, tc := range []struct{ words, usage string }{
		{"icsp migrate", "oc icsp migrate"},
		{"release sig", "oc release sig"},
		{"release sig verify", "oc release sig verify"},
		{"mhc pause", "oc mhc pause"},
		{"mhc pause status", "oc mhc pause status"},
		{"mhc resume", "oc mhc resume"},
		{"mirror lite release", "oc mirror lite release"},
		{"registries verify", "oc registries verify"},
		{"registries verify render", "oc registries verify render"},
	} {
		t.Run(tc.words, func(t *testing.T) {
			bin := "kubectl-" + strings.Join(strings.Fields(tc.words)[:2], "-")
			if !strings.Contains(list.stdout, e.pathDir+"/"+bin+"\n") {
				t.Errorf("kubectl plugin list does not list %s:\n%s", bin, list.stdout)
			}
			help := e.must(t, "kubectl "+tc.words+" --help")
			if !strings.Contains(help.stdout, "Usage:\n  "+tc.usage) {
				t.Errorf("kubectl %s --help does not show %q:\n%s", tc.words, tc.usage, help.stdout)
			}
			if !strings.Contains(help.stdout, "Examples:") {
				t.Errorf("kubectl %s --help has no examples", tc.words)
			}
		})
	}
	// Through kubectl, against the cluster (KUBECONFIG is passed on).
	e.must(t, "kubectl mhc pause status")
	if r := e.sh(t, "", "kubectl mhc pause --no-such-flag"); r.code != 2 {
		t.Errorf("a bad flag through kubectl: exit %d, want 2 (kubectl passes the plugin's exit code on)", r.code)
	}
}
