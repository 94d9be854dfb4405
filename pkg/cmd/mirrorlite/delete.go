package mirrorlite

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"

	"github.com/containers/image/v5/docker/reference"
	"github.com/spf13/cobra"
	"k8s.io/cli-runtime/pkg/genericclioptions"
	"k8s.io/cli-runtime/pkg/genericiooptions"
	"sigs.k8s.io/yaml"

	"github.com/airgap-ocp/oc-plugins/pkg/archive"
	"github.com/airgap-ocp/oc-plugins/pkg/catalog"
	"github.com/airgap-ocp/oc-plugins/pkg/cli"
	"github.com/airgap-ocp/oc-plugins/pkg/cluster"
	"github.com/airgap-ocp/oc-plugins/pkg/imageset"
	"github.com/airgap-ocp/oc-plugins/pkg/mirror"
	"github.com/airgap-ocp/oc-plugins/pkg/plan"
	"github.com/airgap-ocp/oc-plugins/pkg/release"
	"github.com/airgap-ocp/oc-plugins/pkg/retire"
)

const deleteExample = `  # What deleting what a DeleteImageSetConfiguration names would do (nothing is deleted)
  oc mirror lite delete -c delete.yaml --to docker://registry.example.com:5000/mirror

  # Delete a release, refusing if the cluster still runs it, has it in its history or pulls any image of it
  oc mirror lite delete release 4.16.2 --to docker://registry.example.com:5000/ocp/release \
    --kubeconfig ~/.kube/config --confirm

  # Retire exactly what an earlier run mirrored: its --resources-dir mapping, or its archive
  oc mirror lite delete images -f ./mirror-resources/mapping.txt --confirm
  oc mirror lite delete --from /media/usb/ocp-4.16.3 --to docker://registry.example.com:5000/ocp/release --confirm`

const deleteReleaseExample = `  # The plan of a release's deletion, checked against two clusters (nothing is deleted)
  oc mirror lite delete release 4.16.2 --to docker://registry.example.com:5000/ocp/release \
    --kubeconfig ~/.kube/prod --kubeconfig ~/.kube/stage`

const deleteImagesExample = `  # Retire what an earlier 'oc mirror lite images --resources-dir' run mirrored
  oc mirror lite delete images -f ./mirror-resources/mapping.txt --kubeconfig ~/.kube/config --confirm`

// DeleteOptions are `oc mirror lite delete` and its release and images
// subcommands: a plan built as the mirror builds it, retired from the
// registry.
type DeleteOptions struct {
	*Options
	Config      string
	From        string
	Confirm     bool
	Kubeconfigs []string
	Contexts    []string
	Output      string

	// What the subcommands add.
	Release, Arch string
	Mappings      []string
	MappingFiles  []string

	kind    string // "", "release" or "images"
	dconfig *imageset.DeleteConfig
	maps    []plan.Mapping
	target  string
	// catalogs is what delete.operators retires and what stays listed.
	catalogs *retire.Catalogs
}

// NewDeleteOptions returns DeleteOptions with the defaults.
func NewDeleteOptions(streams genericiooptions.IOStreams) *DeleteOptions {
	return &DeleteOptions{Options: NewOptions(streams), Arch: "x86_64", Output: "yaml"}
}

func newDeleteCmd(streams genericiooptions.IOStreams) *cobra.Command {
	o := NewDeleteOptions(streams)
	cmd := &cobra.Command{
		Use:   "delete (-c DELETE.yaml | --from DIR) --to docker://REGISTRY/PATH",
		Short: "Retire mirrored releases and images from a registry, without breaking what stays or what a cluster uses",
		Long: `Retire from a registry what a mirror run put there: the releases, operator catalogs and
additional images of a DeleteImageSetConfiguration (-c, oc-mirror v2's format), the images
of an archive's index (--from), a release (delete release), or the images of a mapping file
such as the mapping.txt --resources-dir wrote (delete images).

The plan is built by the same code that built the mirror's, then read against the
registry: each manifest by digest, with its tags, why it goes and the bytes the
registry's garbage collector can reclaim afterwards. A manifest that a tag the plan does
not name, or a manifest list that stays, still references is kept, and so is every bundle
and related image that a catalog staying in the mirror lists. With --kubeconfig or
--context (repeatable, one per cluster that pulls from this mirror) each cluster is read
first, and the delete is refused (exit 1, nothing deleted) if it uses an image of the
plan: its ClusterVersion's desired release and history, its pods' images, its
CatalogSources and ClusterCatalogs, followed through its IDMS and ICSP.

Without --confirm nothing is deleted: the plan is printed on stdout (-o yaml, json, or
mapping), a summary on stderr. With --confirm each manifest is read back (its digest must
still be the planned one) and deleted by digest; a run stopped half-way is safe to
repeat. Run the registry's garbage collector afterwards to free the space.

Exit codes: 0 done (or planned); 1 a cluster uses an image of the plan; 2 bad usage or
input; 3 the registry or a cluster failed, or refuses deletes (405).`,
		Example: deleteExample,
		Args:    cobra.NoArgs,
		RunE:    run(o),
	}
	o.addDeleteFlags(cmd, true)
	cmd.Flags().StringVarP(&o.Config, "config", "c", "", "DeleteImageSetConfiguration (oc-mirror v2 format) naming the releases, operators and images to delete")
	cmd.Flags().StringVar(&o.From, "from", "", "Delete the images of this archive (DIR written by --to file://DIR, or its index.json)")
	cmd.AddCommand(newDeleteReleaseCmd(streams), newDeleteImagesCmd(streams))
	for _, sub := range cmd.Commands() {
		sub.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return cli.BadInput(err) })
	}
	return cmd
}

func newDeleteReleaseCmd(streams genericiooptions.IOStreams) *cobra.Command {
	o := NewDeleteOptions(streams)
	o.kind = "release"
	cmd := &cobra.Command{
		Use:   "release VERSION|PULLSPEC --to docker://REGISTRY/REPO",
		Short: "Retire a release that 'oc mirror lite release' mirrored into REPO",
		Long: `Retire a release from the repository 'oc mirror lite release --to' mirrored it into: the
release image (tagged <version>-<arch>, or the tag or digest of a PULLSPEC) is read from
that repository, and its image-references name the components to delete. Components a
kept release shares stay. See 'oc mirror lite delete --help'.`,
		Example: deleteReleaseExample,
		Args:    cobra.ExactArgs(1),
		RunE:    run(o),
	}
	o.addDeleteFlags(cmd, true)
	cmd.Flags().StringVar(&o.Arch, "arch", o.Arch, "Architecture of a VERSION: x86_64, aarch64, ppc64le, s390x or multi (amd64 and arm64 accepted)")
	return cmd
}

func newDeleteImagesCmd(streams genericiooptions.IOStreams) *cobra.Command {
	o := NewDeleteOptions(streams)
	o.kind = "images"
	cmd := &cobra.Command{
		Use:   "images [SRC=DST...] [-f MAPPING]",
		Short: "Retire the images a mapping names at its destinations (a run's mapping.txt)",
		Long: `Retire the images that SRC=DST mappings put at DST, as 'oc mirror lite images' mirrored
them: DST's tag, or the digest of a source by digest. The mapping.txt --resources-dir wrote
names exactly what that run mirrored. See 'oc mirror lite delete --help'.`,
		Example: deleteImagesExample,
		RunE:    run(o),
	}
	o.addDeleteFlags(cmd, false)
	cmd.Flags().StringArrayVarP(&o.MappingFiles, "filename", "f", nil, "Mapping file: SRC DST or SRC=DST per line (repeatable; - for stdin)")
	return cmd
}

// addDeleteFlags adds the registry, retry and cluster flags; withTo the
// destination the plan was mirrored to.
func (o *DeleteOptions) addDeleteFlags(cmd *cobra.Command, withTo bool) {
	fs := cmd.Flags()
	o.Registry.AddFlags(fs)
	fs.IntVar(&o.Parallel, "parallel", mirror.DefaultParallel, "Requests in flight at once while reading the registry")
	fs.IntVar(&o.RetryTimes, "retry-times", o.RetryTimes, "Times a registry request that failed for a passing reason is retried")
	fs.DurationVar(&o.RetryDelay, "retry-delay", o.RetryDelay, "Wait before the first retry; it doubles with each retry up to 15s")
	fs.DurationVar(&o.IdleTimeout, "idle-timeout", o.IdleTimeout, "Give up on a registry request, and retry it, when it has moved no data for this long")
	fs.IntVar(&o.MaxNestedPaths, "max-nested-paths", 0, "The --max-nested-paths the images were mirrored with")
	fs.BoolVar(&o.Confirm, "confirm", false, "Delete: without it the plan is printed and nothing is deleted")
	fs.StringArrayVar(&o.Kubeconfigs, "kubeconfig", nil, "Kubeconfig of a cluster that pulls from this registry, checked before anything is deleted (repeatable)")
	fs.StringArrayVar(&o.Contexts, "context", nil, "Kubeconfig context of a cluster to check (repeatable; one per --kubeconfig, or several in one kubeconfig)")
	fs.StringVarP(&o.Output, "output", "o", o.Output, "Plan format: yaml, json, or mapping (docker://SRC=docker://DST per tag, for 'delete images -f')")
	// A release it retires is read as the mirror run read it: by the
	// digest a run kept it under, its manifest only.
	o.addCacheFlag(fs)
	if withTo {
		fs.StringVar(&o.To, "to", "", "The registry and path the images were mirrored to, docker://REGISTRY/PATH (required)")
	}
}

// Complete takes the arguments.
func (o *DeleteOptions) Complete(cmd *cobra.Command, args []string) error {
	switch o.kind {
	case "release":
		o.Release = args[0]
	case "images":
		o.Mappings = append(o.Mappings, args...)
	}
	if err := o.complete(cmd); err != nil {
		return err
	}
	o.srcCtx = o.destCtx // every read is of the mirror
	return nil
}

// Validate reads every input before any I/O.
func (o *DeleteOptions) Validate() error {
	switch o.Output {
	case "yaml", "json", "mapping":
	default:
		return cli.BadInputf("-o %q: want yaml, json or mapping", o.Output)
	}
	if len(o.Contexts) > 1 && len(o.Kubeconfigs) > 1 && len(o.Contexts) != len(o.Kubeconfigs) {
		return cli.BadInputf("--context: give one per --kubeconfig, or several with one --kubeconfig")
	}
	if err := o.validate(); err != nil {
		return err
	}
	if o.kind != "images" {
		if o.To == "" {
			return cli.BadInputf("--to is required: the registry and path the images were mirrored to, docker://REGISTRY/PATH")
		}
		if _, err := registryRoot(o.To); err != nil {
			return cli.BadInputf("--to: %w", err)
		}
	}
	switch o.kind {
	case "release":
		target, err := release.Target(o.Release, release.DefaultRepo, o.Arch)
		if err != nil {
			return cli.BadInput(err)
		}
		o.target = target
	case "images":
		if len(o.Mappings) == 0 && len(o.MappingFiles) == 0 {
			return cli.BadInputf("no images: give SRC=DST arguments or -f MAPPING")
		}
		maps, err := o.readMappings(o.Mappings, o.MappingFiles)
		if err != nil {
			return err
		}
		o.maps = append(o.maps, maps...)
	default:
		switch {
		case (o.Config == "") == (o.From == ""):
			return cli.BadInputf("give -c DELETE.yaml or --from DIR, or a subcommand (release, images); see --help")
		case o.Config != "":
			data, err := os.ReadFile(o.Config)
			if err != nil {
				return cli.BadInputf("-c: %w", err)
			}
			if o.dconfig, err = imageset.ParseDelete(data, o.Config); err != nil {
				return cli.BadInput(err)
			}
		}
	}
	return nil
}

// Run builds the plan, checks the clusters, and prints or carries it out.
func (o *DeleteOptions) Run(ctx context.Context) error {
	p, root, err := o.plan(ctx)
	if err != nil {
		return err
	}
	ropts := retire.Options{Sys: o.destCtx, Retry: o.retry, IdleTimeout: o.IdleTimeout, Parallel: o.Parallel, MaxNestedPaths: o.MaxNestedPaths}
	rp, err := retire.BuildKeeping(ctx, p, root, o.catalogs, ropts)
	if err != nil {
		return cli.Failed(err)
	}
	if err := o.checkClusters(ctx, rp); err != nil {
		return err
	}
	o.summarize(rp)
	out, err := o.format(rp)
	if err != nil {
		return err
	}
	if !o.Confirm {
		if _, err := o.Out.Write(out); err != nil {
			return err
		}
		o.info("nothing was deleted: run again with --confirm to delete")
		return nil
	}
	results, err := rp.Execute(ctx, ropts, func(r retire.Result) {
		switch r.Outcome {
		case retire.Deleted, retire.Gone:
			o.info("%s: %s%s", r.Outcome, r.Manifest.Ref(), tagList(r.Manifest.Tags))
		default:
			o.info("%s: %s%s: %v", r.Outcome, r.Manifest.Ref(), tagList(r.Manifest.Tags), r.Err)
		}
	})
	deleted, failed := 0, 0
	for _, r := range results {
		switch r.Outcome {
		case retire.Deleted:
			deleted++
		case retire.Failed, retire.Changed:
			failed++
		}
	}
	if err != nil {
		return cli.Failed(fmt.Errorf("%w (%d of %d deleted before; each is listed above)", err, deleted, len(rp.Delete)))
	}
	if failed > 0 {
		return cli.Failed(fmt.Errorf("%d of %d manifests were not deleted (each is listed above); a re-run plans again and finishes the job", failed, len(rp.Delete)))
	}
	if _, err := o.Out.Write(out); err != nil {
		return err
	}
	o.info("deleted %d manifests; run the registry's garbage collector to free up to %s (distribution: registry garbage-collect CONFIG)", deleted, mirror.FormatBytes(rp.ReclaimableBytes))
	return nil
}

// plan builds the plan as the mirror built it, and the root its items are below.
func (o *DeleteOptions) plan(ctx context.Context) (*plan.Plan, string, error) {
	root := ""
	if o.kind != "images" {
		root, _ = registryRoot(o.To)
	}
	switch {
	case o.kind == "images":
		p, err := plan.FromMappings(o.maps, true, nil)
		if err != nil {
			return nil, "", cli.BadInput(err)
		}
		return p, "", nil
	case o.kind == "release":
		// The release is read where it was mirrored: its tag or digest in --to.
		named, err := reference.ParseNormalizedNamed(o.target)
		if err != nil {
			return nil, "", cli.BadInput(err)
		}
		at := root + ":" + reference.TagNameOnly(named).(reference.Tagged).Tag()
		if d, ok := named.(reference.Digested); ok {
			at = root + "@" + d.Digest().String()
		}
		payload, err := o.mirroredPayload(ctx, at)
		if err != nil || payload == nil {
			return &plan.Plan{}, "", err
		}
		p, err := payload.Plan(root, "")
		if err != nil {
			return nil, "", cli.BadInput(err)
		}
		return p, "", nil
	case o.From != "":
		idx, err := archive.ReadIndexFile(strings.TrimPrefix(o.From, "file://"))
		if err != nil {
			return nil, "", cli.BadInputf("--from: %w", err)
		}
		p, err := idx.Plan()
		if err != nil {
			return nil, "", cli.BadInputf("--from %s: %w", o.From, err)
		}
		if slices.ContainsFunc(p.Items, func(it plan.Item) bool { return it.Kind == plan.Catalog }) {
			if o.catalogs, err = o.stayingCatalogs(ctx, p, root); err != nil {
				return nil, "", err
			}
		}
		return p, root, nil
	}
	p := &plan.Plan{}
	if cfg := o.dconfig.Config; cfg != nil {
		var err error
		if p, err = o.configPlan(ctx, cfg, root); err != nil {
			return nil, "", err
		}
	}
	if len(o.dconfig.Operators) > 0 {
		cats, err := o.catalogsPlan(ctx, root)
		if err != nil {
			return nil, "", err
		}
		if err := p.Merge(cats.Plan); err != nil {
			return nil, "", cli.BadInput(err)
		}
		o.catalogs = cats
	}
	return p, root, nil
}

// catalogsPlan reads the catalogs of delete.operators, and those that stay
// in the mirror beside them.
func (o *DeleteOptions) catalogsPlan(ctx context.Context, root string) (*retire.Catalogs, error) {
	work, err := os.MkdirTemp("", "oc-mirror-lite-delete-")
	if err != nil {
		return nil, cli.Failed(err)
	}
	defer os.RemoveAll(work)
	var entries []retire.CatalogEntry
	for i, op := range o.dconfig.Operators {
		entries = append(entries, retire.CatalogEntry{Name: op.Catalog, TargetCatalog: op.TargetCatalog, TargetTag: op.TargetTag,
			Selection: op.Selection, Field: fmt.Sprintf("%s: delete.operators[%d]", o.Config, i)})
	}
	ropts := retire.Options{Sys: o.destCtx, Retry: o.retry, IdleTimeout: o.IdleTimeout, Parallel: o.Parallel, MaxNestedPaths: o.MaxNestedPaths}
	cats, err := ropts.PlanCatalogs(ctx, entries, root, work)
	var fe *catalog.FieldError
	switch {
	case errors.As(err, &fe), errors.Is(err, catalog.ErrNotCatalog):
		return nil, cli.BadInput(err)
	case err != nil:
		return nil, cli.Failed(err)
	}
	for _, n := range cats.Notes {
		o.info("%s", n)
	}
	return cats, nil
}

// stayingCatalogs reads the catalogs that stay beside those p retires.
func (o *DeleteOptions) stayingCatalogs(ctx context.Context, p *plan.Plan, root string) (*retire.Catalogs, error) {
	work, err := os.MkdirTemp("", "oc-mirror-lite-delete-")
	if err != nil {
		return nil, cli.Failed(err)
	}
	defer os.RemoveAll(work)
	ropts := retire.Options{Sys: o.destCtx, Retry: o.retry, IdleTimeout: o.IdleTimeout, Parallel: o.Parallel, MaxNestedPaths: o.MaxNestedPaths}
	cats, err := ropts.StayingCatalogs(ctx, p, root, work)
	if err != nil {
		return nil, cli.Failed(err)
	}
	for _, n := range cats.Notes {
		o.info("%s", n)
	}
	return cats, nil
}

// configPlan is the plan of delete.platform and delete.additionalImages,
// each release read where the mirror put it.
func (o *DeleteOptions) configPlan(ctx context.Context, cfg *imageset.Config, root string) (*plan.Plan, error) {
	client, err := o.Registry.HTTPClient()
	if err != nil {
		return nil, err
	}
	// Each release the channels select is read where the mirror put it.
	payload := func(ctx context.Context, pullSpec string) (*release.Payload, error) {
		named, err := reference.ParseNormalizedNamed(pullSpec)
		if err != nil {
			return nil, cli.BadInput(err)
		}
		d, ok := named.(reference.Digested)
		if !ok {
			return nil, cli.BadInputf("the update graph names %s, not by digest", pullSpec)
		}
		return o.mirroredPayload(ctx, root+"/"+imageset.ReleasePath+"@"+d.Digest().String())
	}
	p, _, err := cfg.Plan(ctx, imageset.Resolver{HTTP: client, Retry: o.retry, Payload: payload})
	if err != nil {
		return nil, configError(err)
	}
	return p, nil
}

// mirroredPayload reads the release payload at ref in the mirror; nil,
// said on stderr, when the mirror does not hold it (deleted already).
func (o *DeleteOptions) mirroredPayload(ctx context.Context, ref string) (*release.Payload, error) {
	has, err := retire.Options{Sys: o.destCtx, Retry: o.retry, IdleTimeout: o.IdleTimeout}.Has(ctx, ref)
	if err != nil {
		return nil, cli.Failed(err)
	}
	if !has {
		o.info("missing: %s is not in the registry: none of its images is planned (deleted already?)", ref)
		return nil, nil
	}
	return o.readPayload(ctx, ref)
}

// checkClusters refuses (exit 1) when a cluster given uses an image of the plan.
func (o *DeleteOptions) checkClusters(ctx context.Context, rp *retire.Plan) error {
	targets := o.clusterTargets()
	if len(targets) == 0 {
		o.info("warning: no cluster was checked: give --kubeconfig (or --context) for each cluster that pulls from this registry")
		return nil
	}
	var conflicts []retire.Conflict
	for _, t := range targets {
		c, err := cluster.New(t.flags, Name)
		if err != nil {
			return err
		}
		found, warnings, err := rp.ClusterConflicts(ctx, t.name, c)
		if err != nil {
			return fmt.Errorf("cluster %s: %w", t.name, err)
		}
		for _, w := range warnings {
			o.info("warning: %s", w)
		}
		conflicts = append(conflicts, found...)
		o.info("checked cluster %s: %d of the plan's images in use", t.name, distinctImages(found))
	}
	if len(conflicts) == 0 {
		return nil
	}
	for _, c := range conflicts {
		o.info("refused: %s", c)
	}
	return cli.Differs(fmt.Errorf("refused: %d of the plan's images are in use by a cluster (each use is listed above); nothing was deleted", distinctImages(conflicts)))
}

// distinctImages counts the manifests among conflicts, each once.
func distinctImages(conflicts []retire.Conflict) int {
	seen := map[string]bool{}
	for _, c := range conflicts {
		seen[c.Manifest.Ref()] = true
	}
	return len(seen)
}

type clusterTarget struct {
	name  string
	flags *genericclioptions.ConfigFlags
}

// clusterTargets pairs --kubeconfig and --context: one each, several
// contexts of one kubeconfig, or several kubeconfigs at their current
// contexts.
func (o *DeleteOptions) clusterTargets() []clusterTarget {
	n := max(len(o.Kubeconfigs), len(o.Contexts))
	var out []clusterTarget
	for i := range n {
		f := genericclioptions.NewConfigFlags(false)
		var name []string
		if len(o.Kubeconfigs) > 0 {
			kc := o.Kubeconfigs[min(i, len(o.Kubeconfigs)-1)]
			f.KubeConfig = &kc
			name = append(name, kc)
		}
		if len(o.Contexts) > 0 {
			ctx := o.Contexts[min(i, len(o.Contexts)-1)]
			f.Context = &ctx
			name = append(name, "context "+ctx)
		}
		out = append(out, clusterTarget{name: strings.Join(name, ", "), flags: f})
	}
	return out
}

func (o *DeleteOptions) summarize(rp *retire.Plan) {
	tags := 0
	for _, m := range rp.Delete {
		tags += len(m.Tags)
	}
	for _, m := range rp.Keep {
		o.info("kept: %s%s (%s): %s", m.Ref(), tagList(m.Tags), m.Reason, m.Kept)
	}
	if shared := sharedKept(rp); shared > 0 {
		o.info("note: %d kept manifests keep the plan's tags too: images are deleted by digest, which takes every tag of a manifest, so a tag alone is not removed", shared)
	}
	for _, m := range rp.Missing {
		o.info("missing: %s (%s): not in the registry", m.Image, m.Reason)
	}
	o.info("plan: %d manifests to delete (%d tags), %d kept, %d missing; garbage collection can then free up to %s",
		len(rp.Delete), tags, len(rp.Keep), len(rp.Missing), mirror.FormatBytes(rp.ReclaimableBytes))
}

// sharedKept counts the kept manifests that another tag keeps.
func sharedKept(rp *retire.Plan) int {
	n := 0
	for _, m := range rp.Keep {
		if strings.HasPrefix(m.Kept, "the tag ") {
			n++
		}
	}
	return n
}

func tagList(tags []string) string {
	if len(tags) == 0 {
		return ""
	}
	return " (" + strings.Join(tags, ", ") + ")"
}

// format renders the plan as -o says.
func (o *DeleteOptions) format(rp *retire.Plan) ([]byte, error) {
	switch o.Output {
	case "json":
		b, err := json.MarshalIndent(rp, "", "  ")
		return append(b, '\n'), err
	case "mapping":
		var b strings.Builder
		for _, m := range rp.Delete {
			src := m.Ref()
			if named, err := reference.ParseNormalizedNamed(m.Source); err == nil && m.Source != "" {
				src = reference.TrimNamed(named).Name() + "@" + m.Digest.String()
			}
			if len(m.Tags) == 0 {
				fmt.Fprintf(&b, "docker://%s=docker://%s\n", src, m.Ref())
			}
			for _, t := range m.Tags {
				fmt.Fprintf(&b, "docker://%s=docker://%s:%s\n", src, m.Repository, t)
			}
		}
		return []byte(b.String()), nil
	}
	return yaml.Marshal(rp)
}
