package registriesverify

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/vincent-petithory/dataurl"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/cli-runtime/pkg/genericiooptions"
	"k8s.io/client-go/dynamic"
	"sigs.k8s.io/yaml"

	"github.com/airgap-ocp/oc-plugins/internal/testenv"
	"github.com/airgap-ocp/oc-plugins/pkg/cluster"
	"github.com/airgap-ocp/oc-plugins/pkg/manifest"
	"github.com/airgap-ocp/oc-plugins/pkg/mirrorset"
)

func TestMain(m *testing.M) { testenv.Main(m) }

// The tests read every pool, node and mirror object of the shared cluster, so they run one
// after another and each starts from, and leaves, a cluster without any (clean).

type result struct{ testenv.Result }

// run runs the command as a user would, with stdin and arguments.
func run(t *testing.T, stdin string, args ...string) result {
	t.Helper()
	return result{testenv.Run(NewCmd, stdin, args...)}
}

func (r result) want(t *testing.T, code int, stderr ...string) {
	t.Helper()
	if r.Code != code {
		t.Errorf("exit %d, want %d\nstdout:\n%s\nstderr:\n%s", r.Code, code, r.Stdout, r.Stderr)
	}
	for _, s := range stderr {
		if !strings.Contains(r.Stderr, s) {
			t.Errorf("stderr lacks %q:\n%s", s, r.Stderr)
		}
	}
}

// row returns the table row of kind and name: its status and details.
func (r result) row(kind, name string) string {
	for _, line := range strings.Split(r.Stdout, "\n") {
		f := strings.Fields(line)
		if len(f) >= 3 && f[0] == kind && f[1] == name {
			return strings.Join(f[2:], " ")
		}
	}
	return "(no row)"
}

var (
	poolGVR = schema.GroupVersionResource{Group: "machineconfiguration.openshift.io", Version: "v1", Resource: "machineconfigpools"}
	cvGVR   = schema.GroupVersionResource{Group: "config.openshift.io", Version: "v1", Resource: "clusterversions"}
	podGVR  = schema.GroupVersionResource{Version: "v1", Resource: "pods"}
)

type env struct {
	t   *testing.T
	c   *testenv.Cluster
	dyn dynamic.Interface
	kc  string
}

// newEnv returns the shared cluster of these options, cleaned: everything the tests create is
// deleted now and when the test ends.
func newEnv(t *testing.T, opts ...testenv.ClusterOption) *env {
	t.Helper()
	c := testenv.SharedCluster(t, opts...)
	d, err := dynamic.NewForConfig(c.Config)
	if err != nil {
		t.Fatal(err)
	}
	e := &env{t: t, c: c, dyn: d, kc: c.Kubeconfig}
	clean := func() {
		ctx := context.Background()
		for _, gvr := range []schema.GroupVersionResource{cluster.ICSPResource, cluster.IDMSResource, cluster.ITMSResource,
			cluster.ImageResource, cvGVR, poolGVR, cluster.MachineConfigResource, cluster.NodeResource} {
			err := d.Resource(gvr).DeleteCollection(ctx, metav1.DeleteOptions{}, metav1.ListOptions{})
			if err != nil && !apierrors.IsNotFound(err) { // NotFound: a kind this cluster does not serve
				t.Fatalf("cleaning %s: %v", gvr.Resource, err)
			}
		}
		_ = d.Resource(podGVR).Namespace(cluster.DaemonNamespace).DeleteCollection(ctx, metav1.DeleteOptions{GracePeriodSeconds: new(int64)}, metav1.ListOptions{})
	}
	clean()
	t.Cleanup(clean)
	return e
}

func (e *env) create(gvr schema.GroupVersionResource, doc string) *unstructured.Unstructured {
	e.t.Helper()
	u := &unstructured.Unstructured{}
	if err := yaml.Unmarshal([]byte(doc), &u.Object); err != nil {
		e.t.Fatalf("test object: %v\n%s", err, doc)
	}
	status, hasStatus := u.Object["status"]
	ns := u.GetNamespace()
	out, err := e.dyn.Resource(gvr).Namespace(ns).Create(context.Background(), u, metav1.CreateOptions{})
	if err != nil {
		e.t.Fatalf("creating %s %s: %v", gvr.Resource, u.GetName(), err)
	}
	if hasStatus {
		out.Object["status"] = status
		if out, err = e.dyn.Resource(gvr).Namespace(ns).UpdateStatus(context.Background(), out, metav1.UpdateOptions{}); err != nil {
			e.t.Fatalf("setting the status of %s %s: %v", gvr.Resource, u.GetName(), err)
		}
	}
	return out
}

// apply creates the objects of a YAML stream: mirror objects, the Image config, a ClusterVersion.
func (e *env) apply(stream string) {
	e.t.Helper()
	objs, err := manifest.Read(strings.NewReader(stream), "test")
	if err != nil {
		e.t.Fatal(err)
	}
	for _, o := range objs {
		gvr := map[string]schema.GroupVersionResource{
			"ImageContentSourcePolicy": cluster.ICSPResource, "ImageDigestMirrorSet": cluster.IDMSResource,
			"ImageTagMirrorSet": cluster.ITMSResource, "Image": cluster.ImageResource, "ClusterVersion": cvGVR,
		}[o.GetKind()]
		data, _ := yaml.Marshal(o.Object)
		e.create(gvr, string(data))
	}
}

// render is the expected registries.conf, as `render` prints it.
func (e *env) render() []byte {
	e.t.Helper()
	r := run(e.t, "", "render", "--kubeconfig", e.kc)
	if r.Code != 0 {
		e.t.Fatalf("render: exit %d: %s", r.Code, r.Stderr)
	}
	return []byte(r.Stdout)
}

// Encodings of a file in an Ignition config.
func base64URL(data []byte) (string, string) {
	return "data:text/plain;charset=utf-8;base64," + base64.StdEncoding.EncodeToString(data), ""
}

func percentURL(data []byte) (string, string) {
	du := dataurl.New(data, "text/plain")
	du.Encoding = dataurl.EncodingASCII
	return du.String(), ""
}

func gzipURL(data []byte) (string, string) {
	var b bytes.Buffer
	zw := gzip.NewWriter(&b)
	zw.Write(data)
	zw.Close()
	return "data:;base64," + base64.StdEncoding.EncodeToString(b.Bytes()), "gzip"
}

// machineConfig creates a MachineConfig whose Ignition config holds registries.conf (unless
// conf is nil) and another file.
func (e *env) machineConfig(name, role string, conf []byte, encode func([]byte) (string, string)) {
	e.t.Helper()
	files := []any{map[string]any{"path": "/etc/motd", "contents": map[string]any{"source": "data:,hello"}}}
	if conf != nil {
		source, compression := encode(conf)
		contents := map[string]any{"source": source}
		if compression != "" {
			contents["compression"] = compression
		}
		files = append(files, map[string]any{"path": cluster.RegistriesConfPath, "mode": 420, "overwrite": true, "contents": contents})
	}
	ign, _ := json.Marshal(map[string]any{"ignition": map[string]any{"version": "3.5.0"}, "storage": map[string]any{"files": files}})
	e.create(cluster.MachineConfigResource, fmt.Sprintf(`apiVersion: machineconfiguration.openshift.io/v1
kind: MachineConfig
metadata:
  name: %s
  labels: {machineconfiguration.openshift.io/role: %s}
spec:
  config: %s
`, name, role, ign))
}

type pool struct {
	name     string
	conf     []byte // registries.conf in the rendered config (the MCO template when nil)
	encode   func([]byte) (string, string)
	rendered string // the rendered config's name; rendered-<pool>-1 when ""
	override []byte // a user MachineConfig 99-<pool>-zz-registries supplying this instead
	degraded bool
	updating bool
	paused   bool
	nodes    []node
}

type node struct {
	name    string
	current string // the node's currentConfig and desiredConfig; the pool's rendered when ""
	state   string // Done when ""
}

// mco leaves pools, their MachineConfigs and nodes as the Machine Config Operator would.
func (e *env) mco(pools ...pool) {
	e.t.Helper()
	for _, p := range pools {
		if p.rendered == "" {
			p.rendered = "rendered-" + p.name + "-1"
		}
		if p.encode == nil {
			p.encode = base64URL
		}
		// With nothing to apply the MCO's generated MachineConfig has no registries.conf and
		// the template's stays.
		e.machineConfig("00-"+p.name, p.name, nil, nil)
		e.machineConfig("01-"+p.name+"-container-runtime", p.name, mirrorset.BaseRegistriesConf(), p.encode)
		e.machineConfig("99-"+p.name+"-generated-registries", p.name, p.conf, p.encode)
		sources := []string{"00-" + p.name, "01-" + p.name + "-container-runtime", "99-" + p.name + "-generated-registries"}
		final := p.conf
		if final == nil {
			final = mirrorset.BaseRegistriesConf()
		}
		if p.override != nil {
			e.machineConfig("99-"+p.name+"-zz-registries", p.name, p.override, p.encode)
			sources = append(sources, "99-"+p.name+"-zz-registries")
			final = p.override
		}
		e.machineConfig(p.rendered, p.name, final, p.encode)
		var src []string
		for _, s := range sources {
			src = append(src, fmt.Sprintf("{apiVersion: machineconfiguration.openshift.io/v1, kind: MachineConfig, name: %s}", s))
		}
		cond := func(typ string, status bool, msg string) string {
			return fmt.Sprintf("{type: %s, status: %q, lastTransitionTime: '2026-01-01T00:00:00Z', reason: '', message: %q}", typ, map[bool]string{true: "True", false: "False"}[status], msg)
		}
		e.create(poolGVR, fmt.Sprintf(`apiVersion: machineconfiguration.openshift.io/v1
kind: MachineConfigPool
metadata: {name: %[1]s}
spec:
  machineConfigSelector: {matchLabels: {machineconfiguration.openshift.io/role: %[1]s}}
  nodeSelector: {matchLabels: {node-role.kubernetes.io/%[1]s: ""}}
  paused: %[2]t
  configuration:
    name: %[3]s
    source: [%[4]s]
status:
  machineCount: %[5]d
  readyMachineCount: %[5]d
  updatedMachineCount: %[5]d
  unavailableMachineCount: 0
  degradedMachineCount: 0
  configuration: {name: %[3]s}
  conditions: [%[6]s, %[7]s]
`, p.name, p.paused, p.rendered, strings.Join(src, ", "), len(p.nodes),
			cond("Updated", !p.updating, map[bool]string{true: "1 node is updating"}[p.updating]),
			cond("Degraded", p.degraded, map[bool]string{true: "Node w1 is reporting: failed to drain"}[p.degraded])))
		for _, n := range p.nodes {
			e.node(n.name, p.name, orDefault(n.current, p.rendered), orDefault(n.state, "Done"))
		}
	}
}

func orDefault(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

func (e *env) node(name, role, config, state string) {
	e.t.Helper()
	e.create(cluster.NodeResource, fmt.Sprintf(`apiVersion: v1
kind: Node
metadata:
  name: %s
  labels: {node-role.kubernetes.io/%s: "", kubernetes.io/hostname: %[1]s}
  annotations:
    machineconfiguration.openshift.io/currentConfig: %[3]s
    machineconfiguration.openshift.io/desiredConfig: %[3]s
    machineconfiguration.openshift.io/state: %[4]s
`, name, role, config, state))
}

const mirrorObjects = `apiVersion: config.openshift.io/v1
kind: ImageDigestMirrorSet
metadata: {name: release}
spec:
  imageDigestMirrors:
  - source: quay.io/openshift-release-dev/ocp-release
    mirrors: [mirror.example.com:5000/ocp/release]
    mirrorSourcePolicy: NeverContactSource
  - source: quay.io/openshift-release-dev/ocp-v4.0-art-dev
    mirrors: [mirror.example.com:5000/ocp/release]
    mirrorSourcePolicy: NeverContactSource
---
apiVersion: config.openshift.io/v1
kind: ImageTagMirrorSet
metadata: {name: ubi-tags}
spec:
  imageTagMirrors:
  - source: registry.redhat.io/ubi9
    mirrors: [mirror.example.com:5000/ubi9]
---
apiVersion: operator.openshift.io/v1alpha1
kind: ImageContentSourcePolicy
metadata: {name: operators}
spec:
  repositoryDigestMirrors:
  - source: registry.redhat.io/redhat
    mirrors: [mirror.example.com:5000/redhat]
---
apiVersion: config.openshift.io/v1
kind: Image
metadata: {name: cluster}
spec:
  registrySources:
    insecureRegistries: [insecure.example.com:5000]
    blockedRegistries: [docker.io]
`

func TestEverythingMatches(t *testing.T) {
	e := newEnv(t)
	e.apply(mirrorObjects)
	conf := e.render()
	e.mco(
		pool{name: "master", conf: conf, nodes: []node{{name: "m0"}}},
		pool{name: "worker", conf: conf, encode: percentURL, nodes: []node{{name: "w0"}, {name: "w1"}}},
	)
	r := run(t, "", "--kubeconfig", e.kc)
	r.want(t, 0)
	for _, kn := range [][2]string{{"pool", "master"}, {"pool", "worker"}, {"node", "m0"}, {"node", "w0"}, {"node", "w1"}} {
		if got := r.row(kn[0], kn[1]); !strings.HasPrefix(got, "ok") {
			t.Errorf("%s %s: %q", kn[0], kn[1], got)
		}
	}
	if got := r.row("expected", "registries.conf"); got != "ok from cluster: 1 IDMS, 1 ITMS, 1 ICSP, image config" {
		t.Errorf("expected row %q", got)
	}
	if r.Stderr != "" {
		t.Errorf("stderr: %s", r.Stderr)
	}
	// The same with the node files, as --node-file, read from a file and from stdin.
	path := filepath.Join(t.TempDir(), "registries.conf")
	os.WriteFile(path, conf, 0o644)
	run(t, string(conf), "--kubeconfig", e.kc, "--node-file", "w0=-", "--node-file", "w1="+path).want(t, 0)
}

func TestThePoolsRenderedConfigLacksANewMirror(t *testing.T) {
	e := newEnv(t)
	e.apply(mirrorObjects)
	e.mco(pool{name: "worker", conf: e.render(), nodes: []node{{name: "w0"}}})
	// A new IDMS is applied; the MCO has not rendered it yet.
	e.apply(`apiVersion: config.openshift.io/v1
kind: ImageDigestMirrorSet
metadata: {name: operators-2}
spec:
  imageDigestMirrors:
  - source: registry.redhat.io/rhel9
    mirrors: [mirror.example.com:5000/rhel9]
`)
	r := run(t, "", "--kubeconfig", e.kc)
	r.want(t, 1, "pool worker: [[registry]] registry.redhat.io/rhel9 missing (expected location registry.redhat.io/rhel9, mirrors [mirror.example.com:5000/rhel9 (digest-only)])",
		"error: registries.conf drift: 1 of 1 pools not ok")
	if got := r.row("pool", "worker"); got != "drift rendered-worker-1 (registries.conf from 99-worker-generated-registries), 1 difference" {
		t.Errorf("pool row %q", got)
	}
	// The node runs the pool's rendered config: the rollout itself is fine.
	if got := r.row("node", "w0"); !strings.HasPrefix(got, "ok") {
		t.Errorf("node row %q", got)
	}
}

func TestANodeStillOnThePreviousRenderedConfig(t *testing.T) {
	e := newEnv(t)
	e.apply(mirrorObjects)
	e.mco(pool{name: "worker", conf: e.render(), rendered: "rendered-worker-2", updating: true,
		nodes: []node{{name: "w0"}, {name: "w1", current: "rendered-worker-1", state: "Working"}}})
	r := run(t, "", "--kubeconfig", e.kc)
	r.want(t, 1,
		"node w1: runs rendered-worker-1, its pool's rendered config is rendered-worker-2",
		"node w1: machine-config-daemon state Working",
		"pool worker: not updated (condition Updated is False): 1 node is updating",
		"error: registries.conf drift: 1 of 1 pools not ok, 1 of 2 nodes not ok")
	if got := r.row("node", "w0"); !strings.HasPrefix(got, "ok") {
		t.Errorf("w0 %q", got)
	}
}

func TestADegradedOrPausedPool(t *testing.T) {
	e := newEnv(t)
	e.apply(mirrorObjects)
	conf := e.render()
	e.mco(pool{name: "worker", conf: conf, degraded: true, nodes: []node{{name: "w0"}}},
		pool{name: "infra", conf: conf, paused: true})
	run(t, "", "--kubeconfig", e.kc).want(t, 1,
		"pool worker: degraded: Node w1 is reporting: failed to drain",
		"pool infra: paused (spec.paused): new rendered configs do not roll out to its nodes")
}

func TestDriftTheMCORulesExplain(t *testing.T) {
	tests := []struct {
		name     string
		rendered string // the objects the rendered config was made from
		want     string
	}{
		{"an insecure registry the rendered config lacks", strings.ReplaceAll(mirrorObjects, "insecureRegistries: [insecure.example.com:5000]", "insecureRegistries: []"),
			"pool worker: [[registry]] insecure.example.com:5000 missing (expected location insecure.example.com:5000, insecure)"},
		{"NeverContactSource blocks the source", strings.ReplaceAll(mirrorObjects, "NeverContactSource", "AllowContactingSource"),
			"pool worker: [[registry]] quay.io/openshift-release-dev/ocp-release: blocked: expected true, found false"},
		{"ITMS mirrors are tag-only", strings.ReplaceAll(mirrorObjects, "kind: ImageTagMirrorSet", "kind: ImageDigestMirrorSet\n# was a tag mirror set"),
			"pool worker: [[registry]] registry.redhat.io/ubi9: mirrors: expected [mirror.example.com:5000/ubi9 (tag-only)], found [mirror.example.com:5000/ubi9 (digest-only)]"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t)
			stale := strings.ReplaceAll(tt.rendered, "imageTagMirrors", "imageDigestMirrors")
			if !strings.Contains(tt.rendered, "# was a tag mirror set") {
				stale = tt.rendered
			}
			r := run(t, stale, "render")
			if r.Code != 0 {
				t.Fatalf("rendering the stale config: %s", r.Stderr)
			}
			e.apply(mirrorObjects)
			e.mco(pool{name: "worker", conf: []byte(r.Stdout), nodes: []node{{name: "w0"}}})
			run(t, "", "--kubeconfig", e.kc).want(t, 1, tt.want)
		})
	}
}

func TestEncodingsOfTheIgnitionFile(t *testing.T) {
	for name, enc := range map[string]func([]byte) (string, string){"base64": base64URL, "percent-encoded": percentURL, "gzip": gzipURL} {
		t.Run(name, func(t *testing.T) {
			e := newEnv(t)
			e.apply(mirrorObjects)
			e.mco(pool{name: "worker", conf: e.render(), encode: enc, nodes: []node{{name: "w0"}}})
			run(t, "", "--kubeconfig", e.kc).want(t, 0)
		})
	}
}

func TestAUserMachineConfigOverridesTheGeneratedOne(t *testing.T) {
	e := newEnv(t)
	e.apply(mirrorObjects)
	conf := e.render()
	e.mco(pool{name: "worker", conf: conf, override: conf, nodes: []node{{name: "w0"}}})
	r := run(t, "", "--kubeconfig", e.kc, "-o", "json")
	r.want(t, 1)
	var rep Report
	if err := json.Unmarshal([]byte(r.Stdout), &rep); err != nil {
		t.Fatalf("-o json: %v\n%s", err, r.Stdout)
	}
	if rep.OK || len(rep.Pools) != 1 || rep.Pools[0].SuppliedBy != "99-worker-zz-registries" || len(rep.Pools[0].Differences) != 0 ||
		strings.Join(rep.Pools[0].Problems, "") != "registries.conf comes from MachineConfig 99-worker-zz-registries, which overrides the one the MCO generates" {
		t.Errorf("report %+v", rep)
	}
	// The table: one line per pool and node on stdout, the details on stderr.
	run(t, "", "--kubeconfig", e.kc).want(t, 1, "pool worker: registries.conf comes from MachineConfig 99-worker-zz-registries, which overrides the one the MCO generates")
}

func TestNothingToApplyKeepsTheTemplate(t *testing.T) {
	e := newEnv(t)
	e.apply("apiVersion: config.openshift.io/v1\nkind: Image\nmetadata: {name: cluster}\nspec: {}\n")
	if got := e.render(); string(got) != string(mirrorset.BaseRegistriesConf()) {
		t.Errorf("render without objects:\n%s", got)
	}
	e.mco(pool{name: "worker", nodes: []node{{name: "w0"}}})
	r := run(t, "", "--kubeconfig", e.kc, "-o", "yaml")
	r.want(t, 0)
	if !strings.Contains(r.Stdout, "template: true") || !strings.Contains(r.Stdout, "suppliedBy: 01-worker-container-runtime") {
		t.Errorf("report:\n%s", r.Stdout)
	}
}

func TestNoImageConfigMeansNoExpectation(t *testing.T) {
	e := newEnv(t)
	e.apply(strings.Split(mirrorObjects, "---\napiVersion: config.openshift.io/v1\nkind: Image\n")[0])
	e.mco(pool{name: "worker", nodes: []node{{name: "w0"}}})
	r := run(t, "", "--kubeconfig", e.kc)
	r.want(t, 1, "the cluster has no images.config.openshift.io/cluster: the Machine Config Operator renders no registries.conf")
	if got := r.row("expected", "registries.conf"); !strings.HasPrefix(got, "none ") {
		t.Errorf("expected row %q", got)
	}
	if got := r.row("pool", "worker"); !strings.HasPrefix(got, "ok ") {
		t.Errorf("the pool itself is fine: %q", got)
	}
	r = run(t, "", "render", "--kubeconfig", e.kc)
	r.want(t, 1, "renders no registries.conf")
	if r.Stdout != "" {
		t.Errorf("render printed %q", r.Stdout)
	}
}

func TestConflictingPoliciesAreWhyPoolsNeverChange(t *testing.T) {
	e := newEnv(t)
	e.apply(mirrorObjects + `---
apiVersion: config.openshift.io/v1
kind: ImageDigestMirrorSet
metadata: {name: release-again}
spec:
  imageDigestMirrors:
  - source: quay.io/openshift-release-dev/ocp-release
    mirrors: [backup.example.com/ocp/release]
`)
	e.mco(pool{name: "worker", nodes: []node{{name: "w0"}}})
	run(t, "", "--kubeconfig", e.kc).want(t, 1, "the Machine Config Operator refuses these mirror objects and only logs it, so pools never get a new registries.conf",
		`quay.io/openshift-release-dev/ocp-release`)
}

// icspObjects is what a cluster older than 4.13 holds: ICSPs and the image config.
const icspObjects = `apiVersion: operator.openshift.io/v1alpha1
kind: ImageContentSourcePolicy
metadata: {name: release}
spec:
  repositoryDigestMirrors:
  - source: quay.io/openshift-release-dev/ocp-release
    mirrors: [mirror.example.com:5000/ocp/release]
---
apiVersion: config.openshift.io/v1
kind: Image
metadata: {name: cluster}
spec: {}
`

func TestAClusterOlderThan413HasNoMirrorSets(t *testing.T) {
	e := newEnv(t, testenv.Before413())
	e.apply(icspObjects)
	r := run(t, "", "render", "--kubeconfig", e.kc)
	r.want(t, 0)
	conf := r.Stdout
	if !strings.Contains(conf, `location = "mirror.example.com:5000/ocp/release"`) || !strings.Contains(conf, `location = "quay.io/openshift-release-dev/ocp-release"`) {
		t.Fatalf("render on a pre-4.13 cluster lacks the ICSP's mirror:\n%s", conf)
	}
	e.mco(pool{name: "worker", conf: []byte(conf), nodes: []node{{name: "w0"}}})
	r = run(t, "", "--kubeconfig", e.kc)
	r.want(t, 0)
	if got := r.row("expected", "registries.conf"); got != "ok from cluster: 0 IDMS, 0 ITMS, 1 ICSP, image config" {
		t.Errorf("expected row %q", got)
	}
	if got := r.row("node", "w0"); !strings.HasPrefix(got, "ok") {
		t.Errorf("node w0: %q", got)
	}
	const digest = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
	r = run(t, "", "resolve", "--kubeconfig", e.kc, "quay.io/openshift-release-dev/ocp-release@"+digest)
	r.want(t, 0)
	if !strings.Contains(r.Stdout, "mirror.example.com:5000/ocp/release@"+digest) {
		t.Errorf("resolve:\n%s", r.Stdout)
	}
	// What-if: an IDMS from a file, on top of the cluster's ICSP.
	idms := filepath.Join(t.TempDir(), "idms.yaml")
	os.WriteFile(idms, []byte(`apiVersion: config.openshift.io/v1
kind: ImageDigestMirrorSet
metadata: {name: art-dev}
spec:
  imageDigestMirrors:
  - source: quay.io/openshift-release-dev/ocp-v4.0-art-dev
    mirrors: [mirror.example.com:5000/ocp/release]
`), 0o644)
	r = run(t, "", "render", "--kubeconfig", e.kc, "--from-cluster", "-f", idms)
	r.want(t, 0)
	if !strings.Contains(r.Stdout, "quay.io/openshift-release-dev/ocp-v4.0-art-dev") {
		t.Errorf("render with the file's IDMS:\n%s", r.Stdout)
	}
}

func TestTheReleasePayloadIsNotBlockedWithoutAMirror(t *testing.T) {
	e := newEnv(t)
	e.apply(`apiVersion: config.openshift.io/v1
kind: Image
metadata: {name: cluster}
spec: {registrySources: {blockedRegistries: [quay.io, docker.io]}}
---
apiVersion: config.openshift.io/v1
kind: ClusterVersion
metadata: {name: version}
spec: {clusterID: 0b5b5c8e-8a4d-4a4a-9f8e-1b6f2f7e7f00}
`)
	// The release image is in the status, which the API server stores only through the status.
	cv, err := e.dyn.Resource(cvGVR).Get(context.Background(), "version", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	unstructured.SetNestedField(cv.Object, "quay.io/openshift-release-dev/ocp-release@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef", "status", "desired", "image")
	unstructured.SetNestedField(cv.Object, "4.16.3", "status", "desired", "version")
	unstructured.SetNestedField(cv.Object, int64(1), "status", "observedGeneration")
	unstructured.SetNestedField(cv.Object, []any{}, "status", "history")
	unstructured.SetNestedField(cv.Object, []any{}, "status", "availableUpdates")
	unstructured.SetNestedField(cv.Object, "x", "status", "versionHash")
	if _, err := e.dyn.Resource(cvGVR).UpdateStatus(context.Background(), cv, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	r := run(t, "", "render", "--kubeconfig", e.kc)
	r.want(t, 0, `warning: blockedRegistries "quay.io" holds the release payload`)
	if strings.Contains(r.Stdout, `location = "quay.io"`) || !strings.Contains(r.Stdout, `location = "docker.io"`) {
		t.Errorf("render:\n%s", r.Stdout)
	}
}

func TestWaitUntilThePoolHasRolledOut(t *testing.T) {
	e := newEnv(t)
	e.apply(mirrorObjects)
	e.mco(pool{name: "worker", conf: e.render(), rendered: "rendered-worker-2", nodes: []node{{name: "w0", current: "rendered-worker-1", state: "Working"}}})
	go func() {
		time.Sleep(1500 * time.Millisecond)
		n, err := e.dyn.Resource(cluster.NodeResource).Get(context.Background(), "w0", metav1.GetOptions{})
		if err != nil {
			return
		}
		a := n.GetAnnotations()
		a[cluster.CurrentConfigAnnotation], a[cluster.DesiredConfigAnnotation], a[cluster.StateAnnotation] = "rendered-worker-2", "rendered-worker-2", "Done"
		n.SetAnnotations(a)
		e.dyn.Resource(cluster.NodeResource).Update(context.Background(), n, metav1.UpdateOptions{})
	}()
	var out, errOut bytes.Buffer
	o := NewOptions(genericiooptions.IOStreams{In: strings.NewReader(""), Out: &out, ErrOut: &errOut})
	*o.ConfigFlags.KubeConfig = e.kc
	o.Wait, o.Timeout, o.Interval = true, time.Minute, 200*time.Millisecond
	if err := o.Complete(nil); err != nil {
		t.Fatal(err)
	}
	if err := o.Validate(); err != nil {
		t.Fatal(err)
	}
	if err := o.Run(context.Background()); err != nil {
		t.Fatalf("%v\n%s", err, errOut.String())
	}
	if !strings.Contains(errOut.String(), "waiting: 1 of 1 nodes not ok") {
		t.Errorf("no progress on stderr:\n%s", errOut.String())
	}

	// And when it never does: exit 1 at the timeout, with what is still wrong.
	e.apply(`apiVersion: config.openshift.io/v1
kind: ImageDigestMirrorSet
metadata: {name: never-rendered}
spec:
  imageDigestMirrors:
  - {source: registry.redhat.io/rhel9, mirrors: [mirror.example.com:5000/rhel9]}
`)
	run(t, "", "--kubeconfig", e.kc, "--wait", "--timeout", "1s").want(t, 1,
		"error: registries.conf drift after waiting 1s: 1 of 1 pools not ok", "[[registry]] registry.redhat.io/rhel9 missing")
}

func TestFilesWithoutACluster(t *testing.T) {
	dir := t.TempDir()
	idms := filepath.Join(dir, "idms.yaml")
	os.WriteFile(idms, []byte(mirrorObjects), 0o644)
	noCluster := filepath.Join(dir, "no-such-kubeconfig")
	r := run(t, "", "render", "-f", idms, "--kubeconfig", noCluster)
	r.want(t, 0)
	good := filepath.Join(dir, "good.conf")
	os.WriteFile(good, []byte(r.Stdout), 0o644)
	base := filepath.Join(dir, "base.conf")
	os.WriteFile(base, mirrorset.BaseRegistriesConf(), 0o644)

	run(t, "", "-f", idms, "--node-file", "w0="+good, "--kubeconfig", noCluster).want(t, 0)
	r = run(t, "", "-f", idms, "--node-file", "w0="+good, "--node-file", "w1="+base, "--kubeconfig", noCluster)
	r.want(t, 1, "node w1 (file from "+base+"): [[registry]] quay.io/openshift-release-dev/ocp-release missing")
	if got := r.row("node", "w1"); got != "drift registries.conf differs, 6 differences" {
		t.Errorf("w1 row %q", got)
	}
	// The objects on stdin, as from `oc mirror lite ... |`.
	run(t, mirrorObjects, "--node-file", "w0="+good, "--kubeconfig", noCluster).want(t, 0)
}

func TestWhatTheMCORefusesIsWhyPoolsNeverChange(t *testing.T) {
	dir := t.TempDir()
	noCluster := filepath.Join(dir, "no-such-kubeconfig")
	base := filepath.Join(dir, "base.conf")
	os.WriteFile(base, mirrorset.BaseRegistriesConf(), 0o644)
	idms := strings.Split(mirrorObjects, "---\n")[0]
	for _, tc := range []struct{ name, objects, why string }{
		{"allowed and blocked registries together", idms + `---
apiVersion: config.openshift.io/v1
kind: Image
metadata: {name: cluster}
spec:
  registrySources:
    allowedRegistries: [mirror.example.com:5000]
    blockedRegistries: [docker.io]
`, "sets both allowedRegistries and blockedRegistries"},
		{"an allowed registry that is not a scope", idms + `---
apiVersion: config.openshift.io/v1
kind: Image
metadata: {name: cluster}
spec:
  registrySources:
    allowedRegistries: ["mirror.*.example.com"]
`, `allowedRegistries "mirror.*.example.com" is not a valid registry scope`},
		{"an ICSP source the API accepts", `apiVersion: operator.openshift.io/v1alpha1
kind: ImageContentSourcePolicy
metadata: {name: upper}
spec:
  repositoryDigestMirrors:
  - source: quay.io/OpenShift/release
    mirrors: [mirror.example.com:5000/ocp/release]
---
apiVersion: config.openshift.io/v1
kind: Image
metadata: {name: cluster}
spec: {}
`, "spec.repositoryDigestMirrors[0].source"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := filepath.Join(dir, strings.ReplaceAll(tc.name, " ", "-")+".yaml")
			os.WriteFile(f, []byte(tc.objects), 0o644)
			r := run(t, "", "render", "-f", f, "--kubeconfig", noCluster)
			r.want(t, 1, "the Machine Config Operator refuses", tc.why)
			if r.Stdout != "" {
				t.Errorf("render printed a registries.conf the MCO never writes:\n%s", r.Stdout)
			}
			r = run(t, "", "-f", f, "--node-file", "w0="+base, "--kubeconfig", noCluster)
			r.want(t, 1, "the Machine Config Operator refuses", tc.why)
		})
	}
	// allowedRegistries alone goes to policy.json only: registries.conf is as without it.
	f := filepath.Join(dir, "allowed.yaml")
	os.WriteFile(f, []byte(mirrorObjects+"---\napiVersion: config.openshift.io/v1\nkind: Image\nmetadata: {name: cluster}\nspec: {registrySources: {allowedRegistries: [mirror.example.com:5000, quay.io]}}\n"), 0o644)
	without := filepath.Join(dir, "without.yaml")
	os.WriteFile(without, []byte(mirrorObjects+"---\napiVersion: config.openshift.io/v1\nkind: Image\nmetadata: {name: cluster}\nspec: {}\n"), 0o644)
	r := run(t, "", "render", "-f", f, "--kubeconfig", noCluster)
	r.want(t, 0)
	if w := run(t, "", "render", "-f", without, "--kubeconfig", noCluster); w.Stdout != r.Stdout {
		t.Errorf("allowedRegistries changed registries.conf:\n%s\nwithout:\n%s", r.Stdout, w.Stdout)
	}
}

func TestAnICSPTheAPIAcceptsButTheMCORefuses(t *testing.T) {
	e := newEnv(t)
	e.apply(`apiVersion: operator.openshift.io/v1alpha1
kind: ImageContentSourcePolicy
metadata: {name: upper}
spec:
  repositoryDigestMirrors:
  - source: quay.io/OpenShift/release
    mirrors: [mirror.example.com:5000/ocp/release]
---
apiVersion: config.openshift.io/v1
kind: Image
metadata: {name: cluster}
spec: {}
`)
	e.mco(pool{name: "worker", nodes: []node{{name: "w0"}}})
	run(t, "", "render", "--kubeconfig", e.kc).want(t, 1, "the Machine Config Operator refuses this mirror object", "imagecontentsourcepolicies/upper")
	run(t, "", "--kubeconfig", e.kc).want(t, 1, "the Machine Config Operator refuses this mirror object")
}

func TestNodeFilesAreCheckedWithThePoolsOfTheCluster(t *testing.T) {
	e := newEnv(t)
	e.apply(mirrorObjects)
	conf := e.render()
	// The node's file is right, but its pool's rendered config lacks the mirror objects: the
	// next node the pool creates or updates gets the template.
	e.mco(pool{name: "worker", nodes: []node{{name: "w0"}}})
	dir := t.TempDir()
	good := filepath.Join(dir, "good.conf")
	os.WriteFile(good, conf, 0o644)
	idms := filepath.Join(dir, "idms.yaml")
	os.WriteFile(idms, []byte(mirrorObjects), 0o644)
	for _, args := range [][]string{
		{"--node-file", "w0=" + good},
		{"-f", idms, "--node-file", "w0=" + good},
	} {
		r := run(t, "", append(args, "--kubeconfig", e.kc)...)
		r.want(t, 1, "pool worker: [[registry]] quay.io/openshift-release-dev/ocp-release missing")
		if got := r.row("pool", "worker"); !strings.HasPrefix(got, "drift ") {
			t.Errorf("%v: pool row %q", args, got)
		}
		if got := r.row("node", "w0"); got != "ok on the pool's rendered config rendered-worker-1, has the expected registries.conf" {
			t.Errorf("%v: node row %q", args, got)
		}
	}
	// Told not to read the cluster, only the file is checked: "ok" then says only that.
	r := run(t, "", "-f", idms, "--node-file", "w0="+good, "--from-cluster=false", "--kubeconfig", e.kc)
	r.want(t, 0)
	if got := r.row("node", "w0"); got != "ok has the expected registries.conf" || r.row("pool", "worker") != "(no row)" {
		t.Errorf("--from-cluster=false: node row %q, pool row %q", got, r.row("pool", "worker"))
	}
	// Without any kubeconfig there is no cluster to ask, and none is asked.
	t.Setenv("KUBECONFIG", filepath.Join(dir, "none"))
	t.Setenv("HOME", dir)
	run(t, "", "-f", idms, "--node-file", "w0="+good).want(t, 0)
}

func TestBadInput(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.yaml")
	os.WriteFile(bad, []byte("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}\n---\n"+strings.Replace(mirrorObjects, "mirror.example.com:5000/ocp/release]", "mirror.example.com:5000/ocp/release:v1]", 1)), 0o644)
	notTOML := filepath.Join(dir, "node.conf")
	os.WriteFile(notTOML, []byte("[[registry]\nlocation = \"x\"\n"), 0o644)
	good := filepath.Join(dir, "good.yaml")
	os.WriteFile(good, []byte(mirrorObjects), 0o644)
	tests := []struct {
		args []string
		want string
	}{
		{[]string{"-f", bad, "--node-file", "w0=" + notTOML}, bad + ": document 2: spec.imageDigestMirrors[0].mirrors[0]"},
		{[]string{"-f", good, "--node-file", "w0=" + notTOML}, "--node-file w0=" + notTOML + ": parsing node w0's registries.conf"},
		{[]string{"-f", good, "--node-file", "w0"}, `--node-file "w0": must be NODE=PATH`},
		{[]string{"-f", good, "--node-file", "w0=" + filepath.Join(dir, "missing")}, "--node-file w0=" + filepath.Join(dir, "missing") + ": open"},
		{[]string{"-f", good, "--node-file", "w0=-", "--node-file", "w1=-"}, "standard input given for two nodes"},
		{[]string{"-f", "-", "--node-file", "w0=-"}, "standard input can be read only once"},
		{[]string{"-f", good, "--node-file", "w0=" + good, "-o", "wide"}, `--output "wide": must be yaml or json`},
		{[]string{"resolve", "-f", good, "ubi9"}, `pull spec "ubi9"`},
		{[]string{"resolve", "-f", good}, "accepts 1 arg(s), received 0"},
		{[]string{"render", "-f", good, "--node-file", "w0=" + good}, "render: --node-file does not apply"},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			r := run(t, "", append(tt.args, "--kubeconfig", filepath.Join(dir, "none"))...)
			r.want(t, 2, tt.want)
			if r.Stdout != "" {
				t.Errorf("stdout %q", r.Stdout)
			}
			if n := strings.Count(r.Stderr, "\n"); n != 1 {
				t.Errorf("%d lines on stderr, want one", n)
			}
		})
	}
}

// TestNodeFilesAreReadBeforeTheCluster: a --node-file that is not a
// registries.conf is bad input (exit 2) even when the cluster, asked first
// before, cannot be reached (that was exit 3, after its retries).
func TestNodeFilesAreReadBeforeTheCluster(t *testing.T) {
	dir := t.TempDir()
	notTOML := filepath.Join(dir, "node.conf")
	os.WriteFile(notTOML, []byte("[[registry]\nlocation = \"x\"\n"), 0o644)
	good := filepath.Join(dir, "good.conf")
	os.WriteFile(good, mirrorset.BaseRegistriesConf(), 0o644)
	kc := filepath.Join(dir, "kubeconfig")
	os.WriteFile(kc, []byte(`apiVersion: v1
kind: Config
clusters: [{name: gone, cluster: {server: "https://127.0.0.1:1"}}]
users: [{name: u, user: {token: t}}]
contexts: [{name: c, context: {cluster: gone, user: u}}]
current-context: c
`), 0o600)
	r := run(t, "", "--from-cluster", "--node-file", "w0="+good, "--node-file", "w1="+notTOML, "--kubeconfig", kc)
	r.want(t, 2, "--node-file w1="+notTOML+": parsing node w1's registries.conf")
	if n := strings.Count(r.Stderr, "\n"); n != 1 || r.Stdout != "" {
		t.Errorf("want one line on stderr and nothing on stdout, got:\n%s\nstdout: %q", r.Stderr, r.Stdout)
	}
}

func TestReadNodesThroughTheDaemonPods(t *testing.T) {
	e := newEnv(t)
	e.apply(mirrorObjects)
	e.mco(pool{name: "worker", conf: e.render(), nodes: []node{{name: "w0"}}})
	// No daemon pod on the node: exit 3, naming what is missing.
	run(t, "", "--kubeconfig", e.kc, "--read-nodes").want(t, 3, "no running machine-config-daemon pod (k8s-app=machine-config-daemon) on node w0 in openshift-machine-config-operator")

	// A daemon pod: the exec reaches the API server, which cannot reach a kubelet here (the
	// test cluster runs none), so the read fails naming the node and the pod.
	if _, err := e.dyn.Resource(cluster.NodeResource).Get(context.Background(), "w0", metav1.GetOptions{}); err != nil {
		t.Fatal(err)
	}
	ns := &unstructured.Unstructured{Object: map[string]any{"apiVersion": "v1", "kind": "Namespace", "metadata": map[string]any{"name": cluster.DaemonNamespace}}}
	e.dyn.Resource(schema.GroupVersionResource{Version: "v1", Resource: "namespaces"}).Create(context.Background(), ns, metav1.CreateOptions{})
	e.create(podGVR, `apiVersion: v1
kind: Pod
metadata:
  name: machine-config-daemon-abcde
  namespace: openshift-machine-config-operator
  labels: {k8s-app: machine-config-daemon}
spec:
  nodeName: w0
  containers: [{name: machine-config-daemon, image: quay.io/openshift/mcd@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef}]
status:
  phase: Running
`)
	run(t, "", "--kubeconfig", e.kc, "--read-nodes").want(t, 3, "reading /etc/containers/registries.conf of node w0 through pod openshift-machine-config-operator/machine-config-daemon-abcde")
}

func TestResolve(t *testing.T) {
	e := newEnv(t)
	e.apply(mirrorObjects)
	const digest = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
	r := run(t, "", "resolve", "--kubeconfig", e.kc, "quay.io/openshift-release-dev/ocp-release@"+digest)
	r.want(t, 0)
	lines := strings.Split(strings.TrimSpace(r.Stdout), "\n")
	if len(lines) != 3 || !strings.Contains(lines[1], "mirror.example.com:5000/ocp/release@"+digest) || !strings.Contains(lines[1], " use ") ||
		!strings.Contains(lines[2], "quay.io/openshift-release-dev/ocp-release@"+digest) || !strings.Contains(lines[2], " blocked ") {
		t.Errorf("resolve:\n%s", r.Stdout)
	}
	// A tag of the release: its only mirror is digest-only and the source is blocked, so nothing
	// can pull it, which a script gates on.
	r = run(t, "", "resolve", "--kubeconfig", e.kc, "quay.io/openshift-release-dev/ocp-release:4.16.3")
	r.want(t, 1, "error: quay.io/openshift-release-dev/ocp-release:4.16.3 cannot be pulled: every mirror is skipped or blocked, and the source is blocked")
	if !strings.Contains(r.Stdout, "skip") || !strings.Contains(r.Stdout, "blocked") {
		t.Errorf("the sources are printed before the verdict:\n%s", r.Stdout)
	}
	// Against a node's file, which has no mirror at all.
	base := filepath.Join(t.TempDir(), "base.conf")
	os.WriteFile(base, mirrorset.BaseRegistriesConf(), 0o644)
	r = run(t, "", "resolve", "--node-file", "w0="+base, "-o", "json", "quay.io/openshift-release-dev/ocp-release:4.16.3")
	r.want(t, 0)
	var res mirrorset.Resolution
	if err := json.Unmarshal([]byte(r.Stdout), &res); err != nil {
		t.Fatal(err)
	}
	if len(res.Sources) != 1 || res.Sources[0].Mirror || !res.Sources[0].Used {
		t.Errorf("resolution %+v", res)
	}
}

// TestExamplesRun runs every line of the command's help examples as a user would paste it,
// against the test cluster left by the MCO with everything rolled out.
func TestExamplesRun(t *testing.T) {
	e := newEnv(t)
	e.apply(mirrorObjects)
	conf := e.render()
	e.mco(pool{name: "worker", conf: conf, nodes: []node{{name: "worker-0"}}})
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "idms.yaml"), []byte(mirrorObjects), 0o644)
	os.WriteFile(filepath.Join(dir, "registries.conf"), conf, 0o644)
	wd, _ := os.Getwd()
	if err := os.Chdir(dir); err != nil {
		t.Fatal(err)
	}
	defer os.Chdir(wd)

	ran := 0
	for _, line := range strings.Split(example, "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		// `oc debug node/... -- cat ... |` is stood in for by what it prints.
		var stage, stdin string
		for _, s := range strings.Split(line, "|") {
			if strings.Contains(s, "oc registries verify") {
				stage = strings.TrimSpace(s)
			}
		}
		if strings.HasPrefix(line, "oc debug") {
			stdin = string(conf)
		}
		words := strings.Fields(strings.TrimPrefix(stage, "oc registries verify"))
		r := run(t, stdin, append(words, "--kubeconfig", e.kc)...)
		code := 0
		if strings.Contains(line, "--read-nodes") {
			code = 3 // no daemon pod runs in the test cluster
		}
		if r.Code != code {
			t.Errorf("%s: exit %d, want %d: %s", line, r.Code, code, r.Stderr)
		}
		if code == 0 && r.Stdout == "" {
			t.Errorf("%s: printed nothing", line)
		}
		ran++
	}
	if ran != 7 {
		t.Errorf("ran %d examples, want 7", ran)
	}
}

func TestAnUnreachableClusterIsExit3WithoutTheCredentials(t *testing.T) {
	kc := filepath.Join(t.TempDir(), "kubeconfig")
	os.WriteFile(kc, []byte(`apiVersion: v1
kind: Config
clusters: [{name: c, cluster: {server: "https://127.0.0.1:1"}}]
users: [{name: u, user: {token: s3cret-t0ken}}]
contexts: [{name: c, context: {cluster: c, user: u}}]
current-context: c
`), 0o600)
	r := run(t, "", "--kubeconfig", kc)
	r.want(t, 3, "error: listing imagedigestmirrorsets.config.openshift.io")
	if strings.Contains(r.Stdout+r.Stderr, "s3cret") {
		t.Errorf("the token is in the output:\n%s%s", r.Stdout, r.Stderr)
	}
}

func TestVerifyWithoutAnyKubeconfigAsksNoCluster(t *testing.T) {
	dir := t.TempDir()
	t.Setenv("KUBECONFIG", filepath.Join(dir, "none"))
	t.Setenv("HOME", dir)
	idms := filepath.Join(dir, "idms.yaml")
	os.WriteFile(idms, []byte(mirrorObjects), 0o644)
	run(t, "", "render", "-f", idms).want(t, 0)
	// Pools are what verify checks without node files: there is no cluster to read them from.
	r := run(t, "", "-f", idms)
	r.want(t, 2)
	if r.Stderr != "error: "+cluster.ErrNoCluster.Error()+"\n" {
		t.Errorf("stderr %q", r.Stderr)
	}
}
