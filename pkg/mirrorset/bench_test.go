package mirrorset

import (
	"fmt"
	"testing"

	configv1 "github.com/openshift/api/config/v1"
	operatorv1alpha1 "github.com/openshift/api/operator/v1alpha1"
)

// realisticICSPs is what years of `oc adm catalog mirror` leave on a cluster: 10 ICSPs of 20
// entries, 200 repositories of a few registries, each with a mirror, half of them with a
// second one, and some repositories listed in two ICSPs.
func realisticICSPs() []*operatorv1alpha1.ImageContentSourcePolicy {
	registries := []string{"registry.redhat.io", "quay.io", "registry.connect.redhat.com", "gcr.io"}
	var out []*operatorv1alpha1.ImageContentSourcePolicy
	for i := range 10 {
		o := icsp(fmt.Sprintf("operator-index-%d", i))
		for j := range 20 {
			n := i*20 + j
			if i > 0 && j == 19 { // a repository of the previous ICSP again
				n = (i-1)*20 + 10
			}
			reg := registries[n%len(registries)]
			source := fmt.Sprintf("%s/product%d/component-%d", reg, n%17, n)
			mirrors := []string{fmt.Sprintf("mirror.example.com:5000/%s/product%d/component-%d", reg, n%17, n)}
			if n%2 == 0 {
				mirrors = append(mirrors, fmt.Sprintf("backup.example.com/mirror/product%d/component-%d", n%17, n))
			}
			o.Spec.RepositoryDigestMirrors = append(o.Spec.RepositoryDigestMirrors, rdm(source, mirrors...))
		}
		out = append(out, o)
	}
	return out
}

func BenchmarkRender(b *testing.B) {
	c := Config{
		ICSPs: realisticICSPs(),
		IDMSs: []*configv1.ImageDigestMirrorSet{idms("release", idm("quay.io/openshift-release-dev/ocp-release", configv1.NeverContactSource, "mirror.example.com:5000/ocp/release"))},
		Image: image([]string{"mirror.example.com:5000"}, []string{"docker.io"}),
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := c.Render(); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkConvertAndMerge(b *testing.B) {
	icsps := realisticICSPs()
	b.ReportAllocs()
	for b.Loop() {
		sets := make([]*configv1.ImageDigestMirrorSet, 0, len(icsps))
		for _, o := range icsps {
			sets = append(sets, ConvertICSP(o))
		}
		if _, err := MergeIDMS("merged", sets...); err != nil {
			b.Fatal(err)
		}
	}
}

func TestRealisticSetConvertsAndMergesWithoutChangingRegistriesConf(t *testing.T) {
	c := Config{ICSPs: realisticICSPs()}
	before := mustRender(t, c)
	var sets []*configv1.ImageDigestMirrorSet
	for _, o := range c.ICSPs {
		sets = append(sets, ConvertICSP(o))
	}
	merged, err := MergeIDMS("merged", sets...)
	if err != nil {
		t.Fatal(err)
	}
	if n := len(merged.Spec.ImageDigestMirrors); n != 191 {
		t.Errorf("merged %d entries, want 191 distinct repositories", n)
	}
	after := mustRender(t, Config{IDMSs: []*configv1.ImageDigestMirrorSet{merged}})
	if d := Diff("ICSPs", "merged IDMS", before, after); d != "" {
		t.Errorf("converting and merging changes registries.conf:\n%s", d)
	}
}
