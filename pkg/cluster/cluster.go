// Package cluster talks to the API server for the plugins: it lists the
// OpenShift objects they read, applies and deletes the ones they write, and
// retries the failures that are safe to retry.
package cluster

import (
	"context"
	"errors"
	"fmt"
	"os"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/cli-runtime/pkg/genericclioptions"
	"k8s.io/client-go/dynamic"

	"github.com/airgap-ocp/oc-plugins/pkg/retry"
)

// Resources the plugins read and write.
var (
	ICSPResource  = schema.GroupVersionResource{Group: "operator.openshift.io", Version: "v1alpha1", Resource: "imagecontentsourcepolicies"}
	IDMSResource  = schema.GroupVersionResource{Group: "config.openshift.io", Version: "v1", Resource: "imagedigestmirrorsets"}
	ITMSResource  = schema.GroupVersionResource{Group: "config.openshift.io", Version: "v1", Resource: "imagetagmirrorsets"}
	ImageResource = schema.GroupVersionResource{Group: "config.openshift.io", Version: "v1", Resource: "images"}
)

// ImageConfigName is the name of the cluster's one image.config.openshift.io object.
const ImageConfigName = "cluster"

// Retry is how cluster calls are retried on transient failures: five tries
// over about eight seconds.
var Retry = retry.Policy{Attempts: 5, Base: 500 * time.Millisecond, Max: 8 * time.Second}

// Client is a connection to one cluster.
type Client struct {
	Dynamic dynamic.Interface
	Mapper  meta.RESTMapper
	// FieldManager names the writer in server-side apply: the plugin's name.
	FieldManager string

	none bool // no cluster is configured: every call fails with ErrNoCluster
}

// usable is ErrNoCluster for a client New made without a cluster.
func (c *Client) usable() error {
	if c.none {
		return badInput(ErrNoCluster)
	}
	return nil
}

// ErrNoCluster is New's answer when the kubeconfig flags point at no cluster at all.
var ErrNoCluster = errors.New("no cluster to connect to: no kubeconfig names one (--kubeconfig, KUBECONFIG or ~/.kube/config) and no --server was given")

// New connects to the cluster the kubeconfig flags point at. When they point at none,
// client-go would try http://localhost:8080: the client then sends nothing, and its first
// call fails with ErrNoCluster (bad input), so that a command finds its usage errors first.
func New(getter genericclioptions.RESTClientGetter, fieldManager string) (*Client, error) {
	if f, ok := getter.(*genericclioptions.ConfigFlags); ok {
		if _, err := f.ToRawKubeConfigLoader().RawConfig(); err != nil {
			return nil, badInput(fmt.Errorf("loading kubeconfig: %w", err))
		}
		if !Configured(f) {
			return &Client{FieldManager: fieldManager, none: true}, nil
		}
	}
	cfg, err := getter.ToRESTConfig()
	if err != nil {
		return nil, badInput(fmt.Errorf("loading kubeconfig: %w", err))
	}
	dyn, err := dynamic.NewForConfig(cfg)
	if err != nil {
		return nil, badInput(fmt.Errorf("configuring client for %s: %w", cfg.Host, err))
	}
	mapper, err := getter.ToRESTMapper()
	if err != nil {
		return nil, failed(fmt.Errorf("discovering the API of %s: %w", cfg.Host, err))
	}
	return &Client{Dynamic: dyn, Mapper: mapper, FieldManager: fieldManager}, nil
}

// do runs fn, retrying transient failures, and wraps a final error with what
// was being done.
func do(ctx context.Context, what string, fn func(context.Context) error) error {
	if err := retry.Do(ctx, Retry, fn); err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	return nil
}

// List returns the objects of a cluster-scoped resource, or of a namespace
// ("" for all namespaces of a namespaced one), that match a label selector
// ("" for all), sorted by namespace and name. A resource the server does not
// serve has no objects: an OpenShift cluster older than 4.13 has no
// ImageDigestMirrorSet, and none is what it holds.
func (c *Client) List(ctx context.Context, gvr schema.GroupVersionResource, namespace, selector string) ([]*unstructured.Unstructured, error) {
	if err := c.usable(); err != nil {
		return nil, err
	}
	var list *unstructured.UnstructuredList
	err := do(ctx, "listing "+gvr.GroupResource().String(), func(ctx context.Context) error {
		var err error
		list, err = c.Dynamic.Resource(gvr).Namespace(namespace).List(ctx, metav1.ListOptions{LabelSelector: selector})
		return err
	})
	if notServed(err) {
		return nil, nil
	}
	if err != nil {
		return nil, denied(err, "list", gvr, namespace)
	}
	out := make([]*unstructured.Unstructured, 0, len(list.Items))
	for i := range list.Items {
		out = append(out, &list.Items[i])
	}
	return out, nil
}

// Get returns one object (namespace "" for a cluster-scoped resource), or
// nil without error when it does not exist.
func (c *Client) Get(ctx context.Context, gvr schema.GroupVersionResource, namespace, name string) (*unstructured.Unstructured, error) {
	if err := c.usable(); err != nil {
		return nil, err
	}
	what := fmt.Sprintf("getting %s/%s", gvr.GroupResource(), name)
	if namespace != "" {
		what += fmt.Sprintf(" in namespace %q", namespace)
	}
	var obj *unstructured.Unstructured
	err := do(ctx, what, func(ctx context.Context) error {
		var err error
		obj, err = c.Dynamic.Resource(gvr).Namespace(namespace).Get(ctx, name, metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			obj, err = nil, nil
		}
		return err
	})
	if err != nil {
		return nil, denied(err, "get", gvr, namespace)
	}
	return obj, nil
}

// notServed reports whether err is the API server's answer to a list of a
// resource it does not serve. A list names no object, so its 404 can only
// mean that the resource is unknown (a namespace that does not exist lists
// as empty).
func notServed(err error) bool {
	return apierrors.IsNotFound(err)
}

func (c *Client) resourceFor(obj *unstructured.Unstructured) (dynamic.ResourceInterface, string, error) {
	if err := c.usable(); err != nil {
		return nil, "", err
	}
	gvk := obj.GroupVersionKind()
	m, err := c.Mapper.RESTMapping(gvk.GroupKind(), gvk.Version)
	if err != nil {
		return nil, "", failed(fmt.Errorf("finding the resource for %s: %w", gvk, err))
	}
	what := m.Resource.GroupResource().String() + "/" + obj.GetName()
	if m.Scope.Name() == meta.RESTScopeNameNamespace {
		return c.Dynamic.Resource(m.Resource).Namespace(obj.GetNamespace()), what, nil
	}
	return c.Dynamic.Resource(m.Resource), what, nil
}

// Apply server-side-applies obj under the client's field manager. With dryRun
// the server validates and defaults the object but stores nothing.
func (c *Client) Apply(ctx context.Context, obj *unstructured.Unstructured, dryRun bool) (*unstructured.Unstructured, error) {
	res, what, err := c.resourceFor(obj)
	if err != nil {
		return nil, err
	}
	opts := metav1.ApplyOptions{FieldManager: c.FieldManager}
	if dryRun {
		opts.DryRun = []string{metav1.DryRunAll}
	}
	var out *unstructured.Unstructured
	err = do(ctx, "applying "+what, func(ctx context.Context) error {
		var err error
		out, err = res.Apply(ctx, obj.GetName(), obj, opts)
		return err
	})
	if err != nil {
		if apierrors.IsInvalid(err) || apierrors.IsBadRequest(err) {
			return nil, badInput(err)
		}
		return nil, failed(err)
	}
	return out, nil
}

// Delete deletes obj only if the object in the cluster is still the one
// described (same UID and resourceVersion), so nothing changed since it was
// read is lost. An object already gone is not an error.
func (c *Client) Delete(ctx context.Context, obj *unstructured.Unstructured, dryRun bool) error {
	res, what, err := c.resourceFor(obj)
	if err != nil {
		return err
	}
	uid, rv := obj.GetUID(), obj.GetResourceVersion()
	opts := metav1.DeleteOptions{Preconditions: &metav1.Preconditions{UID: &uid, ResourceVersion: &rv}}
	if dryRun {
		opts.DryRun = []string{metav1.DryRunAll}
	}
	err = do(ctx, "deleting "+what, func(ctx context.Context) error {
		err := res.Delete(ctx, obj.GetName(), opts)
		if apierrors.IsNotFound(err) {
			return nil
		}
		return err
	})
	if err != nil {
		if apierrors.IsConflict(err) {
			return failed(fmt.Errorf("%w (it changed after it was read; run again)", err))
		}
		return failed(err)
	}
	return nil
}

// Configured reports whether the kubeconfig flags point at a cluster: --server, a kubeconfig
// (--kubeconfig, KUBECONFIG or ~/.kube/config) that names one, or a pod's in-cluster config.
// Without any, client-go would try http://localhost:8080; a command that can do without a
// cluster then leaves it alone.
func Configured(flags *genericclioptions.ConfigFlags) bool {
	if flags == nil {
		return false
	}
	if flags.APIServer != nil && *flags.APIServer != "" {
		return true
	}
	if os.Getenv("KUBERNETES_SERVICE_HOST") != "" && os.Getenv("KUBERNETES_SERVICE_PORT") != "" {
		return true
	}
	raw, err := flags.ToRawKubeConfigLoader().RawConfig()
	return err == nil && len(raw.Clusters) > 0
}
