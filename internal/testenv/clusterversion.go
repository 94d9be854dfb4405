package testenv

import (
	"context"
	"testing"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"
)

// ReleaseRef is a release in a ClusterVersion: its version and image.
type ReleaseRef struct {
	Version, Image string
}

var clusterVersionResource = schema.GroupVersionResource{Group: "config.openshift.io", Version: "v1", Resource: "clusterversions"}

// SetClusterVersion makes the ClusterVersion named version say, as the
// Cluster Version Operator writes it, that the cluster runs desired and
// ran history before (newest first, desired's entry added on top), and
// deletes it when the test ends.
func (c *Cluster) SetClusterVersion(t testing.TB, desired ReleaseRef, history ...ReleaseRef) {
	t.Helper()
	ctx := context.Background()
	dyn, err := dynamic.NewForConfig(c.Config)
	if err != nil {
		t.Fatal(err)
	}
	res := dyn.Resource(clusterVersionResource)
	cv, err := res.Get(ctx, "version", metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		cv, err = res.Create(ctx, &unstructured.Unstructured{Object: map[string]any{
			"apiVersion": "config.openshift.io/v1", "kind": "ClusterVersion",
			"metadata": map[string]any{"name": "version"},
			"spec":     map[string]any{"clusterID": "6a8e4ed0-3f0b-4b8a-9d1c-0d5f7e0e9a11"},
		}}, metav1.CreateOptions{})
		t.Cleanup(func() { _ = res.Delete(context.Background(), "version", metav1.DeleteOptions{}) })
	}
	if err != nil {
		t.Fatalf("creating the ClusterVersion: %v", err)
	}
	entries := []any{map[string]any{
		"state": "Completed", "startedTime": "2026-11-23T09:00:00Z", "completionTime": "2026-11-23T10:00:00Z",
		"version": desired.Version, "image": desired.Image, "verified": true,
	}}
	for _, h := range history {
		entries = append(entries, map[string]any{
			"state": "Completed", "startedTime": "2026-11-01T09:00:00Z", "completionTime": "2026-11-01T10:00:00Z",
			"version": h.Version, "image": h.Image, "verified": true,
		})
	}
	cv.Object["status"] = map[string]any{
		"desired":            map[string]any{"version": desired.Version, "image": desired.Image},
		"history":            entries,
		"observedGeneration": int64(1),
		"versionHash":        "x",
		"availableUpdates":   nil,
	}
	if _, err := res.UpdateStatus(ctx, cv, metav1.UpdateOptions{}); err != nil {
		t.Fatalf("setting the ClusterVersion's status: %v", err)
	}
}
