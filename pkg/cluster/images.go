package cluster

import (
	"context"
	"fmt"
	"strings"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// Resources that name the images a cluster runs or will pull.
var (
	PodResource            = schema.GroupVersionResource{Version: "v1", Resource: "pods"}
	CatalogSourceResource  = schema.GroupVersionResource{Group: "operators.coreos.com", Version: "v1alpha1", Resource: "catalogsources"}
	ClusterCatalogResource = schema.GroupVersionResource{Group: "olm.operatorframework.io", Version: "v1", Resource: "clustercatalogs"}
)

// ImageUse is an image a cluster uses, as an object names it (a pull spec
// by tag or digest, before any mirror is applied), and where.
type ImageUse struct {
	Image string
	// Where names the object and field: "clusterversion/version status.history[1]".
	Where string
}

// ImagesInUse lists the images the cluster depends on: the release images of
// the ClusterVersion (the update asked for, the desired one and every one in
// its history, since a rollback or a node that has not updated yet pulls
// them), every container image of every pod (with the digest CRI-O pulled,
// from its status), and the images of CatalogSources and ClusterCatalogs. A
// kind the cluster does not serve has none.
func (c *Client) ImagesInUse(ctx context.Context) ([]ImageUse, error) {
	var out []ImageUse
	add := func(image, where string) {
		if image = strings.TrimSpace(image); image != "" {
			out = append(out, ImageUse{Image: image, Where: where})
		}
	}
	cv, err := c.Get(ctx, ClusterVersionResource, "", ClusterVersionName)
	if err != nil {
		return nil, err
	}
	if cv != nil {
		where := "clusterversion/" + ClusterVersionName + " "
		s, _, _ := unstructured.NestedString(cv.Object, "spec", "desiredUpdate", "image")
		add(s, where+"spec.desiredUpdate.image")
		s, _, _ = unstructured.NestedString(cv.Object, "status", "desired", "image")
		add(s, where+"status.desired.image")
		history, _, _ := unstructured.NestedSlice(cv.Object, "status", "history")
		for i, h := range history {
			if m, ok := h.(map[string]any); ok {
				s, _ := m["image"].(string)
				add(s, fmt.Sprintf("%sstatus.history[%d].image (%v)", where, i, m["version"]))
			}
		}
	}
	pods, err := c.List(ctx, PodResource, "", "")
	if err != nil {
		return nil, err
	}
	for _, p := range pods {
		where := fmt.Sprintf("pod %s/%s", p.GetNamespace(), p.GetName())
		for _, list := range []string{"initContainers", "containers", "ephemeralContainers"} {
			cs, _, _ := unstructured.NestedSlice(p.Object, "spec", list)
			for _, ci := range cs {
				if m, ok := ci.(map[string]any); ok {
					s, _ := m["image"].(string)
					add(s, fmt.Sprintf("%s container %v", where, m["name"]))
				}
			}
		}
		for _, list := range []string{"initContainerStatuses", "containerStatuses", "ephemeralContainerStatuses"} {
			cs, _, _ := unstructured.NestedSlice(p.Object, "status", list)
			for _, ci := range cs {
				m, ok := ci.(map[string]any)
				if !ok {
					continue
				}
				// CRI-O reports the pull spec by digest it pulled; a bare
				// image ID names no repository and tells nothing more.
				id, _ := m["imageID"].(string)
				if _, rest, ok := strings.Cut(id, "://"); ok {
					id = rest
				}
				if strings.Contains(id, "@") {
					add(id, fmt.Sprintf("%s container %v (running)", where, m["name"]))
				}
			}
		}
	}
	sources, err := c.List(ctx, CatalogSourceResource, "", "")
	if err != nil {
		return nil, err
	}
	for _, cs := range sources {
		s, _, _ := unstructured.NestedString(cs.Object, "spec", "image")
		add(s, fmt.Sprintf("catalogsource %s/%s", cs.GetNamespace(), cs.GetName()))
	}
	catalogs, err := c.List(ctx, ClusterCatalogResource, "", "")
	if err != nil {
		return nil, err
	}
	for _, cc := range catalogs {
		s, _, _ := unstructured.NestedString(cc.Object, "spec", "source", "image", "ref")
		add(s, "clustercatalog "+cc.GetName())
	}
	return out, nil
}

// MirrorObjects reads what decides where the cluster's nodes pull from:
// every ImageContentSourcePolicy, ImageDigestMirrorSet and
// ImageTagMirrorSet, and the Image config named cluster, each labelled
// "cluster <resource>/<name>".
func (c *Client) MirrorObjects(ctx context.Context) (objs []*unstructured.Unstructured, labels []string, err error) {
	for _, gvr := range []schema.GroupVersionResource{IDMSResource, ITMSResource, ICSPResource} {
		list, err := c.List(ctx, gvr, "", "")
		if err != nil {
			return nil, nil, err
		}
		for _, u := range list {
			objs, labels = append(objs, u), append(labels, "cluster "+gvr.Resource+"/"+u.GetName())
		}
	}
	u, err := c.Get(ctx, ImageResource, "", ImageConfigName)
	if err != nil {
		return nil, nil, err
	}
	if u != nil {
		objs, labels = append(objs, u), append(labels, "cluster "+ImageResource.Resource+"/"+ImageConfigName)
	}
	return objs, labels, nil
}
