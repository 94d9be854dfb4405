package imageset_test

import (
	"strings"
	"testing"

	"github.com/airgap-ocp/oc-plugins/pkg/imageset"
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
