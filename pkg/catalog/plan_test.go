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
