package catalog

import "testing"

func TestPlacementIsWhereTheMirrorPutsACatalog(t *testing.T) {
	for _, tc := range []struct{ name, path, tag, wantPath, wantTag string }{
		{"registry.redhat.io/redhat/redhat-operator-index:v4.16", "", "", "redhat/redhat-operator-index", "v4.16"},
		{"docker://registry.redhat.io/redhat/redhat-operator-index:v4.16", "olm/catalog", "", "olm/catalog", "v4.16"},
		{"registry.redhat.io/redhat/redhat-operator-index@sha256:" + sixtyFourA, "", "", "redhat/redhat-operator-index", "latest"},
		{"registry.redhat.io/redhat/redhat-operator-index", "", "v1", "redhat/redhat-operator-index", "v1"},
		{"oci:///var/catalogs/my-index:v2", "", "", "my-index", "v2"},
	} {
		if p, tag := Placement(tc.name, tc.path, tc.tag); p != tc.wantPath || tag != tc.wantTag {
			t.Errorf("Placement(%q, %q, %q) = %s:%s, want %s:%s", tc.name, tc.path, tc.tag, p, tag, tc.wantPath, tc.wantTag)
		}
	}
}

const sixtyFourA = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"

// TestItemsNameEachBundleOnce: a bundle names its own image among its
// related images too (operator-sdk writes it there); the plan's origin
// says which bundles use an image, each once.
func TestItemsNameEachBundleOnce(t *testing.T) {
	bundle := "quay.io/acme/etcd-bundle@sha256:" + sixtyFourA
	operand := "quay.io/acme/etcd@sha256:" + sixtyFourA
	x := &Index{Packages: map[string]*PackageIndex{"etcd": {
		Name: "etcd", DefaultChannel: "stable",
		Bundles: map[string]*BundleInfo{
			"etcd.v1": {Name: "etcd.v1", Package: "etcd", Image: bundle, Related: []string{bundle, operand}},
			"etcd.v2": {Name: "etcd.v2", Package: "etcd", Image: "quay.io/acme/etcd-bundle:v2", Related: []string{operand}},
		},
	}}}
	k := &Kept{Packages: map[string]*KeptPackage{"etcd": {
		Name: "etcd", DefaultChannel: "stable",
		Channels: map[string]map[string]bool{"stable": {"etcd.v1": true, "etcd.v2": true}},
	}}}
	items, err := x.Items(k, "catalog c")
	if err != nil {
		t.Fatal(err)
	}
	origins := map[string]string{}
	for _, it := range items {
		origins[it.Source] = it.Origin
	}
	if got, want := origins[bundle], "catalog c: etcd.v1"; got != want {
		t.Errorf("the bundle image's origin is %q, want %q", got, want)
	}
	if got, want := origins[operand], "catalog c: etcd.v1 and 1 more bundles"; got != want {
		t.Errorf("the operand's origin is %q, want %q", got, want)
	}
}
