package mirrorset

import (
	"fmt"
	"testing"

	configv1 "github.com/openshift/api/config/v1"
)

// mirrorEntries returns n IDMS mirror entries in sets of 100, as a cluster
// that mirrors every operator of a few catalogs holds them: each entry a
// repository of one of four registries, with one mirror, every third with
// a second one, every tenth NeverContactSource.
func mirrorEntries(n int) []*configv1.ImageDigestMirrorSet {
	registries := []string{"registry.redhat.io", "quay.io", "registry.connect.redhat.com", "gcr.io"}
	var sets []*configv1.ImageDigestMirrorSet
	for i := 0; i < n; i += 100 {
		set := idms(fmt.Sprintf("catalog-%03d", i/100))
		for j := i; j < min(i+100, n); j++ {
			reg := registries[j%len(registries)]
			source := fmt.Sprintf("%s/product%d/component-%d", reg, j%97, j)
			mirrors := []string{fmt.Sprintf("mirror.example.com:5000/%s/product%d/component-%d", reg, j%97, j)}
			if j%3 == 0 {
				mirrors = append(mirrors, fmt.Sprintf("backup.example.com/mirror/product%d/component-%d", j%97, j))
			}
			policy := configv1.AllowContactingSource
			if j%10 == 0 {
				policy = configv1.NeverContactSource
			}
			set.Spec.ImageDigestMirrors = append(set.Spec.ImageDigestMirrors, idm(source, policy, mirrors...))
		}
		sets = append(sets, set)
	}
	return sets
}

// BenchmarkRender10000Mirrors renders registries.conf for 10,000 mirror
// entries (issue 8: under 1 s). Bytes are those of the registries.conf.
func BenchmarkRender10000Mirrors(b *testing.B) {
	c := Config{IDMSs: mirrorEntries(10000)}
	out, err := c.Render()
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(out)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := c.Render(); err != nil {
			b.Fatal(err)
		}
	}
}
