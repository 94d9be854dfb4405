package imageset

import (
	"strings"

	"github.com/airgap-ocp/oc-plugins/pkg/graph"
	"github.com/airgap-ocp/oc-plugins/pkg/plan"
)

// laidOutForGraph reports whether it is a release component an archive
// holds apart from its release image, as the graph layout places them
// (graph.ReleasePath beside graph.ReleaseImagesPath): it goes with its
// release by tag, not by repository.
func laidOutForGraph(it plan.Item) bool {
	return it.Kind == plan.ReleaseComponent && (it.Path == graph.ReleasePath || strings.HasSuffix(it.Path, "/"+graph.ReleasePath))
}

// selectGraph keeps the archive's graph-data image when the image set asks
// for the graph; an archive without one cannot give it.
func (c *Config) selectGraph(archived *plan.Plan, keep map[int]bool) error {
	if !c.Graph {
		return nil
	}
	for j, it := range archived.Items {
		if it.Kind == graph.Kind {
			keep[j] = true
			return nil
		}
	}
	return &Error{File: c.file, Field: "mirror.platform.graph", Msg: "the archive holds no graph-data image: mirror it to disk with graph: true (or --graph)"}
}
