package imageset_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/airgap-ocp/oc-plugins/pkg/imageset"
)

const goodDelete = `apiVersion: mirror.openshift.io/v2alpha1
kind: DeleteImageSetConfiguration
delete:
  platform:
    graph: true
    architectures: [amd64]
    channels:
    - name: stable-4.99
      minVersion: 4.99.1
      maxVersion: 4.99.1
  operators:
  - catalog: registry.redhat.io/redhat/redhat-operator-index:v4.99
    packages:
    - name: aws-load-balancer-operator
  additionalImages:
  - name: registry.redhat.io/ubi9/ubi:latest
`

func TestParseDeleteReadsWhatTheImageSetConfigurationMeans(t *testing.T) {
	d, err := imageset.ParseDelete([]byte(goodDelete), "delete.yaml")
	if err != nil {
		t.Fatal(err)
	}
	c := d.Config
	if len(c.Channels) != 1 || c.Channels[0].Name != "stable-4.99" || c.Channels[0].Type != "ocp" || c.Channels[0].MaxVersion != "4.99.1" ||
		len(c.AdditionalImages) != 1 || c.AdditionalImages[0].Name != "registry.redhat.io/ubi9/ubi:latest" {
		t.Errorf("parsed %+v", c)
	}
	if len(d.Operators) != 1 || d.Operators[0].Catalog != "registry.redhat.io/redhat/redhat-operator-index:v4.99" || len(d.Operators[0].Packages) != 1 || d.Operators[0].Packages[0].Name != "aws-load-balancer-operator" {
		t.Errorf("operators %+v", d.Operators)
	}
	// Operators alone are a delete document too.
	only := `apiVersion: mirror.openshift.io/v2alpha1
kind: DeleteImageSetConfiguration
delete:
  operators:
  - catalog: registry.redhat.io/redhat/redhat-operator-index:v4.99
`
	if d, err := imageset.ParseDelete([]byte(only), "delete.yaml"); err != nil || d.Config != nil || len(d.Operators) != 1 {
		t.Errorf("operators only: %+v, %v", d, err)
	}
}

func TestParseDeleteNamesTheFieldAtFault(t *testing.T) {
	head := "apiVersion: mirror.openshift.io/v2alpha1\nkind: DeleteImageSetConfiguration\n"
	for _, tc := range []struct{ name, doc, want string }{
		{"oc-mirror v1", "apiVersion: mirror.openshift.io/v1alpha2\nkind: DeleteImageSetConfiguration\ndelete: {}\n", "delete.yaml: apiVersion: mirror.openshift.io/v1alpha2 is oc-mirror v1's format"},
		{"an ImageSetConfiguration", "apiVersion: mirror.openshift.io/v2alpha1\nkind: ImageSetConfiguration\nmirror: {}\n", `delete.yaml: kind: "ImageSetConfiguration", want DeleteImageSetConfiguration`},
		{"blocked images are not part of it", head + "delete:\n  blockedImages: [{name: x}]\n", "delete.yaml: delete.blockedImages: not a field of DeleteImageSetConfiguration"},
		{"a mirror section", head + "mirror:\n  additionalImages: [{name: x}]\n", "delete.yaml: mirror: not a field"},
		{"nothing", head + "delete: {}\n", "delete.yaml: delete: names nothing to delete"},
		{"no delete section", head, "delete.yaml: delete: required"},
		{"a bad image", head + "delete:\n  additionalImages: [{name: 'UPPER/case'}]\n", `delete.yaml: delete.additionalImages[0].name: "UPPER/case"`},
		{"a bad version", head + "delete:\n  platform:\n    channels: [{name: stable-4.99, minVersion: four}]\n", `delete.yaml: delete.platform.channels[0].minVersion: "four"`},
		{"a catalog that is no image", head + "delete:\n  operators: [{catalog: ''}]\n", "delete.yaml: delete.operators[0].catalog"},
		{"a package field mirror.operators lacks too", head + "delete:\n  operators: [{catalog: x/y:1, packages: [{name: p, version: 1}]}]\n", "delete.yaml: delete.operators[0].packages[0].version: not a field of DeleteImageSetConfiguration"},
		{"bundles and channels", head + "delete:\n  operators: [{catalog: x/y:1, packages: [{name: p, channels: [{name: c}], bundles: [{name: b}]}]}]\n", "delete.yaml: delete.operators[0].packages[0].bundles: name either bundles or channels"},
		{"not YAML", "delete: [", "delete.yaml: not YAML"},
		{"two documents", goodDelete + "---\n" + goodDelete, "delete.yaml: holds 2 YAML documents; give one DeleteImageSetConfiguration per file"},
		{"a list", "- delete: {}\n", "delete.yaml: not a DeleteImageSetConfiguration"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := imageset.ParseDelete([]byte(tc.doc), "delete.yaml")
			var e *imageset.Error
			if !errors.As(err, &e) || !strings.HasPrefix(err.Error(), tc.want) {
				t.Errorf("got %v, want %q...", err, tc.want)
			}
		})
	}
}
