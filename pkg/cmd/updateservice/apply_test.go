package updateservice

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"strings"
	"testing"
	"time"

	"github.com/airgap-ocp/oc-plugins/pkg/cluster"
	us "github.com/airgap-ocp/oc-plugins/pkg/updateservice"
)

func newCA(t *testing.T, cn string) string {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: pkix.Name{CommonName: cn},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour), IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageCertSign}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}))
}

const routeURI = "https://update-service-route-openshift-update-service.apps.example.com"

func TestApplyPointsTheClusterAtTheService(t *testing.T) {
	w := newWorld(t)
	registryCA, ingressCA := newCA(t, "mirror registry"), newCA(t, "ingress")
	w.create(cluster.ConfigMapResource, configMap("openshift-config-managed", "default-ingress-cert", map[string]string{"ca-bundle.crt": ingressCA}))
	w.operate("update-service", routeURI)
	file := w.write("resources.yaml", resources("update-service", registryCA))

	r := w.run("", "apply", "-f", file, "--channel", "stable-4.16")
	if r.Code != 0 {
		t.Fatalf("apply: exit %d\n%s", r.Code, r.Stderr)
	}
	cm := w.get(cluster.ConfigMapResource, us.ConfigNamespace, "registry-ca")
	if data(cm, us.RegistryCAKey) != registryCA || data(cm, "mirror.example.com..5000") != registryCA {
		t.Errorf("configmap/registry-ca holds %v", cm)
	}
	if got := str(w.get(cluster.ImageResource, "", "cluster"), "spec", "additionalTrustedCA", "name"); got != "registry-ca" {
		t.Errorf("image.config additionalTrustedCA = %q, want registry-ca", got)
	}
	if got := str(w.get(cluster.ProxyResource, "", "cluster"), "spec", "trustedCA", "name"); got != us.DefaultBundleName {
		t.Errorf("proxy trustedCA = %q, want %s", got, us.DefaultBundleName)
	}
	if got := data(w.get(cluster.ConfigMapResource, us.ConfigNamespace, us.DefaultBundleName), us.BundleKey); got != ingressCA {
		t.Errorf("user-ca-bundle holds %q, want the ingress CA", got)
	}
	cv := w.get(cluster.ClusterVersionResource, "", "version")
	if got := str(cv, "spec", "upstream"); got != routeURI+"/api/upgrades_info/v1/graph" {
		t.Errorf("upstream = %q", got)
	}
	if got := str(cv, "spec", "channel"); got != "stable-4.16" {
		t.Errorf("channel = %q", got)
	}
	svc := w.get(cluster.UpdateServiceResource, us.Namespace, "update-service")
	if got := str(svc, "spec", "releases"); got != "mirror.example.com:5000/ocp4/openshift/release-images" {
		t.Errorf("UpdateService releases = %q", got)
	}
	// Each change is a diff on stderr; the stream passes through with the
	// applied objects as the cluster holds them.
	for _, want := range []string{"+++ clusterversion.config.openshift.io/version", "+  upstream: " + routeURI, "configmap/registry-ca in openshift-config created", "image.config.openshift.io/cluster configured"} {
		if !strings.Contains(r.Stderr, want) {
			t.Errorf("stderr lacks %q:\n%s", want, r.Stderr)
		}
	}
	if !strings.Contains(r.Stdout, "kind: ImageDigestMirrorSet") || !strings.Contains(r.Stdout, "kind: UpdateService") ||
		!strings.Contains(r.Stdout, "name: registry-ca") || strings.Contains(r.Stdout, "resourceVersion") || strings.Contains(r.Stdout, "policyEngineURI") {
		t.Errorf("stdout is not the stream with the applied objects, without the server's fields:\n%s", r.Stdout)
	}

	// Again: nothing changes.
	versions := map[string]string{}
	for _, x := range []struct{ what, ns, name string }{{"cm", us.ConfigNamespace, "registry-ca"}, {"bundle", us.ConfigNamespace, us.DefaultBundleName}} {
		versions[x.what] = w.get(cluster.ConfigMapResource, x.ns, x.name).GetResourceVersion()
	}
	versions["cv"], versions["svc"] = cv.GetResourceVersion(), svc.GetResourceVersion()
	r = w.run(resources("update-service", registryCA), "apply", "--channel", "stable-4.16")
	if r.Code != 0 || strings.Contains(r.Stderr, "configured") || strings.Contains(r.Stderr, "created") || strings.Contains(r.Stderr, "+++") {
		t.Errorf("second apply: exit %d, changed something:\n%s", r.Code, r.Stderr)
	}
	if got := w.get(cluster.ClusterVersionResource, "", "version").GetResourceVersion(); got != versions["cv"] {
		t.Errorf("the second apply wrote clusterversion")
	}
	if got := w.get(cluster.ConfigMapResource, us.ConfigNamespace, "registry-ca").GetResourceVersion(); got != versions["cm"] {
		t.Errorf("the second apply wrote configmap/registry-ca")
	}
}

func TestApplyMergesIntoTheTrustAlreadyThere(t *testing.T) {
	w := newWorld(t)
	registryCA, otherCA, corpCA, ingressCA := newCA(t, "mirror"), newCA(t, "other registry"), newCA(t, "corporate proxy"), newCA(t, "ingress")
	// image.config already trusts another registry, the proxy a corporate CA.
	w.create(cluster.ConfigMapResource, configMap(us.ConfigNamespace, "registry-cas", map[string]string{"other.example.com..5000": otherCA}))
	w.patch(cluster.ImageResource, "", "cluster", `{"spec":{"additionalTrustedCA":{"name":"registry-cas"}}}`)
	w.create(cluster.ConfigMapResource, configMap(us.ConfigNamespace, "corp-bundle", map[string]string{"ca-bundle.crt": corpCA}))
	w.patch(cluster.ProxyResource, "", "cluster", `{"spec":{"trustedCA":{"name":"corp-bundle"}}}`)
	routeCAFile := w.write("route-ca.crt", ingressCA)
	w.operate("update-service", routeURI)

	r := w.run(resources("update-service", registryCA), "apply", "--route-ca", routeCAFile)
	if r.Code != 0 {
		t.Fatalf("apply: exit %d\n%s", r.Code, r.Stderr)
	}
	cas := w.get(cluster.ConfigMapResource, us.ConfigNamespace, "registry-cas")
	if data(cas, "other.example.com..5000") != otherCA || data(cas, us.RegistryCAKey) != registryCA || data(cas, "mirror.example.com..5000") != registryCA {
		t.Errorf("configmap/registry-cas did not get the mirror's CA beside the other registry's: %v", cas.Object["data"])
	}
	if w.get(cluster.ConfigMapResource, us.ConfigNamespace, "registry-ca") != nil {
		t.Errorf("a second CA ConfigMap was created that image.config does not name")
	}
	if got := str(w.get(cluster.ImageResource, "", "cluster"), "spec", "additionalTrustedCA", "name"); got != "registry-cas" {
		t.Errorf("image.config additionalTrustedCA = %q, want it left at registry-cas", got)
	}
	bundle := data(w.get(cluster.ConfigMapResource, us.ConfigNamespace, "corp-bundle"), us.BundleKey)
	if bundle != corpCA+ingressCA {
		t.Errorf("corp-bundle is not the corporate CA followed by the route's:\n%s", bundle)
	}
	if got := str(w.get(cluster.ProxyResource, "", "cluster"), "spec", "trustedCA", "name"); got != "corp-bundle" {
		t.Errorf("proxy trustedCA = %q, want corp-bundle", got)
	}
	if w.get(cluster.ConfigMapResource, us.ConfigNamespace, us.DefaultBundleName) != nil {
		t.Errorf("user-ca-bundle was created though the proxy names corp-bundle")
	}
}

func TestApplyRefusesANameThatOverflowsTheRoute(t *testing.T) {
	w := newWorld(t)
	name := strings.Repeat("u", 33)
	r := w.run(resources(name, newCA(t, "mirror")), "apply")
	if r.Code != 2 || !strings.Contains(r.Stderr, "document 3: metadata.name") || !strings.Contains(r.Stderr, "CreateRouteFailed") {
		t.Errorf("exit %d, want 2 naming document 3's metadata.name and the route:\n%s", r.Code, r.Stderr)
	}
	if w.get(cluster.ConfigMapResource, us.ConfigNamespace, "registry-ca") != nil {
		t.Errorf("bad input changed the cluster")
	}
}

func TestApplyDryRunChangesNothing(t *testing.T) {
	for _, mode := range []string{"client", "server"} {
		t.Run(mode, func(t *testing.T) {
			w := newWorld(t)
			w.create(cluster.ConfigMapResource, configMap("openshift-config-managed", "default-ingress-cert", map[string]string{"ca-bundle.crt": newCA(t, "ingress")}))
			r := w.run(resources("update-service", newCA(t, "mirror")), "apply", "--dry-run="+mode, "-o", "name")
			if r.Code != 0 {
				t.Fatalf("exit %d\n%s", r.Code, r.Stderr)
			}
			for _, want := range []string{"+++ updateservice.updateservice.operator.openshift.io/update-service", "+  additionalTrustedCA:", "would be set once"} {
				if !strings.Contains(r.Stderr, want) {
					t.Errorf("stderr lacks %q:\n%s", want, r.Stderr)
				}
			}
			if !strings.Contains(r.Stdout, "updateservice.updateservice.operator.openshift.io/update-service") {
				t.Errorf("-o name printed:\n%s", r.Stdout)
			}
			if w.get(cluster.UpdateServiceResource, us.Namespace, "update-service") != nil || w.get(cluster.ConfigMapResource, us.ConfigNamespace, "registry-ca") != nil ||
				str(w.get(cluster.ImageResource, "", "cluster"), "spec", "additionalTrustedCA", "name") != "" {
				t.Errorf("--dry-run=%s changed the cluster", mode)
			}
		})
	}
}

func TestApplyFailsWhenTheOperatorPublishesNoURI(t *testing.T) {
	w := newWorld(t)
	r := w.run(resources("update-service", newCA(t, "mirror")), "apply", "--timeout", "1s")
	if r.Code != 3 || !strings.Contains(r.Stderr, "no status.policyEngineURI") || !strings.Contains(r.Stderr, "operator running") {
		t.Errorf("exit %d, want 3 saying the operator published no URI:\n%s", r.Code, r.Stderr)
	}
	if got := str(w.get(cluster.ClusterVersionResource, "", "version"), "spec", "upstream"); got != "" {
		t.Errorf("upstream set to %q without a policy engine", got)
	}
}
