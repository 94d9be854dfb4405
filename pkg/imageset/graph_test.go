package imageset_test

import (
	"errors"
	"strings"
	"testing"

	digest "github.com/opencontainers/go-digest"

	"github.com/airgap-ocp/oc-plugins/pkg/graph"
	"github.com/airgap-ocp/oc-plugins/pkg/imageset"
	"github.com/airgap-ocp/oc-plugins/pkg/plan"
)

func TestParseReadsTheGraph(t *testing.T) {
	c, err := imageset.Parse([]byte(strings.Replace(good, "    architectures:", "    graph: true\n    architectures:", 1)), "isc.yaml")
	if err != nil || !c.Graph {
		t.Fatalf("graph: true: %+v, %v", c, err)
	}
	if c, err := imageset.Parse([]byte(good), "isc.yaml"); err != nil || c.Graph {
		t.Errorf("without graph: %+v, %v", c, err)
	}
}

// TestSelectFromAnArchiveLaidOutForTheGraph: an enclave's image set picks
// a release whose components sit apart from its image (the graph layout),
// and the graph-data image when it asks for the graph.
func TestSelectFromAnArchiveLaidOutForTheGraph(t *testing.T) {
	d := func(c string) digest.Digest { return digest.Digest("sha256:" + strings.Repeat(c, 64)) }
	archived := &plan.Plan{Releases: []plan.Release{{Version: "4.16.3", ArchExt: "-x86_64", Digest: d("1"), Tag: "4.16.3-x86_64"}}}
	items := []plan.Item{
		{Source: "quay.io/openshift-release-dev/ocp-release@" + d("1").String(), Digest: d("1"), Path: graph.ReleaseImagesPath, Tag: "4.16.3-x86_64", Kind: plan.ReleaseImage},
		{Source: "quay.io/openshift-release-dev/ocp-v4.0-art-dev@" + d("2").String(), Digest: d("2"), Path: graph.ReleasePath, Tag: "4.16.3-x86_64-cli", Kind: plan.ReleaseComponent},
		graph.Item(d("3"), ""),
	}
	if err := archived.Add(items...); err != nil {
		t.Fatal(err)
	}
	doc := strings.Replace(good, "    architectures:", "    graph: true\n    architectures:", 1)
	doc = strings.Replace(doc, "  additionalImages:\n  - name: registry.redhat.io/ubi9/ubi:latest\n  - name: quay.io/example/tool@sha256:0123456789012345678901234567890123456789012345678901234567890123\n    targetRepo: tools/tool\n", "", 1)
	c, err := imageset.Parse([]byte(doc), "enclave.yaml")
	if err != nil {
		t.Fatal(err)
	}
	picked, _, err := c.Select(archived)
	if err != nil {
		t.Fatal(err)
	}
	if len(picked.Items) != 3 {
		t.Errorf("picked %+v, want the release, its component and the graph-data image", picked.Items)
	}
	// Asking for the graph of an archive without it is bad input.
	noGraph := &plan.Plan{Releases: archived.Releases}
	if err := noGraph.Add(items[:2]...); err != nil {
		t.Fatal(err)
	}
	var ie *imageset.Error
	if _, _, err := c.Select(noGraph); !errors.As(err, &ie) || ie.Field != "mirror.platform.graph" {
		t.Errorf("an archive without the graph: %v", err)
	}
}
