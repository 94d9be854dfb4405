package mirrorset

import (
	"errors"
	"strings"
	"testing"

	"github.com/airgap-ocp/oc-plugins/pkg/manifest"
)

func readStream(t *testing.T, s string) []manifest.Object {
	t.Helper()
	objs, err := manifest.Read(strings.NewReader(s), "in.yaml")
	if err != nil {
		t.Fatal(err)
	}
	return objs
}

func TestCollect(t *testing.T) {
	objs := readStream(t, `apiVersion: v1
kind: ConfigMap
metadata: {name: passes-by}
---
apiVersion: operator.openshift.io/v1alpha1
kind: ImageContentSourcePolicy
metadata: {name: a}
spec:
  repositoryDigestMirrors:
  - {source: quay.io/a, mirrors: [m.example.com/a]}
---
apiVersion: config.openshift.io/v1
kind: ImageDigestMirrorSet
metadata: {name: b}
spec:
  imageDigestMirrors:
  - {source: quay.io/a, mirrors: [m.example.com/a], mirrorSourcePolicy: NeverContactSource}
---
apiVersion: config.openshift.io/v1
kind: Image
metadata: {name: not-cluster}
---
apiVersion: config.openshift.io/v1
kind: Image
metadata: {name: cluster}
spec: {registrySources: {blockedRegistries: [docker.io]}}
---
apiVersion: config.openshift.io/v1
kind: ClusterVersion
metadata: {name: version}
spec: {clusterID: 0b5b5c8e-8a4d-4a4a-9f8e-1b6f2f7e7f00}
status: {desired: {image: "quay.io/openshift-release-dev/ocp-release@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"}}
`)
	c, err := Collect(objs)
	if err != nil {
		t.Fatal(err)
	}
	if len(c.Config.ICSPs) != 1 || len(c.Config.IDMSs) != 1 || c.Config.Image == nil || c.Config.Image.Name != "cluster" {
		t.Errorf("config %+v", c.Config)
	}
	if c.ICSPAt[0] != nil || c.ICSPAt[1] == nil || c.ICSPAt[1].Name != "a" || c.ICSPAt[2] != nil {
		t.Errorf("ICSPAt %v", c.ICSPAt)
	}
	if !strings.HasPrefix(c.ReleaseImage, "quay.io/openshift-release-dev/ocp-release@sha256:") {
		t.Errorf("release image %q", c.ReleaseImage)
	}
	if len(c.Conflicts) != 1 || !strings.Contains(c.Conflicts.ToAggregate().Error(), "quay.io/a") {
		t.Errorf("conflicts %v", c.Conflicts)
	}
}

func TestCollectNamesTheFileDocumentAndField(t *testing.T) {
	_, err := Collect(readStream(t, `apiVersion: v1
kind: ConfigMap
metadata: {name: x}
---
apiVersion: config.openshift.io/v1
kind: ImageDigestMirrorSet
metadata: {name: b}
spec:
  imageDigestMirrors:
  - {source: quay.io/a, mirrors: ["m.example.com/a:v1"]}
`))
	var me *manifest.Error
	if !errors.As(err, &me) {
		t.Fatalf("error %v is not a manifest.Error", err)
	}
	if got := err.Error(); !strings.Contains(got, "in.yaml") || !strings.Contains(got, "document 2") || !strings.Contains(got, "spec.imageDigestMirrors[0].mirrors[0]") {
		t.Errorf("error %q", got)
	}
}
