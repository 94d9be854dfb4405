package updateservice

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	jsonpatch "github.com/evanphx/json-patch/v5"
	"github.com/spf13/cobra"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/cli-runtime/pkg/genericclioptions"
	cmdutil "k8s.io/kubectl/pkg/cmd/util"

	"github.com/airgap-ocp/oc-plugins/pkg/cli"
	"github.com/airgap-ocp/oc-plugins/pkg/cluster"
	"github.com/airgap-ocp/oc-plugins/pkg/manifest"
	us "github.com/airgap-ocp/oc-plugins/pkg/updateservice"
)

// Where OpenShift publishes the CA of the default ingress certificate, which
// signs the routes' certificates unless someone replaced it.
const (
	ingressCANamespace = "openshift-config-managed"
	ingressCAName      = "default-ingress-cert"
)

const applyExample = `  # Apply what oc mirror lite --graph printed: the UpdateService and the registry CA ConfigMap
  oc update service apply -f resources.yaml

  # From a pipe, also choosing the channel; every other object passes through to oc apply
  oc mirror lite release 4.16.3 --graph --to docker://mirror.example.com:5000/ocp4 --cert-dir ./ca \
    | oc update service apply --channel stable-4.16 | oc apply -f -

  # See every change as a diff, checked by the API server, changing nothing
  oc update service apply -f resources.yaml --dry-run=server

  # The route's certificate is not signed by the default ingress CA: name its CA
  oc update service apply -f resources.yaml --route-ca route-ca.crt --timeout 20m`

// ApplyOptions is what apply was asked to do.
type ApplyOptions struct {
	*common
	PrintFlags *genericclioptions.PrintFlags
	Input      cli.InputOptions

	// Channel, when set, becomes ClusterVersion's spec.channel.
	Channel string
	// RouteCAFile holds the CA of the policy engine route's certificate;
	// empty: the cluster's default ingress CA.
	RouteCAFile string
	// Timeout bounds the wait for the UpdateService's policyEngineURI.
	Timeout time.Duration
	// Poll is how often the UpdateService is read while waiting.
	Poll   time.Duration
	DryRun cmdutil.DryRunStrategy

	routeCA string
	printer *cli.Printer
}

func newApplyCmd(c *common) *cobra.Command {
	o := &ApplyOptions{common: c, PrintFlags: cli.NewPrintFlags(), Timeout: 10 * time.Minute, Poll: 2 * time.Second}
	cmd := &cobra.Command{
		Use:   "apply [-f FILE|-] [--channel CHANNEL] [--route-ca FILE]",
		Short: "Apply an UpdateService and point the cluster's updates at it",
		Long: `Apply the UpdateService and the registry CA ConfigMap (key updateservice-registry) of the
input (-f, or a pipe: what 'oc mirror lite --graph' prints), then make the cluster use it:

1. the CA ConfigMap's keys are merged, certificate by certificate, into the ConfigMap
   image.config's spec.additionalTrustedCA already names (so every registry it trusts stays
   trusted), or, when it names none, the ConfigMap is created and named there;
2. the UpdateService is applied (namespace openshift-update-service; its name must leave the
   route host's first label within 63 characters, so at most 32 characters there);
3. the route's CA (--route-ca, else the default ingress CA in
   openshift-config-managed/default-ingress-cert) is merged into the ConfigMap the cluster
   proxy's spec.trustedCA names (user-ca-bundle when it names none), so the Cluster Version
   Operator trusts the policy engine;
4. it waits (--timeout) for the operator to publish status.policyEngineURI;
5. ClusterVersion's spec.upstream is set to its graph URL (and spec.channel with --channel).

Each change is first sent as a server-side dry run, so a denied or invalid change changes
nothing; each one is shown as a diff on stderr. A second run changes nothing. On stdout: the
input stream, the objects acted on as the cluster now holds them (without resourceVersion and
status, so 'oc apply -f -' after it applies the same again), every other object passed
through in place. --dry-run=client|server shows the diffs and changes nothing.

Exit codes: 0 done; 2 bad usage or input (nothing changed); 3 a cluster operation failed,
or the URI was not published in time.`,
		Example: applyExample,
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := o.Complete(cmd); err != nil {
				return err
			}
			if err := o.Validate(); err != nil {
				return err
			}
			return o.Run(cmd.Context())
		},
	}
	fs := cmd.Flags()
	o.Input.AddFlags(fs, "the UpdateService and registry CA ConfigMap to apply, among any other objects")
	fs.StringVar(&o.Channel, "channel", "", "Also set ClusterVersion's spec.channel (e.g. stable-4.16)")
	fs.StringVar(&o.RouteCAFile, "route-ca", "", "PEM CA of the policy engine route's certificate (default: the cluster's default ingress CA)")
	fs.DurationVar(&o.Timeout, "timeout", o.Timeout, "How long to wait for the UpdateService's status.policyEngineURI")
	cmdutil.AddDryRunFlag(cmd)
	o.PrintFlags.AddFlags(cmd)
	return cmd
}

// Complete reads the dry-run strategy, the route CA file and builds the printer.
func (o *ApplyOptions) Complete(cmd *cobra.Command) error {
	if cmd != nil {
		s, err := cmdutil.GetDryRunStrategy(cmd)
		if err != nil {
			return cli.BadInput(err)
		}
		o.DryRun = s
	}
	if o.RouteCAFile != "" {
		b, err := os.ReadFile(o.RouteCAFile)
		if err != nil {
			return cli.BadInputf("--route-ca: %w", err)
		}
		if _, _, err := us.MergePEM("", string(b)); err != nil {
			return cli.BadInputf("--route-ca %s: %w", o.RouteCAFile, err)
		}
		o.routeCA = string(b)
	}
	p, err := cli.NewPrinter(o.PrintFlags)
	if err != nil {
		return err
	}
	o.printer = p
	return nil
}

// Validate rejects bad flags before anything is read.
func (o *ApplyOptions) Validate() error {
	if o.Timeout <= 0 {
		return cli.BadInputf("--timeout %s: must be positive", o.Timeout)
	}
	if o.Channel != "" {
		// What a channel name may hold, as ClusterVersion's schema allows it.
		for _, r := range o.Channel {
			if !(r == '-' || r == '.' || r == '_' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9') {
				return cli.BadInputf("--channel %q: want a channel name such as stable-4.16", o.Channel)
			}
		}
	}
	return nil
}

// input is what apply found in its input stream.
type input struct {
	objs []manifest.Object
	svc  int // index of the UpdateService
	ca   int // index of the registry CA ConfigMap, or -1
}

func isUpdateService(u *unstructured.Unstructured) bool {
	return u.GetKind() == us.Kind && u.GroupVersionKind().Group == cluster.UpdateServiceResource.Group
}

func isRegistryCA(u *unstructured.Unstructured) bool {
	if u.GetKind() != "ConfigMap" || u.GetAPIVersion() != "v1" {
		return false
	}
	_, ok, _ := unstructured.NestedString(u.Object, "data", us.RegistryCAKey)
	return ok
}

// readInput finds the one UpdateService and at most one registry CA
// ConfigMap of the stream and checks them.
func readInput(objs []manifest.Object) (*input, error) {
	in := &input{objs: objs, svc: -1, ca: -1}
	for i, obj := range objs {
		u := obj.Unstructured
		switch {
		case isUpdateService(u):
			if in.svc >= 0 {
				return nil, &manifest.Error{Source: obj.Source, Field: "kind",
					Err: fmt.Errorf("a second UpdateService (the first is at %s): apply one at a time", objs[in.svc].Source)}
			}
			if u.GetNamespace() == "" {
				u.SetNamespace(us.Namespace)
			}
			if err := us.CheckName(u.GetName(), u.GetNamespace()); err != nil {
				return nil, &manifest.Error{Source: obj.Source, Field: "metadata.name", Err: err}
			}
			if _, err := us.SpecOf(u); err != nil {
				return nil, &manifest.Error{Source: obj.Source, Err: err}
			}
			in.svc = i
		case isRegistryCA(u):
			if in.ca >= 0 {
				return nil, &manifest.Error{Source: obj.Source, Field: "data." + us.RegistryCAKey,
					Err: fmt.Errorf("a second registry CA ConfigMap (the first is at %s)", objs[in.ca].Source)}
			}
			if u.GetNamespace() == "" {
				u.SetNamespace(us.ConfigNamespace)
			}
			if u.GetNamespace() != us.ConfigNamespace {
				return nil, &manifest.Error{Source: obj.Source, Field: "metadata.namespace",
					Err: fmt.Errorf("%q: image.config reads CA ConfigMaps only from %s", u.GetNamespace(), us.ConfigNamespace)}
			}
			data, _, _ := unstructured.NestedStringMap(u.Object, "data")
			for k, v := range data {
				if _, _, err := us.MergePEM("", v); err != nil {
					return nil, &manifest.Error{Source: obj.Source, Field: "data." + k, Err: err}
				}
			}
			in.ca = i
		}
	}
	if in.svc < 0 {
		return nil, cli.BadInputf("no UpdateService (%s) in the input: give what 'oc mirror lite --graph' printed", us.APIVersion)
	}
	return in, nil
}

// step is one object apply may change.
type step struct {
	what      string
	gvr       schema.GroupVersionResource
	namespace string
	name      string
	// create is the object to create when there is none; nil: a missing
	// object is a failure, which missing explains.
	create  *unstructured.Unstructured
	missing string
	// patch decides the merge patch for the object as it is; nil: no change.
	patch cluster.MergePatchFunc
	// stands is the index of the stream object the step applies, or -1:
	// stdout shows the object as the cluster then holds it in its place.
	stands int
}

// mode is how a step is carried out.
type mode int

const (
	real mode = iota
	serverCheck
	clientOnly
)

// do carries out s and returns the object as it was and as it is (or would
// be); after is nil when the object is missing and cannot be created.
func (o *ApplyOptions) do(ctx context.Context, s step, m mode) (before, after *unstructured.Unstructured, err error) {
	live, err := o.client.Get(ctx, s.gvr, s.namespace, s.name)
	if err != nil {
		return nil, nil, err
	}
	if live == nil {
		if s.create == nil {
			return nil, nil, cli.Failed(fmt.Errorf("%s: not found: %s", s.what, s.missing))
		}
		if m == clientOnly {
			return nil, s.create.DeepCopy(), nil
		}
		out, err := o.client.Apply(ctx, s.create, m == serverCheck)
		return nil, out, err
	}
	if m == clientOnly {
		p, err := s.patch(live)
		if err != nil || p == nil {
			return live, live, err
		}
		after, err := mergeLocally(live, p)
		return live, after, err
	}
	seen, out, err := o.client.MergePatch(ctx, s.gvr, live, m == serverCheck, s.patch)
	if err != nil {
		return seen, nil, err
	}
	if out == nil {
		out = seen
	}
	return seen, out, nil
}

func mergeLocally(live *unstructured.Unstructured, patch map[string]interface{}) (*unstructured.Unstructured, error) {
	orig, err := json.Marshal(live.Object)
	if err != nil {
		return nil, err
	}
	p, err := json.Marshal(patch)
	if err != nil {
		return nil, err
	}
	merged, err := jsonpatch.MergePatch(orig, p)
	if err != nil {
		return nil, err
	}
	out := &unstructured.Unstructured{}
	if err := out.UnmarshalJSON(merged); err != nil {
		return nil, err
	}
	return out, nil
}

// report shows what a step did: a diff and one line.
func (o *ApplyOptions) report(what string, before, after *unstructured.Unstructured) error {
	changed, err := cli.PrintDiff(o.ErrOut, what, before, after)
	if err != nil {
		return err
	}
	verb := "unchanged"
	switch {
	case before == nil:
		verb = "created"
	case changed:
		verb = "configured"
	}
	if changed {
		verb += cli.DryRunSuffix(o.DryRun)
	}
	fmt.Fprintf(o.ErrOut, "%s %s\n", what, verb)
	return nil
}

// Run applies.
func (o *ApplyOptions) Run(ctx context.Context) error {
	objs, err := o.Input.Read(o.In, false)
	if err != nil {
		return err
	}
	if len(objs) == 0 && !o.Input.Given() {
		return cli.BadInputf("no input: name the UpdateService and its registry CA ConfigMap with -f FILE, or pipe them in")
	}
	in, err := readInput(objs)
	if err != nil {
		return err
	}
	if err := o.connect(); err != nil {
		return err
	}

	steps, caIndex, err := o.trustSteps(ctx, in)
	if err != nil {
		return err
	}
	svc := in.objs[in.svc].Unstructured
	svcStep := updateServiceStep(svc, in.svc)
	all := append(append([]step{}, steps[:caIndex]...), svcStep)
	all = append(all, steps[caIndex:]...)

	if o.DryRun != cmdutil.DryRunClient {
		// The server checks every change first; nothing is changed on a denial.
		for _, s := range all {
			if _, _, err := o.do(ctx, s, serverCheck); err != nil {
				return fmt.Errorf("%w; nothing was changed", err)
			}
		}
	}
	m := real
	switch o.DryRun {
	case cmdutil.DryRunClient:
		m = clientOnly
	case cmdutil.DryRunServer:
		m = serverCheck
	}
	out := make([]*unstructured.Unstructured, len(in.objs))
	for i, obj := range in.objs {
		out[i] = obj.Unstructured
	}
	for _, s := range all {
		before, after, err := o.do(ctx, s, m)
		if err != nil {
			return err
		}
		if err := o.report(s.what, before, after); err != nil {
			return err
		}
		if s.stands >= 0 {
			out[s.stands] = clean(after)
		}
	}

	uri, err := o.policyEngineURI(ctx, svc, m)
	if err != nil {
		return err
	}
	if uri != "" {
		cv := o.clusterVersionStep(us.Upstream(uri))
		before, after, err := o.do(ctx, cv, m)
		if err != nil {
			return err
		}
		if err := o.report(cv.what, before, after); err != nil {
			return err
		}
	}
	return o.printer.Print(o.Out, out)
}

// clean is an object as the cluster now holds it, for stdout: without what
// the server keeps for itself (resourceVersion, uid, managedFields, ...)
// and status, so that `| oc apply -f -` applies the same again instead of
// failing on a resourceVersion the operator has moved on since.
func clean(u *unstructured.Unstructured) *unstructured.Unstructured {
	if u == nil {
		return nil
	}
	c := u.DeepCopy()
	for _, f := range []string{"managedFields", "resourceVersion", "uid", "generation", "creationTimestamp"} {
		unstructured.RemoveNestedField(c.Object, "metadata", f)
	}
	unstructured.RemoveNestedField(c.Object, "status")
	return c
}

// trustSteps returns the steps that make the operator trust the registry
// (the CA ConfigMap image.config names, and image.config) and the CVO trust
// the route (the proxy's trustedCA ConfigMap, and the proxy); the
// UpdateService goes at the index returned, after the registry's.
func (o *ApplyOptions) trustSteps(ctx context.Context, in *input) ([]step, int, error) {
	var steps []step
	if in.ca >= 0 {
		s, err := o.registryCASteps(ctx, in.objs[in.ca].Unstructured, in.ca)
		if err != nil {
			return nil, 0, err
		}
		steps = append(steps, s...)
	}
	at := len(steps)
	routeCA := o.routeCA
	if routeCA == "" {
		cm, err := o.client.Get(ctx, cluster.ConfigMapResource, ingressCANamespace, ingressCAName)
		if err != nil {
			return nil, 0, err
		}
		if cm != nil {
			routeCA, _, _ = unstructured.NestedString(cm.Object, "data", us.BundleKey)
		}
	}
	if routeCA == "" {
		fmt.Fprintf(o.ErrOut, "warning: no route CA (no --route-ca, and no %s in configmap/%s in %s): the cluster proxy's trustedCA is left as it is, so the Cluster Version Operator must already trust the route\n",
			us.BundleKey, ingressCAName, ingressCANamespace)
		return steps, at, nil
	}
	s, err := o.routeCASteps(ctx, routeCA)
	if err != nil {
		return nil, 0, err
	}
	return append(steps, s...), at, nil
}

// registryCASteps merge ca into the ConfigMap image.config trusts, or
// create it and name it there.
func (o *ApplyOptions) registryCASteps(ctx context.Context, ca *unstructured.Unstructured, index int) ([]step, error) {
	img, err := o.client.Get(ctx, cluster.ImageResource, "", cluster.ImageConfigName)
	if err != nil {
		return nil, err
	}
	if img == nil {
		return nil, cli.Failed(fmt.Errorf("image.config.openshift.io/%s not found: is this an OpenShift cluster?", cluster.ImageConfigName))
	}
	target, _, _ := unstructured.NestedString(img.Object, "spec", "additionalTrustedCA", "name")
	name := target
	if name == "" {
		name = ca.GetName()
	}
	data, _, _ := unstructured.NestedStringMap(ca.Object, "data")
	create := ca.DeepCopy()
	create.SetName(name)
	create.SetNamespace(us.ConfigNamespace)
	steps := []step{{
		what: "configmap/" + name + " in " + us.ConfigNamespace, gvr: cluster.ConfigMapResource,
		namespace: us.ConfigNamespace, name: name, create: create,
		patch: mergeDataPatch(data), stands: index,
	}}
	if target == "" {
		steps = append(steps, step{
			what: "image.config.openshift.io/" + cluster.ImageConfigName, gvr: cluster.ImageResource, name: cluster.ImageConfigName,
			missing: "is this an OpenShift cluster?",
			patch:   namePatch([]string{"spec", "additionalTrustedCA", "name"}, name), stands: -1,
		})
	}
	return steps, nil
}

// routeCASteps merge the route's CA into the ConfigMap the proxy's
// trustedCA names, or into user-ca-bundle, named there.
func (o *ApplyOptions) routeCASteps(ctx context.Context, routeCA string) ([]step, error) {
	proxy, err := o.client.Get(ctx, cluster.ProxyResource, "", cluster.ProxyName)
	if err != nil {
		return nil, err
	}
	if proxy == nil {
		return nil, cli.Failed(fmt.Errorf("proxy.config.openshift.io/%s not found: is this an OpenShift cluster?", cluster.ProxyName))
	}
	target, _, _ := unstructured.NestedString(proxy.Object, "spec", "trustedCA", "name")
	name := target
	if name == "" {
		name = us.DefaultBundleName
	}
	create := &unstructured.Unstructured{Object: map[string]interface{}{
		"apiVersion": "v1", "kind": "ConfigMap",
		"metadata": map[string]interface{}{"name": name, "namespace": us.ConfigNamespace},
		"data":     map[string]interface{}{us.BundleKey: routeCA},
	}}
	steps := []step{{
		what: "configmap/" + name + " in " + us.ConfigNamespace, gvr: cluster.ConfigMapResource,
		namespace: us.ConfigNamespace, name: name, create: create,
		patch: mergeDataPatch(map[string]string{us.BundleKey: routeCA}), stands: -1,
	}}
	if target == "" {
		steps = append(steps, step{
			what: "proxy.config.openshift.io/" + cluster.ProxyName, gvr: cluster.ProxyResource, name: cluster.ProxyName,
			missing: "is this an OpenShift cluster?",
			patch:   namePatch([]string{"spec", "trustedCA", "name"}, name), stands: -1,
		})
	}
	return steps, nil
}

// mergeDataPatch adds the certificates of add, key by key, to what a
// ConfigMap holds, keeping every certificate and key already there.
func mergeDataPatch(add map[string]string) cluster.MergePatchFunc {
	return func(live *unstructured.Unstructured) (map[string]interface{}, error) {
		have, _, _ := unstructured.NestedStringMap(live.Object, "data")
		data := map[string]interface{}{}
		for k, v := range add {
			merged, added, err := us.MergePEM(have[k], v)
			if err != nil {
				return nil, cli.Failed(fmt.Errorf("configmap/%s in %s, key %s: %w: fix or remove it first", live.GetName(), live.GetNamespace(), k, err))
			}
			if added {
				data[k] = merged
			}
		}
		if len(data) == 0 {
			return nil, nil
		}
		return map[string]interface{}{"data": data}, nil
	}
}

// namePatch sets the name at path unless it is already set: to name, it is
// done; to another, someone changed it since it was read.
func namePatch(path []string, name string) cluster.MergePatchFunc {
	return func(live *unstructured.Unstructured) (map[string]interface{}, error) {
		now, _, _ := unstructured.NestedString(live.Object, path...)
		switch now {
		case name:
			return nil, nil
		case "":
		default:
			return nil, cli.Failed(fmt.Errorf("%s/%s: %s became %q meanwhile; run again", live.GetKind(), live.GetName(), strings.Join(path, "."), now))
		}
		p := map[string]interface{}{}
		if err := unstructured.SetNestedField(p, name, path...); err != nil {
			return nil, err
		}
		return p, nil
	}
}

func updateServiceStep(svc *unstructured.Unstructured, index int) step {
	want, _ := us.SpecOf(svc)
	create := svc.DeepCopy()
	unstructured.RemoveNestedField(create.Object, "status")
	return step{
		what: "updateservice.updateservice.operator.openshift.io/" + svc.GetName() + " in " + svc.GetNamespace(),
		gvr:  cluster.UpdateServiceResource, namespace: svc.GetNamespace(), name: svc.GetName(), create: create, stands: index,
		patch: func(live *unstructured.Unstructured) (map[string]interface{}, error) {
			have, _ := us.SpecOf(live)
			if have == want {
				return nil, nil
			}
			return map[string]interface{}{"spec": map[string]interface{}{
				"replicas": want.Replicas, "releases": want.Releases, "graphDataImage": want.GraphDataImage,
			}}, nil
		},
	}
}

func (o *ApplyOptions) clusterVersionStep(upstream string) step {
	return step{
		what: "clusterversion.config.openshift.io/" + cluster.ClusterVersionName, gvr: cluster.ClusterVersionResource, name: cluster.ClusterVersionName,
		missing: "is this an OpenShift cluster?", stands: -1,
		patch: func(live *unstructured.Unstructured) (map[string]interface{}, error) {
			spec := map[string]interface{}{}
			if now, _, _ := unstructured.NestedString(live.Object, "spec", "upstream"); now != upstream {
				spec["upstream"] = upstream
			}
			if now, _, _ := unstructured.NestedString(live.Object, "spec", "channel"); o.Channel != "" && now != o.Channel {
				spec["channel"] = o.Channel
			}
			if len(spec) == 0 {
				return nil, nil
			}
			return map[string]interface{}{"spec": spec}, nil
		},
	}
}

// errNoURI is a wait for the policy engine's URI that timed out.
var errNoURI = errors.New("no status.policyEngineURI")

// policyEngineURI waits until the operator has published the UpdateService's
// policy engine URI. A dry run does not wait: it takes what is there, and
// says what it would do without it.
func (o *ApplyOptions) policyEngineURI(ctx context.Context, svc *unstructured.Unstructured, m mode) (string, error) {
	what := fmt.Sprintf("updateservice/%s in %s", svc.GetName(), svc.GetNamespace())
	deadline := time.Now().Add(o.Timeout)
	announced := false
	for {
		live, err := o.client.Get(ctx, cluster.UpdateServiceResource, svc.GetNamespace(), svc.GetName())
		if err != nil {
			return "", err
		}
		if live != nil {
			if uri := us.PolicyEngineURI(live); uri != "" {
				if err := us.CheckURI(uri); err != nil {
					return "", cli.Failed(fmt.Errorf("%s: status.policyEngineURI: %w", what, err))
				}
				fmt.Fprintf(o.ErrOut, "%s: policy engine at %s\n", what, uri)
				return uri, nil
			}
		}
		if m != real {
			fmt.Fprintf(o.ErrOut, "%s: no status.policyEngineURI yet: clusterversion/%s spec.upstream would be set once the operator publishes it\n", what, cluster.ClusterVersionName)
			return "", nil
		}
		if !announced {
			fmt.Fprintf(o.ErrOut, "%s: waiting up to %s for the operator to publish status.policyEngineURI\n", what, o.Timeout)
			announced = true
		}
		if !time.Now().Before(deadline) {
			return "", cli.Failed(fmt.Errorf("%s: %w after %s: is the OpenShift Update Service operator running? (oc get updateservice -n %s %s -o yaml shows its conditions)",
				what, errNoURI, o.Timeout, svc.GetNamespace(), svc.GetName()))
		}
		select {
		case <-ctx.Done():
			return "", cli.Failed(ctx.Err())
		case <-time.After(o.Poll):
		}
	}
}
