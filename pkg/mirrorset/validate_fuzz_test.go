package mirrorset

import (
	"testing"

	configv1 "github.com/openshift/api/config/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// FuzzValidateIDMS builds ImageDigestMirrorSets from arbitrary scopes:
// validation never panics, and a set it accepts is one the Machine Config
// Operator's own rendering accepts too, giving a registries.conf that
// containers/image (CRI-O's parser) loads.
func FuzzValidateIDMS(f *testing.F) {
	f.Add("quay.io/openshift-release-dev/ocp-release", "mirror.example.com:5000/ocp4/openshift4", "mirror2.example.com/ocp", "")
	f.Add("registry.redhat.io", "mirror.example.com", "", "NeverContactSource")
	f.Add("*.redhat.io", "mirror.example.com/redhat", "", "AllowContactingSource")
	f.Add("quay.io/a", "quay.io/a", "", "NeverContactSource")
	f.Add("quay.io/a:tag", "m.example.com/a@sha256:abc", "", "")
	f.Add("", "", "", "Sometimes")
	f.Add("UPPER/case", "m.example.com/x", "m.example.com/x", "")
	f.Fuzz(func(t *testing.T, source, mirror1, mirror2, policy string) {
		entry := configv1.ImageDigestMirrors{Source: source, MirrorSourcePolicy: configv1.MirrorSourcePolicy(policy)}
		for _, m := range []string{mirror1, mirror2} {
			if m != "" {
				entry.Mirrors = append(entry.Mirrors, configv1.ImageMirror(m))
			}
		}
		idms := &configv1.ImageDigestMirrorSet{
			ObjectMeta: metav1.ObjectMeta{Name: "fuzz"},
			Spec:       configv1.ImageDigestMirrorSetSpec{ImageDigestMirrors: []configv1.ImageDigestMirrors{entry}},
		}
		if errs := ValidateIDMS(idms); len(errs) > 0 {
			return
		}
		conf, err := Config{IDMSs: []*configv1.ImageDigestMirrorSet{idms}}.Render()
		if err != nil {
			t.Fatalf("ValidateIDMS accepted %+v, but rendering refuses it: %v", entry, err)
		}
		if _, err := ParseRegistriesConf("fuzz", conf); err != nil {
			t.Fatalf("the registries.conf rendered from %+v does not load: %v\n%s", entry, err, conf)
		}
	})
}
