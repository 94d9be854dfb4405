// Package mhcpause is the `oc mhc pause` command (also `oc mhc resume`): it
// pauses MachineHealthChecks around a cluster update, remembers which ones it
// paused, resumes exactly those, and reports (`status`) whether any is still
// paused, as a gate for runbooks.
package mhcpause

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/cli-runtime/pkg/genericclioptions"
	"k8s.io/cli-runtime/pkg/genericiooptions"
	cmdutil "k8s.io/kubectl/pkg/cmd/util"

	"github.com/airgap-ocp/oc-plugins/pkg/cli"
	"github.com/airgap-ocp/oc-plugins/pkg/cluster"
	"github.com/airgap-ocp/oc-plugins/pkg/manifest"
)

// Name is the binary's name, the field manager of its patches, and who our
// marker says paused an MHC.
const Name = "oc-mhc-pause"

// DefaultNamespace is where pause and resume look without -n or -A: where
// OpenShift keeps its Machine API MachineHealthChecks.
const DefaultNamespace = "openshift-machine-api"

// Values of --api.
const (
	APIAuto = "auto"
	APIMAPI = "mapi"
	APICAPI = "capi"
)

// mhcAPI is one of the two MachineHealthCheck APIs.
type mhcAPI struct {
	name string // mapi or capi
	gvr  schema.GroupVersionResource
}

var mhcAPIs = []mhcAPI{
	{APIMAPI, cluster.MAPIMachineHealthCheckResource},
	{APICAPI, cluster.CAPIMachineHealthCheckResource},
}

func (a mhcAPI) describe(u *unstructured.Unstructured) string {
	return fmt.Sprintf("machinehealthcheck.%s/%s in %s", a.gvr.Group, u.GetName(), u.GetNamespace())
}

// InvokedAsResume reports whether the binary was run under a resume name:
// oc-mhc-resume (`oc mhc resume`), kubectl-mhc-resume (`kubectl mhc resume`)
// or kubectl-mhc_resume (`kubectl mhc-resume`), whatever the folder or a .exe
// suffix.
func InvokedAsResume(argv0 string) bool {
	base := strings.TrimSuffix(filepath.Base(argv0), ".exe")
	return strings.HasSuffix(base, "mhc-resume") || strings.HasSuffix(base, "mhc_resume")
}

const pauseExample = `  # Pause every MachineHealthCheck in openshift-machine-api before an update
  oc mhc pause --all

  # Pause two of them by name, and those labelled for the workers in every namespace
  oc mhc pause workers infra
  oc mhc pause -A -l machine.openshift.io/cluster-api-machine-role=worker

  # Pause what another command selected; other objects pass through
  oc get mhc -o yaml | oc mhc pause -f -

  # See what would change, with the API server checking it, changing nothing
  oc mhc pause --all --dry-run=server -o name

  # After the update: resume exactly the ones this tool paused
  oc mhc resume --all

  # Gate the runbook: fail (exit 1) if any MachineHealthCheck is still paused
  oc mhc pause status --expect resumed`

// Options is what pause or resume was asked to do.
type Options struct {
	genericiooptions.IOStreams
	ConfigFlags *genericclioptions.ConfigFlags
	PrintFlags  *genericclioptions.PrintFlags
	Input       cli.InputOptions

	// Names of MHCs to act on, in Namespace.
	Names []string
	// All: every MHC in Namespace (or every namespace).
	All bool
	// Selector: the MHCs whose labels match.
	Selector string
	// AllNamespaces: --all or Selector look in every namespace.
	AllNamespaces bool
	// Namespace for names, --all, -l and stream objects without one;
	// Complete sets it from -n or DefaultNamespace.
	Namespace string
	// API: auto, mapi or capi.
	API string
	// Resume instead of pause.
	Resume bool
	// Force: resume any paused MHC, not only those this tool paused.
	Force  bool
	DryRun cmdutil.DryRunStrategy
	// Now is the clock our marker records; time.Now when nil.
	Now func() time.Time

	printer *cli.Printer
	client  *cluster.Client
}

// NewOptions returns Options with the defaults.
func NewOptions(streams genericiooptions.IOStreams) *Options {
	return &Options{
		IOStreams:   streams,
		ConfigFlags: genericclioptions.NewConfigFlags(true),
		PrintFlags:  cli.NewPrintFlags(),
		API:         APIAuto,
	}
}

// NewCmd builds `oc mhc pause`, or `oc mhc resume` when resume is set (the
// binary was invoked under a resume name).
func NewCmd(streams genericiooptions.IOStreams, resume bool) *cobra.Command {
	o := NewOptions(streams)
	o.Resume = resume
	display := "oc mhc pause"
	if resume {
		display = "oc mhc resume"
	}
	cmd := &cobra.Command{
		Use:   Name + " [NAME...] [--all | -l SELECTOR | -f FILE]",
		Short: "Pause and resume MachineHealthChecks around a cluster update, safely",
		Long: `Pause MachineHealthChecks before a cluster update, and resume them after it.

Pausing sets the cluster.x-k8s.io/paused annotation, which the Machine API and the
Cluster API both honour, and a marker of this tool's recording when (and, when the
cluster says, for whom) it paused the MHC. An MHC that someone else paused is left
exactly as it is and not adopted. Resuming (--resume, or the same binary run as
oc-mhc-resume, kubectl-mhc-resume or kubectl-mhc_resume: oc and kubectl read a '-' in a
plugin's file name as a space and a '_' as a '-', so these are 'mhc resume' and, beside
krew's 'mhc-pause', 'mhc-resume') removes both, only from MHCs carrying the marker, or
from any paused MHC with --force. Both are idempotent. 'status' reports every MHC and
can gate a runbook on the result.

MHCs are selected by NAME, --all or -l in -n (default openshift-machine-api) or -A,
or from a stream (-f FILE, -f -, or a pipe), where other objects pass through
untouched. Every change is first checked with a server-side dry run, so a denied or
invalid change changes nothing. On stdout: for MHCs selected by NAME, --all or -l, one
line per changed MHC, as kubectl annotate prints ("machinehealthcheck.machine.openshift.io/
workers paused"), or the objects with -o yaml|json|name; for a stream, the stream with the
changed MHCs. On stderr, one line per MHC.

Exit codes: 0 done; 2 bad usage or input (nothing changed); 3 a cluster operation
failed or was not allowed (what was changed before is listed).`,
		Example: pauseExample,
		Args:    cobra.ArbitraryArgs,
		// MHC names complete from the cluster (the Machine API's kind).
		ValidArgsFunction: cli.CompleteNames(schema.GroupVersionResource{Group: "machine.openshift.io", Version: "v1beta1", Resource: "machinehealthchecks"}),
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
	fs.BoolVar(&o.All, "all", false, "Select every MachineHealthCheck in the namespace (or in every namespace with -A)")
	fs.BoolVar(&o.Resume, "resume", o.Resume, "Resume the MachineHealthChecks this tool paused (what '"+cli.Program()+" mhc resume' does)")
	fs.BoolVar(&o.Force, "force", false, "With --resume: resume every paused MachineHealthCheck, also those paused by someone else")
	o.Input.AddFlags(fs, "MachineHealthChecks to act on, among any other objects")
	cmdutil.AddDryRunFlag(cmd)
	o.PrintFlags.AddFlags(cmd)

	pfs := cmd.PersistentFlags()
	pfs.StringVarP(&o.Selector, "selector", "l", "", "Select MachineHealthChecks by label selector (e.g. -l key=value)")
	pfs.BoolVarP(&o.AllNamespaces, "all-namespaces", "A", false, "Look in every namespace")
	pfs.StringVar(&o.API, "api", APIAuto, "Which MachineHealthCheck API: mapi (machine.openshift.io), capi (cluster.x-k8s.io), or auto (each one the cluster serves)")
	o.ConfigFlags.AddFlags(pfs)

	cmd.AddCommand(newStatusCmd(o))
	cli.Setup(cmd, display)
	return cmd
}

// Complete fills what the flags imply: names from arguments, the namespace,
// the dry-run strategy, the printer and the cluster client.
func (o *Options) Complete(cmd *cobra.Command, args []string) error {
	o.Names = append(o.Names, args...)
	if cmd != nil {
		s, err := cmdutil.GetDryRunStrategy(cmd)
		if err != nil {
			return cli.BadInput(err)
		}
		o.DryRun = s
	}
	if o.Namespace == "" {
		o.Namespace = o.flagNamespace(DefaultNamespace)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	pf := o.PrintFlags
	if cmd != nil && !cmd.Flags().Changed("output") && (len(o.Names) > 0 || o.All || o.Selector != "") {
		// Selected in the cluster, not read from a stream: one line per changed MHC, as
		// kubectl annotate prints, unless -o asks for the objects.
		pf = genericclioptions.NewPrintFlags(o.verb() + cli.DryRunSuffix(o.DryRun))
	}
	p, err := cli.NewPrinter(pf)
	if err != nil {
		return err
	}
	o.printer = p
	if len(o.Names) > 0 || o.All || o.Selector != "" {
		return o.connect()
	}
	return nil // a stream: Run connects if it holds an MHC
}

// flagNamespace is -n when it was given, otherwise def. The kubeconfig's
// namespace is not used: MHCs live in openshift-machine-api whatever project
// the user is in.
func (o *Options) flagNamespace(def string) string {
	if o.ConfigFlags != nil && o.ConfigFlags.Namespace != nil && *o.ConfigFlags.Namespace != "" {
		return *o.ConfigFlags.Namespace
	}
	return def
}

func (o *Options) connect() error {
	if o.client != nil {
		return nil
	}
	c, err := cluster.New(o.ConfigFlags, Name)
	if err != nil {
		return err
	}
	o.client = c
	return nil
}

// Validate rejects bad combinations before anything is read.
func (o *Options) Validate() error {
	if err := validateSelection(o.API, o.Selector); err != nil {
		return err
	}
	if o.Force && !o.Resume {
		return cli.BadInputf("--force needs --resume: it resumes MachineHealthChecks paused by someone else")
	}
	switch {
	case len(o.Names) > 0 && (o.All || o.Selector != ""):
		return cli.BadInputf("name MachineHealthChecks, or use --all or -l, not both")
	case o.All && o.Selector != "":
		return cli.BadInputf("--all and -l cannot be used together")
	case o.Input.Given() && (len(o.Names) > 0 || o.All || o.Selector != ""):
		return cli.BadInputf("-f selects the MachineHealthChecks in the stream; it cannot be combined with names, --all or -l")
	case o.AllNamespaces && len(o.Names) > 0:
		return cli.BadInputf("-A cannot be used with names: name the namespace with -n")
	case o.AllNamespaces && !o.All && o.Selector == "" && !o.Input.Given():
		return cli.BadInputf("-A needs --all or -l")
	}
	return validNames(o.Names, o.Namespace)
}

// validNames refuses names and a namespace the API server could never hold:
// they are bad input, not a failed request ("../x" would otherwise reach
// the client as a path).
func validNames(names []string, namespace string) error {
	for _, n := range names {
		if errs := validation.IsDNS1123Subdomain(n); len(errs) > 0 {
			return cli.BadInputf("machinehealthcheck name %q: %s", n, errs[0])
		}
	}
	if namespace != "" {
		if errs := validation.IsDNS1123Label(namespace); len(errs) > 0 {
			return cli.BadInputf("namespace %q: %s", namespace, errs[0])
		}
	}
	return nil
}

func validateSelection(api, selector string) error {
	switch api {
	case APIAuto, APIMAPI, APICAPI:
	default:
		return cli.BadInputf("--api %q: must be %s, %s or %s", api, APIMAPI, APICAPI, APIAuto)
	}
	if _, err := labels.Parse(selector); err != nil {
		return cli.BadInputf("-l %q: %v", selector, err)
	}
	return nil
}

// noAPI is what a cluster that serves no MHC API holds.
const noAPI = "no MachineHealthChecks: the cluster serves no MachineHealthCheck API (neither machine.openshift.io nor cluster.x-k8s.io)"

// servedAPIs returns the MHC APIs --api asks for that the cluster serves. An
// API asked for by name must be served; with auto, a cluster that serves
// neither (installed without the MachineAPI capability) has no MHCs, which
// is no error.
func servedAPIs(c *cluster.Client, api string) ([]mhcAPI, error) {
	var out []mhcAPI
	for _, a := range mhcAPIs {
		if api != APIAuto && api != a.name {
			continue
		}
		ok, err := c.Served(a.gvr)
		if err != nil {
			return nil, err
		}
		if ok {
			out = append(out, a)
		} else if api != APIAuto {
			return nil, cli.Failed(fmt.Errorf("--api %s: the cluster does not serve %s/%s", a.name, a.gvr.GroupVersion(), a.gvr.Resource))
		}
	}
	return out, nil
}

// target is one MHC to act on.
type target struct {
	api  mhcAPI
	live *unstructured.Unstructured
	// index is its place in the input stream, or -1.
	index int

	before State
	action Action
	out    *unstructured.Unstructured // the changed object, when changed
}

// Run pauses or resumes.
func (o *Options) Run(ctx context.Context) error {
	selected := len(o.Names) > 0 || o.All || o.Selector != ""
	objs, err := o.Input.Read(o.In, selected)
	if err != nil {
		return err
	}
	stream := !selected
	if stream && len(objs) == 0 && !o.Input.Given() {
		return cli.BadInputf("nothing selected: name MachineHealthChecks, or use --all, -l SELECTOR or -f FILE")
	}
	if stream && !slices.ContainsFunc(objs, func(obj manifest.Object) bool { return isMHC(obj.Unstructured) }) {
		// Nothing to act on, and no cluster to ask: the stream passes through.
		fmt.Fprintln(o.ErrOut, o.nothingFound(true))
		out := make([]*unstructured.Unstructured, len(objs))
		for i, obj := range objs {
			out[i] = obj.Unstructured
		}
		return o.printer.Print(o.Out, out)
	}
	if err := o.connect(); err != nil {
		return err
	}
	apis, err := servedAPIs(o.client, o.API)
	if err != nil {
		return err
	}
	var targets []*target
	if stream {
		targets, err = o.streamTargets(ctx, apis, objs)
	} else {
		targets, err = o.clusterTargets(ctx, apis)
	}
	if err != nil {
		return err
	}
	if len(targets) == 0 {
		if len(apis) == 0 {
			fmt.Fprintln(o.ErrOut, noAPI)
		} else {
			fmt.Fprintln(o.ErrOut, o.nothingFound(stream))
		}
	}

	changed, runErr := o.change(ctx, targets)

	var out []*unstructured.Unstructured
	if stream {
		at := map[int]*target{}
		for _, t := range targets {
			at[t.index] = t
		}
		for i, obj := range objs {
			t, ok := at[i]
			switch {
			case !ok && !isMHC(obj.Unstructured):
				out = append(out, obj.Unstructured)
			case !ok:
				// An MHC of an API --api did not select passes through; a
				// repeat of one earlier in the stream is dropped (the first
				// stands for both).
				if _, acted := o.targetKey(obj.Unstructured); !acted {
					out = append(out, obj.Unstructured)
				}
			case t.out != nil:
				out = append(out, t.out)
			}
		}
	} else {
		for _, t := range targets {
			if t.out != nil {
				out = append(out, t.out)
			}
		}
	}
	if err := o.printer.Print(o.Out, out); err != nil {
		return errors.Join(runErr, err)
	}
	if runErr != nil && changed > 0 {
		return fmt.Errorf("%w (%d MachineHealthChecks were %s before this, listed above; run the command again to finish)", runErr, changed, o.verb())
	}
	return runErr
}

func (o *Options) verb() string {
	if o.Resume {
		return "resumed"
	}
	return "paused"
}

func (o *Options) nothingFound(stream bool) string {
	switch {
	case stream:
		return "no MachineHealthCheck in the input"
	case o.AllNamespaces:
		return "no MachineHealthChecks found in any namespace"
	}
	return fmt.Sprintf("no MachineHealthChecks found in namespace %s", o.Namespace)
}

// clusterTargets finds the MHCs named, or selected with --all or -l, in
// every served API. A name found in no API is bad input, before anything
// changes.
func (o *Options) clusterTargets(ctx context.Context, apis []mhcAPI) ([]*target, error) {
	var targets []*target
	if len(o.Names) > 0 {
		seen := map[string]bool{}
		var missing []string
		for _, name := range o.Names {
			if seen[name] {
				continue
			}
			seen[name] = true
			found := false
			for _, a := range apis {
				u, err := o.client.Get(ctx, a.gvr, o.Namespace, name)
				if err != nil {
					return nil, err
				}
				if u != nil {
					found = true
					targets = append(targets, &target{api: a, live: u, index: -1})
				}
			}
			if !found {
				missing = append(missing, name)
			}
		}
		if len(missing) > 0 {
			return nil, cli.BadInputf("machinehealthcheck %s not found in namespace %s: nothing was changed", strings.Join(quoteAll(missing), ", "), o.Namespace)
		}
	} else {
		ns := o.Namespace
		if o.AllNamespaces {
			ns = ""
		}
		for _, a := range apis {
			list, err := o.client.List(ctx, a.gvr, ns, o.Selector)
			if err != nil {
				return nil, err
			}
			for _, u := range list {
				targets = append(targets, &target{api: a, live: u, index: -1})
			}
		}
	}
	sort.SliceStable(targets, func(i, j int) bool {
		a, b := targets[i], targets[j]
		if a.api.name != b.api.name {
			return a.api.name > b.api.name // mapi first
		}
		if a.live.GetNamespace() != b.live.GetNamespace() {
			return a.live.GetNamespace() < b.live.GetNamespace()
		}
		return a.live.GetName() < b.live.GetName()
	})
	return targets, nil
}

func quoteAll(s []string) []string {
	out := make([]string, len(s))
	for i, x := range s {
		out[i] = fmt.Sprintf("%q", x)
	}
	return out
}

// isMHC reports whether u is a MachineHealthCheck of either API, any version.
func isMHC(u *unstructured.Unstructured) bool {
	if u.GetKind() != "MachineHealthCheck" {
		return false
	}
	g := u.GroupVersionKind().Group
	return g == cluster.MAPIMachineHealthCheckResource.Group || g == cluster.CAPIMachineHealthCheckResource.Group
}

// apiOf returns the MHC API of a stream object's group.
func apiOf(u *unstructured.Unstructured) mhcAPI {
	for _, a := range mhcAPIs {
		if a.gvr.Group == u.GroupVersionKind().Group {
			return a
		}
	}
	return mhcAPI{}
}

// targetKey is how a stream MHC is told apart, and whether it is one to act
// on (of an API --api selected). Objects passed through have no key.
func (o *Options) targetKey(u *unstructured.Unstructured) (string, bool) {
	if !isMHC(u) {
		return "", false
	}
	a := apiOf(u)
	if o.API != APIAuto && o.API != a.name {
		return "", false
	}
	ns := u.GetNamespace()
	if ns == "" {
		ns = o.Namespace
	}
	return a.name + "/" + ns + "/" + u.GetName(), true
}

// streamTargets finds the MHCs of the input stream in the cluster. An MHC
// the cluster does not have is bad input naming its place in the stream.
func (o *Options) streamTargets(ctx context.Context, apis []mhcAPI, objs []manifest.Object) ([]*target, error) {
	served := map[string]bool{}
	for _, a := range apis {
		served[a.name] = true
	}
	seen := map[string]bool{}
	var targets []*target
	for i, obj := range objs {
		key, ok := o.targetKey(obj.Unstructured)
		if !ok || seen[key] {
			continue
		}
		seen[key] = true
		a := apiOf(obj.Unstructured)
		if obj.GetName() == "" {
			return nil, &manifest.Error{Source: obj.Source, Field: "metadata.name", Err: errors.New("a MachineHealthCheck needs a name")}
		}
		if !served[a.name] {
			return nil, &manifest.Error{Source: obj.Source, Field: "apiVersion", Err: fmt.Errorf("the cluster does not serve %s MachineHealthChecks", a.gvr.Group)}
		}
		ns := obj.GetNamespace()
		if ns == "" {
			ns = o.Namespace
		}
		u, err := o.client.Get(ctx, a.gvr, ns, obj.GetName())
		if err != nil {
			return nil, err
		}
		if u == nil {
			return nil, &manifest.Error{Source: obj.Source, Field: "metadata.name",
				Err: fmt.Errorf("machinehealthcheck.%s %q not found in namespace %s: nothing was changed", a.gvr.Group, obj.GetName(), ns)}
		}
		targets = append(targets, &target{api: a, live: u, index: i})
	}
	return targets, nil
}

// plan decides what to do to an MHC as it is now.
func (o *Options) plan(u *unstructured.Unstructured) (State, Action) {
	s := StateOf(u)
	if o.Resume {
		return s, ResumePlan(s, o.Force)
	}
	return s, PausePlan(s)
}

// change pauses or resumes the targets. Unless this is a client dry run,
// every change is first sent as a server-side dry run, so RBAC denials and
// invalid changes are found before anything changes. It returns how many
// MHCs were changed for real, and the first error; each MHC dealt with is
// reported on stderr as it is.
func (o *Options) change(ctx context.Context, targets []*target) (int, error) {
	user := ""
	needs := false
	for _, t := range targets {
		t.before, t.action = o.plan(t.live)
		needs = needs || t.action != Leave
	}
	if !needs {
		for _, t := range targets {
			o.report(t)
		}
		return 0, nil
	}
	if !o.Resume {
		user = o.client.WhoAmI(ctx)
	}
	at := o.Now()
	decide := func(t *target) cluster.MergePatchFunc {
		return func(live *unstructured.Unstructured) (map[string]interface{}, error) {
			t.before, t.action = o.plan(live)
			return Patch(t.action, at, user), nil
		}
	}

	if o.DryRun == cmdutil.DryRunClient {
		for _, t := range targets {
			if t.action != Leave {
				t.out = withoutManagedFields(applyPatch(t.live, Patch(t.action, at, user)))
			}
			o.report(t)
		}
		return 0, nil
	}

	// The server checks every change first; nothing is changed on a denial.
	// (A server dry run is that check, once.)
	serverDry := o.DryRun == cmdutil.DryRunServer
	for _, t := range targets {
		if t.action == Leave || serverDry {
			continue
		}
		if _, _, err := o.client.MergePatch(ctx, t.api.gvr, t.live, true, decide(t)); err != nil {
			return 0, fmt.Errorf("%w; nothing was changed", err)
		}
	}

	changed := 0
	for _, t := range targets {
		seen, out, err := o.client.MergePatch(ctx, t.api.gvr, t.live, serverDry, decide(t))
		t.live = seen
		if err != nil {
			// The server accepted the dry run and refused now (or failed):
			// a failed cluster operation, whatever the refusal says, and
			// never "nothing changed" (exit 2).
			return changed, cli.Failed(err)
		}
		t.out = withoutManagedFields(out)
		if out != nil && !serverDry {
			changed++
		}
		o.report(t)
	}
	return changed, nil
}

// withoutManagedFields drops managedFields from a changed MHC before it is
// printed, as kubectl does.
func withoutManagedFields(u *unstructured.Unstructured) *unstructured.Unstructured {
	if u != nil {
		unstructured.RemoveNestedField(u.Object, "metadata", "managedFields")
	}
	return u
}

// report writes the one line about an MHC on stderr.
func (o *Options) report(t *target) {
	s := t.before
	var what string
	switch t.action {
	case Pause:
		what = "paused"
	case Resume:
		what = "resumed"
		if !s.Ours {
			what = "resumed (--force: it was paused by " + who(s) + ")"
		}
	case Clean:
		what = "not paused; removed the marker of an earlier pause that someone else resumed"
	case Leave:
		switch {
		case !s.Paused:
			what = "not paused: nothing to do"
		case s.Ours:
			what = "already paused by " + Name + since(s) + ": unchanged"
		case o.Resume:
			what = "paused by " + who(s) + since(s) + ", not by " + Name + ": left paused (--force resumes it)"
		default:
			what = "already paused by " + who(s) + since(s) + ": left as it is, not adopted (resuming will not unpause it)"
		}
	}
	if t.action != Leave {
		switch o.DryRun {
		case cmdutil.DryRunClient:
			what += " (dry run)"
		case cmdutil.DryRunServer:
			what += " (server dry run)"
		}
	}
	fmt.Fprintf(o.ErrOut, "%s: %s\n", t.api.describe(t.live), what)
}

func who(s State) string {
	if s.By == "" {
		return "someone else"
	}
	return s.By
}

func since(s State) string {
	if s.Since == "" {
		return ""
	}
	return " since " + s.Since
}
