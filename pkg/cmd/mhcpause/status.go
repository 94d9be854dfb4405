package mhcpause

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/cli-runtime/pkg/printers"
	"sigs.k8s.io/yaml"

	"github.com/airgap-ocp/oc-plugins/pkg/cli"
)

// Values of status --expect.
const (
	ExpectPaused  = "paused"
	ExpectResumed = "resumed"
)

const statusExample = `  # Every MachineHealthCheck in the cluster: paused or not, by whom, since when
  oc mhc pause status

  # Gate a runbook after the update: exit 1, naming them, if any is still paused
  oc mhc pause status --expect resumed

  # Before starting the update: exit 1 unless every one in openshift-machine-api is paused
  oc mhc pause status -n openshift-machine-api --expect paused -o yaml`

// StatusOptions is what `status` was asked to report.
type StatusOptions struct {
	*Options
	// Output: "" (a table), yaml or json.
	Output string
	// Expect: "", paused or resumed.
	Expect string
	// Namespace to report; "" for every namespace (the default).
	Namespace string
}

func newStatusCmd(parent *Options) *cobra.Command {
	o := &StatusOptions{Options: parent}
	cmd := &cobra.Command{
		Use:   "status [--expect paused|resumed]",
		Short: "Report every MachineHealthCheck's pause, and gate on it",
		Long: `Print a table of every MachineHealthCheck, in every namespace unless -n is given: whether
it is paused, by whom (this tool, with the user it recorded, or the field manager that
set the annotation) and since when, and its last known healthy and expected machine
counts (the controllers do not update them while an MHC is paused). -o yaml|json prints
the same as data.

--expect resumed exits 1 if any MachineHealthCheck is still paused, --expect paused if
any is not, naming them on stderr. When MachineHealthChecks stay paused while no update
is in progress (ClusterVersion Progressing=False and every MachineConfigPool
Updated=True) and the pause is older than the last update that finished (the
ClusterVersion's history) or than 24 hours, a warning on stderr says the pause was
probably forgotten. A pause made for an update that has not started is no warning.

Exit codes: 0 as expected; 1 not as expected; 2 bad usage; 3 the cluster could not be read.`,
		Example: statusExample,
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := o.Complete(); err != nil {
				return err
			}
			if err := o.Validate(); err != nil {
				return err
			}
			return o.Run(cmd.Context())
		},
	}
	cmd.Flags().StringVarP(&o.Output, "output", "o", "", "Output format: yaml or json (default: a table)")
	cmd.Flags().StringVar(&o.Expect, "expect", "", "Exit 1 unless every MachineHealthCheck is paused, or resumed")
	return cmd
}

// Complete fills the namespace and connects.
func (o *StatusOptions) Complete() error {
	if o.Namespace == "" && !o.AllNamespaces {
		o.Namespace = o.flagNamespace("")
	}
	return o.connect()
}

// Validate rejects bad flags before anything is read.
func (o *StatusOptions) Validate() error {
	if err := validateSelection(o.API, o.Selector); err != nil {
		return err
	}
	if err := validNames(nil, o.Namespace); err != nil {
		return err
	}
	switch o.Output {
	case "", "yaml", "json":
	default:
		return cli.BadInputf("-o %q: status prints a table, yaml or json", o.Output)
	}
	switch o.Expect {
	case "", ExpectPaused, ExpectResumed:
	default:
		return cli.BadInputf("--expect %q: must be %s or %s", o.Expect, ExpectPaused, ExpectResumed)
	}
	return nil
}

// Report is what status prints with -o yaml|json.
type Report struct {
	MachineHealthChecks []Entry `json:"machineHealthChecks"`
}

// Entry is one MachineHealthCheck's pause.
type Entry struct {
	Namespace  string `json:"namespace"`
	Name       string `json:"name"`
	APIVersion string `json:"apiVersion"`
	Paused     bool   `json:"paused"`
	// PausedBy is oc-mhc-pause, the field manager that set the pause
	// annotation, or empty when unknown.
	PausedBy string `json:"pausedBy,omitempty"`
	// PausedByUser is the user our marker records.
	PausedByUser string `json:"pausedByUser,omitempty"`
	PausedSince  string `json:"pausedSince,omitempty"`
	// CurrentHealthy and ExpectedMachines are the MHC's last status.
	CurrentHealthy   *int64 `json:"currentHealthy,omitempty"`
	ExpectedMachines *int64 `json:"expectedMachines,omitempty"`
}

func entryOf(a mhcAPI, u *unstructured.Unstructured) Entry {
	s := StateOf(u)
	e := Entry{
		Namespace: u.GetNamespace(), Name: u.GetName(), APIVersion: a.gvr.GroupVersion().String(),
		Paused: s.Paused,
	}
	if s.Paused {
		e.PausedBy, e.PausedByUser, e.PausedSince = s.By, s.User, s.Since
	}
	if v, ok, _ := unstructured.NestedInt64(u.Object, "status", "currentHealthy"); ok {
		e.CurrentHealthy = &v
	}
	if v, ok, _ := unstructured.NestedInt64(u.Object, "status", "expectedMachines"); ok {
		e.ExpectedMachines = &v
	}
	return e
}

// Run reports.
func (o *StatusOptions) Run(ctx context.Context) error {
	apis, err := servedAPIs(o.client, o.API)
	if err != nil {
		return err
	}
	var r Report
	for _, a := range apis {
		list, err := o.client.List(ctx, a.gvr, o.Namespace, o.Selector)
		if err != nil {
			return err
		}
		for _, u := range list {
			r.MachineHealthChecks = append(r.MachineHealthChecks, entryOf(a, u))
		}
	}
	sort.SliceStable(r.MachineHealthChecks, func(i, j int) bool {
		a, b := r.MachineHealthChecks[i], r.MachineHealthChecks[j]
		if a.Namespace != b.Namespace {
			return a.Namespace < b.Namespace
		}
		if a.Name != b.Name {
			return a.Name < b.Name
		}
		return a.APIVersion > b.APIVersion // machine.openshift.io first
	})

	if err := o.print(o.Out, r); err != nil {
		return err
	}

	var paused, resumed []string
	theirs := false
	for _, e := range r.MachineHealthChecks {
		theirs = theirs || (e.Paused && e.PausedBy != Name)
		id := e.Namespace + "/" + e.Name
		if len(apis) > 1 {
			id += " (" + e.APIVersion + ")"
		}
		if e.Paused {
			paused = append(paused, id)
		} else {
			resumed = append(resumed, id)
		}
	}
	switch {
	case len(apis) == 0:
		fmt.Fprintln(o.ErrOut, noAPI)
	case len(r.MachineHealthChecks) == 0:
		fmt.Fprintln(o.ErrOut, "no MachineHealthChecks found")
	}
	hint := "resume them with: " + cli.Program() + " mhc resume"
	if theirs {
		hint += "; add --force for those paused by someone else"
	}
	if len(paused) > 0 && o.Expect != ExpectPaused {
		var entries []Entry
		for _, e := range r.MachineHealthChecks {
			if e.Paused {
				entries = append(entries, e)
			}
		}
		o.warnIfForgotten(ctx, entries, hint)
	}
	switch {
	case o.Expect == ExpectResumed && len(paused) > 0:
		return cli.Differs(fmt.Errorf("%d MachineHealthCheck(s) still paused: %s (%s)", len(paused), strings.Join(paused, ", "), hint))
	case o.Expect == ExpectPaused && len(resumed) > 0:
		return cli.Differs(fmt.Errorf("%d MachineHealthCheck(s) not paused: %s (pause with: %s mhc pause)", len(resumed), strings.Join(resumed, ", "), cli.Program()))
	}
	return nil
}

// ForgottenAfter is how long MachineHealthChecks may stay paused, with no update
// finishing after the pause, before status says the pause was probably forgotten.
const ForgottenAfter = 24 * time.Hour

// warnIfForgotten warns when MHCs stay paused while no update is in progress, and the
// pause is older than the last update that finished (it outlived the update it was for)
// or than ForgottenAfter. A pause made for an update not started yet is no warning.
func (o *StatusOptions) warnIfForgotten(ctx context.Context, paused []Entry, hint string) {
	st, err := o.client.Update(ctx)
	if err != nil {
		fmt.Fprintf(o.ErrOut, "note: could not tell whether an update is in progress: %s\n", oneLine(err))
		return
	}
	if !st.Known || st.InProgress {
		return
	}
	now := time.Now
	if o.Now != nil {
		now = o.Now
	}
	var beforeUpdate, old int
	for _, e := range paused {
		since, err := time.Parse(time.RFC3339, e.PausedSince)
		switch {
		case err != nil:
			// A pause of unknown age says nothing.
		case !st.LastCompleted.IsZero() && since.Before(st.LastCompleted):
			beforeUpdate++
		case now().Sub(since) > ForgottenAfter:
			old++
		}
	}
	var why []string
	if beforeUpdate > 0 {
		why = append(why, fmt.Sprintf("%d paused before the last update finished (%s)", beforeUpdate, st.LastCompleted.UTC().Format(time.RFC3339)))
	}
	if old > 0 {
		why = append(why, fmt.Sprintf("%d paused for more than %g hours", old, ForgottenAfter.Hours()))
	}
	if len(why) > 0 {
		fmt.Fprintf(o.ErrOut, "warning: MachineHealthCheck(s) paused while no update is in progress: %s: the pause was probably forgotten; %s\n",
			strings.Join(why, ", "), hint)
	}
}

func oneLine(err error) string { return strings.Join(strings.Fields(err.Error()), " ") }

func (o *StatusOptions) print(w io.Writer, r Report) error {
	switch o.Output {
	case "yaml":
		data, err := yaml.Marshal(r)
		if err != nil {
			return err
		}
		_, err = w.Write(data)
		return err
	case "json":
		data, err := json.MarshalIndent(r, "", "    ")
		if err != nil {
			return err
		}
		_, err = fmt.Fprintf(w, "%s\n", data)
		return err
	}
	if len(r.MachineHealthChecks) == 0 {
		return nil
	}
	tw := printers.GetNewTabWriter(w)
	fmt.Fprintln(tw, "NAMESPACE\tNAME\tAPI\tPAUSED\tBY\tSINCE\tHEALTHY\tEXPECTED")
	for _, e := range r.MachineHealthChecks {
		paused, by, since := "no", "-", "-"
		if e.Paused {
			paused = "yes"
			if e.PausedBy != "" {
				by = e.PausedBy
				if e.PausedByUser != "" {
					by += " (" + e.PausedByUser + ")"
				}
			}
			if e.PausedSince != "" {
				since = e.PausedSince
			}
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", e.Namespace, e.Name, e.APIVersion, paused, by, since,
			count(e.CurrentHealthy), count(e.ExpectedMachines))
	}
	return tw.Flush()
}

func count(n *int64) string {
	if n == nil {
		return "-"
	}
	return strconv.FormatInt(*n, 10)
}
