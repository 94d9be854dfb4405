package registriesverify

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/airgap-ocp/oc-plugins/pkg/cli"
	"github.com/airgap-ocp/oc-plugins/pkg/cluster"
	"github.com/airgap-ocp/oc-plugins/pkg/manifest"
	"github.com/airgap-ocp/oc-plugins/pkg/mirrorset"
)

// Expected is the registries.conf the MCO must write, or why there is none.
type Expected struct {
	// Source says where the objects came from: cluster, files, or cluster and files.
	Source string `json:"source"`
	// Objects counts the mirror objects: "3 IDMS, 1 ITMS, 0 ICSP, image config".
	Objects string `json:"objects"`
	// Problem, when set, is why nothing can be expected: the MCO renders nothing or refuses
	// the configuration (and pools then keep their previous registries.conf).
	Problem string `json:"problem,omitempty"`
	// Template is true when the MCO writes no registries.conf of its own (no mirror object,
	// no insecure or blocked registry) and nodes keep its base template.
	Template bool `json:"template,omitempty"`
	// Warnings: what the MCO logs but renders around, such as a blocked scope holding the
	// release payload without a mirror.
	Warnings []string `json:"warnings,omitempty"`

	data   []byte
	parsed *mirrorset.RegistriesConf
}

// expected computes the expected registries.conf from the cluster's objects, the files' objects,
// or both (the files' replacing the cluster's of the same kind and name).
func (o *Options) expected(ctx context.Context) (*Expected, error) {
	var objs []manifest.Object
	var sources []string
	hasImage := false
	if o.FromCluster {
		sources = append(sources, "cluster")
		live, err := o.clusterObjects(ctx)
		if err != nil {
			return nil, err
		}
		objs = append(objs, live...)
	}
	if len(o.objs) > 0 || o.Input.Given() {
		sources = append(sources, "files")
		objs = overlay(objs, o.objs)
	}
	col, err := mirrorset.Collect(objs)
	var refused *mirrorset.RefusedError
	if errors.As(err, &refused) {
		return &Expected{Source: strings.Join(sources, " and "),
			Problem: fmt.Sprintf("the Machine Config Operator refuses this mirror object and only logs it, so pools never get a new registries.conf until it is fixed: %v", refused.Err)}, nil
	}
	if err != nil {
		if o.FromCluster && len(o.objs) == 0 {
			return nil, cli.Failed(fmt.Errorf("reading the cluster's mirror configuration: %w", err))
		}
		return nil, err
	}
	hasImage = col.Config.Image != nil
	cfg := col.Config
	exp := &Expected{
		Source: strings.Join(sources, " and "),
		Objects: fmt.Sprintf("%d IDMS, %d ITMS, %d ICSP, %s", len(cfg.IDMSs), len(cfg.ITMSs), len(cfg.ICSPs),
			map[bool]string{true: "image config", false: "no image config"}[hasImage]),
	}
	if o.FromCluster && !hasImage {
		exp.Problem = "the cluster has no images.config.openshift.io/cluster: the Machine Config Operator renders no registries.conf without it, so nothing can be expected"
		return exp, nil
	}
	if len(col.Conflicts) > 0 {
		exp.Problem = fmt.Sprintf("the Machine Config Operator refuses these mirror objects and only logs it, so pools never get a new registries.conf until this is fixed: %v", col.Conflicts.ToAggregate())
		return exp, nil
	}
	release := o.ReleaseImage
	if release == "" {
		release = col.ReleaseImage
	}
	cfg, dropped, err := cfg.ProtectPayload(release)
	if err != nil {
		if o.ReleaseImage != "" {
			return nil, cli.BadInput(fmt.Errorf("--release-image: %w", err))
		}
		exp.Problem = fmt.Sprintf("the Machine Config Operator cannot apply blockedRegistries: %v", err)
		return exp, nil
	}
	if err := cfg.PolicyRefusal(release); err != nil {
		exp.Problem = fmt.Sprintf("the Machine Config Operator refuses this image config and writes neither policy.json nor registries.conf, so pools keep their previous registries.conf: %v", err)
		return exp, nil
	}
	for _, scope := range dropped {
		exp.Warnings = append(exp.Warnings, fmt.Sprintf("blockedRegistries %q holds the release payload %s and no unblocked digest mirror of it: the Machine Config Operator does not block it (and logs an error)", scope, release))
	}
	data, err := cfg.Render()
	if err != nil {
		exp.Problem = fmt.Sprintf("the Machine Config Operator refuses this configuration, so pools keep their previous registries.conf: %v", err)
		return exp, nil
	}
	exp.Template = string(data) == string(mirrorset.BaseRegistriesConf())
	parsed, err := mirrorset.ParseRegistriesConf("the expected registries.conf", data)
	if err != nil {
		exp.Problem = err.Error()
		return exp, nil
	}
	exp.data, exp.parsed = data, parsed
	return exp, nil
}

// clusterObjects reads every ICSP, IDMS and ITMS, the Image named cluster and the
// ClusterVersion.
func (o *Options) clusterObjects(ctx context.Context) ([]manifest.Object, error) {
	mirrors, labels, err := o.client.MirrorObjects(ctx)
	if err != nil {
		return nil, err
	}
	objs := make([]manifest.Object, 0, len(mirrors)+1)
	for i, u := range mirrors {
		objs = append(objs, manifest.Object{Unstructured: u, Source: manifest.Source{File: labels[i]}})
	}
	u, err := o.client.Get(ctx, cluster.ClusterVersionResource, "", cluster.ClusterVersionName)
	if err != nil {
		return nil, err
	}
	if u != nil {
		objs = append(objs, manifest.Object{Unstructured: u, Source: manifest.Source{File: "cluster " + cluster.ClusterVersionResource.Resource + "/" + cluster.ClusterVersionName}})
	}
	return objs, nil
}

// overlay returns base with the objects of top added, each replacing an object of base of the
// same group, kind and name.
func overlay(base, top []manifest.Object) []manifest.Object {
	key := func(u *unstructured.Unstructured) string {
		gvk := u.GroupVersionKind()
		return gvk.Group + "/" + gvk.Kind + "/" + u.GetName()
	}
	replaced := map[string]bool{}
	for _, t := range top {
		replaced[key(t.Unstructured)] = true
	}
	out := make([]manifest.Object, 0, len(base)+len(top))
	for _, b := range base {
		if !replaced[key(b.Unstructured)] {
			out = append(out, b)
		}
	}
	return append(out, top...)
}
