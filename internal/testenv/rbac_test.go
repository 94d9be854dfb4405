package testenv

import (
	"context"
	"testing"

	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"
)

func TestAddUserGrantsOnlyItsRules(t *testing.T) {
	c := SharedCluster(t)
	u := c.AddUser(t, "reader", rbacv1.PolicyRule{Verbs: []string{"get", "list"}, APIGroups: []string{""}, Resources: []string{"namespaces"}})

	// The kubeconfig file authenticates as the user, as the Config does.
	cfg, err := clientcmd.BuildConfigFromFlags("", u.Kubeconfig)
	if err != nil {
		t.Fatal(err)
	}
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if _, err := cs.CoreV1().Namespaces().List(ctx, metav1.ListOptions{}); err != nil {
		t.Errorf("listing namespaces, which the rules allow: %v", err)
	}
	_, err = cs.CoreV1().ConfigMaps("openshift-config").List(ctx, metav1.ListOptions{})
	if !apierrors.IsForbidden(err) {
		t.Errorf("listing configmaps, which the rules do not allow: got %v, want forbidden", err)
	}
}

func TestClusterServesTheClusterAPIMachineHealthCheck(t *testing.T) {
	c := SharedCluster(t)
	cs, err := kubernetes.NewForConfig(c.Config)
	if err != nil {
		t.Fatal(err)
	}
	res, err := cs.Discovery().ServerResourcesForGroupVersion("cluster.x-k8s.io/v1beta1")
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, r := range res.APIResources {
		found = found || r.Name == "machinehealthchecks"
	}
	if !found {
		t.Errorf("cluster.x-k8s.io/v1beta1 serves %v, no machinehealthchecks", res.APIResources)
	}
}
