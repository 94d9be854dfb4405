package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	digest "github.com/opencontainers/go-digest"

	"github.com/airgap-ocp/oc-plugins/internal/testenv"
)

// TestRetireChain retires a release with the built binary the way the
// README shows it, next to the release the cluster runs, then runs the
// registry's own garbage collector on its storage: what the plan said it
// would free is freed, every image of the kept release still copies whole
// with skopeo, no tagged manifest is left without its content, and the
// release the cluster runs is refused.
func TestRetireChain(t *testing.T) {
	e, c := clusterEnv(t)
	m := newMirrorEnv(t, e, testenv.ReleaseSpec{Version: "4.99.1", Components: 8})
	cur := m.src.PushRelease(t, testenv.ReleaseSpec{Version: "4.99.2", Components: 8, ComponentsFrom: "4.99.1", Changed: []string{"cli", "cli-artifacts"}})
	to := m.dst.Ref("ocp4/openshift4")
	noSigs := "--store file://" + filepath.Join(e.dir, "no-signatures")
	for _, rel := range []*testenv.Release{m.rel, cur} {
		e.must(t, fmt.Sprintf("oc-mirror-lite release %s --to docker://%s %s %s >/dev/null", rel.Tag, to, m.regFlags(), noSigs))
	}
	c.SetClusterVersion(t, testenv.ReleaseRef{Version: "4.99.2", Image: to + "@" + cur.Digest.String()})

	before, err := m.dst.StoredBlobs()
	if err != nil {
		t.Fatal(err)
	}
	r := e.must(t, fmt.Sprintf("oc-mirror-lite delete release 4.99.1 --to docker://%s %s --kubeconfig $KUBECONFIG --confirm -o json", to, m.regFlags()))
	var plan struct {
		Delete []struct {
			Digest digest.Digest `json:"digest"`
		} `json:"delete"`
		ReclaimableBytes int64 `json:"reclaimableBytes"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &plan); err != nil {
		t.Fatalf("stdout is not the JSON plan: %v\n%s", err, r.stdout)
	}
	if len(plan.Delete) != 3 || !strings.Contains(r.stderr, "checked cluster") {
		t.Fatalf("deleted %d manifests, want the release and its 2 own components; stderr:\n%s", len(plan.Delete), r.stderr)
	}

	if err := m.dst.GarbageCollect(context.Background(), false); err != nil {
		t.Fatal(err)
	}
	after, err := m.dst.StoredBlobs()
	if err != nil {
		t.Fatal(err)
	}
	var freed int64
	for d, size := range before {
		if _, ok := after[d]; !ok {
			freed += size
		}
	}
	if freed == 0 || freed != plan.ReclaimableBytes {
		t.Errorf("garbage collection freed %d bytes; the plan said %d", freed, plan.ReclaimableBytes)
	}
	for _, d := range plan.Delete {
		if _, ok := after[d.Digest]; ok {
			t.Errorf("the retired manifest %s is still stored after garbage collection", d.Digest)
		}
	}

	skopeoPulls(t, m.dst, to+"@"+cur.Digest.String(), cur.Digest)
	for name, ps := range cur.Components {
		d := digest.Digest(ps[strings.LastIndex(ps, "@")+1:])
		t.Run(name, func(t *testing.T) { skopeoPulls(t, m.dst, to+"@"+d.String(), d) })
	}
	if missing := danglingManifests(t, m.dst, "ocp4/openshift4"); len(missing) > 0 {
		t.Errorf("after the delete and garbage collection, tagged manifests lack content:\n%s", strings.Join(missing, "\n"))
	}

	refused := e.sh(t, "", fmt.Sprintf("oc-mirror-lite delete release 4.99.2 --to docker://%s %s --kubeconfig $KUBECONFIG --confirm", to, m.regFlags()))
	if refused.code != 1 || refused.stdout != "" || !strings.Contains(refused.stderr, "in clusterversion/version status.desired.image") {
		t.Errorf("deleting the release the cluster runs: exit %d, stdout %q, stderr:\n%s", refused.code, refused.stdout, refused.stderr)
	}
	skopeoPulls(t, m.dst, to+"@"+cur.Digest.String(), cur.Digest)
}
