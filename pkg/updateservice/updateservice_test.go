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

	"github.com/airgap-ocp/oc-plugins/pkg/release"
)

func TestCheckNameKeepsTheRouteHostWithin63(t *testing.T) {
	if got := MaxNameLength(Namespace); got != 32 {
		t.Fatalf("MaxNameLength(%s) = %d, want 32 (63 - len(\"-route-%s\"))", Namespace, got, Namespace)
	}
	for _, tc := range []struct {
		name string
		ok   bool
	}{
		{"update-service", true},
		{strings.Repeat("a", 32), true},
		{strings.Repeat("a", 33), false},
		{"Upper", false},
		{"", false},
	} {
		err := CheckName(tc.name, Namespace)
		if (err == nil) != tc.ok {
			t.Errorf("CheckName(%q) = %v, want ok %v", tc.name, err, tc.ok)
		}
		if err != nil && len(tc.name) > 32 && !strings.Contains(err.Error(), "CreateRouteFailed") {
			t.Errorf("CheckName(%q) = %v: want it to name what fails", tc.name, err)
		}
	}
}

func testCA(t *testing.T, cn string) string {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: cn},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), IsCA: true, BasicConstraintsValid: true}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}))
}

func TestMergePEM(t *testing.T) {
	a, b := testCA(t, "a"), testCA(t, "b")
	for _, tc := range []struct {
		name, existing, add, want string
		added, fails              bool
	}{
		{"into nothing", "", a, a, true, false},
		{"another registry's CA is kept, in front", a, b, a + b, true, false},
		{"a CA already there adds nothing", a + b, b, a + b, false, false},
		{"a bundle without a final newline stays intact", strings.TrimSuffix(a, "\n"), b, a + b, true, false},
		{"not PEM", "", "hello", "", false, true},
		{"a key is no certificate", "", "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n", "", false, true},
		{"a broken bundle already there is not rewritten", "junk", a, "", false, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, added, err := MergePEM(tc.existing, tc.add)
			if (err != nil) != tc.fails {
				t.Fatalf("err = %v, want failure %v", err, tc.fails)
			}
			if err == nil && (got != tc.want || added != tc.added) {
				t.Errorf("got added=%v\n%s\nwant added=%v\n%s", added, got, tc.added, tc.want)
			}
		})
	}
}

func TestOffers(t *testing.T) {
	g := &release.Graph{
		Nodes: []release.Node{{Version: "4.16.1", Payload: "r@sha256:1"}, {Version: "4.16.2"}, {Version: "4.16.3", Payload: "r@sha256:3"}, {Version: "4.16.4"}},
		Edges: [][2]int{{0, 1}, {1, 2}, {0, 2}},
	}
	if o := Offers(g, "4.16.1", "4.16.3"); !o.Direct() || o.Payload != "r@sha256:3" {
		t.Errorf("4.16.1 to 4.16.3: %+v, want a direct edge and the payload", o)
	}
	if o := Offers(g, "4.16.2", "4.16.3"); !o.Direct() {
		t.Errorf("4.16.2 to 4.16.3: %+v", o)
	}
	if o := Offers(g, "4.16.1", "4.16.4"); o.Path != nil || !o.ToFound {
		t.Errorf("4.16.4 has no edge in: %+v", o)
	}
	if o := Offers(g, "4.16.3", "4.16.1"); o.Path != nil {
		t.Errorf("no downgrade edge: %+v", o)
	}
	if o := Offers(g, "4.15.0", "4.16.3"); o.FromFound {
		t.Errorf("4.15.0 is not in the graph: %+v", o)
	}
	if n := Newest(g, "4.16.1"); n != "4.16.3" {
		t.Errorf("Newest = %q, want 4.16.3", n)
	}
	if n := Newest(g, "4.16.3"); n != "" {
		t.Errorf("Newest from the top = %q, want none", n)
	}
}

func TestSpecOf(t *testing.T) {
	u := New("x", Spec{Releases: "mirror:5000/openshift/release-images", GraphDataImage: "mirror:5000/openshift/graph-image@sha256:aa"})
	if s, err := SpecOf(u); err != nil || s.Replicas != 1 {
		t.Fatalf("SpecOf(New(...)) = %+v, %v", s, err)
	}
	unstructuredDelete(u, "graphDataImage")
	if _, err := SpecOf(u); err == nil || !strings.Contains(err.Error(), "spec.graphDataImage") {
		t.Errorf("missing graphDataImage: %v", err)
	}
}

func unstructuredDelete(u interface{ UnstructuredContent() map[string]interface{} }, field string) {
	delete(u.UnstructuredContent()["spec"].(map[string]interface{}), field)
}
