package registriesverify

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"strings"
	"text/tabwriter"

	mcfgv1 "github.com/openshift/api/machineconfiguration/v1"
	"sigs.k8s.io/yaml"

	"github.com/airgap-ocp/oc-plugins/pkg/cli"
	"github.com/airgap-ocp/oc-plugins/pkg/cluster"
	"github.com/airgap-ocp/oc-plugins/pkg/mirrorset"
)

// Report is the outcome of one verification.
type Report struct {
	OK       bool         `json:"ok"`
	Expected *Expected    `json:"expected"`
	Pools    []PoolReport `json:"pools,omitempty"`
	Nodes    []NodeReport `json:"nodes,omitempty"`
}

// PoolReport is one MachineConfigPool's state.
type PoolReport struct {
	Name string `json:"name"`
	OK   bool   `json:"ok"`
	// RenderedConfig is the pool's spec.configuration.name.
	RenderedConfig string `json:"renderedConfig"`
	// SuppliedBy is the MachineConfig that supplied registries.conf to the rendered config:
	// 99-<pool>-generated-registries, the template's 01-<pool>-container-runtime, or a user's.
	SuppliedBy  string                 `json:"suppliedBy,omitempty"`
	Paused      bool                   `json:"paused,omitempty"`
	Problems    []string               `json:"problems,omitempty"`
	Differences []mirrorset.Difference `json:"differences,omitempty"`
}

// NodeReport is one node's state.
type NodeReport struct {
	Name          string `json:"name"`
	Pool          string `json:"pool,omitempty"`
	OK            bool   `json:"ok"`
	CurrentConfig string `json:"currentConfig,omitempty"`
	DesiredConfig string `json:"desiredConfig,omitempty"`
	State         string `json:"state,omitempty"`
	// OnPoolConfig, when the cluster was read: the node runs its pool's rendered config and
	// the daemon is done (what "ok" means for a node without a file).
	OnPoolConfig *bool `json:"onPoolConfig,omitempty"`
	// File says where the node's real registries.conf was read from, when it was;
	// FileMatches whether that file is the expected one.
	File        string                 `json:"file,omitempty"`
	FileMatches *bool                  `json:"fileMatches,omitempty"`
	Problems    []string               `json:"problems,omitempty"`
	Differences []mirrorset.Difference `json:"differences,omitempty"`
}

func (r *Report) summary() string {
	if r.OK {
		return "everything matches"
	}
	var parts []string
	if r.Expected.Problem != "" {
		parts = append(parts, "no expected registries.conf")
	}
	count := func(what string, n, of int) {
		if n > 0 {
			parts = append(parts, fmt.Sprintf("%d of %d %s not ok", n, of, what))
		}
	}
	bad := 0
	for _, p := range r.Pools {
		if !p.OK {
			bad++
		}
	}
	count("pools", bad, len(r.Pools))
	bad = 0
	for _, n := range r.Nodes {
		if !n.OK {
			bad++
		}
	}
	count("nodes", bad, len(r.Nodes))
	return strings.Join(parts, ", ")
}

// parseCache parses and compares each distinct file once: the nodes of a pool have the same.
type parseCache map[string]*parsed

type parsed struct {
	conf  *mirrorset.RegistriesConf
	err   error
	diffs []mirrorset.Difference
	done  bool
}

func (c parseCache) parse(name string, data []byte) (*parsed, error) {
	if p, ok := c[string(data)]; ok {
		return p, p.err
	}
	conf, err := mirrorset.ParseRegistriesConf(name, data)
	p := &parsed{conf: conf, err: err}
	c[string(data)] = p
	return p, err
}

// compare returns the differences of the file from exp, computed once.
func (p *parsed) compare(exp *mirrorset.RegistriesConf) []mirrorset.Difference {
	if !p.done {
		p.diffs, p.done = mirrorset.Compare(exp, p.conf), true
	}
	return p.diffs
}

// clusterState is what verification reads of the cluster: pools, nodes, and MachineConfigs
// by name (fetched when first needed; nil when one does not exist).
type clusterState struct {
	pools []cluster.Pool
	nodes []cluster.Node
	getMC func(context.Context, string) (*mcfgv1.MachineConfig, error)
}

// nodeFile is a node's real registries.conf: its bytes, where they came from, and whether the
// user gave it (a file that does not parse is then bad input).
type nodeFile struct {
	data   []byte
	origin string
	given  bool
}

// verify checks once: the expected file, then pools, nodes and node files.
func (o *Options) verify(ctx context.Context) (*Report, error) {
	exp, err := o.expected(ctx)
	if err != nil {
		return nil, err
	}
	o.warn(exp)
	var st *clusterState
	files := map[string]nodeFile{}
	if o.client != nil && o.Mode == ModeVerify {
		pools, err := o.client.Pools(ctx)
		if err != nil {
			return nil, err
		}
		nodes, err := o.client.Nodes(ctx)
		if err != nil {
			return nil, err
		}
		mcs := map[string]*mcfgv1.MachineConfig{}
		st = &clusterState{pools: pools, nodes: nodes, getMC: func(ctx context.Context, name string) (*mcfgv1.MachineConfig, error) {
			if mc, ok := mcs[name]; ok {
				return mc, nil
			}
			mc, err := o.client.MachineConfig(ctx, name)
			if err != nil {
				return nil, err
			}
			mcs[name] = mc
			return mc, nil
		}}
		if o.ReadNodes {
			for _, n := range nodes {
				if _, given := o.nodeFiles[n.Name]; given {
					continue
				}
				if pool, err := cluster.PoolOf(n, pools); err != nil || pool == "" {
					continue
				}
				data, err := o.podReader.ReadRegistriesConf(ctx, n.Name)
				if err != nil {
					return nil, err
				}
				files[n.Name] = nodeFile{data: data, origin: "machine-config-daemon pod"}
			}
		}
	}
	for name, path := range o.nodeFiles {
		data, err := o.fileReader.ReadRegistriesConf(ctx, name)
		if err != nil {
			return nil, err
		}
		files[name] = nodeFile{data: data, origin: path, given: true}
	}
	return assess(ctx, exp, st, files)
}

// assess builds the report from what was read: the expected file, the cluster's pools, nodes
// and MachineConfigs (st, nil when the cluster was not read) and the nodes' real files.
func assess(ctx context.Context, exp *Expected, st *clusterState, files map[string]nodeFile) (*Report, error) {
	r := &Report{Expected: exp}
	cache := parseCache{}
	nodes := map[string]*NodeReport{}
	var order []string
	nodeReport := func(name string) *NodeReport {
		if n, ok := nodes[name]; ok {
			return n
		}
		nodes[name] = &NodeReport{Name: name}
		order = append(order, name)
		return nodes[name]
	}
	if st != nil {
		rendered := map[string]string{}
		for _, p := range st.pools {
			pr, err := checkPool(ctx, p, exp, st.getMC, cache)
			if err != nil {
				return nil, err
			}
			rendered[p.Name] = p.Rendered
			r.Pools = append(r.Pools, pr)
		}
		for _, n := range st.nodes {
			pool, err := cluster.PoolOf(n, st.pools)
			if err != nil {
				nr := nodeReport(n.Name)
				nr.Problems = append(nr.Problems, err.Error())
				continue
			}
			if pool == "" {
				continue // not managed by the MCO
			}
			nr := nodeReport(n.Name)
			nr.Pool, nr.CurrentConfig, nr.DesiredConfig, nr.State = pool, n.CurrentConfig, n.DesiredConfig, n.State
			rollout := rolloutProblems(n, rendered[pool])
			nr.Problems = append(nr.Problems, rollout...)
			nr.OnPoolConfig = new(len(rollout) == 0)
		}
	}
	names := make([]string, 0, len(files))
	for n := range files {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, name := range names {
		nr := nodeReport(name)
		nr.File = files[name].origin
		before := len(nr.Problems)
		if err := checkFile(nr, exp, cache, files[name]); err != nil {
			return nil, err
		}
		nr.FileMatches = new(len(nr.Problems) == before && len(nr.Differences) == 0)
	}
	sort.Strings(order)
	r.OK = exp.Problem == ""
	for _, p := range r.Pools {
		r.OK = r.OK && p.OK
	}
	for _, name := range order {
		n := nodes[name]
		n.OK = len(n.Problems) == 0 && len(n.Differences) == 0
		r.OK = r.OK && n.OK
		r.Nodes = append(r.Nodes, *n)
	}
	return r, nil
}

// checkFile compares a node's file with the expected one. A file the user gave that does not
// parse is bad input; one read from the cluster is a problem of the node.
func checkFile(nr *NodeReport, exp *Expected, cache parseCache, f nodeFile) error {
	name := fmt.Sprintf("node %s's registries.conf (%s)", nr.Name, f.origin)
	actual, err := cache.parse(name, f.data)
	if err != nil {
		if f.given {
			return cli.BadInput(fmt.Errorf("--node-file %s=%s: %w", nr.Name, f.origin, err))
		}
		nr.Problems = append(nr.Problems, err.Error())
		return nil
	}
	if exp.parsed == nil {
		nr.Problems = append(nr.Problems, "its registries.conf cannot be checked: there is no expected file")
		return nil
	}
	nr.Differences = append(nr.Differences, actual.compare(exp.parsed)...)
	return nil
}

// checkPool checks a pool's rendered MachineConfig and its conditions.
func checkPool(ctx context.Context, p cluster.Pool, exp *Expected, getMC func(context.Context, string) (*mcfgv1.MachineConfig, error), cache parseCache) (PoolReport, error) {
	pr := PoolReport{Name: p.Name, RenderedConfig: p.Rendered, Paused: p.Paused}
	if p.Paused {
		pr.Problems = append(pr.Problems, "paused (spec.paused): new rendered configs do not roll out to its nodes")
	}
	if p.Degraded == "True" {
		pr.Problems = append(pr.Problems, "degraded: "+orUnknown(p.DegradedMessage))
	}
	if p.Updated != "True" {
		pr.Problems = append(pr.Problems, fmt.Sprintf("not updated (condition Updated is %s)%s", orUnknown(p.Updated), prefixed(": ", p.UpdatedMessage)))
	}
	if p.Rendered == "" {
		pr.Problems = append(pr.Problems, "no rendered MachineConfig yet (spec.configuration.name is empty)")
		pr.OK = false
		return pr, nil
	}
	mc, err := getMC(ctx, p.Rendered)
	if err != nil {
		return pr, err
	}
	if mc == nil {
		pr.Problems = append(pr.Problems, fmt.Sprintf("its rendered MachineConfig %s does not exist", p.Rendered))
		return pr, nil
	}
	supplier, err := cluster.RegistriesConfSupplier(ctx, getMC, p.Sources, cluster.RegistriesConfPath)
	if err != nil {
		return pr, err
	}
	pr.SuppliedBy = supplier
	if supplier != "" && supplier != "99-"+p.Name+"-generated-registries" && supplier != "01-"+p.Name+"-container-runtime" {
		pr.Problems = append(pr.Problems, fmt.Sprintf("registries.conf comes from MachineConfig %s, which overrides the one the MCO generates", supplier))
	}
	data, found, err := cluster.IgnitionFile(mc, cluster.RegistriesConfPath)
	switch {
	case err != nil:
		pr.Problems = append(pr.Problems, err.Error())
	case !found:
		pr.Problems = append(pr.Problems, fmt.Sprintf("its rendered MachineConfig %s has no %s", p.Rendered, cluster.RegistriesConfPath))
	case exp.parsed != nil:
		actual, err := cache.parse(fmt.Sprintf("machineconfig/%s %s", p.Rendered, cluster.RegistriesConfPath), data)
		if err != nil {
			pr.Problems = append(pr.Problems, err.Error())
			break
		}
		pr.Differences = actual.compare(exp.parsed)
	}
	pr.OK = len(pr.Problems) == 0 && len(pr.Differences) == 0
	return pr, nil
}

// rolloutProblems checks a node runs its pool's rendered config and the daemon is done.
func rolloutProblems(n cluster.Node, rendered string) []string {
	var out []string
	if n.CurrentConfig != rendered {
		out = append(out, fmt.Sprintf("runs %s, its pool's rendered config is %s", orUnknown(n.CurrentConfig), orUnknown(rendered)))
	}
	if n.DesiredConfig != rendered {
		out = append(out, fmt.Sprintf("desired config %s, its pool's rendered config is %s", orUnknown(n.DesiredConfig), orUnknown(rendered)))
	}
	if n.State != cluster.StateDone {
		out = append(out, fmt.Sprintf("machine-config-daemon state %s%s", orUnknown(n.State), prefixed(": ", n.Reason)))
	}
	return out
}

func orUnknown(s string) string {
	if s == "" {
		return "(unset)"
	}
	return s
}

func prefixed(p, s string) string {
	if s == "" {
		return ""
	}
	return p + s
}

// printReport prints the report: yaml or json on stdout, or a table on stdout and the details
// on stderr.
func (o *Options) printReport(r *Report) error {
	if o.Output != "" {
		return o.printData(r)
	}
	w := tabwriter.NewWriter(o.Out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(w, "KIND\tNAME\tSTATUS\tDETAILS")
	expStatus := "ok"
	if r.Expected.Problem != "" {
		expStatus = "none"
	}
	fmt.Fprintf(w, "expected\tregistries.conf\t%s\t%s\n", expStatus, expectedDetails(r.Expected))
	for _, p := range r.Pools {
		config := p.RenderedConfig
		if p.SuppliedBy != "" {
			config += " (registries.conf from " + p.SuppliedBy + ")"
		}
		fmt.Fprintf(w, "pool\t%s\t%s\t%s\n", p.Name, status(p.OK), details(config, p.Problems, p.Differences))
	}
	for _, n := range r.Nodes {
		fmt.Fprintf(w, "node\t%s\t%s\t%s\n", n.Name, status(n.OK), details(nodeChecks(n), n.Problems, n.Differences))
	}
	if err := w.Flush(); err != nil {
		return err
	}
	if r.Expected.Problem != "" {
		fmt.Fprintf(o.ErrOut, "expected registries.conf: %s\n", r.Expected.Problem)
	}
	for _, p := range r.Pools {
		printDetails(o.ErrOut, "pool "+p.Name, p.Problems, p.Differences)
	}
	for _, n := range r.Nodes {
		what := "node " + n.Name
		if n.File != "" {
			what += " (file from " + n.File + ")"
		}
		printDetails(o.ErrOut, what, n.Problems, n.Differences)
	}
	return nil
}

// nodeChecks says what was checked of a node, and so what its "ok" means: that it is on its
// pool's rendered config (the cluster was read), that its real file is the expected one (a
// file was read), or both.
func nodeChecks(n NodeReport) string {
	var parts []string
	switch {
	case n.OnPoolConfig == nil:
	case *n.OnPoolConfig:
		parts = append(parts, "on the pool's rendered config "+n.CurrentConfig)
	default:
		parts = append(parts, "not on the pool's rendered config")
	}
	switch {
	case n.FileMatches == nil:
	case *n.FileMatches:
		parts = append(parts, "has the expected registries.conf")
	default:
		parts = append(parts, "registries.conf differs")
	}
	return strings.Join(parts, ", ")
}

func expectedDetails(e *Expected) string {
	d := "from " + e.Source + ": " + e.Objects
	if e.Template {
		d += "; nothing to apply, nodes keep the MCO template"
	}
	return d
}

func status(ok bool) string {
	if ok {
		return "ok"
	}
	return "drift"
}

func details(config string, problems []string, diffs []mirrorset.Difference) string {
	var parts []string
	if config != "" {
		parts = append(parts, config)
	}
	if n := len(problems); n > 0 {
		parts = append(parts, plural(n, "problem"))
	}
	if n := len(diffs); n > 0 {
		parts = append(parts, plural(n, "difference"))
	}
	return strings.Join(parts, ", ")
}

func plural(n int, what string) string {
	if n == 1 {
		return "1 " + what
	}
	return fmt.Sprintf("%d %ss", n, what)
}

func printDetails(w io.Writer, what string, problems []string, diffs []mirrorset.Difference) {
	for _, p := range problems {
		fmt.Fprintf(w, "%s: %s\n", what, p)
	}
	for _, d := range diffs {
		fmt.Fprintf(w, "%s: %s\n", what, d)
	}
}

func (o *Options) printData(v any) error {
	var data []byte
	var err error
	if o.Output == "json" {
		data, err = json.MarshalIndent(v, "", "  ")
		data = append(data, '\n')
	} else {
		data, err = yaml.Marshal(v)
	}
	if err != nil {
		return err
	}
	_, err = o.Out.Write(data)
	return err
}

func printResolution(w io.Writer, r *mirrorset.Resolution) error {
	match := "no [[registry]] entry matches"
	if r.Registry != "" {
		match = "[[registry]] " + r.Registry
	}
	fmt.Fprintf(w, "%s (%s)\n", r.Image, match)
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	for i, s := range r.Sources {
		verdict := "use"
		switch {
		case s.Blocked:
			verdict = "blocked"
		case !s.Used:
			verdict = "skip"
		}
		why := s.Why
		if s.Insecure && s.Used {
			why += " (insecure)"
		}
		fmt.Fprintf(tw, "%d.\t%s\t%s\t%s\n", i+1, s.Reference, verdict, why)
	}
	return tw.Flush()
}
