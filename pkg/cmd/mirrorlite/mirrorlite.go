// Package mirrorlite is the `oc mirror lite` command: it builds a plan of
// images (a release payload, mappings, an ImageSetConfiguration, an
// archive's index), copies it with the pkg/mirror engine to a registry or
// to disk, and prints the ImageDigestMirrorSet / ImageTagMirrorSet (or, on
// request, ImageContentSourcePolicy) and release-signature ConfigMaps that
// make a cluster use the mirror.
package mirrorlite

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/containers/image/v5/docker"
	"github.com/containers/image/v5/docker/reference"
	"github.com/containers/image/v5/types"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"k8s.io/cli-runtime/pkg/genericclioptions"
	"k8s.io/cli-runtime/pkg/genericiooptions"

	"github.com/airgap-ocp/oc-plugins/pkg/archive"
	"github.com/airgap-ocp/oc-plugins/pkg/catalog"
	"github.com/airgap-ocp/oc-plugins/pkg/cli"
	"github.com/airgap-ocp/oc-plugins/pkg/imageset"
	"github.com/airgap-ocp/oc-plugins/pkg/mirror"
	"github.com/airgap-ocp/oc-plugins/pkg/mirrorset"
	"github.com/airgap-ocp/oc-plugins/pkg/plan"
	"github.com/airgap-ocp/oc-plugins/pkg/release"
	"github.com/airgap-ocp/oc-plugins/pkg/retry"
	"github.com/airgap-ocp/oc-plugins/pkg/signature"
)

// Name is the binary's name.
const Name = "oc-mirror-lite"

const rootExample = `  # Mirror what an oc-mirror v2 ImageSetConfiguration asks for (channels, additional images) to disk
  oc mirror lite -c imageset.yaml --to file:///media/usb/mirror --keyring /etc/pki/rpm-gpg/RPM-GPG-KEY-redhat-release

  # On the disconnected side, push the archive and make the cluster use it
  oc mirror lite --from file:///media/usb/mirror --to docker://registry.example.com:5000/mirror | oc apply -f -

  # An enclave: push only what its own ImageSetConfiguration selects from the same archive
  oc mirror lite --from file:///media/usb/mirror -c enclave.yaml --to docker://registry.example.com:5000/enclave

  # Or straight to a registry, with a local update graph service
  UPDATE_URL_OVERRIDE=https://graph.example.com/api/upgrades_info/v1/graph \
    oc mirror lite -c imageset.yaml --to docker://registry.example.com:5000/mirror`

// Options are what every `oc mirror lite` command shares: the registries,
// the engine, the destination and what is printed.
type Options struct {
	genericiooptions.IOStreams
	PrintFlags *genericclioptions.PrintFlags
	Registry   *cli.RegistryFlags

	// SrcTLSVerify and DestTLSVerify verify certificates of the source and
	// destination registries; unset, they follow --tls-verify.
	SrcTLSVerify, DestTLSVerify *bool
	Parallel                    int
	DryRun                      bool
	MaxNestedPaths              int
	ResourcesDir                string
	ICSP                        bool
	ObjectName                  string
	ProgressInterval            time.Duration
	// RetryTimes and RetryDelay are the retry policy of every registry
	// request (--retry-times, --retry-delay, as in skopeo and oc-mirror);
	// IdleTimeout stops a request that moves no data for that long.
	RetryTimes  int
	RetryDelay  time.Duration
	IdleTimeout time.Duration

	// To is the destination, docker://REGISTRY/REPO or file://DIR.
	To string
	// Since and ArchiveSize shape an archive (--to file://).
	Since       string
	ArchiveSize string

	SignatureStores   []string
	Keyrings          []string
	RequireSignatures bool

	// Catalog holds the catalog flags; catalogs the catalogs to mirror.
	Catalog  CatalogFlags
	catalogs []*catalogJob
	// CacheDir keeps, between runs, copies of catalog images and the
	// files of release images, each by digest, and how each registry
	// asks to be authenticated ("" keeps none).
	CacheDir string

	graphOptions

	srcCtx  *types.SystemContext
	destCtx *types.SystemContext
	printer *cli.Printer
	retry   retry.Policy
	keys    signature.Keyring
	// clients are the registry connections the reads before the copies
	// and the copies' checks share.
	clients *mirror.Clients
}

// NewOptions returns Options with the defaults.
func NewOptions(streams genericiooptions.IOStreams) *Options {
	return &Options{
		IOStreams:   streams,
		PrintFlags:  cli.NewPrintFlags(),
		Registry:    cli.NewRegistryFlags(),
		RetryTimes:  retry.Default.Attempts - 1,
		RetryDelay:  retry.Default.Base,
		IdleTimeout: mirror.DefaultIdleTimeout,
	}
}

// NewCmd builds `oc mirror lite` with its release and images subcommands.
func NewCmd(streams genericiooptions.IOStreams) *cobra.Command {
	o := &RootOptions{Options: NewOptions(streams)}
	root := &cobra.Command{
		Use:   Name,
		Short: "Mirror an OpenShift release or images to a registry, and print what makes the cluster use the mirror",
		Long: `Mirror an OpenShift release payload, or any images, into a registry.

Every unique blob is copied once per destination repository, blobs the destination
already has are skipped or mounted, requests are retried one by one, and a re-run
copies nothing. On stdout: the ImageDigestMirrorSet (and ImageTagMirrorSet; with
--icsp the ImageContentSourcePolicy instead) and the release signature ConfigMap,
ready for 'oc apply -f -'. On stderr: progress, a summary and the 'oc adm upgrade'
command.

Across an air gap: --to file://DIR writes an archive (content-addressed blobs in
tar chunks of at most --archive-size GiB, a checksum manifest, an index with the
plan and the verified release signatures); an interrupted run resumes; --since
leaves out what an earlier archive shipped. --from file://DIR --to docker://...
verifies the archive and pushes straight from the chunks, nothing unpacked; with
-c it pushes only what that ImageSetConfiguration selects (an enclave).
-c reads an oc-mirror v2 ImageSetConfiguration (platform channels, operator
catalogs, additional and blocked images, archiveSize); release versions come from
the update graph (UPDATE_URL_OVERRIDE points at a local one). Catalogs are filtered
and rebuilt as 'oc mirror lite catalog --help' describes. 'delete' retires from
the registry what such runs mirrored, checked against the clusters that pull from it.

Exit codes: 0 done; 2 bad usage or input (nothing copied); 3 an image could not be
copied (every failure is listed; the others were copied) or a registry failed.`,
		Example: rootExample,
		Args:    cobra.NoArgs,
		RunE:    run(o),
	}
	o.addFlags(root)
	o.addSignatureFlags(root)
	root.Flags().StringVarP(&o.Config, "config", "c", "", "ImageSetConfiguration (oc-mirror v2 format) naming the releases and images to mirror")
	root.Flags().StringVar(&o.From, "from", "", "Archive to push, file://DIR or DIR (written by --to file://DIR)")
	root.Flags().StringVar(&o.To, "to", "", "Destination: docker://REGISTRY/REPO, or file://DIR to mirror to disk")
	o.Options.Catalog.addFlags(root.Flags())
	o.addCacheFlag(root.Flags())
	o.addGraphFlags(root, false)
	root.AddCommand(newReleaseCmd(streams), newImagesCmd(streams), newCatalogCmd(streams), newDeleteCmd(streams))
	cli.Setup(root, "oc mirror lite")
	for _, sub := range root.Commands() {
		sub.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return cli.BadInput(err) })
	}
	return root
}

// command is what each `oc mirror lite` command does, kubectl's way.
type command interface {
	Complete(cmd *cobra.Command, args []string) error
	Validate() error
	Run(ctx context.Context) error
	// done closes what Complete opened.
	done()
}

func run(c command) func(*cobra.Command, []string) error {
	return func(cmd *cobra.Command, args []string) error {
		defer c.done()
		if err := c.Complete(cmd, args); err != nil {
			return err
		}
		if err := c.Validate(); err != nil {
			return err
		}
		return c.Run(cmd.Context())
	}
}

// defaultCacheDir is the user's cache folder ($XDG_CACHE_HOME, else
// ~/.cache) for this command, or none without a home.
func defaultCacheDir() string {
	dir, err := os.UserCacheDir()
	if err != nil {
		return ""
	}
	return filepath.Join(dir, Name)
}

// addCacheFlag adds --cache-dir, for the commands that mirror.
func (o *Options) addCacheFlag(fs *pflag.FlagSet) {
	fs.StringVar(&o.CacheDir, "cache-dir", defaultCacheDir(), "Folder that keeps what holds from one run to the next: a copy of each catalog image (catalogs/) and the image list of each release image (releases/), reused while a tag names the same digest and removed after a week unused, and how each registry asks to be authenticated (registries/), which saves a round trip per registry (\"\" keeps none)")
}

// cacheDir is the folder of --cache-dir for one kind of entry; "" when
// none are kept.
func (o *Options) cacheDir(kind string) string {
	if o.CacheDir == "" {
		return ""
	}
	return filepath.Join(o.CacheDir, kind)
}

// addFlags adds the flags every command has.
func (o *Options) addFlags(cmd *cobra.Command) {
	fs := cmd.Flags()
	o.Registry.AddFlags(fs)
	fs.Bool("src-tls-verify", true, "Verify the source registries' TLS certificates (when not given: as --tls-verify)")
	fs.Bool("dest-tls-verify", true, "Verify the destination registry's TLS certificate (when not given: as --tls-verify)")
	cli.MarkUnverified(fs, "tls-verify", "false", "TLS certificates are not verified, and plain HTTP is allowed, for signature stores and for "+
		"the source and destination registries unless --src-tls-verify or --dest-tls-verify says otherwise")
	cli.MarkUnverified(fs, "src-tls-verify", "false", "the source registries' TLS certificates are not verified, and plain HTTP is allowed")
	cli.MarkUnverified(fs, "dest-tls-verify", "false", "the destination registry's TLS certificate is not verified, and plain HTTP is allowed")
	fs.IntVar(&o.Parallel, "parallel", mirror.DefaultParallel, "Requests in flight at once")
	fs.IntVar(&o.RetryTimes, "retry-times", o.RetryTimes, "Times a registry request that failed for a passing reason (reset, 5xx, 429, timeout) is retried; each step of a blob upload has its own")
	fs.DurationVar(&o.RetryDelay, "retry-delay", o.RetryDelay, "Wait before the first retry; it doubles with each retry up to 15s, and a 429's Retry-After is honoured")
	fs.DurationVar(&o.IdleTimeout, "idle-timeout", o.IdleTimeout, "Give up on a registry request, and retry it, when it has moved no data for this long (a stalled registry or network path)")
	fs.BoolVar(&o.DryRun, "dry-run", false, "Read the sources only and write nothing: print the mapping (docker://SRC=DEST per line) and, on stderr, the objects or the archive's size")
	fs.IntVar(&o.MaxNestedPaths, "max-nested-paths", 0, "Flatten destination repository paths to at most N components (for registries that refuse deeper paths)")
	fs.StringVar(&o.ResourcesDir, "resources-dir", "", "Also write the objects to DIR (idms-oc-mirror.yaml, itms-oc-mirror.yaml, icsp-oc-mirror.yaml, signature-configmap.yaml), mapping.txt, and failed-mapping.txt for images that could not be copied")
	fs.BoolVar(&o.ICSP, "icsp", false, "Print an ImageContentSourcePolicy instead of the ImageDigestMirrorSet and ImageTagMirrorSet, for clusters older than 4.13 (which serve neither)")
	fs.StringVar(&o.ObjectName, "name", "", "Name of the mirror objects (default: release-<version>-<arch>, or derived from the images)")
	fs.StringVar(&o.Since, "since", "", "With --to file://: leave out what the archive DIR (or its index.json) already carried across")
	fs.StringVar(&o.ArchiveSize, "archive-size", "", "With --to file://: largest chunk, in GiB (default 4), or with a unit (500Mi)")
	o.PrintFlags.AddFlags(cmd)
}

func (o *Options) addSignatureFlags(cmd *cobra.Command) {
	fs := cmd.Flags()
	signature.AddStoreFlag(fs, &o.SignatureStores, "Release signature store, https://, http:// or file:///DIR (repeatable; default: Red Hat's stores)")
	fs.StringArrayVar(&o.Keyrings, "keyring", nil, "OpenPGP public keys the release signatures must be made by (repeatable)")
	fs.BoolVar(&o.RequireSignatures, "require-signatures", false, "Fail unless verified release signatures are found (default: warn and print the command to get them later)")
}

// complete fills what the shared flags imply.
func (o *Options) complete(cmd *cobra.Command) error {
	if cmd != nil {
		for _, f := range []struct {
			name string
			dst  **bool
		}{{"src-tls-verify", &o.SrcTLSVerify}, {"dest-tls-verify", &o.DestTLSVerify}} {
			if cmd.Flags().Changed(f.name) {
				v, err := cmd.Flags().GetBool(f.name)
				if err != nil {
					return cli.BadInput(err)
				}
				*f.dst = &v
			}
		}
	}
	p, err := cli.NewPrinter(o.PrintFlags)
	if err != nil {
		return err
	}
	o.printer = p
	o.retry = retry.Policy{Attempts: o.RetryTimes + 1, Base: o.RetryDelay, Max: max(retry.Default.Max, o.RetryDelay)}
	base := o.Registry.SystemContext()
	o.srcCtx, o.destCtx = tlsContext(base, o.SrcTLSVerify), tlsContext(base, o.DestTLSVerify)
	o.destCtx.SystemRegistriesConfPath = ""
	o.clients = mirror.NewClients(o.engineOptions())
	return nil
}

func tlsContext(base *types.SystemContext, verify *bool) *types.SystemContext {
	sys := *base
	if verify != nil {
		sys.DockerInsecureSkipTLSVerify = types.NewOptionalBool(!*verify)
	}
	return &sys
}

// validate rejects bad combinations of the shared flags before any I/O.
func (o *Options) validate() error {
	if err := o.Registry.Validate(); err != nil {
		return err
	}
	switch {
	case o.Parallel < 1:
		return cli.BadInputf("--parallel: must be at least 1")
	case o.RetryTimes < 0 || o.RetryDelay < 0:
		return cli.BadInputf("--retry-times and --retry-delay: must not be negative")
	case o.IdleTimeout <= 0:
		return cli.BadInputf("--idle-timeout: must be more than 0")
	case o.MaxNestedPaths < 0:
		return cli.BadInputf("--max-nested-paths: must not be negative")
	case o.ObjectName != "" && mirrorset.ObjectName(o.ObjectName) != o.ObjectName:
		return cli.BadInputf("--name %q: want a lower-case DNS name (letters, digits, '-' and '.')", o.ObjectName)
	case strings.HasPrefix(o.To, "file://") && o.diskDir() == "":
		return cli.BadInputf("--to %q: name a directory, file://DIR", o.To)
	case (o.Since != "" || o.ArchiveSize != "") && o.diskDir() == "":
		return cli.BadInputf("--since and --archive-size apply to mirror to disk (--to file://DIR) only")
	case o.RequireSignatures && len(o.Keyrings) == 0:
		return cli.BadInputf("--require-signatures needs --keyring: signatures are verified against it")
	}
	if _, err := archive.ParseSize(o.ArchiveSize); err != nil {
		return cli.BadInputf("--archive-size: %w", err)
	}
	if err := archive.CheckDir(o.diskDir()); err != nil {
		return cli.BadInputf("--to: %w", err)
	}
	for _, s := range o.SignatureStores {
		if _, err := signature.NewStore(s, nil); err != nil {
			return cli.BadInputf("--store: %w", err)
		}
	}
	return o.readKeyrings()
}

// diskDir is the directory of --to file://DIR, or "".
func (o *Options) diskDir() string { return diskDir(o.To) }

// diskDir is the directory of a file:// location, or "".
func diskDir(s string) string {
	if rest, ok := strings.CutPrefix(s, "file://"); ok {
		return rest
	}
	return ""
}

// registryRoot is a docker:// destination without transport:
// REGISTRY[/PATH], without tag or digest.
func registryRoot(s string) (string, error) {
	to := s
	if t, rest, ok := strings.Cut(to, "://"); ok {
		if t != "docker" {
			return "", fmt.Errorf("%q: want docker://REGISTRY/REPO or file://DIR", s)
		}
		to = rest
	}
	named, err := reference.ParseNormalizedNamed(to)
	if err != nil {
		return "", fmt.Errorf("%q: %w", s, err)
	}
	if !reference.IsNameOnly(named) {
		return "", fmt.Errorf("%q: want a repository without tag or digest", s)
	}
	return named.Name(), nil
}

func (o *Options) engineOptions() mirror.Options {
	return mirror.Options{
		SourceCtx: o.srcCtx, DestCtx: o.destCtx, Parallel: o.Parallel, Retry: o.retry, IdleTimeout: o.IdleTimeout,
		Progress: o.ErrOut, ProgressInterval: o.ProgressInterval, DryRun: o.DryRun,
		SigstoreAttachments: true, Clients: o.clients, ChallengeDir: o.cacheDir("registries"),
	}
}

// done closes the registry connections the command kept.
func (o *Options) done() {
	if o.clients != nil {
		o.clients.Close()
	}
}

// connectDest connects to the destination registry while the plan is
// read from the sources: its ping (and token) is then not a wait of its
// own, which on a long link is much of a re-run. listTags lists the
// tags of the --to repository too, where the plan's images go.
func (o *Options) connectDest(ctx context.Context, listTags bool) {
	if o.DryRun || o.diskDir() != "" {
		return
	}
	root, err := registryRoot(o.To)
	if err != nil {
		return
	}
	ref, err := docker.ParseReference("//" + root)
	if err != nil {
		return
	}
	go o.clients.Connect(ctx, o.destCtx, ref, listTags)
}

// RootOptions are `oc mirror lite -c FILE` and `--from file://DIR`.
type RootOptions struct {
	*Options
	Config string
	From   string

	config *imageset.Config
}

// Complete fills what the flags imply.
func (o *RootOptions) Complete(cmd *cobra.Command, _ []string) error {
	if o.From != "" && !strings.HasPrefix(o.From, "file://") && !strings.Contains(o.From, "://") {
		o.From = "file://" + o.From // a plain directory, as --to accepts a plain registry
	}
	return o.complete(cmd)
}

// Validate rejects bad combinations and reads -c before any I/O.
func (o *RootOptions) Validate() error {
	switch {
	case o.Config == "" && o.From == "":
		return cli.BadInputf("name a subcommand (release or images), or give -c IMAGESET or --from file://DIR (see --help)")
	case o.To == "":
		return cli.BadInputf("--to is required: docker://REGISTRY/REPO, or file://DIR to mirror to disk")
	case o.From != "" && diskDir(o.From) == "":
		return cli.BadInputf("--from %q: want file://DIR, an archive written by --to file://DIR", o.From)
	case o.From != "" && o.diskDir() != "":
		return cli.BadInputf("--from file:// pushes to a registry: give --to docker://REGISTRY/REPO")
	}
	if o.diskDir() == "" {
		if _, err := registryRoot(o.To); err != nil {
			return cli.BadInputf("--to: %w", err)
		}
	}
	if err := o.validate(); err != nil {
		return err
	}
	if o.Config != "" {
		data, err := os.ReadFile(o.Config)
		if err != nil {
			return cli.BadInputf("-c: %w", err)
		}
		if o.config, err = imageset.Parse(data, o.Config); err != nil {
			return cli.BadInput(err)
		}
		if o.From == "" {
			o.catalogs = configCatalogs(o.config)
		}
		o.Graph = o.config.Graph
	}
	return o.validateGraph()
}

// configCatalogs are the catalogs mirror.operators names.
func configCatalogs(c *imageset.Config) []*catalogJob {
	var jobs []*catalogJob
	for i, op := range c.Operators {
		field := c.Field(i)
		jobs = append(jobs, &catalogJob{
			Name: op.Catalog, Field: field, Path: op.TargetCatalog, Tag: op.TargetTag, Sel: op.Selection,
			where:  func(fe *catalog.FieldError) string { return field + "." + fe.Error() },
			blocks: c.BlocksItem,
		})
	}
	return jobs
}

// Run mirrors what -c asks for, or pushes the archive of --from.
func (o *RootOptions) Run(ctx context.Context) error {
	root := ""
	if o.diskDir() == "" {
		root, _ = registryRoot(o.To)
	}
	if o.From != "" {
		return o.fromDisk(ctx, diskDir(o.From), root)
	}
	if o.ArchiveSize == "" && o.config.ArchiveSize > 0 {
		o.ArchiveSize = fmt.Sprint(o.config.ArchiveSize)
	}
	o.connectDest(ctx, false)
	p, err := o.configPlan(ctx)
	if err != nil {
		return err
	}
	if o.Graph {
		defer o.cleanupGraph()
		if p, err = o.withGraph(ctx, p, ""); err != nil {
			return err
		}
	}
	return o.execute(ctx, p, mirror.Registries{}, root)
}

// configPlan is the plan of -c: releases from the update graph, read from
// their registries, and the additional images.
func (o *RootOptions) configPlan(ctx context.Context) (*plan.Plan, error) {
	client, err := o.Registry.HTTPClient()
	if err != nil {
		return nil, err
	}
	p, blocked, err := o.config.Plan(ctx, imageset.Resolver{HTTP: client, Retry: o.retry, Payload: o.readPayload})
	if err != nil {
		return nil, configError(err)
	}
	o.reportBlocked(blocked)
	return p, nil
}

// reportBlocked lists what mirror.blockedImages left out, and warns for
// each release left without some of its components.
func (o *Options) reportBlocked(blocked []plan.Item) {
	releases := map[string]int{}
	for _, it := range blocked {
		fmt.Fprintf(o.ErrOut, "blocked by mirror.blockedImages: %s (%s)\n", it.Source, it.Origin)
		if it.Kind == plan.ReleaseComponent || it.Kind == plan.ReleaseImage {
			releases[it.Origin]++
		}
	}
	for _, origin := range slices.Sorted(maps.Keys(releases)) {
		fmt.Fprintf(o.ErrOut, "warning: %s: %d images blocked; a cluster cannot install or update to it from this mirror without them\n", origin, releases[origin])
	}
}

// fromDisk pushes the archive at dir, or what -c selects from it, below root.
func (o *RootOptions) fromDisk(ctx context.Context, dir, root string) error {
	ar, err := archive.Open(dir)
	if err != nil {
		return cli.BadInputf("--from: %w", err)
	}
	defer ar.Close()
	idx := ar.Index()
	p, err := idx.Plan()
	if err != nil {
		return cli.BadInputf("--from %s: %w", dir, err)
	}
	dr := mirror.NewDiskReader(ar)
	if o.config != nil {
		if o.catalogs, err = archivedCatalogs(o.config, p, dr); err != nil {
			return err
		}
		var blocked []plan.Item
		if p, blocked, err = o.config.Select(p); err != nil {
			return configError(fmt.Errorf("--from %s: %w", dir, err))
		}
		o.reportBlocked(blocked)
	}
	fmt.Fprintf(o.ErrOut, "verifying %d chunks of %s\n", len(idx.Chunks), dir)
	for _, e := range ar.Verify(2) {
		fmt.Fprintf(o.ErrOut, "refused: %v; images that need it will not be pushed\n", e)
	}
	return o.execute(ctx, p, dr, root)
}

// configError gives err of an ImageSetConfiguration its exit code: what
// the file says wrong, or a release that is not one, is bad input; the
// rest (the graph, a registry) failed, or was marked where it happened.
func configError(err error) error {
	var ie *imageset.Error
	if errors.As(err, &ie) || errors.Is(err, release.ErrNotRelease) {
		return cli.BadInput(err)
	}
	return err
}
