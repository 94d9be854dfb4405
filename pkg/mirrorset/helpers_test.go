package mirrorset

import (
	"flag"
	"os"
	"path/filepath"
	"testing"

	configv1 "github.com/openshift/api/config/v1"
	operatorv1alpha1 "github.com/openshift/api/operator/v1alpha1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/yaml"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata/golden")

// fromYAML parses one YAML document into an unstructured object.
func fromYAML(t testing.TB, doc string) *unstructured.Unstructured {
	t.Helper()
	data, err := yaml.YAMLToJSON([]byte(doc))
	if err != nil {
		t.Fatalf("YAML to JSON: %v", err)
	}
	u := &unstructured.Unstructured{}
	if err := u.UnmarshalJSON(data); err != nil {
		t.Fatalf("parsing object: %v", err)
	}
	return u
}

func readTestdata(t testing.TB, name string) string {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return string(data)
}

func loadICSP(t testing.TB, name string) *operatorv1alpha1.ImageContentSourcePolicy {
	t.Helper()
	o, err := DecodeICSP(fromYAML(t, readTestdata(t, name)))
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return o
}

func loadIDMS(t testing.TB, name string) *configv1.ImageDigestMirrorSet {
	t.Helper()
	o, err := DecodeIDMS(fromYAML(t, readTestdata(t, name)))
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return o
}

func loadITMS(t testing.TB, name string) *configv1.ImageTagMirrorSet {
	t.Helper()
	o, err := DecodeITMS(fromYAML(t, readTestdata(t, name)))
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return o
}

func loadImage(t testing.TB, name string) *configv1.Image {
	t.Helper()
	o, err := DecodeImage(fromYAML(t, readTestdata(t, name)))
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return o
}

// checkGolden compares got with testdata/golden/name, or rewrites it under -update.
func checkGolden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", "golden", name)
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test ./pkg/mirrorset -update to create it)", err)
	}
	if d := Diff(path, "rendered", want, got); d != "" {
		t.Errorf("rendered registries.conf differs from the golden file (go test ./pkg/mirrorset -update rewrites it):\n%s", d)
	}
}

func mustRender(t testing.TB, c Config) []byte {
	t.Helper()
	out, err := c.Render()
	if err != nil {
		t.Fatalf("Render: %v", err)
	}
	return out
}

func icsp(name string, entries ...operatorv1alpha1.RepositoryDigestMirrors) *operatorv1alpha1.ImageContentSourcePolicy {
	o := &operatorv1alpha1.ImageContentSourcePolicy{}
	o.APIVersion, o.Kind = ICSPKind.GroupVersion().String(), ICSPKind.Kind
	o.Name = name
	o.Spec.RepositoryDigestMirrors = entries
	return o
}

func rdm(source string, mirrors ...string) operatorv1alpha1.RepositoryDigestMirrors {
	return operatorv1alpha1.RepositoryDigestMirrors{Source: source, Mirrors: mirrors}
}

func idms(name string, entries ...configv1.ImageDigestMirrors) *configv1.ImageDigestMirrorSet {
	o := &configv1.ImageDigestMirrorSet{}
	o.APIVersion, o.Kind = IDMSKind.GroupVersion().String(), IDMSKind.Kind
	o.Name = name
	o.Spec.ImageDigestMirrors = entries
	return o
}

func idm(source string, policy configv1.MirrorSourcePolicy, mirrors ...string) configv1.ImageDigestMirrors {
	e := configv1.ImageDigestMirrors{Source: source, MirrorSourcePolicy: policy}
	for _, m := range mirrors {
		e.Mirrors = append(e.Mirrors, configv1.ImageMirror(m))
	}
	return e
}

func itms(name string, entries ...configv1.ImageTagMirrors) *configv1.ImageTagMirrorSet {
	o := &configv1.ImageTagMirrorSet{}
	o.APIVersion, o.Kind = ITMSKind.GroupVersion().String(), ITMSKind.Kind
	o.Name = name
	o.Spec.ImageTagMirrors = entries
	return o
}

func itm(source string, policy configv1.MirrorSourcePolicy, mirrors ...string) configv1.ImageTagMirrors {
	e := configv1.ImageTagMirrors{Source: source, MirrorSourcePolicy: policy}
	for _, m := range mirrors {
		e.Mirrors = append(e.Mirrors, configv1.ImageMirror(m))
	}
	return e
}

func image(insecure, blocked []string) *configv1.Image {
	o := &configv1.Image{}
	o.APIVersion, o.Kind = ImageKind.GroupVersion().String(), ImageKind.Kind
	o.Name = "cluster"
	o.Spec.RegistrySources.InsecureRegistries = insecure
	o.Spec.RegistrySources.BlockedRegistries = blocked
	return o
}
