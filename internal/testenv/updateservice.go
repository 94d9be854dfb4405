package testenv

import (
	"context"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"
)

var updateServices = schema.GroupVersionResource{Group: "updateservice.operator.openshift.io", Version: "v1", Resource: "updateservices"}

// StandInForUpdateServiceOperator does the part of the OpenShift Update
// Service operator's work the tests rely on, which cannot run here: once
// the UpdateService name exists in openshift-update-service, it publishes
// uri (its route, in a real cluster) as status.policyEngineURI, with a
// ReconcileCompleted condition. It stops when the test ends.
func (c *Cluster) StandInForUpdateServiceOperator(t testing.TB, name, uri string) {
	t.Helper()
	d, err := dynamic.NewForConfig(c.Config)
	if err != nil {
		t.Fatal(err)
	}
	res := d.Resource(updateServices).Namespace("openshift-update-service")
	ctx, cancel := context.WithCancel(context.Background())
	w, err := res.Watch(ctx, metav1.ListOptions{FieldSelector: "metadata.name=" + name})
	if err != nil {
		cancel()
		t.Fatalf("watching updateservice/%s: %v", name, err)
	}
	done := make(chan struct{})
	t.Cleanup(func() { cancel(); w.Stop(); <-done })
	go func() {
		defer close(done)
		for ev := range w.ResultChan() {
			u, ok := ev.Object.(*unstructured.Unstructured)
			if !ok {
				continue
			}
			if now, _, _ := unstructured.NestedString(u.Object, "status", "policyEngineURI"); now == uri {
				continue
			}
			u.Object["status"] = map[string]interface{}{
				"policyEngineURI": uri,
				"conditions": []interface{}{map[string]interface{}{
					"type": "ReconcileCompleted", "status": "True", "reason": "Reconciled",
					"lastTransitionTime": "2026-01-01T00:00:00Z", "lastHeartbeatTime": "2026-01-01T00:00:00Z",
				}},
			}
			_, _ = res.UpdateStatus(ctx, u, metav1.UpdateOptions{})
		}
	}()
}
