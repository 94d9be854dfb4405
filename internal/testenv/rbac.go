package testenv

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	authorizationv1 "k8s.io/api/authorization/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
)

// User is a user of a test cluster that may do only what its RBAC rules
// allow (the API server authorizes with RBAC), unlike Cluster.Config, which
// is a cluster admin.
type User struct {
	// Name is the user name the API server sees.
	Name string
	// Config authenticates as the user.
	Config *rest.Config
	// Kubeconfig is the path of a kubeconfig file for Config.
	Kubeconfig string
}

// AddUser adds a user, named prefix plus a random suffix, whose only
// permissions are rules, granted cluster-wide by a ClusterRole and
// ClusterRoleBinding (removed when the test ends) on top of what every
// authenticated user may do. It fails the test when the user cannot be
// added.
func (c *Cluster) AddUser(t testing.TB, prefix string, rules ...rbacv1.PolicyRule) *User {
	t.Helper()
	name := UniqueName(prefix)
	au, err := c.env.AddUser(envtest.User{Name: name}, nil)
	if err != nil {
		t.Fatalf("adding user %s to the test cluster: %v", name, err)
	}
	kubeconfig, err := au.KubeConfig()
	if err != nil {
		t.Fatalf("writing a kubeconfig for user %s: %v", name, err)
	}
	path := filepath.Join(t.TempDir(), "kubeconfig-"+name)
	if err := os.WriteFile(path, kubeconfig, 0o600); err != nil {
		t.Fatal(err)
	}

	cs, err := kubernetes.NewForConfig(c.Config)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	meta := metav1.ObjectMeta{Name: name}
	role := &rbacv1.ClusterRole{ObjectMeta: meta, Rules: rules}
	binding := &rbacv1.ClusterRoleBinding{
		ObjectMeta: meta,
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: name},
		Subjects:   []rbacv1.Subject{{APIGroup: rbacv1.GroupName, Kind: rbacv1.UserKind, Name: name}},
	}
	if _, err := cs.RbacV1().ClusterRoles().Create(ctx, role, metav1.CreateOptions{}); err != nil {
		t.Fatalf("creating ClusterRole %s: %v", name, err)
	}
	t.Cleanup(func() { _ = cs.RbacV1().ClusterRoles().Delete(context.Background(), name, metav1.DeleteOptions{}) })
	if _, err := cs.RbacV1().ClusterRoleBindings().Create(ctx, binding, metav1.CreateOptions{}); err != nil {
		t.Fatalf("creating ClusterRoleBinding %s: %v", name, err)
	}
	t.Cleanup(func() {
		_ = cs.RbacV1().ClusterRoleBindings().Delete(context.Background(), name, metav1.DeleteOptions{})
	})
	u := &User{Name: name, Config: au.Config(), Kubeconfig: path}
	if err := waitForRules(ctx, u.Config, rules); err != nil {
		t.Fatalf("user %s: %v", name, err)
	}
	return u
}

// waitForRules waits until the API server's authorizer, which learns of RBAC
// objects through a watch, allows what the first rule grants.
func waitForRules(ctx context.Context, cfg *rest.Config, rules []rbacv1.PolicyRule) error {
	if len(rules) == 0 || len(rules[0].Verbs) == 0 {
		return nil
	}
	r := rules[0]
	attrs := &authorizationv1.ResourceAttributes{Verb: r.Verbs[0]}
	if len(r.APIGroups) > 0 {
		attrs.Group = r.APIGroups[0]
	}
	if len(r.Resources) > 0 {
		attrs.Resource = r.Resources[0]
	}
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	for {
		review := &authorizationv1.SelfSubjectAccessReview{Spec: authorizationv1.SelfSubjectAccessReviewSpec{ResourceAttributes: attrs}}
		res, err := cs.AuthorizationV1().SelfSubjectAccessReviews().Create(ctx, review, metav1.CreateOptions{})
		if err == nil && res.Status.Allowed {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("the API server does not allow %s %s.%s yet: %v", attrs.Verb, attrs.Resource, attrs.Group, err)
		case <-time.After(50 * time.Millisecond):
		}
	}
}
