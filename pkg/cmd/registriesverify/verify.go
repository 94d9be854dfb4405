// Package registriesverify is the `oc registries verify` command: it computes the
// /etc/containers/registries.conf the Machine Config Operator must write from the cluster's
// mirror objects and image config, and checks it against every pool's rendered MachineConfig,
// the rollout to the nodes, and the nodes' real files.
package registriesverify

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"k8s.io/cli-runtime/pkg/genericclioptions"
	"k8s.io/cli-runtime/pkg/genericiooptions"

	"github.com/airgap-ocp/oc-plugins/pkg/cli"
	"github.com/airgap-ocp/oc-plugins/pkg/cluster"
	"github.com/airgap-ocp/oc-plugins/pkg/manifest"
	"github.com/airgap-ocp/oc-plugins/pkg/mirrorset"
)

// Name is the binary's name.
const Name = "oc-registries-verify"

const example = `  # Check every pool and node of the cluster against its mirror objects
  oc registries verify

  # After applying a new ImageDigestMirrorSet: wait until every pool has rolled it out
  oc registries verify --wait --timeout 30m

  # Also read each node's real file through the machine-config-daemon pods
  oc registries verify --read-nodes

  # Check one node's file, read with oc debug, against the cluster's objects
  oc debug node/worker-0 -- chroot /host cat /etc/containers/registries.conf | oc registries verify --node-file worker-0=-

  # Check a mirror set before it is applied, against a node's file, leaving the cluster alone
  oc registries verify -f idms.yaml --node-file worker-0=registries.conf --from-cluster=false

  # Print the registries.conf the Machine Config Operator must write
  oc registries verify render

  # Where would CRI-O pull this image from?
  oc registries verify resolve quay.io/openshift-release-dev/ocp-release@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef`

// The modes of the command.
const (
	ModeVerify  = "verify"
	ModeRender  = "render"
	ModeResolve = "resolve"
)

// Options is what the command was asked to do.
type Options struct {
	genericiooptions.IOStreams
	ConfigFlags *genericclioptions.ConfigFlags
	Input       cli.InputOptions

	Mode string
	// FromCluster reads the expected configuration from the cluster; FromClusterSet says the
	// flag was given (otherwise it is the default when no objects are given).
	FromCluster    bool
	FromClusterSet bool
	ReleaseImage   string
	NodeFiles      []string
	ReadNodes      bool
	Output         string
	Wait           bool
	Timeout        time.Duration
	// Interval is the pause between checks with --wait.
	Interval time.Duration
	// Image is the pull spec resolve resolves.
	Image string

	client *cluster.Client
	// fileReader reads the --node-file files, podReader nodes' files through the
	// machine-config-daemon pods (--read-nodes).
	fileReader NodeFileReader
	podReader  NodeFileReader
	nodeFiles  map[string]string // node -> path
	objs       []manifest.Object
}

// NodeFileReader reads a node's /etc/containers/registries.conf: from a file or standard input
// the user names (--node-file), or from the node itself (--read-nodes, cluster.DaemonReader).
type NodeFileReader interface {
	ReadRegistriesConf(ctx context.Context, node string) ([]byte, error)
}

// NewOptions returns Options with the defaults.
func NewOptions(streams genericiooptions.IOStreams) *Options {
	return &Options{
		IOStreams:   streams,
		ConfigFlags: genericclioptions.NewConfigFlags(true),
		Mode:        ModeVerify,
		Timeout:     30 * time.Minute,
		Interval:    10 * time.Second,
	}
}

// NewCmd builds `oc registries verify` with its render and resolve subcommands.
func NewCmd(streams genericiooptions.IOStreams) *cobra.Command {
	o := NewOptions(streams)
	run := func(mode string) func(*cobra.Command, []string) error {
		return func(cmd *cobra.Command, args []string) error {
			o.Mode = mode
			o.FromClusterSet = cmd.Flags().Changed("from-cluster")
			if err := o.Complete(args); err != nil {
				return err
			}
			if err := o.Validate(); err != nil {
				return err
			}
			return o.Run(cmd.Context())
		}
	}
	cmd := &cobra.Command{
		Use:   Name,
		Short: "Check that every pool and node has the registries.conf the cluster's mirror objects describe",
		Long: `Compute the /etc/containers/registries.conf the Machine Config Operator (MCO) must write
from the ImageDigestMirrorSets, ImageTagMirrorSets, ImageContentSourcePolicies and the
image.config.openshift.io/cluster registry sources (from the cluster, or from -f files), and
check it against:

  - each MachineConfigPool's rendered MachineConfig (the file in its Ignition config),
  - the rollout: each node's current and desired config, its pool's conditions and pause,
  - nodes' real files, given with --node-file NODE=PATH or read with --read-nodes.

The comparison is semantic (containers/image's parsing, per registry prefix), not textual.
A short table goes to stdout (-o yaml|json for the full report), the differences to stderr.

Exit codes: 0 everything matches; 1 a difference (drift), or the MCO renders nothing or refuses
the configuration; 2 bad usage or input; 3 a cluster operation failed.`,
		Example: example,
		Args:    cobra.NoArgs,
		RunE:    run(ModeVerify),
	}
	pf := cmd.PersistentFlags()
	o.Input.AddFlags(pf, "Mirror objects (IDMS, ITMS, ICSP, the Image config, the ClusterVersion) for the expected configuration")
	pf.BoolVar(&o.FromCluster, "from-cluster", false, "Read the expected configuration's objects from the cluster (the default without -f or piped objects); with -f too, the files' objects replace the cluster's of the same kind and name; =false with --node-file: do not read the cluster at all, not even its pools")
	pf.StringVar(&o.ReleaseImage, "release-image", "", "The release payload pull spec, for the MCO's rule that its repository is never blocked without a mirror (default: the ClusterVersion's status.desired.image)")
	pf.StringArrayVar(&o.NodeFiles, "node-file", nil, "NODE=PATH: a node's registries.conf to check (PATH - for standard input); repeatable")
	pf.StringVarP(&o.Output, "output", "o", "", "Output format: yaml or json (the full report); default a table")
	fs := cmd.Flags()
	fs.BoolVar(&o.ReadNodes, "read-nodes", false, "Read every node's registries.conf through its machine-config-daemon pod (exec cat /rootfs/etc/containers/registries.conf)")
	fs.BoolVar(&o.Wait, "wait", false, "Check again until everything matches, or until --timeout (then exit 1 with what is still wrong)")
	fs.DurationVar(&o.Timeout, "timeout", o.Timeout, "With --wait: how long to wait")
	o.ConfigFlags.AddFlags(pf)
	// The objects read and written here are cluster-scoped or in a fixed namespace.
	_ = pf.MarkHidden("namespace")

	cmd.AddCommand(&cobra.Command{
		Use:   "render",
		Short: "Print the registries.conf the Machine Config Operator must write, as TOML",
		Long: `Print the /etc/containers/registries.conf the Machine Config Operator writes to every node for
the cluster's (or the files') mirror objects and image config. With nothing to apply the MCO
writes no file of its own and nodes keep its template, which is then printed. Exits 1 when the
MCO would render nothing (no image.config.openshift.io/cluster) or refuses the objects.`,
		Example: `  oc registries verify render > registries.conf
  oc registries verify render -f idms.yaml -f image-cluster.yaml`,
		Args: cobra.NoArgs,
		RunE: run(ModeRender),
	})
	cmd.AddCommand(&cobra.Command{
		Use:   "resolve IMAGE",
		Short: "Print the ordered pull sources CRI-O would try for a pull spec",
		Long: `Print, in order, where CRI-O would pull IMAGE from under the expected registries.conf (or a
node's file with --node-file): each mirror with why it is used or skipped (digest-only mirrors
are skipped for tag references, tag-only mirrors for digest references), then the source, or
that it is blocked.`,
		Example: `  oc registries verify resolve quay.io/openshift-release-dev/ocp-release@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef
  oc registries verify resolve registry.redhat.io/ubi9/ubi-minimal:latest --node-file worker-0=registries.conf -o yaml`,
		Args: cobra.ExactArgs(1),
		RunE: run(ModeResolve),
	})
	cli.Setup(cmd, "oc registries verify")
	return cmd
}

// Complete fills what the flags imply: the image of resolve, the node files, the objects from
// -f or a pipe, whether the cluster is the source, and the clients.
func (o *Options) Complete(args []string) error {
	if o.Mode == "" {
		o.Mode = ModeVerify
	}
	if o.Mode == ModeResolve && len(args) == 1 {
		o.Image = args[0]
	}
	o.nodeFiles = map[string]string{}
	stdinTaken := false
	for _, nf := range o.NodeFiles {
		node, path, ok := strings.Cut(nf, "=")
		if !ok || node == "" || path == "" {
			return cli.BadInputf("--node-file %q: must be NODE=PATH (PATH - for standard input)", nf)
		}
		if _, dup := o.nodeFiles[node]; dup {
			return cli.BadInputf("--node-file: node %s given twice", node)
		}
		if path == manifest.Stdin {
			if stdinTaken {
				return cli.BadInputf("--node-file: standard input given for two nodes")
			}
			stdinTaken = true
		}
		o.nodeFiles[node] = path
	}
	if stdinTaken {
		for _, f := range o.Input.Filenames {
			if f == manifest.Stdin {
				return cli.BadInputf("-f - and --node-file NODE=-: standard input can be read only once")
			}
		}
	}
	if o.fileReader == nil {
		o.fileReader = &fileReader{stdin: o.In, paths: o.nodeFiles}
	}

	// Objects: from -f, or from a pipe unless the cluster was asked for or stdin is a node's.
	objs, err := o.Input.Read(o.In, o.FromCluster || stdinTaken)
	if err != nil {
		return err
	}
	o.objs = objs
	if !o.FromClusterSet && !o.Input.Given() && len(objs) == 0 {
		o.FromCluster = true
	}

	if o.needsCluster() && o.client == nil {
		c, err := cluster.New(o.ConfigFlags, Name)
		if err != nil {
			return err
		}
		o.client = c
	}
	if o.ReadNodes && o.podReader == nil {
		r, err := cluster.NewDaemonReader(o.ConfigFlags)
		if err != nil {
			return err
		}
		o.podReader = r
	}
	return nil
}

// needsCluster: the cluster is read for the expected objects, and for pools and nodes in
// verify: always without node files (or with --read-nodes or --wait), and with node files
// whenever a kubeconfig names a cluster, unless --from-cluster=false says to leave it alone.
// render and resolve from files never read it.
func (o *Options) needsCluster() bool {
	if o.Mode == ModeResolve && len(o.nodeFiles) > 0 {
		return false // resolves against the node's file alone
	}
	if o.FromCluster {
		return true
	}
	if o.Mode != ModeVerify {
		return false
	}
	if len(o.nodeFiles) == 0 || o.ReadNodes || o.Wait {
		return true
	}
	return !o.FromClusterSet && cluster.Configured(o.ConfigFlags)
}

// Validate rejects bad combinations before anything is read from the cluster.
func (o *Options) Validate() error {
	switch o.Output {
	case "", "yaml", "json":
	default:
		return cli.BadInputf("--output %q: must be yaml or json (or nothing, for a table)", o.Output)
	}
	if !o.FromCluster && !o.Input.Given() && len(o.objs) == 0 {
		return cli.BadInputf("no expected configuration: use --from-cluster, name files with -f, or pipe objects in")
	}
	switch o.Mode {
	case ModeVerify:
		if o.Wait && o.Timeout <= 0 {
			return cli.BadInputf("--timeout %s: must be positive", o.Timeout)
		}
		if o.Wait {
			for node, path := range o.nodeFiles {
				if path == manifest.Stdin {
					return cli.BadInputf("--wait with --node-file %s=-: standard input cannot be read again; use --read-nodes", node)
				}
			}
		}
	case ModeRender:
		if len(o.nodeFiles) > 0 {
			return cli.BadInputf("render: --node-file does not apply (render prints the expected file)")
		}
		if o.Output != "" {
			return cli.BadInputf("render: --output does not apply (render prints TOML)")
		}
	case ModeResolve:
		if o.Image == "" {
			return cli.BadInputf("resolve: give the pull spec to resolve")
		}
		if len(o.nodeFiles) > 1 {
			return cli.BadInputf("resolve: give at most one --node-file")
		}
	default:
		return cli.BadInputf("unknown mode %q", o.Mode)
	}
	return nil
}

// Run does what Mode says.
func (o *Options) Run(ctx context.Context) error {
	if o.Mode == ModeVerify {
		// Local input first, the objects then the node files, whatever the cluster says.
		if len(o.objs) > 0 {
			// What only the MCO refuses is a finding, reported with the expected file.
			var refused *mirrorset.RefusedError
			if _, err := mirrorset.Collect(o.objs); err != nil && !errors.As(err, &refused) {
				return err
			}
		}
		if err := o.checkNodeFiles(ctx); err != nil {
			return err
		}
	}
	switch o.Mode {
	case ModeRender:
		return o.runRender(ctx)
	case ModeResolve:
		return o.runResolve(ctx)
	}
	if !o.Wait {
		r, err := o.verify(ctx)
		if err != nil {
			return err
		}
		return o.finish(r, "")
	}
	deadline := time.Now().Add(o.Timeout)
	for {
		r, err := o.verify(ctx)
		if err != nil {
			return err
		}
		if r.OK {
			return o.finish(r, "")
		}
		left := time.Until(deadline)
		if left <= 0 {
			return o.finish(r, fmt.Sprintf(" after waiting %s", o.Timeout))
		}
		fmt.Fprintf(o.ErrOut, "waiting: %s; checking again in %s\n", r.summary(), min(o.Interval, left).Round(time.Millisecond))
		select {
		case <-ctx.Done():
			return cli.Failed(fmt.Errorf("interrupted while waiting: %w", ctx.Err()))
		case <-time.After(min(o.Interval, left)):
		}
	}
}

// finish prints the report and maps it to an exit code.
func (o *Options) finish(r *Report, after string) error {
	if err := o.printReport(r); err != nil {
		return err
	}
	if r.OK {
		return nil
	}
	return cli.Differs(fmt.Errorf("registries.conf drift%s: %s", after, r.summary()))
}

func (o *Options) runRender(ctx context.Context) error {
	exp, err := o.expected(ctx)
	if err != nil {
		return err
	}
	o.warn(exp)
	if exp.Problem != "" {
		return cli.Differs(fmt.Errorf("%s", exp.Problem))
	}
	_, err = o.Out.Write(exp.data)
	return err
}

func (o *Options) runResolve(ctx context.Context) error {
	var name string
	var data []byte
	for node, path := range o.nodeFiles {
		b, err := o.fileReader.ReadRegistriesConf(ctx, node)
		if err != nil {
			return err
		}
		name, data = fmt.Sprintf("node %s's registries.conf (%s)", node, path), b
	}
	if data == nil {
		exp, err := o.expected(ctx)
		if err != nil {
			return err
		}
		o.warn(exp)
		if exp.Problem != "" {
			return cli.Differs(fmt.Errorf("%s", exp.Problem))
		}
		name, data = "the expected registries.conf", exp.data
	}
	res, err := mirrorset.Resolve(name, data, o.Image)
	if err != nil {
		return cli.BadInput(err)
	}
	if o.Output != "" {
		err = o.printData(res)
	} else {
		err = printResolution(o.Out, res)
	}
	if err == nil && !res.Pullable() {
		err = cli.Differs(fmt.Errorf("%s cannot be pulled: every mirror is skipped or blocked, and the source is blocked", res.Image))
	}
	return err
}

func (o *Options) warn(exp *Expected) {
	for _, w := range exp.Warnings {
		fmt.Fprintln(o.ErrOut, "warning:", w)
	}
}

// checkNodeFiles reads and parses every --node-file before the cluster is
// asked anything, so that a file that is not a registries.conf is bad input
// (exit 2) whatever the cluster's state, and not found out after it was read.
func (o *Options) checkNodeFiles(ctx context.Context) error {
	nodes := make([]string, 0, len(o.nodeFiles))
	for node := range o.nodeFiles {
		nodes = append(nodes, node)
	}
	sort.Strings(nodes)
	for _, node := range nodes {
		path := o.nodeFiles[node]
		data, err := o.fileReader.ReadRegistriesConf(ctx, node)
		if err != nil {
			return err
		}
		if _, err := mirrorset.ParseRegistriesConf(fmt.Sprintf("node %s's registries.conf (%s)", node, path), data); err != nil {
			return cli.BadInput(fmt.Errorf("--node-file %s=%s: %w", node, path, err))
		}
	}
	return nil
}

// fileReader reads the --node-file files; standard input once.
type fileReader struct {
	stdin     io.Reader
	paths     map[string]string
	stdinData []byte
	stdinRead bool
}

func (r *fileReader) ReadRegistriesConf(_ context.Context, node string) ([]byte, error) {
	path := r.paths[node]
	if path == manifest.Stdin {
		if !r.stdinRead {
			if r.stdin == nil {
				return nil, cli.BadInputf("--node-file %s=-: no standard input", node)
			}
			data, err := io.ReadAll(r.stdin)
			if err != nil {
				return nil, cli.BadInputf("--node-file %s=-: reading standard input: %v", node, err)
			}
			r.stdinData, r.stdinRead = data, true
		}
		return r.stdinData, nil
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, cli.BadInputf("--node-file %s=%s: %v", node, path, err)
	}
	return data, nil
}
