package retire

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/containers/image/v5/docker/reference"

	"github.com/airgap-ocp/oc-plugins/pkg/cluster"
	"github.com/airgap-ocp/oc-plugins/pkg/manifest"
	"github.com/airgap-ocp/oc-plugins/pkg/mirrorset"
)

// Conflict is a manifest of the plan a cluster uses.
type Conflict struct {
	Cluster  string
	Image    string
	Where    string
	Manifest Manifest
}

func (c Conflict) String() string {
	return fmt.Sprintf("cluster %s uses %s (%s, as %s in %s)", c.Cluster, c.Manifest.Ref(), c.Manifest.Reason, c.Image, c.Where)
}

// ClusterConflicts reads what the cluster (named name in messages) uses:
// the release images of its ClusterVersion, its pods' images and its
// catalogs, each followed through the cluster's own mirror objects as its
// nodes pull it, and returns every manifest of the plan among them. When
// the cluster's mirror configuration cannot be rendered, every image it
// names by digest is matched by digest in any repository instead, and a
// warning says so.
func (p *Plan) ClusterConflicts(ctx context.Context, name string, c *cluster.Client) ([]Conflict, []string, error) {
	uses, err := c.ImagesInUse(ctx)
	if err != nil {
		return nil, nil, err
	}
	objs, labels, err := c.MirrorObjects(ctx)
	if err != nil {
		return nil, nil, err
	}
	in := make([]manifest.Object, len(objs))
	for i, u := range objs {
		in[i] = manifest.Object{Unstructured: u, Source: manifest.Source{File: labels[i]}}
	}
	var conf []byte
	var warnings []string
	col, err := mirrorset.Collect(in)
	if err == nil {
		conf, err = col.Config.Render()
	}
	if err != nil {
		warnings = append(warnings, fmt.Sprintf("cluster %s: its mirror configuration does not render (%v): images are matched by digest in every repository", name, err))
		conf = nil
	}
	return p.Conflicts(name, uses, conf), warnings, nil
}

// Conflicts returns the manifests of the plan (and the catalogs of its
// Listing) that uses name, pulled
// through registriesConf (nil: matched by digest alone): a reference by
// digest matches that manifest in the repository of each place a node
// would pull it from (the image as named, then its mirrors); a reference by
// tag matches the manifest that tag names there.
func (p *Plan) Conflicts(name string, uses []cluster.ImageUse, registriesConf []byte) []Conflict {
	byRef := map[string]int{}
	byDigest := map[string][]int{}
	used := append(slices.Clip(p.Delete), p.Listing...)
	for i, m := range used {
		byRef[m.Ref()] = i
		byDigest[m.Digest.String()] = append(byDigest[m.Digest.String()], i)
		for _, t := range m.Tags {
			byRef[m.Repository+":"+t] = i
		}
	}
	var out []Conflict
	for _, u := range uses {
		named, err := reference.ParseNormalizedNamed(u.Image)
		if err != nil {
			continue // not a pull spec a node could pull either
		}
		named = reference.TagNameOnly(named)
		hits := map[int]bool{}
		if registriesConf == nil {
			if d, ok := named.(reference.Digested); ok {
				for _, i := range byDigest[d.Digest().String()] {
					hits[i] = true
				}
			}
		}
		places := []string{named.String()}
		if registriesConf != nil {
			if res, err := mirrorset.Resolve("the cluster's registries.conf", registriesConf, named.String()); err == nil {
				for _, s := range res.Sources {
					if s.Used {
						places = append(places, s.Reference)
					}
				}
			}
		}
		for _, pl := range places {
			if i, ok := byRef[strings.TrimPrefix(pl, "docker://")]; ok {
				hits[i] = true
			}
		}
		for i := range used {
			if hits[i] {
				out = append(out, Conflict{Cluster: name, Image: u.Image, Where: u.Where, Manifest: used[i]})
			}
		}
	}
	return out
}
