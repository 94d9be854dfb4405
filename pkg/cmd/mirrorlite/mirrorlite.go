// Package mirrorlite is the `oc mirror lite` command: it copies a release
// payload, or any images, registry to registry with the pkg/mirror engine,
// and prints the ImageDigestMirrorSet / ImageTagMirrorSet (and, on request,
// ImageContentSourcePolicy) and release-signature ConfigMaps that make a
// cluster use the mirror.
package mirrorlite

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/containers/image/v5/docker"
	"github.com/containers/image/v5/docker/reference"
	"github.com/containers/image/v5/types"
	"github.com/spf13/cobra"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/cli-runtime/pkg/genericclioptions"
	"k8s.io/cli-runtime/pkg/genericiooptions"

	"github.com/airgap-ocp/oc-plugins/pkg/archive"
	"github.com/airgap-ocp/oc-plugins/pkg/cli"
	"github.com/airgap-ocp/oc-plugins/pkg/imageset"
	"github.com/airgap-ocp/oc-plugins/pkg/manifest"
	"github.com/airgap-ocp/oc-plugins/pkg/mirror"
	"github.com/airgap-ocp/oc-plugins/pkg/release"
	"github.com/airgap-ocp/oc-plugins/pkg/retry"
	"github.com/airgap-ocp/oc-plugins/pkg/signature"
)

// Name is the binary's name.
const Name = "oc-mirror-lite"

const releaseExample = `  # Mirror a release by version into a local registry, and make the cluster use it
  oc mirror lite release 4.16.3 --to docker://registry.example.com:5000/ocp/release \
    --keyring /etc/pki/rpm-gpg/RPM-GPG-KEY-redhat-release | oc apply -f -

  # A multi-arch release by pull spec, keeping the objects in a folder too
  oc mirror lite release quay.io/openshift-release-dev/ocp-release:4.16.3-multi \
    --to docker://registry.example.com:5000/ocp/release --resources-dir ./mirror-resources

  # See what would be copied (mapping.txt form) without writing anything
  oc mirror lite release 4.16.3 --arch aarch64 --to docker://registry.example.com:5000/ocp/release --dry-run

  # Across an air gap: mirror to disk, carry the directory, push it from there
  oc mirror lite release 4.16.3 --to file:///media/usb/ocp --archive-size 4 \
    --keyring /etc/pki/rpm-gpg/RPM-GPG-KEY-redhat-release
  oc mirror lite --from file:///media/usb/ocp --to docker://registry.example.com:5000/ocp/release | oc apply -f -

  # The next z-stream: ship only what the far side does not have yet
  oc mirror lite release 4.16.4 --to file:///media/usb/ocp-4.16.4 --since /media/usb/ocp`

const rootExample = `  # Mirror what an oc-mirror v2 ImageSetConfiguration asks for (channels, additional images) to disk
  oc mirror lite -c imageset.yaml --to file:///media/usb/mirror --keyring /etc/pki/rpm-gpg/RPM-GPG-KEY-redhat-release

  # On the disconnected side, push the archive and make the cluster use it
  oc mirror lite --from file:///media/usb/mirror --to docker://registry.example.com:5000/mirror | oc apply -f -

  # Or straight to a registry, with a local update graph service
  UPDATE_URL_OVERRIDE=https://graph.example.com/api/upgrades_info/v1/graph \
    oc mirror lite -c imageset.yaml --to docker://registry.example.com:5000/mirror`

const imagesExample = `  # Mirror images by tag or digest; prints the IDMS/ITMS for them
  oc mirror lite images registry.redhat.io/ubi9/ubi:latest=registry.example.com:5000/ubi9/ubi:latest

  # From an 'oc image mirror' mapping file, one platform of each multi-arch image
  oc mirror lite images -f mapping.txt --filter-by-os linux/amd64`

// Options is what the command was asked to do.
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

	// release
	Release           string
	Arch              string
	ReleaseRepo       string
	To                string
	ToRelease         string
	SignatureStores   []string
	Keyrings          []string
	RequireSignatures bool

	// images
	Mappings     []string
	MappingFiles []string
	FilterByOS   string

	// the air gap (disk.go)
	Config      string
	From        string
	Since       string
	ArchiveSize string

	images   bool
	root     bool
	platform *mirror.Platform
	srcCtx   *types.SystemContext
	destCtx  *types.SystemContext
	printer  *cli.Printer
	retry    retry.Policy

	// Local inputs, read and parsed by readLocal before any network I/O.
	localRead bool
	keys      signature.Keyring
	config    *imageset.Config
	fileMaps  []mirror.Mapping
}

// NewOptions returns Options with the defaults.
func NewOptions(streams genericiooptions.IOStreams) *Options {
	return &Options{
		IOStreams:   streams,
		PrintFlags:  cli.NewPrintFlags(),
		Registry:    cli.NewRegistryFlags(),
		Arch:        "x86_64",
		ReleaseRepo: release.DefaultRepo,
		RetryTimes:  retry.Default.Attempts - 1,
		RetryDelay:  retry.Default.Base,
		IdleTimeout: mirror.DefaultIdleTimeout,
	}
}

// NewCmd builds `oc mirror lite` with its release and images subcommands.
func NewCmd(streams genericiooptions.IOStreams) *cobra.Command {
	root := &cobra.Command{
		Use:   Name,
		Short: "Mirror an OpenShift release or images to a registry, and print what makes the cluster use the mirror",
		Long: `Mirror an OpenShift release payload, or any images, into a registry.

Every unique blob is copied once per destination repository, blobs the destination
already has are skipped or mounted, requests are retried one by one, and a re-run
copies nothing. On stdout: the ImageDigestMirrorSet (and ImageTagMirrorSet, and with
--icsp the ImageContentSourcePolicy) and the release signature ConfigMap, ready for
'oc apply -f -'. On stderr: progress, a summary and the 'oc adm upgrade' command.

Across an air gap: --to file://DIR writes an archive (content-addressed blobs in
tar chunks of at most --archive-size GiB, a checksum manifest, an index with the
plan and the verified release signatures); an interrupted run resumes; --since
leaves out what an earlier archive shipped. --from file://DIR --to docker://...
verifies the archive and pushes straight from the chunks, nothing unpacked.
-c reads an oc-mirror v2 ImageSetConfiguration (platform channels, additional
and blocked images, archiveSize); release versions come from the update graph
(UPDATE_URL_OVERRIDE points at a local one).

Exit codes: 0 done; 2 bad usage or input (nothing copied); 3 an image could not be
copied (every failure is listed; the others were copied) or a registry failed.`,
		Example: rootExample,
		Args:    cobra.NoArgs,
	}
	o := NewOptions(streams)
	o.root = true
	root.RunE = func(cmd *cobra.Command, args []string) error {
		if o.Config == "" && o.From == "" {
			return cli.BadInputf("name a subcommand (release or images), or give -c IMAGESET or --from file://DIR (see --help)")
		}
		return run(o)(cmd, args)
	}
	o.addCommonFlags(root)
	o.addSignatureFlags(root)
	o.addDiskFlags(root)
	root.Flags().StringVarP(&o.Config, "config", "c", "", "ImageSetConfiguration (oc-mirror v2 format) naming the releases and images to mirror")
	root.Flags().StringVar(&o.From, "from", "", "Archive to push, file://DIR (written by --to file://DIR)")
	root.Flags().StringVar(&o.To, "to", "", "Destination: docker://REGISTRY/REPO, or file://DIR to mirror to disk")
	root.AddCommand(newReleaseCmd(streams), newImagesCmd(streams))
	cli.Setup(root, "oc mirror lite")
	for _, sub := range root.Commands() {
		sub.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return cli.BadInput(err) })
	}
	return root
}

func run(o *Options) func(*cobra.Command, []string) error {
	return func(cmd *cobra.Command, args []string) error {
		if err := o.Complete(cmd, args); err != nil {
			return err
		}
		if err := o.Validate(); err != nil {
			return err
		}
		return o.Run(cmd.Context())
	}
}

func newReleaseCmd(streams genericiooptions.IOStreams) *cobra.Command {
	o := NewOptions(streams)
	cmd := &cobra.Command{
		Use:   "release VERSION|PULLSPEC --to docker://REGISTRY/REPO",
		Short: "Mirror a release payload as 'oc adm release mirror --to' lays it out",
		Long: `Mirror a release payload: the release image and every component its
release-manifests/image-references names, into one repository, components tagged
<version>-<arch>-<component> and the release <version>-<arch>, as 'oc adm release
mirror --to' does. A VERSION is looked up in --release-repo as VERSION-ARCH; a PULLSPEC
may be a tag or a digest. Sigstore signatures (sha256-<hex>.sig tags) of mirrored
digests are copied too. The release signatures are fetched from the signature stores,
verified with --keyring, and printed as the ConfigMap the Cluster Version Operator reads.`,
		Example: releaseExample,
		Args:    cobra.ExactArgs(1),
		RunE:    run(o),
	}
	fs := cmd.Flags()
	o.addCommonFlags(cmd)
	fs.StringVar(&o.Arch, "arch", o.Arch, "Architecture of a VERSION: x86_64, aarch64, ppc64le, s390x or multi (amd64 and arm64 accepted)")
	fs.StringVar(&o.ReleaseRepo, "release-repo", o.ReleaseRepo, "Repository a VERSION is looked up in")
	fs.StringVar(&o.To, "to", "", "Destination repository, docker://REGISTRY/REPO, or file://DIR to mirror to disk (required)")
	fs.StringVar(&o.ToRelease, "to-release-image", "", "Destination of the release image, REGISTRY/REPO:TAG (default: --to, tagged <version>-<arch>)")
	o.addSignatureFlags(cmd)
	o.addDiskFlags(cmd)
	return cmd
}

func (o *Options) addDiskFlags(cmd *cobra.Command) {
	fs := cmd.Flags()
	fs.StringVar(&o.Since, "since", "", "With --to file://: leave out what the archive DIR (or its index.json) already carried across")
	fs.StringVar(&o.ArchiveSize, "archive-size", "", "With --to file://: largest chunk, in GiB (default 4), or with a unit (500Mi)")
}

func (o *Options) addSignatureFlags(cmd *cobra.Command) {
	fs := cmd.Flags()
	fs.StringArrayVar(&o.SignatureStores, "signature-store", nil, "Release signature store, https://, http:// or file:///DIR (repeatable; default: Red Hat's stores)")
	fs.StringArrayVar(&o.Keyrings, "keyring", nil, "OpenPGP public keys the release signatures must be made by (repeatable)")
	fs.BoolVar(&o.RequireSignatures, "require-signatures", false, "Fail unless verified release signatures are found (default: warn and print the command to get them later)")
}

func newImagesCmd(streams genericiooptions.IOStreams) *cobra.Command {
	o := NewOptions(streams)
	o.images = true
	cmd := &cobra.Command{
		Use:   "images [SRC=DST...] [-f MAPPING]",
		Short: "Mirror images given as SRC=DST pairs or in an 'oc image mirror' mapping file",
		Long: `Mirror images, by tag or digest. Each mapping is SRC=DST (or "SRC DST" in a file,
one a line, # for comments). A destination without a tag gets the source's tag; a
source by digest is pushed by digest. Images by digest are covered by the printed
ImageDigestMirrorSet, images by tag by the ImageTagMirrorSet.`,
		Example: imagesExample,
		RunE:    run(o),
	}
	fs := cmd.Flags()
	o.addCommonFlags(cmd)
	fs.StringArrayVarP(&o.MappingFiles, "filename", "f", nil, "Mapping file: SRC DST or SRC=DST per line (repeatable; - for stdin)")
	fs.StringVar(&o.FilterByOS, "filter-by-os", "", "Copy only this platform (os/arch[/variant], e.g. linux/amd64) of multi-arch images")
	fs.StringVar(&o.To, "to", "", "Mirror to disk, file://DIR: each DST's repository path and tag are kept, its registry is the one given to --from later")
	o.addDiskFlags(cmd)
	return cmd
}

func (o *Options) addCommonFlags(cmd *cobra.Command) {
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
	fs.BoolVar(&o.DryRun, "dry-run", false, "Print the mapping (docker://SRC=docker://DST per line) and, on stderr, the objects; read the sources only, write nothing")
	fs.IntVar(&o.MaxNestedPaths, "max-nested-paths", 0, "Flatten destination repository paths to at most N components (for registries that refuse deeper paths)")
	fs.StringVar(&o.ResourcesDir, "resources-dir", "", "Also write the objects to DIR (idms-oc-mirror.yaml, itms-oc-mirror.yaml, icsp-oc-mirror.yaml, signature-configmap.yaml) and mapping.txt")
	fs.BoolVar(&o.ICSP, "icsp", false, "Also print an ImageContentSourcePolicy, for clusters older than 4.13")
	fs.StringVar(&o.ObjectName, "name", "", "Name of the mirror objects (default: release-<version>-<arch>, or derived from the images)")
	o.PrintFlags.AddFlags(cmd)
}

// Complete fills what the flags imply.
func (o *Options) Complete(cmd *cobra.Command, args []string) error {
	if o.images {
		o.Mappings = append(o.Mappings, args...)
	} else if len(args) == 1 {
		o.Release = args[0]
	}
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
	if cmd != nil {
		o.retry = retry.Policy{Attempts: o.RetryTimes + 1, Base: o.RetryDelay, Max: max(retry.Default.Max, o.RetryDelay)}
	}
	base := o.Registry.SystemContext()
	o.srcCtx, o.destCtx = tlsContext(base, o.SrcTLSVerify), tlsContext(base, o.DestTLSVerify)
	o.destCtx.SystemRegistriesConfPath = ""
	return nil
}

func tlsContext(base *types.SystemContext, verify *bool) *types.SystemContext {
	sys := *base
	if verify != nil {
		sys.DockerInsecureSkipTLSVerify = types.NewOptionalBool(!*verify)
	}
	return &sys
}

// Validate rejects bad combinations before any I/O.
func (o *Options) Validate() error {
	if err := o.Registry.Validate(); err != nil {
		return err
	}
	if o.Parallel < 1 {
		return cli.BadInputf("--parallel: must be at least 1")
	}
	if o.RetryTimes < 0 || o.RetryDelay < 0 {
		return cli.BadInputf("--retry-times and --retry-delay: must not be negative")
	}
	if o.IdleTimeout <= 0 {
		return cli.BadInputf("--idle-timeout: must be more than 0")
	}
	if o.MaxNestedPaths < 0 {
		return cli.BadInputf("--max-nested-paths: must not be negative")
	}
	if o.ObjectName != "" && objectName(o.ObjectName) != o.ObjectName {
		return cli.BadInputf("--name %q: want a lower-case DNS name (letters, digits, '-' and '.')", o.ObjectName)
	}
	if err := archive.CheckDir(diskDir(o.To)); err != nil {
		return cli.BadInputf("--to: %w", err)
	}
	if o.root || diskDir(o.To) != "" || o.images && o.To != "" {
		if err := o.validateAirGap(); err != nil {
			return err
		}
		if o.root {
			return nil
		}
	} else if o.Since != "" || o.ArchiveSize != "" {
		return cli.BadInputf("--since and --archive-size apply to mirror to disk (--to file://DIR) only")
	}
	if o.images {
		if len(o.Mappings) == 0 && len(o.MappingFiles) == 0 {
			return cli.BadInputf("no images: give SRC=DST arguments or -f MAPPING")
		}
		for _, m := range o.Mappings {
			if _, err := mirror.ParseMapping(m); err != nil {
				return cli.BadInputf("argument %w", err)
			}
		}
		if o.FilterByOS != "" {
			p, err := parsePlatform(o.FilterByOS)
			if err != nil {
				return cli.BadInputf("--filter-by-os: %w", err)
			}
			o.platform = p
		}
		return nil
	}
	if o.To == "" {
		return cli.BadInputf("--to is required: the destination repository, docker://REGISTRY/REPO")
	}
	if diskDir(o.To) == "" {
		if _, err := o.toRepo(); err != nil {
			return cli.BadInputf("--to: %w", err)
		}
	}
	if _, err := release.Target(o.Release, o.ReleaseRepo, o.Arch); err != nil {
		return cli.BadInput(err)
	}
	if o.RequireSignatures && len(o.Keyrings) == 0 {
		return cli.BadInputf("--require-signatures needs --keyring: signatures are verified against it")
	}
	for _, k := range o.Keyrings {
		if _, err := os.Stat(k); err != nil {
			return cli.BadInputf("--keyring: %w", err)
		}
	}
	for _, s := range o.SignatureStores {
		if _, err := signature.NewStore(s, nil); err != nil {
			return cli.BadInputf("--signature-store: %w", err)
		}
	}
	return nil
}

func parsePlatform(s string) (*mirror.Platform, error) {
	parts := strings.Split(s, "/")
	if len(parts) < 2 || len(parts) > 3 || parts[0] == "" || parts[1] == "" {
		return nil, fmt.Errorf("%q: want os/arch or os/arch/variant", s)
	}
	p := &mirror.Platform{OS: parts[0], Architecture: parts[1]}
	if len(parts) == 3 {
		p.Variant = parts[2]
	}
	return p, nil
}

// toRepo is --to without its transport, flattened per --max-nested-paths.
func (o *Options) toRepo() (string, error) {
	to := o.To
	if t, rest, ok := strings.Cut(to, "://"); ok {
		if t != "docker" {
			return "", fmt.Errorf("%q: only docker:// destinations are supported", o.To)
		}
		to = rest
	}
	named, err := reference.ParseNormalizedNamed(to)
	if err != nil {
		return "", fmt.Errorf("%q: %w", o.To, err)
	}
	if !reference.IsNameOnly(named) {
		return "", fmt.Errorf("%q: want a repository without tag or digest", o.To)
	}
	return mirror.NestPaths(named.Name(), o.MaxNestedPaths)
}

// Run mirrors and prints the objects.
func (o *Options) Run(ctx context.Context) error {
	if err := o.readLocal(); err != nil {
		return err
	}
	switch {
	case o.From != "":
		return o.fromDisk(ctx, diskDir(o.From))
	case o.Config != "":
		return o.runConfig(ctx)
	case !o.images && diskDir(o.To) != "":
		target, err := release.Target(o.Release, o.ReleaseRepo, o.Arch)
		if err != nil {
			return cli.BadInput(err)
		}
		set, err := o.releaseSet(ctx, target, "")
		if err != nil {
			return err
		}
		return o.toDisk(ctx, set, diskDir(o.To))
	}
	if o.images {
		return o.runImages(ctx)
	}
	return o.runRelease(ctx)
}

func (o *Options) engineOptions() mirror.Options {
	return mirror.Options{
		SourceCtx: o.srcCtx, DestCtx: o.destCtx, Parallel: o.Parallel, Retry: o.retry, IdleTimeout: o.IdleTimeout,
		Progress: o.ErrOut, ProgressInterval: o.ProgressInterval, DryRun: o.DryRun,
		SigstoreAttachments: true,
	}
}

// readPayload reads a release payload's metadata with the engine's retries
// and idle timeout. Those are the only retries: pkg/release's own (each
// request under retry.Default) are turned off, or the attempts would
// multiply (--retry-times 5 would be 36 tries of a lasting failure).
func (o *Options) readPayload(ctx context.Context, pullSpec string) (payload *release.Payload, err error) {
	err = mirror.Request(ctx, o.engineOptions(), func(ctx context.Context) error {
		payload, err = release.ReadPayload(ctx, o.srcCtx, pullSpec, release.WithRetry(retry.Policy{Attempts: 1}))
		return err
	})
	return payload, err
}

func (o *Options) runRelease(ctx context.Context) error {
	target, err := release.Target(o.Release, o.ReleaseRepo, o.Arch)
	if err != nil {
		return cli.BadInput(err)
	}
	to, err := o.toRepo()
	if err != nil {
		return cli.BadInputf("--to: %w", err)
	}
	payload, err := o.readPayload(ctx, target)
	if err != nil {
		if errors.Is(err, release.ErrNotRelease) {
			return cli.BadInput(err)
		}
		return cli.Failed(err)
	}
	plan, err := payload.Mirror(to, o.ToRelease)
	if err != nil {
		return cli.BadInput(err)
	}
	fmt.Fprintf(o.ErrOut, "release %s (%s), %d components, to %s\n", payload.Version, payload.PullSpec(), len(payload.Components), to)
	var images []mirror.Image
	for _, m := range plan.All() {
		src, err := dockerRef(m.Source, false)
		if err != nil {
			return cli.BadInput(err)
		}
		dst, err := dockerRef(m.Dest, false)
		if err != nil {
			return cli.BadInput(err)
		}
		images = append(images, mirror.Image{Source: src, Dest: dst})
	}
	// Everything that can be bad input is checked before anything is copied.
	var pairs []RepoMirror
	for _, s := range plan.Sources {
		pairs = append(pairs, RepoMirror{Source: s.Source, Mirror: s.Mirror})
	}
	name := o.ObjectName
	if name == "" {
		name = objectName("release-" + payload.Version + payload.ArchExt())
	}
	res2 := &Resources{}
	if res2.IDMS, err = BuildIDMS(name, pairs); err != nil {
		return cli.BadInput(err)
	}
	if o.ICSP {
		res2.ICSP = BuildICSP(name, pairs)
	}
	res := mirror.Mirror(ctx, images, o.engineOptions())
	if err := o.failed(ctx, res); err != nil {
		return err
	}
	sigs, err := o.signatures(ctx, payload)
	if err != nil {
		return err
	}
	res2.Signatures = sigs
	relDest := plan.Release.Dest
	if named, err := reference.ParseNormalizedNamed(plan.Release.Dest); err == nil {
		relDest = reference.TrimNamed(named).Name()
	}
	if err := o.emit(res, res2); err != nil {
		return err
	}
	if !o.DryRun {
		o.summary(res)
		fmt.Fprintf(o.ErrOut, "To update a cluster that uses this mirror:\n  oc adm upgrade --allow-explicit-upgrade --to-image %s@%s\n", relDest, payload.Digest)
	}
	return nil
}

// dockerRef turns a pull spec into a docker reference; untaggedByDigest
// makes a repository-only destination push by digest.
func dockerRef(s string, untaggedByDigest bool) (types.ImageReference, error) {
	named, err := reference.ParseNormalizedNamed(strings.TrimPrefix(s, "docker://"))
	if err != nil {
		return nil, fmt.Errorf("image %q: %w", s, err)
	}
	if untaggedByDigest && reference.IsNameOnly(named) {
		return docker.NewReferenceUnknownDigest(named)
	}
	return docker.NewReference(reference.TagNameOnly(named))
}

func (o *Options) runImages(ctx context.Context) error {
	var maps []mirror.Mapping
	for _, a := range o.Mappings {
		m, err := mirror.ParseMapping(a)
		if err != nil {
			return cli.BadInputf("argument %w", err)
		}
		maps = append(maps, m)
	}
	maps = append(maps, o.fileMaps...)
	if dir := diskDir(o.To); dir != "" {
		set, err := o.imagesSet(maps)
		if err != nil {
			return cli.BadInput(err)
		}
		return o.toDisk(ctx, set, dir)
	}
	var images []mirror.Image
	var digestPairs, tagPairs []RepoMirror
	for _, m := range maps {
		src, err := reference.ParseNormalizedNamed(m.Source)
		if err != nil {
			return cli.BadInput(err)
		}
		dest, err := mirror.NestPaths(m.Dest, o.MaxNestedPaths)
		if err != nil {
			return cli.BadInput(err)
		}
		dst, err := reference.ParseNormalizedNamed(dest)
		if err != nil {
			return cli.BadInput(err)
		}
		_, byDigest := src.(reference.Digested)
		if t, ok := src.(reference.Tagged); ok && reference.IsNameOnly(dst) && !byDigest {
			if dst, err = reference.WithTag(dst, t.Tag()); err != nil {
				return cli.BadInput(err)
			}
		}
		if !byDigest && reference.IsNameOnly(src) {
			src = reference.TagNameOnly(src)
			if reference.IsNameOnly(dst) {
				dst = reference.TagNameOnly(dst)
			}
		}
		srcRef, err := dockerRef(src.String(), false)
		if err != nil {
			return cli.BadInput(err)
		}
		dstRef, err := dockerRef(dst.String(), true)
		if err != nil {
			return cli.BadInput(err)
		}
		images = append(images, mirror.Image{Source: srcRef, Dest: dstRef, Platform: o.platform})
		pair := RepoMirror{Source: reference.TrimNamed(src).Name(), Mirror: reference.TrimNamed(dst).Name()}
		if byDigest {
			digestPairs = append(digestPairs, pair)
		} else {
			tagPairs = append(tagPairs, pair)
		}
	}
	name := o.ObjectName
	if name == "" {
		name = imagesName(append(append([]RepoMirror(nil), digestPairs...), tagPairs...))
	}
	out := &Resources{}
	var err error
	// Images copied by tag keep their digests: pulls by digest find them
	// through the IDMS too.
	if out.IDMS, err = BuildIDMS(name, append(append([]RepoMirror(nil), digestPairs...), tagPairs...)); err != nil {
		return cli.BadInput(err)
	}
	if out.ITMS, err = BuildITMS(name, tagPairs); err != nil {
		return cli.BadInput(err)
	}
	if o.ICSP {
		out.ICSP = BuildICSP(name, append(append([]RepoMirror(nil), digestPairs...), tagPairs...))
	}
	res := mirror.Mirror(ctx, images, o.engineOptions())
	if err := o.failed(ctx, res); err != nil {
		return err
	}
	if err := o.emit(res, out); err != nil {
		return err
	}
	if !o.DryRun {
		o.summary(res)
	}
	return nil
}

// mappingText is the oc-mirror mapping.txt form of what was (to be) copied.
func mappingText(res *mirror.Result) string {
	var b strings.Builder
	for _, im := range res.Images {
		src := strings.TrimPrefix(im.Source.StringWithinTransport(), "//")
		if im.Digest != "" && !strings.Contains(src, "@") {
			if named, err := reference.ParseNormalizedNamed(src); err == nil {
				src = reference.TrimNamed(named).Name() + "@" + im.Digest.String()
			}
		}
		dst := strings.TrimPrefix(im.Dest.StringWithinTransport(), "//")
		if named := im.Dest.DockerReference(); named != nil && reference.IsNameOnly(named) {
			dst = named.Name() + "@" + im.Digest.String()
		}
		fmt.Fprintf(&b, "docker://%s=docker://%s\n", src, dst)
	}
	return b.String()
}

// emit prints the objects on stdout (the mapping, for a dry run, with the
// objects on stderr) and writes --resources-dir.
func (o *Options) emit(res *mirror.Result, r *Resources) error {
	objs, err := r.Objects()
	if err != nil {
		return err
	}
	if o.DryRun {
		if _, err := io.WriteString(o.Out, mappingText(res)); err != nil {
			return err
		}
		fmt.Fprintln(o.ErrOut, "# dry run: nothing was copied; these objects would be printed:")
		return o.printer.Print(o.ErrOut, objs)
	}
	if o.ResourcesDir != "" {
		if err := o.writeResources(res, r); err != nil {
			return cli.Failed(err)
		}
	}
	return o.printer.Print(o.Out, objs)
}

func (o *Options) writeResources(res *mirror.Result, r *Resources) error {
	if err := os.MkdirAll(o.ResourcesDir, 0o755); err != nil {
		return fmt.Errorf("--resources-dir: %w", err)
	}
	// The file names oc-mirror v2 gives them.
	files := []struct {
		name string
		res  Resources
	}{
		{"idms-oc-mirror.yaml", Resources{IDMS: r.IDMS}},
		{"itms-oc-mirror.yaml", Resources{ITMS: r.ITMS}},
		{"icsp-oc-mirror.yaml", Resources{ICSP: r.ICSP}},
		{"signature-configmap.yaml", Resources{Signatures: r.Signatures}},
	}
	for _, f := range files {
		objs, err := f.res.Objects()
		if err != nil {
			return err
		}
		if len(objs) == 0 {
			continue
		}
		var data []byte
		for i, obj := range objs {
			y, err := manifest.EncodeYAML(obj)
			if err != nil {
				return err
			}
			if i > 0 {
				data = append(data, "---\n"...)
			}
			data = append(data, y...)
		}
		if err := manifest.WriteFileAtomic(filepath.Join(o.ResourcesDir, f.name), data, 0o644); err != nil {
			return err
		}
	}
	return manifest.WriteFileAtomic(filepath.Join(o.ResourcesDir, "mapping.txt"), []byte(mappingText(res)), 0o644)
}

// failed prints the summary and every failure, and returns the error line,
// when images could not be copied.
func (o *Options) failed(ctx context.Context, res *mirror.Result) error {
	if res.Err() == nil || o.DryRun {
		return nil
	}
	if ctx.Err() != nil {
		return cli.Failed(fmt.Errorf("interrupted after copying %d of %d images; nothing was printed; a re-run continues where this one stopped",
			res.Stats.ImagesCopied+res.Stats.ImagesPresent, res.Stats.Images))
	}
	o.summary(res)
	return cli.Failed(fmt.Errorf("%d of %d images could not be copied (each is listed above); nothing was printed; a re-run copies only what is missing",
		res.Stats.ImagesFailed, res.Stats.Images))
}

func (o *Options) summary(res *mirror.Result) {
	s := res.Stats
	rate := 0.0
	if secs := s.Duration.Seconds(); secs > 0 {
		rate = float64(s.BytesCopied) / secs / 1e6
	}
	fmt.Fprintf(o.ErrOut, "images: %d (%d copied, %d already present, %d failed); blobs: %d copied, %d present, %d mounted; %s in %s (%.1f MB/s)\n",
		s.Images, s.ImagesCopied, s.ImagesPresent, s.ImagesFailed, s.BlobsCopied, s.BlobsPresent, s.BlobsMounted,
		mirror.FormatBytes(s.BytesCopied), s.Duration.Round(10*time.Millisecond), rate)
	for _, im := range res.Images {
		if im.Status == mirror.StatusFailed {
			fmt.Fprintf(o.ErrOut, "failed: %s: %v\n", strings.TrimPrefix(im.Source.StringWithinTransport(), "//"), im.Err)
		}
	}
}

// signatures fetches and verifies the release signatures and returns their
// ConfigMap; without stores or verified signatures it warns and says how to
// get them later, unless --require-signatures.
func (o *Options) signatures(ctx context.Context, p *release.Payload) ([]*unstructured.Unstructured, error) {
	verified, err := o.releaseSignatures(ctx, p)
	if err != nil || len(verified) == 0 {
		return nil, err
	}
	cm, err := signature.ConfigMap(p.Digest.String(), verified)
	if err != nil {
		return nil, err
	}
	u, err := toUnstructured(cm)
	if err != nil {
		return nil, err
	}
	return []*unstructured.Unstructured{u}, nil
}

// releaseSignatures fetches the release signatures of p and returns those
// that verify; without stores or verified signatures it warns and says how
// to get them later, unless --require-signatures.
func (o *Options) releaseSignatures(ctx context.Context, p *release.Payload) ([][]byte, error) {
	d := p.Digest.String()
	later := o.laterCommand(p)
	if len(o.Keyrings) == 0 {
		fmt.Fprintf(o.ErrOut, "warning: no --keyring, so no release signature ConfigMap; on a machine with access to the signature stores, run:\n  %s\n", later)
		return nil, nil
	}
	kr := o.keys
	client, err := o.Registry.HTTPClient()
	if err != nil {
		return nil, err
	}
	urls := o.SignatureStores
	if len(urls) == 0 {
		urls = signature.DefaultStores
	}
	var stores []signature.Store
	for _, u := range urls {
		s, err := signature.NewStore(u, client)
		if err != nil {
			return nil, cli.BadInputf("--signature-store: %w", err)
		}
		stores = append(stores, s)
	}
	raw, err := signature.FetchAll(ctx, stores, d)
	verified, bad := verifyEach(raw, d, kr)
	if len(verified) == 0 {
		why := "no signature store had signatures for it"
		switch {
		case err != nil:
			why = fmt.Sprintf("no signature store was reachable (%v)", err)
		case len(bad) > 0:
			why = fmt.Sprintf("%d signatures did not verify with the keyring (%v)", len(bad), errors.Join(bad...))
		}
		if o.RequireSignatures {
			if len(bad) > 0 && err == nil {
				return nil, cli.Differs(fmt.Errorf("release %s: %s", d, why))
			}
			return nil, cli.Failed(fmt.Errorf("release %s: %s", d, why))
		}
		fmt.Fprintf(o.ErrOut, "warning: no release signature ConfigMap for %s: %s; to make it later, run:\n  %s\n", d, why, later)
		return nil, nil
	}
	return verified, nil
}

// verifyEach splits signatures for digest d into those that verify with
// kr and the reasons the others do not.
func verifyEach(raw [][]byte, d string, kr signature.Keyring) (verified [][]byte, bad []error) {
	for _, sig := range raw {
		if _, err := signature.Verify(sig, d, kr); err != nil {
			bad = append(bad, err)
			continue
		}
		verified = append(verified, sig)
	}
	return verified, bad
}

// readLocal reads and parses every local input, so that a bad keyring,
// -c file or mapping file is bad input (exit 2) before anything is asked
// of a registry, a signature store or the update graph: --keyring files,
// the -c ImageSetConfiguration and the -f mapping files (the auth file,
// certificates and registries.conf are checked by Validate).
func (o *Options) readLocal() error {
	if o.localRead {
		return nil
	}
	var err error
	if o.keys, err = o.keyring(); err != nil {
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
	}
	for _, f := range o.MappingFiles {
		ms, err := o.readMappingFile(f)
		if err != nil {
			return err
		}
		o.fileMaps = append(o.fileMaps, ms...)
	}
	o.localRead = true
	return nil
}

func (o *Options) readMappingFile(f string) ([]mirror.Mapping, error) {
	var r io.Reader
	name := f
	if f == "-" {
		r, name = o.In, "<stdin>"
	} else {
		file, err := os.Open(f)
		if err != nil {
			return nil, cli.BadInputf("-f: %w", err)
		}
		defer file.Close()
		r = file
	}
	ms, err := mirror.ReadMappings(r, name)
	if err != nil {
		return nil, cli.BadInput(err)
	}
	if len(ms) == 0 {
		// The rule for object streams (cli.InputOptions): a named input that holds nothing is bad input.
		return nil, cli.BadInputf("%s: no mappings (the file is empty, or only comments; want SRC=DST or SRC DST per line)", name)
	}
	return ms, nil
}

func (o *Options) keyring() (signature.Keyring, error) {
	var kr signature.Keyring
	for _, path := range o.Keyrings {
		f, err := os.Open(path)
		if err != nil {
			return kr, cli.BadInputf("--keyring: %w", err)
		}
		k, err := signature.ReadKeyring(f)
		f.Close()
		if err != nil {
			return kr, cli.BadInputf("--keyring %s: %w", path, err)
		}
		kr = kr.Merge(k)
	}
	return kr, nil
}

// laterCommand is the oc-release-sig command that makes the signature
// ConfigMap of p once a signature store can be reached.
func (o *Options) laterCommand(p *release.Payload) string {
	var b strings.Builder
	fmt.Fprintf(&b, "oc-release-sig %s", p.PullSpec())
	keyrings := o.Keyrings
	if len(keyrings) == 0 {
		keyrings = []string{"/etc/pki/rpm-gpg/RPM-GPG-KEY-redhat-release"}
	}
	for _, k := range keyrings {
		fmt.Fprintf(&b, " --keyring %s", k)
	}
	for _, s := range o.SignatureStores {
		if u, err := url.Parse(s); err == nil {
			s = u.Redacted() // never a password a store URL carries
		}
		fmt.Fprintf(&b, " --store %s", s)
	}
	b.WriteString(" > signature-configmap.yaml")
	return b.String()
}
