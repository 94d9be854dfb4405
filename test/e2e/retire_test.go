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

// TestRetireCatalogAClusterCatalogUsesIsRefused: a catalog mirrored with
// the binary, which a cluster's ClusterCatalog names by the digest the
// mirror printed, is not retired: exit 1 naming the ClusterCatalog, and
// the catalog and its bundles still pull whole.
func TestRetireCatalogAClusterCatalogUsesIsRefused(t *testing.T) {
	e, _ := clusterEnv(t)
	m := newMirrorEnv(t, e, testenv.ReleaseSpec{Version: "4.99.1", Components: 1})
	cat, err := m.src.PushOperatorIndex(context.Background(), testenv.OPM(t), t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	to := m.dst.Ref("olm")
	r := e.must(t, fmt.Sprintf("oc-mirror-lite catalog %s --package local-storage-operator --to docker://%s %s", cat, to, m.regFlags()))
	image := ""
	for _, line := range strings.Split(r.stdout, "\n") {
		if ref, ok := strings.CutPrefix(strings.TrimSpace(line), "ref: "); ok {
			image = strings.Trim(ref, `"`)
		}
	}
	if !strings.HasPrefix(image, to+"/redhat/redhat-operator-index@sha256:") {
		t.Fatalf("no ClusterCatalog image by digest below %s in:\n%s", to, r.stdout)
	}
	name := testenv.UniqueName("operators")
	e.write(t, "clustercatalog.yaml", []byte(`apiVersion: olm.operatorframework.io/v1
kind: ClusterCatalog
metadata: {name: `+name+`}
spec:
  source:
    type: Image
    image: {ref: "`+image+`"}
`))
	e.must(t, "kubectl apply -f clustercatalog.yaml >/dev/null")
	t.Cleanup(func() { e.sh(t, "", "kubectl delete -f clustercatalog.yaml --ignore-not-found >/dev/null") })

	e.write(t, "delete.yaml", []byte(`apiVersion: mirror.openshift.io/v2alpha1
kind: DeleteImageSetConfiguration
delete:
  operators:
  - catalog: `+cat+`
`))
	refused := e.sh(t, "", fmt.Sprintf("oc-mirror-lite delete -c delete.yaml --to docker://%s %s --kubeconfig $KUBECONFIG --confirm", to, m.regFlags()))
	if refused.code != 1 || refused.stdout != "" || !strings.Contains(refused.stderr, "as "+image+" in clustercatalog "+name) ||
		!strings.Contains(refused.stderr, "nothing was deleted") {
		t.Errorf("retiring the catalog a ClusterCatalog uses: exit %d, stdout %q, stderr:\n%s", refused.code, refused.stdout, refused.stderr)
	}
	d := digest.Digest(image[strings.LastIndex(image, "@")+1:])
	skopeoPulls(t, m.dst, image, d)
	bundle := e.must(t, fmt.Sprintf("oc-mirror-lite delete -c delete.yaml --to docker://%s %s -o mapping", to, m.regFlags()))
	// The catalog kept the head of lso's default channel: its bundle, the
	// operand it lists, and the catalog image are the plan.
	if n := strings.Count(bundle.stdout, "\n"); n != 3 || !strings.Contains(bundle.stdout, "=docker://"+m.dst.Ref("olm/operators/lso-bundle-417@")) ||
		!strings.Contains(bundle.stdout, "=docker://"+m.dst.Ref("olm/operators/shared-operand@")) {
		t.Errorf("the plan, as a mapping:\n%s", bundle.stdout)
	}
	for _, line := range strings.Split(strings.TrimSpace(bundle.stdout), "\n") {
		_, dst, _ := strings.Cut(line, "=docker://")
		if at := strings.LastIndex(dst, "@"); at > 0 {
			skopeoPulls(t, m.dst, dst, digest.Digest(dst[at+1:]))
		}
	}
}
