package updateservice

import (
	"encoding/base64"
	"fmt"
	"os"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"

	"github.com/airgap-ocp/oc-plugins/internal/testenv"
	"github.com/airgap-ocp/oc-plugins/pkg/cluster"
	"github.com/airgap-ocp/oc-plugins/pkg/signature"
	us "github.com/airgap-ocp/oc-plugins/pkg/updateservice"
)

// ready is a cluster ready to update from 4.16.1 to 4.16.3 through a local
// update service: every condition status checks holds.
type ready struct {
	*world
	reg     *testenv.Registry
	graph   *testenv.GraphServer
	key     *testenv.SigningKey
	payload string // 4.16.3, in the mirror by digest
}

const releaseRepo = "ocp4/openshift/release-images"

func newReady(t *testing.T) *ready {
	t.Helper()
	w := newWorld(t)
	reg := testenv.StartRegistry(t)
	d := reg.MustPushImage(t, releaseRepo, testenv.Image{Layers: []testenv.Layer{{Files: []testenv.File{
		{Name: "release-manifests/release-metadata", Data: []byte(`{"kind":"cincinnati-metadata-v0","version":"4.16.3"}`)}}}}})
	payload := reg.Host + "/" + releaseRepo + "@" + d.String()
	current := reg.Host + "/" + releaseRepo + "@sha256:" + strings.Repeat("1", 64)
	graph := testenv.StartGraphTLS(t, testenv.GraphChannel{Name: "stable-4.16", Arch: "amd64",
		Releases: []testenv.GraphRelease{{Version: "4.16.1", Payload: current}, {Version: "4.16.3", Payload: payload}},
		Edges:    [][2]string{{"4.16.1", "4.16.3"}}})
	r := &ready{world: w, reg: reg, graph: graph, key: testenv.NewSigningKey(t, nil), payload: payload}

	// What the operator does: the UpdateService and its policy engine's URI.
	svc := us.New("update-service", us.Spec{Releases: reg.Host + "/" + releaseRepo, GraphDataImage: reg.Host + "/ocp4/openshift/graph-image@sha256:" + strings.Repeat("2", 64)})
	w.create(cluster.UpdateServiceResource, svc)
	w.setStatus(cluster.UpdateServiceResource, us.Namespace, "update-service", map[string]interface{}{"policyEngineURI": graph.Base})
	// What apply does: the upstream, the channel, the proxy trusting the route.
	w.patch(cluster.ClusterVersionResource, "", "version", fmt.Sprintf(`{"spec":{"upstream":%q,"channel":"stable-4.16"}}`, graph.URL))
	w.create(cluster.ConfigMapResource, configMap(us.ConfigNamespace, us.DefaultBundleName, map[string]string{us.BundleKey: string(graph.CAPEM)}))
	w.patch(cluster.ProxyResource, "", "cluster", `{"spec":{"trustedCA":{"name":"user-ca-bundle"}}}`)
	// What the CVO does: the current version, the graph retrieved, 4.16.3 offered.
	r.setCVStatus("True", []string{"4.16.3"}, payload)
	// The keys the CVO trusts, and the signature of 4.16.3.
	w.create(cluster.ConfigMapResource, &unstructured.Unstructured{Object: map[string]interface{}{
		"apiVersion": "v1", "kind": "ConfigMap",
		"metadata": map[string]interface{}{"name": "release-verification", "namespace": signature.ConfigMapNamespace,
			"annotations": map[string]interface{}{signature.VerificationConfigMapAnnotation: ""}},
		"data": map[string]interface{}{"verifier-public-key-test": string(r.key.ArmoredPublicKey(t))},
	}})
	r.sign(d.String(), payload)
	// The pull secret, with the mirror's credentials, and the mirror's CA
	// trusted through image.config.
	r.pullSecret(reg.Host)
	ca, err := os.ReadFile(reg.CACertFile)
	if err != nil {
		t.Fatal(err)
	}
	w.create(cluster.ConfigMapResource, us.RegistryCAConfigMap("registry-ca", reg.Host, ca))
	w.patch(cluster.ImageResource, "", "cluster", `{"spec":{"additionalTrustedCA":{"name":"registry-ca"}}}`)
	return r
}

func (r *ready) setCVStatus(retrieved string, available []string, image string) {
	var updates []interface{}
	for _, v := range available {
		updates = append(updates, map[string]interface{}{"version": v, "image": image})
	}
	r.setStatus(cluster.ClusterVersionResource, "", "version", map[string]interface{}{
		"desired":            map[string]interface{}{"version": "4.16.1", "image": r.reg.Host + "/" + releaseRepo + "@sha256:" + strings.Repeat("1", 64)},
		"observedGeneration": int64(1),
		"versionHash":        "test",
		"availableUpdates":   updates,
		"conditions": []interface{}{map[string]interface{}{
			"type": "RetrievedUpdates", "status": retrieved, "reason": "RemoteFailed", "message": "as the test says", "lastTransitionTime": "2026-01-01T00:00:00Z",
		}},
	})
}

func (r *ready) sign(digest, identity string) {
	r.t.Helper()
	cm, err := signature.ConfigMap(digest, [][]byte{r.key.SignRelease(r.t, digest, identity)})
	if err != nil {
		r.t.Fatal(err)
	}
	obj, err := runtime.DefaultUnstructuredConverter.ToUnstructured(cm)
	if err != nil {
		r.t.Fatal(err)
	}
	r.create(cluster.ConfigMapResource, &unstructured.Unstructured{Object: obj})
}

func (r *ready) pullSecret(host string) {
	auth := base64.StdEncoding.EncodeToString([]byte(r.reg.Username + ":" + r.reg.Password))
	cfg := fmt.Sprintf(`{"auths":{%q:{"auth":%q}}}`, host, auth)
	r.create(cluster.SecretResource, &unstructured.Unstructured{Object: map[string]interface{}{
		"apiVersion": "v1", "kind": "Secret", "type": "kubernetes.io/dockerconfigjson",
		"metadata": map[string]interface{}{"name": "pull-secret", "namespace": us.ConfigNamespace},
		"data":     map[string]interface{}{".dockerconfigjson": base64.StdEncoding.EncodeToString([]byte(cfg))},
	}})
}

// status runs status, looking the release up in the mirror as the cluster
// pulls it.
func (r *ready) status(args ...string) testenv.Result {
	r.t.Helper()
	return r.run("", append([]string{"status"}, args...)...)
}

func TestStatusExpectPassesWhenEveryConditionHolds(t *testing.T) {
	r := newReady(t)
	// A user's own registry login does not replace the cluster's: the
	// mirror is still asked with the cluster's pull secret and CA.
	t.Setenv("REGISTRY_AUTH_FILE", r.reg.AuthFile)
	res := r.status("--expect", "4.16.3")
	if res.Code != 0 {
		t.Fatalf("exit %d, want 0\n%s\n%s", res.Code, res.Stdout, res.Stderr)
	}
	for _, c := range []string{CondUpstream, CondGraph, CondRetrieved, CondAvailable, CondMirror, CondSignature, CondPullSecret} {
		if !strings.Contains(res.Stdout, c+" ") || strings.Contains(res.Stdout, "unmet") {
			t.Errorf("table lacks %s as ok:\n%s", c, res.Stdout)
		}
	}
	if !strings.Contains(res.Stdout, "4.16.1 -> 4.16.3") || !strings.Contains(res.Stdout, "(as the cluster pulls it)") || strings.Contains(res.Stdout+res.Stderr, r.reg.Password) {
		t.Errorf("table:\n%s", res.Stdout)
	}
}

// TestStatusExpectFailsForEachUnmetCondition breaks one condition at a time
// and wants exit 1 with exactly that condition named on stderr.
func TestStatusExpectFailsForEachUnmetCondition(t *testing.T) {
	for _, tc := range []struct {
		cond   string
		break_ func(r *ready)
		says   string
	}{
		{CondUpstream, func(r *ready) {
			r.patch(cluster.ClusterVersionResource, "", "version", `{"spec":{"upstream":"https://api.openshift.com/api/upgrades_info/v1/graph"}}`)
		}, "update service apply"},
		{CondGraph, func(r *ready) {
			// The CVO cannot trust the route: the proxy's bundle lacks its CA.
			r.patch(cluster.ConfigMapResource, us.ConfigNamespace, us.DefaultBundleName, fmt.Sprintf(`{"data":{"ca-bundle.crt":%q}}`, newCA(r.t, "another")))
		}, "--route-ca"},
		{CondRetrieved, func(r *ready) { r.setCVStatus("False", []string{"4.16.3"}, r.payload) }, "RemoteFailed"},
		{CondAvailable, func(r *ready) { r.setCVStatus("True", nil, "") }, "lists nothing, not 4.16.3"},
		{CondMirror, func(r *ready) {
			// The CVO would pull a digest the mirror does not hold (signed, so only the mirror is wrong).
			missing := "sha256:" + strings.Repeat("3", 64)
			image := r.reg.Host + "/" + releaseRepo + "@" + missing
			r.sign(missing, image)
			r.setCVStatus("True", []string{"4.16.3"}, image)
		}, "oc mirror lite release 4.16.3 --graph"},
		{CondSignature, func(r *ready) {
			d := r.payload[strings.Index(r.payload, "@")+1:]
			if err := r.dyn.Resource(cluster.ConfigMapResource).Namespace(signature.ConfigMapNamespace).Delete(t.Context(), strings.Replace(d, ":", "-", 1), deleteOpts); err != nil {
				t.Fatal(err)
			}
		}, "oc release sig 4.16.3"},
		{CondPullSecret, func(r *ready) {
			if err := r.dyn.Resource(cluster.SecretResource).Namespace(us.ConfigNamespace).Delete(t.Context(), "pull-secret", deleteOpts); err != nil {
				t.Fatal(err)
			}
			r.pullSecret("quay.io")
		}, "has no credentials for 127.0.0.1"},
	} {
		t.Run(tc.cond, func(t *testing.T) {
			r := newReady(t)
			tc.break_(r)
			args := []string{"--expect", "4.16.3"}
			if tc.cond == CondPullSecret {
				// The mirror is asked with the user's own credentials, or the
				// missing ones in the cluster would fail release-in-mirror too.
				args = append(args, "--cert-dir", r.reg.CertDir, "-a", r.reg.AuthFile)
			}
			res := r.status(args...)
			if res.Code != 1 {
				t.Fatalf("exit %d, want 1\n%s\n%s", res.Code, res.Stdout, res.Stderr)
			}
			var unmet []string
			for _, line := range strings.Split(strings.TrimSpace(res.Stderr), "\n") {
				if name, _, ok := strings.Cut(line, ": "); ok && name != "error" {
					unmet = append(unmet, name)
				}
			}
			if len(unmet) != 1 || unmet[0] != tc.cond || !strings.Contains(res.Stderr, tc.says) {
				t.Errorf("unmet %v, want only %s saying %q:\n%s", unmet, tc.cond, tc.says, res.Stderr)
			}
		})
	}
}

func TestStatusWithoutExpectIsATable(t *testing.T) {
	w := newWorld(t)
	res := w.run("", "status")
	if res.Code != 0 {
		t.Fatalf("exit %d\n%s", res.Code, res.Stderr)
	}
	if !strings.HasPrefix(res.Stdout, "CONDITION") || !strings.Contains(res.Stdout, "upstream") || !strings.Contains(res.Stdout, "no UpdateService in openshift-update-service") {
		t.Errorf("table:\n%s", res.Stdout)
	}
	res = w.run("", "status", "-o", "yaml")
	if res.Code != 0 || !strings.Contains(res.Stdout, "conditions:") || !strings.Contains(res.Stdout, "name: pull-secret") {
		t.Errorf("-o yaml: exit %d\n%s", res.Code, res.Stdout)
	}
	if res := w.run("", "status", "--expect", "four"); res.Code != 2 {
		t.Errorf("--expect four: exit %d, want 2", res.Code)
	}
}
