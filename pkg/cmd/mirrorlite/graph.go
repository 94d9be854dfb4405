package mirrorlite

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"sort"

	"github.com/containers/image/v5/docker"
	"github.com/containers/image/v5/docker/reference"
	"github.com/containers/image/v5/types"
	"github.com/spf13/cobra"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/airgap-ocp/oc-plugins/pkg/cli"
	"github.com/airgap-ocp/oc-plugins/pkg/graph"
	"github.com/airgap-ocp/oc-plugins/pkg/mirror"
	"github.com/airgap-ocp/oc-plugins/pkg/plan"
)

// graphOptions are the graph-data image's flags and what building it left.
type graphOptions struct {
	// Graph builds the graph-data image and lays releases out for an
	// update service (--graph, or graph: true in -c).
	Graph bool
	// GraphData is the graph-data tarball, a URL or a file ("" for
	// graph.DataSource); GraphBaseImage the image it is built onto.
	GraphData      string
	GraphBaseImage string

	graphDir  string
	graphRefs map[string]types.ImageReference // built images, by plan source
}

func (o *Options) addGraphFlags(cmd *cobra.Command, withSwitch bool) {
	fs := cmd.Flags()
	if withSwitch {
		fs.BoolVar(&o.Graph, "graph", false, "Also mirror the graph-data image for a local OpenShift Update Service, and lay the release out as it needs (release images in openshift/release-images, components in openshift/release)")
	}
	fs.StringVar(&o.GraphData, "graph-data", "", "With the graph: the graph-data tarball, a URL or a FILE (default: "+graph.DataURL+", or beside UPDATE_URL_OVERRIDE's graph)")
	fs.StringVar(&o.GraphBaseImage, "graph-base-image", graph.BaseImage, "With the graph: the image the graph data is built onto (it needs /bin/bash and cp)")
}

func (o *Options) validateGraph() error {
	if !o.Graph {
		return nil
	}
	if _, err := reference.ParseNormalizedNamed(o.GraphBaseImage); err != nil {
		return cli.BadInputf("--graph-base-image %q: %v", o.GraphBaseImage, err)
	}
	return nil
}

// withGraph lays p out for an update service below base and adds the
// graph-data image, built now into a folder that cleanupGraph removes.
func (o *Options) withGraph(ctx context.Context, p *plan.Plan, base string) (*plan.Plan, error) {
	laid, err := graph.Layout(p, base)
	if err != nil {
		return nil, cli.BadInput(err)
	}
	src := o.GraphData
	if src == "" {
		if src, err = graph.DataSource(); err != nil {
			return nil, cli.BadInput(err)
		}
	}
	client, err := o.Registry.HTTPClient()
	if err != nil {
		return nil, err
	}
	data, err := graph.FetchData(ctx, client, src, o.retry)
	if err != nil {
		var ie *graph.InputError
		if errors.As(err, &ie) {
			return nil, cli.BadInput(err)
		}
		return nil, cli.Failed(err)
	}
	named, err := reference.ParseNormalizedNamed(o.GraphBaseImage)
	if err != nil {
		return nil, cli.BadInputf("--graph-base-image %q: %v", o.GraphBaseImage, err)
	}
	baseRef, err := docker.NewReference(reference.TagNameOnly(named))
	if err != nil {
		return nil, cli.BadInputf("--graph-base-image %q: %v", o.GraphBaseImage, err)
	}
	if o.graphDir, err = os.MkdirTemp("", "oc-mirror-lite-graph-"); err != nil {
		return nil, err
	}
	built, err := graph.Build(ctx, graph.BuildOptions{Base: baseRef, SystemContext: o.srcCtx, Data: data, Dir: o.graphDir})
	if err != nil {
		return nil, cli.Failed(err)
	}
	it := graph.Item(built.Digest, base)
	if err := laid.Add(it); err != nil {
		return nil, cli.BadInput(err)
	}
	o.graphRefs = map[string]types.ImageReference{it.Source: built.Ref}
	o.info("graph data from %s: image %s built on %s", src, built.Digest, o.GraphBaseImage)
	return laid, nil
}

// cleanupGraph removes the folder the graph-data image was built in.
func (o *Options) cleanupGraph() {
	if o.graphDir != "" {
		os.RemoveAll(o.graphDir)
	}
}

// graphSource reads the graph-data image from where it was built, every
// other item from src.
type graphSource struct {
	mirror.Source
	built map[string]types.ImageReference
}

func (s graphSource) SourceRef(it plan.Item) (types.ImageReference, error) {
	if ref, ok := s.built[it.Source]; ok && it.Kind == graph.Kind {
		return ref, nil
	}
	return s.Source.SourceRef(it)
}

func (o *Options) sourceWithGraph(src mirror.Source) mirror.Source {
	if len(o.graphRefs) == 0 {
		return src
	}
	return graphSource{Source: src, built: o.graphRefs}
}

// updateServiceObjects are the UpdateService, and the registry CA
// ConfigMap when --cert-dir holds a CA, for a plan with the graph-data
// image placed below root.
func (o *Options) updateServiceObjects(p *plan.Plan, root string) ([]*unstructured.Unstructured, error) {
	ca, err := o.registryCA()
	if err != nil {
		return nil, err
	}
	objs, err := graph.Objects(p, root, o.MaxNestedPaths, ca)
	if err != nil {
		return nil, cli.BadInput(err)
	}
	return objs, nil
}

// registryCA is the CAs of --cert-dir (its *.crt files, as containers/image
// reads them), or nil.
func (o *Options) registryCA() ([]byte, error) {
	if o.Registry.CertDir == "" {
		return nil, nil
	}
	files, err := filepath.Glob(filepath.Join(o.Registry.CertDir, "*.crt"))
	if err != nil {
		return nil, err
	}
	sort.Strings(files)
	var out []byte
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			return nil, cli.BadInputf("--cert-dir: %w", err)
		}
		if len(out) > 0 && out[len(out)-1] != '\n' {
			out = append(out, '\n')
		}
		out = append(out, b...)
	}
	return out, nil
}

// withoutGraph is p without the graph-data image, which no mirror object
// names: it mirrors nothing.
func withoutGraph(p *plan.Plan) *plan.Plan {
	rest, _, _ := graph.Split(p)
	return rest
}
