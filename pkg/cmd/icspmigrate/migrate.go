// Package icspmigrate is the `oc icsp migrate` command: it turns
// ImageContentSourcePolicy objects into ImageDigestMirrorSet objects as a pipe
// filter, proves the nodes' registries.conf does not change, and can apply
// the result and prune the ICSPs it replaced.
package icspmigrate

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	configv1 "github.com/openshift/api/config/v1"
	operatorv1alpha1 "github.com/openshift/api/operator/v1alpha1"
	"github.com/spf13/cobra"
	"k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/cli-runtime/pkg/genericclioptions"
	"k8s.io/cli-runtime/pkg/genericiooptions"
	cmdutil "k8s.io/kubectl/pkg/cmd/util"

	"github.com/airgap-ocp/oc-plugins/pkg/cli"
	"github.com/airgap-ocp/oc-plugins/pkg/cluster"
	"github.com/airgap-ocp/oc-plugins/pkg/manifest"
	"github.com/airgap-ocp/oc-plugins/pkg/mirrorset"
)

// Name is the binary's name and the field manager of what it applies.
const Name = "oc-icsp-migrate"

const example = `  # Convert the ICSPs in a file; other objects pass through unchanged
  oc icsp migrate -f icsp.yaml > idms.yaml

  # Convert every ICSP in the cluster, proving nodes' registries.conf stays the same
  oc icsp migrate --from-cluster --check

  # Migrate for real: apply the IDMSs, then delete the ICSPs they replace
  oc icsp migrate --from-cluster --check --apply --prune

  # As a filter in a pipeline, folding everything into one IDMS
  oc get imagecontentsourcepolicy -o yaml | oc icsp migrate --merge release-mirrors | oc apply -f -

  # Also write one file per IDMS, as 'oc adm migrate icsp --dest-dir' does
  oc icsp migrate -f icsp.yaml --dest-dir idms-files`

// Options is what the command was asked to do.
type Options struct {
	genericiooptions.IOStreams
	ConfigFlags *genericclioptions.ConfigFlags
	PrintFlags  *genericclioptions.PrintFlags
	Input       cli.InputOptions

	FromCluster  bool
	Merge        string
	SourcePolicy string
	DestDir      string
	Check        bool
	Apply        bool
	Prune        bool
	DryRun       cmdutil.DryRunStrategy

	printer *cli.Printer
	client  *cluster.Client
}

// NewOptions returns Options with the defaults.
func NewOptions(streams genericiooptions.IOStreams) *Options {
	return &Options{
		IOStreams:   streams,
		ConfigFlags: genericclioptions.NewConfigFlags(true),
		PrintFlags:  cli.NewPrintFlags(),
	}
}

// NewCmd builds `oc icsp migrate`.
func NewCmd(streams genericiooptions.IOStreams) *cobra.Command {
	o := NewOptions(streams)
	cmd := &cobra.Command{
		Use:   Name + " [FILE...]",
		Short: "Convert ImageContentSourcePolicy objects to ImageDigestMirrorSet objects, provably without changing nodes",
		Long: `Convert ImageContentSourcePolicy (ICSP) objects into ImageDigestMirrorSet (IDMS) objects.

Reads ICSPs from files (-f, or FILE arguments), standard input, and/or the cluster
(--from-cluster), and prints a YAML stream on stdout: one IDMS per ICSP, with the same
name, labels and annotations, and every other object passed through unchanged and in
place. Progress and reports go to stderr.

--check renders the registries.conf nodes get from the input mirror objects before and
after conversion, and fails (exit 1) with a diff if they differ. --apply server-side
applies the IDMSs it made (objects passed through are left to 'oc apply -f -'); --prune
then deletes the ICSPs they replace, after checking that the cluster's rendered
registries.conf is the same without them.

Exit codes: 0 done; 1 a check found a difference (nothing applied, nothing printed);
2 bad usage or input (nothing changed); 3 a cluster operation failed.`,
		Example: example,
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := o.Complete(cmd, args); err != nil {
				return err
			}
			if err := o.Validate(); err != nil {
				return err
			}
			return o.Run(cmd.Context())
		},
	}
	fs := cmd.Flags()
	o.Input.AddFlags(fs, "ImageContentSourcePolicy objects to convert, among any others")
	fs.BoolVar(&o.FromCluster, "from-cluster", false, "Also convert every ImageContentSourcePolicy in the cluster")
	fs.StringVar(&o.Merge, "merge", "", "Fold all converted ICSPs into one ImageDigestMirrorSet with this name")
	fs.StringVar(&o.SourcePolicy, "source-policy", "", "Set mirrorSourcePolicy on every entry: NeverContactSource or AllowContactingSource")
	fs.StringVar(&o.DestDir, "dest-dir", "", "Also write each ImageDigestMirrorSet to DIR/imagedigestmirrorset_<name>.yaml")
	fs.BoolVar(&o.Check, "check", false, "Fail with a diff if the nodes' registries.conf would change")
	fs.BoolVar(&o.Apply, "apply", false, "Server-side apply the ImageDigestMirrorSets to the cluster")
	fs.BoolVar(&o.Prune, "prune", false, "With --apply: delete the converted ICSPs, after checking registries.conf stays the same")
	cmdutil.AddDryRunFlag(cmd)
	o.PrintFlags.AddFlags(cmd)
	o.ConfigFlags.AddFlags(fs)
	// The objects read and written here are cluster-scoped or in a fixed namespace.
	_ = fs.MarkHidden("namespace")
	cli.Setup(cmd, "oc icsp migrate")
	return cmd
}

// Complete fills what the flags imply: files from arguments, the dry-run
// strategy, the printer, and a cluster client when one is needed.
func (o *Options) Complete(cmd *cobra.Command, args []string) error {
	o.Input.Filenames = append(o.Input.Filenames, args...)
	if cmd != nil {
		s, err := cmdutil.GetDryRunStrategy(cmd)
		if err != nil {
			return cli.BadInput(err)
		}
		o.DryRun = s
	}
	p, err := cli.NewPrinter(o.PrintFlags)
	if err != nil {
		return err
	}
	o.printer = p
	if (o.FromCluster || o.Apply) && o.client == nil {
		c, err := cluster.New(o.ConfigFlags, Name)
		if err != nil {
			return err
		}
		o.client = c
	}
	return nil
}

// Validate rejects bad combinations before any input is read.
func (o *Options) Validate() error {
	if o.Merge != "" {
		if errs := validation.IsDNS1123Subdomain(o.Merge); len(errs) > 0 {
			return cli.BadInputf("--merge %q: %s", o.Merge, errs[0])
		}
	}
	switch configv1.MirrorSourcePolicy(o.SourcePolicy) {
	case "", configv1.NeverContactSource, configv1.AllowContactingSource:
	default:
		return cli.BadInputf("--source-policy %q: must be %s or %s", o.SourcePolicy, configv1.NeverContactSource, configv1.AllowContactingSource)
	}
	if o.Prune && !o.Apply {
		return cli.BadInputf("--prune needs --apply: ICSPs are deleted only once their IDMSs are applied")
	}
	if o.DryRun != cmdutil.DryRunNone && !o.Apply {
		return cli.BadInputf("--dry-run needs --apply")
	}
	return nil
}

// item is one object of the output stream in the making.
type item struct {
	obj  manifest.Object
	icsp *operatorv1alpha1.ImageContentSourcePolicy // set when obj is an ICSP to convert
	idms *configv1.ImageDigestMirrorSet             // its conversion (nil when merged away)
}

// Run does the migration.
func (o *Options) Run(ctx context.Context) error {
	objs, err := o.Input.Read(o.In, o.FromCluster)
	if err != nil {
		return err
	}
	if o.FromCluster {
		live, err := o.client.List(ctx, cluster.ICSPResource, "", "")
		if err != nil {
			return err
		}
		for i, u := range live {
			objs = append(objs, manifest.Object{Unstructured: u, Source: manifest.Source{File: "cluster", Item: i + 1}})
		}
	} else if len(objs) == 0 && !o.Input.Given() {
		return cli.BadInputf("no input: name files with -f, pipe objects in, or use --from-cluster")
	}

	items, before, err := decode(objs)
	if err != nil {
		return err
	}
	idmss, err := o.convert(items)
	if err != nil {
		return err
	}
	if len(idmss) == 0 {
		fmt.Fprintln(o.ErrOut, "no ImageContentSourcePolicy to convert")
	}

	after := before
	after.ICSPs = nil
	after.IDMSs = append(append([]*configv1.ImageDigestMirrorSet{}, before.IDMSs...), idmss...)
	if o.Check {
		if err := o.check("input", before, after); err != nil {
			return err
		}
	}

	out := make([]*unstructured.Unstructured, 0, len(items))
	var written []*unstructured.Unstructured
	for _, it := range items {
		switch {
		case it.idms != nil:
			u, err := manifest.ToUnstructured(it.idms)
			if err != nil {
				return err
			}
			out = append(out, u)
			written = append(written, u)
		case it.icsp == nil:
			out = append(out, it.obj.Unstructured)
		}
	}

	var prune []*unstructured.Unstructured
	if o.Apply {
		if prune, err = o.applyAndPrepare(ctx, items, written); err != nil {
			return err
		}
	}
	if o.DestDir != "" {
		if err := o.writeDestDir(written); err != nil {
			return err
		}
	}
	if o.Prune {
		if err := o.prune(ctx, items, written, prune); err != nil {
			return err
		}
	}
	return o.printer.Print(o.Out, out)
}

// decode finds the mirror objects in the stream, decodes and validates them
// (mirrorset.Collect), and returns the stream as items and the mirror
// configuration it describes. Conflicting policies for one source are bad input.
func decode(objs []manifest.Object) ([]item, mirrorset.Config, error) {
	col, err := mirrorset.Collect(objs)
	if err != nil {
		return nil, mirrorset.Config{}, err
	}
	if len(col.Conflicts) > 0 {
		return nil, col.Config, cli.BadInput(fmt.Errorf("conflicting mirror objects: %w", col.Conflicts.ToAggregate()))
	}
	items := make([]item, len(objs))
	for i, obj := range objs {
		items[i] = item{obj: obj, icsp: col.ICSPAt[i]}
	}
	return items, col.Config, nil
}

// inputError turns a decoding or validation error into one naming the file,
// the document and the first offending field.
func inputError(src manifest.Source, err error) error { return mirrorset.SourceError(src, err) }

// convert turns each ICSP into an IDMS, or all of them into one with --merge,
// with --source-policy applied, and validates the result.
func (o *Options) convert(items []item) ([]*configv1.ImageDigestMirrorSet, error) {
	var all []*configv1.ImageDigestMirrorSet
	first := -1
	for i := range items {
		if items[i].icsp == nil {
			continue
		}
		idms := mirrorset.ConvertICSP(items[i].icsp)
		if o.SourcePolicy != "" {
			mirrorset.SetSourcePolicy(idms, configv1.MirrorSourcePolicy(o.SourcePolicy))
		}
		if errs := mirrorset.ValidateIDMS(idms); len(errs) > 0 {
			return nil, inputError(items[i].obj.Source, fmt.Errorf("after conversion: %w", errs.ToAggregate()))
		}
		items[i].idms = idms
		all = append(all, idms)
		if first < 0 {
			first = i
		}
	}
	if o.Merge == "" || first < 0 {
		return all, nil
	}
	merged, err := mirrorset.MergeIDMS(o.Merge, all...)
	if err != nil {
		return nil, cli.BadInput(fmt.Errorf("merging into %s: %w", o.Merge, err))
	}
	for i := range items {
		items[i].idms = nil
	}
	items[first].idms = merged
	return []*configv1.ImageDigestMirrorSet{merged}, nil
}

// check renders registries.conf for both configurations and fails with a diff
// on stderr when they differ.
func (o *Options) check(what string, before, after mirrorset.Config) error {
	a, err := before.Render()
	if err != nil {
		return cli.BadInput(fmt.Errorf("rendering registries.conf from the %s before conversion: %w", what, err))
	}
	b, err := after.Render()
	if err != nil {
		return cli.BadInput(fmt.Errorf("rendering registries.conf from the %s after conversion: %w", what, err))
	}
	if d := mirrorset.Diff("registries.conf (with ICSPs)", "registries.conf (with IDMSs)", a, b); d != "" {
		fmt.Fprint(o.ErrOut, d)
		return cli.Differs(fmt.Errorf("the nodes' registries.conf would change (diff above): nothing was applied or printed"))
	}
	fmt.Fprintf(o.ErrOut, "check: registries.conf rendered from the %s is the same after conversion\n", what)
	return nil
}

// applyAndPrepare validates every IDMS with the server first (a dry run), so
// that bad input changes nothing, checks that pruning will be safe, and then
// applies. It returns the live ICSPs that --prune will delete.
func (o *Options) applyAndPrepare(ctx context.Context, items []item, idmss []*unstructured.Unstructured) ([]*unstructured.Unstructured, error) {
	if len(idmss) > 0 {
		served, err := o.client.Served(cluster.IDMSResource)
		if err != nil {
			return nil, err
		}
		if !served {
			return nil, cli.BadInputf("the cluster does not serve %s (OpenShift before 4.13): it cannot take ImageDigestMirrorSets, so its ImageContentSourcePolicies stay; "+
				"run without --apply to see the conversion, and apply it after updating to 4.13 or later", cluster.IDMSResource.GroupResource())
		}
	}
	var prune []*unstructured.Unstructured
	if o.Prune {
		var err error
		if prune, err = o.pruneCheck(ctx, items, idmss); err != nil {
			return nil, err
		}
	}
	if o.DryRun == cmdutil.DryRunClient {
		for _, u := range idmss {
			fmt.Fprintf(o.ErrOut, "imagedigestmirrorset.config.openshift.io/%s would be applied%s\n", u.GetName(), cli.DryRunSuffix(o.DryRun))
		}
		return prune, nil
	}
	for _, u := range idmss {
		if _, err := o.client.Apply(ctx, u, true); err != nil {
			return nil, err
		}
	}
	// May we delete what --prune will delete? Ask before applying anything,
	// so that a denial leaves no IDMS applied beside its ICSP.
	for _, u := range prune {
		if err := o.client.Delete(ctx, u, true); err != nil {
			return nil, err
		}
	}
	for _, u := range idmss {
		if _, err := o.client.Apply(ctx, u, o.DryRun == cmdutil.DryRunServer); err != nil {
			return nil, err
		}
		fmt.Fprintf(o.ErrOut, "imagedigestmirrorset.config.openshift.io/%s applied%s\n", u.GetName(), cli.DryRunSuffix(o.DryRun))
	}
	return prune, nil
}

// clusterConfig reads the cluster's mirror configuration: every ICSP, IDMS
// and ITMS, and the image config's registry sources.
func (o *Options) clusterConfig(ctx context.Context) (mirrorset.Config, []*unstructured.Unstructured, error) {
	var cfg mirrorset.Config
	var objs []manifest.Object
	var icsps []*unstructured.Unstructured
	for _, gvr := range []schema.GroupVersionResource{cluster.ICSPResource, cluster.IDMSResource, cluster.ITMSResource} {
		list, err := o.client.List(ctx, gvr, "", "")
		if err != nil {
			return cfg, nil, err
		}
		if gvr == cluster.ICSPResource {
			icsps = list
		}
		for _, u := range list {
			objs = append(objs, manifest.Object{Unstructured: u, Source: manifest.Source{File: "cluster " + gvr.Resource + "/" + u.GetName()}})
		}
	}
	img, err := o.client.Get(ctx, cluster.ImageResource, "", cluster.ImageConfigName)
	if err != nil {
		return cfg, nil, err
	}
	if img != nil {
		objs = append(objs, manifest.Object{Unstructured: img, Source: manifest.Source{File: "cluster images/cluster"}})
	}
	_, cfg, err = decode(objs)
	if err != nil {
		return cfg, nil, cli.Failed(fmt.Errorf("reading the cluster's mirror configuration: %w", err))
	}
	return cfg, icsps, nil
}

// pruneCheck finds the live ICSPs that were converted and proves the
// cluster's registries.conf is the same with them gone and the IDMSs present.
// It refuses (exit 1) when a live ICSP differs from the one converted.
func (o *Options) pruneCheck(ctx context.Context, items []item, idmss []*unstructured.Unstructured) ([]*unstructured.Unstructured, error) {
	before, live, err := o.clusterConfig(ctx)
	if err != nil {
		return nil, err
	}
	byName := map[string]*unstructured.Unstructured{}
	for _, u := range live {
		byName[u.GetName()] = u
	}
	converted := map[string]bool{}
	var prune []*unstructured.Unstructured
	for _, it := range items {
		if it.icsp == nil {
			continue
		}
		u, ok := byName[it.icsp.Name]
		if !ok {
			continue
		}
		liveICSP, err := mirrorset.DecodeICSP(u)
		if err != nil {
			return nil, cli.Failed(fmt.Errorf("reading imagecontentsourcepolicy/%s from the cluster: %w", u.GetName(), err))
		}
		if !equality.Semantic.DeepEqual(liveICSP.Spec, it.icsp.Spec) {
			return nil, cli.Differs(fmt.Errorf("imagecontentsourcepolicy/%s in the cluster differs from the one converted (%s): not pruning it", u.GetName(), it.obj.Source))
		}
		converted[u.GetName()] = true
		prune = append(prune, u)
	}

	after := mirrorset.Config{ITMSs: before.ITMSs, Image: before.Image}
	for _, icsp := range before.ICSPs {
		if !converted[icsp.Name] {
			after.ICSPs = append(after.ICSPs, icsp)
		}
	}
	ours := map[string]bool{}
	for _, u := range idmss {
		ours[u.GetName()] = true
		idms, err := mirrorset.DecodeIDMS(u)
		if err != nil {
			return nil, err
		}
		after.IDMSs = append(after.IDMSs, idms)
	}
	for _, idms := range before.IDMSs {
		if !ours[idms.Name] {
			after.IDMSs = append(after.IDMSs, idms)
		}
	}
	if err := o.check("cluster", before, after); err != nil {
		return nil, err
	}
	return prune, nil
}

// prune deletes the converted ICSPs, after checking once more against the
// cluster as it is now that the IDMSs are applied.
func (o *Options) prune(ctx context.Context, items []item, idmss, prune []*unstructured.Unstructured) error {
	if o.DryRun == cmdutil.DryRunNone {
		var err error
		fmt.Fprintln(o.ErrOut, "re-checking the cluster now that the IDMSs are applied")
		if prune, err = o.pruneCheck(ctx, items, idmss); err != nil {
			return err
		}
	}
	for _, u := range prune {
		if o.DryRun != cmdutil.DryRunClient {
			if err := o.client.Delete(ctx, u, o.DryRun == cmdutil.DryRunServer); err != nil {
				return err
			}
		}
		fmt.Fprintf(o.ErrOut, "imagecontentsourcepolicy.operator.openshift.io/%s deleted%s\n", u.GetName(), cli.DryRunSuffix(o.DryRun))
	}
	return nil
}

// writeDestDir writes one file per IDMS. Every file is written to a temporary
// name first, so a failure leaves no half-written file.
func (o *Options) writeDestDir(idmss []*unstructured.Unstructured) error {
	if err := os.MkdirAll(o.DestDir, 0o755); err != nil {
		return cli.BadInput(fmt.Errorf("--dest-dir: %w", err))
	}
	for _, u := range idmss {
		data, err := manifest.EncodeYAML(u)
		if err != nil {
			return err
		}
		path := filepath.Join(o.DestDir, "imagedigestmirrorset_"+u.GetName()+".yaml")
		if err := manifest.WriteFileAtomic(path, data, 0o644); err != nil {
			return cli.Failed(fmt.Errorf("writing %s: %w", path, err))
		}
		fmt.Fprintf(o.ErrOut, "wrote %s\n", path)
	}
	return nil
}
