package registriesverify

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	mcfgv1 "github.com/openshift/api/machineconfiguration/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/cli-runtime/pkg/genericiooptions"

	"github.com/airgap-ocp/oc-plugins/pkg/cluster"
	"github.com/airgap-ocp/oc-plugins/pkg/manifest"
)

// bigCluster is 100 ImageDigestMirrorSets of 5 repositories each, 3 pools, and 1,000 nodes
// whose real files were read (--read-nodes): 990 as expected, 10 of them with a stale file
// and on the previous rendered config.
func bigCluster(b *testing.B) (*Options, *clusterState, map[string]nodeFile) {
	var doc strings.Builder
	for i := range 100 {
		fmt.Fprintf(&doc, "---\napiVersion: config.openshift.io/v1\nkind: ImageDigestMirrorSet\nmetadata: {name: set-%d}\nspec:\n  imageDigestMirrors:\n", i)
		for j := range 5 {
			fmt.Fprintf(&doc, "  - {source: registry%d.example.com/team%d/app%d, mirrors: [mirror.example.com:5000/team%d/app%d, backup.example.com/app%d-%d]}\n", i%7, i, j, i, j, i, j)
		}
	}
	doc.WriteString("---\napiVersion: config.openshift.io/v1\nkind: Image\nmetadata: {name: cluster}\nspec: {registrySources: {insecureRegistries: [backup.example.com], blockedRegistries: [docker.io]}}\n")
	objs, err := manifest.Read(strings.NewReader(doc.String()), "bench")
	if err != nil {
		b.Fatal(err)
	}
	o := NewOptions(genericiooptions.NewTestIOStreamsDiscard())
	o.objs = objs
	exp, err := o.expected(context.Background())
	if err != nil || exp.Problem != "" {
		b.Fatalf("%v %s", err, exp.Problem)
	}
	stale := strings.Replace(string(exp.data), "backup.example.com/app3-1", "backup.example.com/old", 1)

	mcs := map[string]*mcfgv1.MachineConfig{}
	var pools []cluster.Pool
	for _, name := range []string{"master", "worker", "infra"} {
		sel, _ := metav1.LabelSelectorAsSelector(&metav1.LabelSelector{MatchLabels: map[string]string{"node-role.kubernetes.io/" + name: ""}})
		rendered := "rendered-" + name + "-2"
		ign, _ := json.Marshal(map[string]any{"storage": map[string]any{"files": []any{map[string]any{"path": cluster.RegistriesConfPath,
			"contents": map[string]any{"source": "data:;base64," + base64.StdEncoding.EncodeToString(exp.data)}}}}})
		mc := &mcfgv1.MachineConfig{Spec: mcfgv1.MachineConfigSpec{Config: runtime.RawExtension{Raw: ign}}}
		mc.Name = rendered
		mcs[rendered] = mc
		gen := mc.DeepCopy()
		gen.Name = "99-" + name + "-generated-registries"
		mcs[gen.Name] = gen
		pools = append(pools, cluster.Pool{Name: name, Rendered: rendered, Sources: []string{"00-" + name, gen.Name}, Selector: sel, Updated: "True", Degraded: "False"})
	}
	var nodes []cluster.Node
	files := map[string]nodeFile{}
	for i := range 1000 {
		role := "worker"
		switch {
		case i < 3:
			role = "master"
		case i < 50:
			role = "infra"
		}
		n := cluster.Node{Name: fmt.Sprintf("node-%04d", i), Labels: map[string]string{"node-role.kubernetes.io/" + role: "", "node-role.kubernetes.io/worker": ""},
			CurrentConfig: "rendered-" + role + "-2", DesiredConfig: "rendered-" + role + "-2", State: "Done"}
		f := nodeFile{data: exp.data, origin: "machine-config-daemon pod"}
		if i%100 == 99 {
			n.CurrentConfig = "rendered-" + role + "-1"
			f.data = []byte(stale)
		}
		nodes = append(nodes, n)
		files[n.Name] = f
	}
	st := &clusterState{pools: pools, nodes: nodes, getMC: func(_ context.Context, name string) (*mcfgv1.MachineConfig, error) { return mcs[name], nil }}
	return o, st, files
}

// BenchmarkVerify1000Nodes100MirrorSets is one verification of a large cluster: the expected
// file from 100 mirror sets, the 3 pools' rendered configs, and 1,000 nodes' rollout and files.
func BenchmarkVerify1000Nodes100MirrorSets(b *testing.B) {
	o, st, files := bigCluster(b)
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		exp, err := o.expected(ctx)
		if err != nil {
			b.Fatal(err)
		}
		r, err := assess(ctx, exp, st, files)
		if err != nil {
			b.Fatal(err)
		}
		if r.OK || len(r.Nodes) != 1000 || r.summary() != "10 of 1000 nodes not ok" {
			b.Fatalf("report: %s", r.summary())
		}
	}
}
