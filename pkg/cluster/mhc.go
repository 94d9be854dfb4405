package cluster

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/util/retry"
)

// MachineHealthCheck resources of the Machine API (what OpenShift runs) and
// of the Cluster API, and the objects that say whether an update is running.
var (
	MAPIMachineHealthCheckResource = schema.GroupVersionResource{Group: "machine.openshift.io", Version: "v1beta1", Resource: "machinehealthchecks"}
	CAPIMachineHealthCheckResource = schema.GroupVersionResource{Group: "cluster.x-k8s.io", Version: "v1beta1", Resource: "machinehealthchecks"}
	ClusterVersionResource         = schema.GroupVersionResource{Group: "config.openshift.io", Version: "v1", Resource: "clusterversions"}
	MachineConfigPoolResource      = schema.GroupVersionResource{Group: "machineconfiguration.openshift.io", Version: "v1", Resource: "machineconfigpools"}
	selfSubjectReviewResource      = schema.GroupVersionResource{Group: "authentication.k8s.io", Version: "v1", Resource: "selfsubjectreviews"}
)

// ClusterVersionName is the name of the cluster's one ClusterVersion.
const ClusterVersionName = "version"

// Served reports whether the cluster serves gvr. A cluster that cannot be
// asked is an error (exit 3).
func (c *Client) Served(gvr schema.GroupVersionResource) (bool, error) {
	if err := c.usable(); err != nil {
		return false, err
	}
	_, err := c.Mapper.KindFor(gvr)
	if meta.IsNoMatchError(err) {
		return false, nil
	}
	if err != nil {
		return false, failed(fmt.Errorf("discovering whether the cluster serves %s: %w", gvr.GroupResource(), err))
	}
	return true, nil
}

// MergePatchFunc decides the JSON merge patch to send for the object as it
// is now in the cluster; nil means there is nothing to change.
type MergePatchFunc func(live *unstructured.Unstructured) (map[string]interface{}, error)

// MergePatch changes one object with a JSON merge patch that carries the
// resourceVersion of the object it was decided on, so the patch fails with a
// conflict when the object changed in between. On a conflict the object is
// read again and decide asked again, a few times. live is the object as last
// read. It returns the object decide last saw, and what the server returned
// (nil when decide wanted no change). With dryRun the server checks the
// patch (admission, validation, RBAC) and stores nothing.
func (c *Client) MergePatch(ctx context.Context, gvr schema.GroupVersionResource, live *unstructured.Unstructured, dryRun bool, decide MergePatchFunc) (seen, out *unstructured.Unstructured, err error) {
	if err := c.usable(); err != nil {
		return live, nil, err
	}
	ns, name := live.GetNamespace(), live.GetName()
	res := c.Dynamic.Resource(gvr).Namespace(ns)
	opts := metav1.PatchOptions{FieldManager: c.FieldManager}
	if dryRun {
		opts.DryRun = []string{metav1.DryRunAll}
	}
	what := fmt.Sprintf("patching %s %q in namespace %q", gvr.GroupResource(), name, ns)
	seen = live
	var getErr error
	err = retry.RetryOnConflict(retry.DefaultRetry, func() error {
		out = nil
		patch, err := decide(seen)
		if err != nil || patch == nil {
			return err
		}
		md, _ := patch["metadata"].(map[string]interface{})
		if md == nil {
			md = map[string]interface{}{}
			patch["metadata"] = md
		}
		md["resourceVersion"] = seen.GetResourceVersion()
		data, err := json.Marshal(patch)
		if err != nil {
			return err
		}
		err = do(ctx, what, func(ctx context.Context) error {
			var err error
			out, err = res.Patch(ctx, name, types.MergePatchType, data, opts)
			return err
		})
		if apierrors.IsConflict(err) {
			// Changed under us: decide again on what is there now.
			fresh, gerr := c.Get(ctx, gvr, ns, name)
			if gerr != nil {
				getErr = gerr
				return gerr
			}
			if fresh == nil {
				return fmt.Errorf("%s: it was deleted while being changed", what)
			}
			seen = fresh
		}
		return err
	})
	if err != nil {
		if getErr != nil {
			return seen, nil, getErr
		}
		if apierrors.IsConflict(err) {
			return seen, nil, failed(fmt.Errorf("%w (it kept changing; run again)", err))
		}
		if apierrors.IsInvalid(err) || apierrors.IsBadRequest(err) {
			return seen, nil, badInput(err)
		}
		return seen, nil, denied(err, "patch", gvr, ns)
	}
	return seen, out, nil
}

// WhoAmI returns the user name the cluster knows the client as, or "" when
// the cluster will not say.
func (c *Client) WhoAmI(ctx context.Context) string {
	if c.none {
		return ""
	}
	review := &unstructured.Unstructured{Object: map[string]interface{}{
		"apiVersion": "authentication.k8s.io/v1", "kind": "SelfSubjectReview",
	}}
	var out *unstructured.Unstructured
	err := do(ctx, "asking who we are", func(ctx context.Context) error {
		var err error
		out, err = c.Dynamic.Resource(selfSubjectReviewResource).Create(ctx, review, metav1.CreateOptions{})
		return err
	})
	if err != nil {
		return ""
	}
	name, _, _ := unstructured.NestedString(out.Object, "status", "userInfo", "username")
	return name
}

// UpdateState says whether a cluster update is running.
type UpdateState struct {
	// Known is false when the cluster has no ClusterVersion to ask.
	Known bool
	// InProgress: the ClusterVersion is Progressing, or a MachineConfigPool
	// is not Updated.
	InProgress bool
	// Why names what is updating, when InProgress.
	Why string
	// LastCompleted is when the last update the ClusterVersion's history records as
	// Completed finished; zero when none did.
	LastCompleted time.Time
}

// Update reads the ClusterVersion's Progressing condition and every
// MachineConfigPool's Updated condition.
func (c *Client) Update(ctx context.Context) (UpdateState, error) {
	cv, err := c.Get(ctx, ClusterVersionResource, "", ClusterVersionName)
	if err != nil {
		return UpdateState{}, err
	}
	if cv == nil {
		return UpdateState{}, nil
	}
	st := UpdateState{Known: true, LastCompleted: lastCompleted(cv)}
	if conditionStatus(cv, "Progressing") != "False" {
		st.InProgress, st.Why = true, "clusterversion/version is not Progressing=False"
		return st, nil
	}
	pools, err := c.List(ctx, MachineConfigPoolResource, "", "")
	if err != nil {
		return UpdateState{}, err
	}
	for _, p := range pools {
		if conditionStatus(p, "Updated") != "True" {
			st.InProgress, st.Why = true, fmt.Sprintf("machineconfigpool/%s is not Updated=True", p.GetName())
			return st, nil
		}
	}
	return st, nil
}

// lastCompleted is the latest completionTime of a Completed entry of status.history.
func lastCompleted(cv *unstructured.Unstructured) time.Time {
	var last time.Time
	history, _, _ := unstructured.NestedSlice(cv.Object, "status", "history")
	for _, h := range history {
		m, ok := h.(map[string]interface{})
		if !ok || m["state"] != "Completed" {
			continue
		}
		s, _ := m["completionTime"].(string)
		if t, err := time.Parse(time.RFC3339, s); err == nil && t.After(last) {
			last = t
		}
	}
	return last
}

// conditionStatus returns the status of the condition of type typ in
// status.conditions, or "" when there is none.
func conditionStatus(u *unstructured.Unstructured, typ string) string {
	conds, _, _ := unstructured.NestedSlice(u.Object, "status", "conditions")
	for _, c := range conds {
		m, ok := c.(map[string]interface{})
		if ok && m["type"] == typ {
			s, _ := m["status"].(string)
			return s
		}
	}
	return ""
}
