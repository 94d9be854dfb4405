package imageset_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/airgap-ocp/oc-plugins/pkg/imageset"
)

const good = `apiVersion: mirror.openshift.io/v2alpha1
kind: ImageSetConfiguration
archiveSize: 8
mirror:
  platform:
    architectures: [amd64]
    channels:
    - name: stable-4.16
      type: ocp
      minVersion: 4.16.1
      maxVersion: 4.16.3
      shortestPath: true
  additionalImages:
  - name: registry.redhat.io/ubi9/ubi:latest
  - name: quay.io/example/tool@sha256:` + "0123456789012345678901234567890123456789012345678901234567890123" + `
    targetRepo: tools/tool
  blockedImages:
  - name: ".*/debug-.*"
`

func TestParseTheCoveredSubset(t *testing.T) {
	c, err := imageset.Parse([]byte(good), "isc.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if c.ArchiveSize != 8 || len(c.Channels) != 1 || c.Channels[0].Name != "stable-4.16" || !c.Channels[0].ShortestPath ||
		c.Channels[0].MinVersion != "4.16.1" || len(c.AdditionalImages) != 2 || c.AdditionalImages[1].TargetRepo != "tools/tool" {
		t.Errorf("parsed %+v", c)
	}
	if !c.Blocks("quay.io/x/debug-tools:1") || c.Blocks("quay.io/x/tools:1") {
		t.Error("blockedImages patterns do not apply as regular expressions")
	}
}

// operators is a mirror.operators section with one compliance-operator
// package holding extra, and the additionalImages key it goes before.
func operators(extra string) string {
	return "  operators:\n  - catalog: registry.redhat.io/redhat/redhat-operator-index:v4.16\n    packages:\n    - name: compliance-operator\n      " + extra + "\n  additionalImages:"
}

func TestParseOperators(t *testing.T) {
	doc := strings.Replace(good, "  additionalImages:", operators("channels: [{name: stable, minVersion: 5.6.0}]\n      defaultChannel: stable"), 1)
	c, err := imageset.Parse([]byte(doc), "isc.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if len(c.Operators) != 1 || c.Operators[0].Catalog != "registry.redhat.io/redhat/redhat-operator-index:v4.16" {
		t.Fatalf("operators %+v", c.Operators)
	}
	p := c.Operators[0].Packages
	if len(p) != 1 || p[0].DefaultChannel != "stable" || len(p[0].Channels) != 1 || p[0].Channels[0].MinVersion != "5.6.0" {
		t.Errorf("packages %+v", p)
	}
}

func TestParseRefusesWhatItDoesNotCoverNamingTheField(t *testing.T) {
	for _, tc := range []struct{ name, doc, field string }{
		{"operators field", strings.Replace(good, "  additionalImages:", "  operators:\n  - catalog: registry.redhat.io/redhat/redhat-operator-index:v4.16\n    targetCatalogSourceTemplate: cs.yaml\n  additionalImages:", 1), "mirror.operators[0].targetCatalogSourceTemplate"},
		{"operators catalog", strings.Replace(good, "  additionalImages:", "  operators:\n  - packages: [{name: x}]\n  additionalImages:", 1), "mirror.operators[0].catalog"},
		{"scenario 15: ranges on package and channel", strings.Replace(good, "  additionalImages:", operators("minVersion: 5.6.0\n      channels: [{name: stable, maxVersion: 6.0.0}]"), 1), "mirror.operators[0].packages[0].channels[0].maxVersion"},
		{"scenario 16: bundles and channels", strings.Replace(good, "  additionalImages:", operators("channels: [{name: stable}]\n      bundles: [{name: compliance-operator.v1.6.0}]"), 1), "mirror.operators[0].packages[0].bundles"},
		{"scenario 17: full with a range", strings.Replace(good, "  additionalImages:", strings.Replace(operators("channels: [{name: stable, minVersion: 5.6.0, maxVersion: 6.0.0}]"), "  - catalog:", "  - full: true\n    catalog:", 1), 1), "mirror.operators[0].packages[0].channels[0].minVersion"},
		{"helm", strings.Replace(good, "  additionalImages:", "  helm:\n    repositories: [{name: x, url: https://x}]\n  additionalImages:", 1), "mirror.helm"},
		{"channel type", strings.Replace(good, "type: ocp", "type: rhcos", 1), "mirror.platform.channels[0].type"},
		{"version", strings.Replace(good, "minVersion: 4.16.1", "minVersion: four", 1), "mirror.platform.channels[0].minVersion"},
		{"blocked pattern", strings.Replace(good, `".*/debug-.*"`, `"(unclosed"`, 1), "mirror.blockedImages[0].name"},
		{"image", strings.Replace(good, "registry.redhat.io/ubi9/ubi:latest", "UPPER/Case", 1), "mirror.additionalImages[0].name"},
		{"kind", strings.Replace(good, "kind: ImageSetConfiguration", "kind: DeleteImageSetConfiguration", 1), "kind"},
		{"apiVersion", strings.Replace(good, "v2alpha1", "v1alpha2", 1), "apiVersion"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := imageset.Parse([]byte(tc.doc), "isc.yaml")
			var ie *imageset.Error
			if !errors.As(err, &ie) || ie.Field != tc.field || ie.File != "isc.yaml" {
				t.Errorf("error %v, want one naming isc.yaml and %s", err, tc.field)
			}
		})
	}
	_, err := imageset.Parse([]byte(strings.Replace(good, "  blockedImages:", "  samples:\n  - name: x\n  blockedImages:", 1)), "isc.yaml")
	if err == nil || !strings.Contains(err.Error(), "samples") {
		t.Errorf("an unknown section: %v, want it named", err)
	}
}

// TestParseReadsOcMirrorV2Spellings: what oc-mirror v2's own configurations
// write is read as oc-mirror reads it, and what mirror-lite does not cover
// is named by its path.
func TestParseReadsOcMirrorV2Spellings(t *testing.T) {
	withTransport := strings.Replace(good, "- name: registry.redhat.io/ubi9/ubi:latest", "- name: docker://registry.redhat.io/ubi9/ubi:latest", 1)
	c, err := imageset.Parse([]byte(withTransport), "isc.yaml")
	if err != nil || c.AdditionalImages[0].Name != "registry.redhat.io/ubi9/ubi:latest" {
		t.Errorf("docker:// image: %v, %+v", err, c)
	}
	if _, err := imageset.Parse([]byte(strings.Replace(good, "    architectures:", "    kubeVirtContainer: false\n    architectures:", 1)), "isc.yaml"); err != nil {
		t.Errorf("kubeVirtContainer: false asks for nothing, but: %v", err)
	}
	for _, tc := range []struct{ name, doc, field, says string }{
		{"kubeVirtContainer", strings.Replace(good, "    architectures:", "    kubeVirtContainer: true\n    architectures:", 1), "mirror.platform.kubeVirtContainer", "KubeVirt"},
		{"platform.release", strings.Replace(good, "    architectures:", "    release: quay.io/x/release:1\n    architectures:", 1), "mirror.platform.release", "not covered"},
		{"channel field", strings.Replace(good, "      shortestPath: true", "      shortestPath: true\n      release: x", 1), "mirror.platform.channels[0].release", "not covered"},
		{"image platforms", strings.Replace(good, "    targetRepo: tools/tool", "    targetRepo: tools/tool\n    platforms: [{os: linux}]", 1), "mirror.additionalImages[1].platforms", "not covered"},
		{"v1", strings.Replace(good, "v2alpha1", "v1alpha2", 1) + "storageConfig: {local: {path: /x}}\n", "apiVersion", "oc-mirror v1"},
		{"oci", strings.Replace(good, "registry.redhat.io/ubi9/ubi:latest", "oci:///tmp/layout", 1), "mirror.additionalImages[0].name", "OCI"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := imageset.Parse([]byte(tc.doc), "isc.yaml")
			var ie *imageset.Error
			if !errors.As(err, &ie) || ie.Field != tc.field || !strings.Contains(err.Error(), tc.says) {
				t.Errorf("error %v, want one naming %s and saying %q", err, tc.field, tc.says)
			}
		})
	}
}

func TestParseRefusesAKeyGivenTwice(t *testing.T) {
	doc := strings.Replace(good, "registry.redhat.io/ubi9/ubi:latest", "registry.redhat.io/ubi9/ubi:latest\n    name: registry.redhat.io/ubi9/ubi-minimal:latest", 1)
	_, err := imageset.Parse([]byte(doc), "isc.yaml")
	var ie *imageset.Error
	if !errors.As(err, &ie) || ie.File != "isc.yaml" || !strings.Contains(err.Error(), `key "name" already set`) {
		t.Errorf("err = %v; want isc.yaml naming the key given twice", err)
	}
}

func TestParseRefusesSeveralDocuments(t *testing.T) {
	// A second document was read as nothing at all: the file meant more
	// than mirror-lite would do.
	_, err := imageset.Parse([]byte(good+"---\n"+good), "isc.yaml")
	var ie *imageset.Error
	if !errors.As(err, &ie) || err.Error() != "isc.yaml: holds 2 YAML documents; give one ImageSetConfiguration per file" {
		t.Errorf("err = %v", err)
	}
	if _, err := imageset.Parse([]byte("---\n"+good+"---\n"), "isc.yaml"); err != nil {
		t.Errorf("one document between separators: %v", err)
	}
}
