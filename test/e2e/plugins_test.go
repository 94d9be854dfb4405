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
	for _, words := range []string{
		"icsp migrate",
		"release sig",
		"release sig verify",
		"mhc pause",
		"mhc pause status",
		"mhc resume",
		"mirror lite release",
		"registries verify",
		"registries verify render",
		"update service apply",
		"update service status",
	} {
		t.Run(words, func(t *testing.T) {
			bin := "kubectl-" + strings.Join(strings.Fields(words)[:2], "-")
			if !strings.Contains(list.stdout, e.pathDir+"/"+bin+"\n") {
				t.Errorf("kubectl plugin list does not list %s:\n%s", bin, list.stdout)
			}
			// Help reads as the user typed it: kubectl ... under kubectl, oc ... as oc-*.
			help := e.must(t, "kubectl "+words+" --help")
			if !strings.Contains(help.stdout, "Usage:\n  kubectl "+words) {
				t.Errorf("kubectl %s --help does not show \"kubectl %s\":\n%s", words, words, help.stdout)
			}
			if !strings.Contains(help.stdout, "Examples:") {
				t.Errorf("kubectl %s --help has no examples", words)
			}
			if strings.Contains(help.stdout, "oc "+words) {
				t.Errorf("kubectl %s --help still names the command \"oc %s\":\n%s", words, words, help.stdout)
			}
			f := strings.Fields(words)
			ocHelp := e.must(t, "oc-"+f[0]+"-"+f[1]+" "+strings.Join(f[2:], " ")+" --help")
			if !strings.Contains(ocHelp.stdout, "Usage:\n  oc "+words) {
				t.Errorf("oc-%s-%s --help does not show \"oc %s\":\n%s", f[0], f[1], words, ocHelp.stdout)
			}
		})
	}
	// Through kubectl, against the cluster (KUBECONFIG is passed on).
	e.must(t, "kubectl mhc pause status")
	// Errors and hints name the command as kubectl runs it too.
	e.write(t, "mhcs.yaml", []byte(mhcs))
	e.must(t, "kubectl apply -f mhcs.yaml")
	defer e.must(t, "kubectl delete -f mhcs.yaml")
	e.must(t, "kubectl mhc pause --all")
	if r := e.sh(t, "", "kubectl mhc pause status --expect resumed"); r.code != 1 || !strings.Contains(r.stderr, "kubectl mhc resume") {
		t.Errorf("kubectl mhc pause status --expect resumed: exit %d, want 1 and a hint naming \"kubectl mhc resume\":\n%s", r.code, r.stderr)
	}
	e.must(t, "kubectl mhc resume --all")
	if r := e.sh(t, "", "kubectl mhc pause --no-such-flag"); r.code != 2 {
		t.Errorf("a bad flag through kubectl: exit %d, want 2 (kubectl passes the plugin's exit code on)", r.code)
	}
}

// TestCompletionOfFlagValuesAndNames completes `kubectl mhc pause ...` with
// kubectl's own completion, which runs the kubectl_complete-mhc-pause
// helper with the words typed so far, against the cluster: contexts come
// from the kubeconfig, namespaces and MachineHealthCheck names from the
// cluster, -o from the printer.
func TestCompletionOfFlagValuesAndNames(t *testing.T) {
	e, _ := clusterEnv(t)
	e.write(t, "mhcs.yaml", []byte(mhcs))
	e.must(t, "kubectl apply -f mhcs.yaml")
	defer e.must(t, "kubectl delete -f mhcs.yaml")
	ctx := strings.TrimSpace(e.must(t, "kubectl config current-context").stdout)
	names := strings.Fields(e.must(t, "kubectl -n openshift-machine-api get machinehealthcheck.machine.openshift.io -o name").stdout)
	if len(names) < 2 {
		t.Fatalf("want at least two MHCs, got %v", names)
	}
	first := strings.TrimPrefix(names[0], "machinehealthcheck.machine.openshift.io/")
	second := strings.TrimPrefix(names[1], "machinehealthcheck.machine.openshift.io/")
	for _, tc := range []struct {
		words   string
		want    []string
		notWant []string
	}{
		{`--context ""`, []string{ctx}, nil},
		{`-n ""`, []string{"openshift-machine-api", "default"}, nil},
		{`-n openshift-machine-api ""`, []string{first, second}, nil},
		{`-n openshift-machine-api ` + first + ` ""`, []string{second}, []string{first}},
		{`-o ""`, []string{"yaml", "json", "name"}, nil},
	} {
		// kubectl's own completion, which finds and runs the helper.
		out := e.must(t, "kubectl __complete mhc pause "+tc.words).stdout
		lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
		if lines[len(lines)-1] != ":4" {
			t.Errorf("%s: the last line is %q, want the directive :4 (no file names)", tc.words, lines[len(lines)-1])
		}
		for _, w := range tc.want {
			if !containsLine(lines, w) {
				t.Errorf("%s: %q is not offered: %q", tc.words, w, lines)
			}
		}
		for _, w := range tc.notWant {
			if containsLine(lines, w) {
				t.Errorf("%s: %q is offered again: %q", tc.words, w, lines)
			}
		}
	}
}

func containsLine(lines []string, s string) bool {
	for _, l := range lines {
		if l == s || strings.HasPrefix(l, s+"\t") {
			return true
		}
	}
	return false
}
