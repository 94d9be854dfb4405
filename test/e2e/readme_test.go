package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/airgap-ocp/oc-plugins/internal/testenv"
)

// ocShim stands for oc in a shell: oc's plugin lookup for `oc WORD1 WORD2`
// (oc-WORD1-WORD2 on the PATH), else kubectl, whose get and apply are oc's.
const ocShim = `#!/usr/bin/env bash
if [[ $# -ge 2 ]] && command -v "oc-$1-$2" >/dev/null; then
	p="oc-$1-$2"
	shift 2
	exec "$p" "$@"
fi
exec kubectl "$@"
`

// readmeLine returns the one README line that contains marker.
func readmeLine(t *testing.T, marker string) string {
	t.Helper()
	var found []string
	for _, line := range strings.Split(testenv.README(t), "\n") {
		if strings.Contains(line, marker) {
			found = append(found, strings.TrimSpace(line))
		}
	}
	if len(found) != 1 {
		t.Fatalf("README.md has %d lines with %q, want 1: %q", len(found), marker, found)
	}
	return found[0]
}

// TestReadmeMergePipelineRuns runs the README's pipeline that folds a
// cluster's ICSPs into one IDMS, as written, with oc's lookup standing in
// for oc: each word of it must exist (the ICSP kind has no short name).
func TestReadmeMergePipelineRuns(t *testing.T) {
	e, _ := clusterEnv(t)
	if err := os.WriteFile(filepath.Join(e.pathDir, "oc"), []byte(ocShim), 0o755); err != nil {
		t.Fatal(err)
	}
	line := readmeLine(t, "| oc icsp migrate --merge release-mirrors |")
	icsp := testenv.UniqueName("e2e-readme")
	e.write(t, "icsp.yaml", []byte(fmt.Sprintf(`apiVersion: operator.openshift.io/v1alpha1
kind: ImageContentSourcePolicy
metadata: {name: %s}
spec:
  repositoryDigestMirrors:
  - {source: quay.io/openshift-release-dev/ocp-release, mirrors: [mirror.example.com/ocp4/openshift4]}
`, icsp)))
	e.must(t, "kubectl apply -f icsp.yaml")
	defer e.sh(t, "", "kubectl delete --ignore-not-found -f icsp.yaml; kubectl delete --ignore-not-found imagedigestmirrorset release-mirrors")
	e.must(t, line)
	got := e.must(t, "kubectl get imagedigestmirrorset release-mirrors -o yaml").stdout
	if !strings.Contains(got, "mirror.example.com/ocp4/openshift4") {
		t.Errorf("%s did not apply the merged IDMS:\n%s", line, got)
	}
}
