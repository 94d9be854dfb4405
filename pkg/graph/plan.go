package graph

import (
	"fmt"
	"path"

	"github.com/containers/image/v5/docker/reference"
	digest "github.com/opencontainers/go-digest"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/airgap-ocp/oc-plugins/pkg/plan"
	us "github.com/airgap-ocp/oc-plugins/pkg/updateservice"
)

// Where oc-mirror v2 puts a release below the mirror's root when the graph
// is mirrored: the update service's graph builder scrapes a repository of
// release images alone (UpdateService spec.releases), for one holding
// every component too is more than it can read (OCPBUGS-2154).
const (
	ReleaseImagesPath = "openshift/release-images"
	ReleasePath       = "openshift/release"
)

// Kind is the plan item kind of the graph-data image.
const Kind plan.Kind = "graph-image"

// SourceName stands for the graph-data image as a plan's source: it is
// built, not pulled (.invalid is a name no registry can have).
const SourceName = "graph-data.invalid/" + Repository

// Layout returns p with its release images below base/ReleaseImagesPath
// and their components below base/ReleasePath, every other item as it was.
func Layout(p *plan.Plan, base string) (*plan.Plan, error) {
	out := &plan.Plan{Name: p.Name, Releases: p.Releases, Merged: p.Merged}
	items := make([]plan.Item, len(p.Items))
	for i, it := range p.Items {
		switch it.Kind {
		case plan.ReleaseImage:
			it.Path = join(base, ReleaseImagesPath)
		case plan.ReleaseComponent:
			it.Path = join(base, ReleasePath)
		}
		items[i] = it
	}
	if err := out.Add(items...); err != nil {
		return nil, err
	}
	return out, nil
}

func join(base, p string) string {
	if base == "" {
		return p
	}
	return path.Join(base, p)
}

// Item is the plan item of a graph-data image of digest d, placed below base.
func Item(d digest.Digest, base string) plan.Item {
	return plan.Item{Source: SourceName + "@" + d.String(), Digest: d, Path: join(base, Repository), Tag: Tag, Kind: Kind, Origin: "graph data"}
}

// Split returns p without its graph-data image, and that image's item (the
// zero item and false when p has none). The image is no mirror of anything:
// no mirror object names it.
func Split(p *plan.Plan) (*plan.Plan, plan.Item, bool) {
	var g plan.Item
	found := false
	out := &plan.Plan{Name: p.Name, Releases: p.Releases, Merged: p.Merged}
	var rest []plan.Item
	for _, it := range p.Items {
		if it.Kind == Kind {
			g, found = it, true
			continue
		}
		rest = append(rest, it)
	}
	if !found {
		return p, plan.Item{}, false
	}
	if err := out.Add(rest...); err != nil {
		return p, g, true // p held them once already
	}
	return out, g, true
}

// Objects are what make a cluster's update service use a mirror that p
// filled below root: the UpdateService (releases from the repository of
// the release images, the graph-data image by digest) and, when caPEM is
// given, the registry CA ConfigMap image.config must name. None when p has
// no graph-data image.
func Objects(p *plan.Plan, root string, maxNested int, caPEM []byte) ([]*unstructured.Unstructured, error) {
	_, g, ok := Split(p)
	if !ok {
		return nil, nil
	}
	graphRepo, err := plan.NestPaths(g.Repo(root), maxNested)
	if err != nil {
		return nil, err
	}
	var releases string
	for _, it := range p.Items {
		if it.Kind == plan.ReleaseImage {
			if releases, err = plan.NestPaths(it.Repo(root), maxNested); err != nil {
				return nil, err
			}
			break
		}
	}
	if releases == "" {
		return nil, fmt.Errorf("the graph data is mirrored without a release: an update service needs the release images")
	}
	svc := us.New(us.DefaultName, us.Spec{Releases: releases, GraphDataImage: graphRepo + "@" + g.Digest.String()})
	out := []*unstructured.Unstructured{svc}
	if len(caPEM) > 0 {
		named, err := reference.ParseNormalizedNamed(releases)
		if err != nil {
			return nil, err
		}
		out = append([]*unstructured.Unstructured{us.RegistryCAConfigMap(RegistryCAName, reference.Domain(named), caPEM)}, out...)
	}
	return out, nil
}

// RegistryCAName is the name of the registry CA ConfigMap Objects prints.
const RegistryCAName = "mirror-registry-ca"
