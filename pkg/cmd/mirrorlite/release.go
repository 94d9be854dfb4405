package mirrorlite

import (
	"context"
	"errors"

	"github.com/containers/image/v5/types"
	"github.com/spf13/cobra"
	"k8s.io/cli-runtime/pkg/genericiooptions"

	"github.com/airgap-ocp/oc-plugins/pkg/cli"
	"github.com/airgap-ocp/oc-plugins/pkg/mirror"
	"github.com/airgap-ocp/oc-plugins/pkg/release"
	"github.com/airgap-ocp/oc-plugins/pkg/retry"
)

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

// ReleaseOptions are `oc mirror lite release`.
type ReleaseOptions struct {
	*Options
	Release     string
	Arch        string
	ReleaseRepo string
	ToRelease   string

	target string
}

// NewReleaseOptions returns ReleaseOptions with the defaults.
func NewReleaseOptions(streams genericiooptions.IOStreams) *ReleaseOptions {
	return &ReleaseOptions{Options: NewOptions(streams), Arch: "x86_64", ReleaseRepo: release.DefaultRepo}
}

func newReleaseCmd(streams genericiooptions.IOStreams) *cobra.Command {
	o := NewReleaseOptions(streams)
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
	o.addFlags(cmd)
	fs.StringVar(&o.Arch, "arch", o.Arch, "Architecture of a VERSION: x86_64, aarch64, ppc64le, s390x or multi (amd64 and arm64 accepted)")
	fs.StringVar(&o.ReleaseRepo, "release-repo", o.ReleaseRepo, "Repository a VERSION is looked up in")
	fs.StringVar(&o.To, "to", "", "Destination repository, docker://REGISTRY/REPO, or file://DIR to mirror to disk (required)")
	fs.StringVar(&o.ToRelease, "to-release-image", "", "Destination of the release image, REGISTRY/REPO:TAG (default: --to, tagged <version>-<arch>)")
	o.addCacheFlag(fs)
	o.addSignatureFlags(cmd)
	o.addGraphFlags(cmd, true)
	return cmd
}

// Complete takes the release argument.
func (o *ReleaseOptions) Complete(cmd *cobra.Command, args []string) error {
	if len(args) == 1 {
		o.Release = args[0]
	}
	return o.complete(cmd)
}

// Validate rejects bad combinations before any I/O.
func (o *ReleaseOptions) Validate() error {
	if o.To == "" {
		return cli.BadInputf("--to is required: the destination repository, docker://REGISTRY/REPO, or file://DIR")
	}
	if o.diskDir() == "" {
		if _, err := registryRoot(o.To); err != nil {
			return cli.BadInputf("--to: %w", err)
		}
	} else if o.ToRelease != "" {
		return cli.BadInputf("--to-release-image applies to registry destinations only")
	}
	if o.Graph && o.ToRelease != "" {
		return cli.BadInputf("--graph places the release image in openshift/release-images: it cannot be combined with --to-release-image")
	}
	if err := o.validateGraph(); err != nil {
		return err
	}
	target, err := release.Target(o.Release, o.ReleaseRepo, o.Arch)
	if err != nil {
		return cli.BadInput(err)
	}
	o.target = target
	return o.validate()
}

// Run reads the payload, plans it and mirrors it.
func (o *ReleaseOptions) Run(ctx context.Context) error {
	// To a registry the items name whole repositories; to disk they go to
	// the root given at disk to mirror.
	path := ""
	if o.diskDir() == "" {
		path, _ = registryRoot(o.To)
	}
	o.connectDest(ctx, true)
	payload, err := o.readPayload(ctx, o.target)
	if err != nil {
		return err
	}
	p, err := payload.Plan(path, o.ToRelease)
	if err != nil {
		return cli.BadInput(err)
	}
	if o.Graph {
		defer o.cleanupGraph()
		if p, err = o.withGraph(ctx, p, path); err != nil {
			return err
		}
	}
	return o.execute(ctx, p, mirror.Registries{}, "")
}

// readPayload reads a release payload's metadata with the engine's retries
// and idle timeout. Those are the only retries: pkg/release's own (each
// request under retry.Default) are turned off, or the attempts would
// multiply (--retry-times 5 would be 36 tries of a lasting failure).
func (o *Options) readPayload(ctx context.Context, pullSpec string) (payload *release.Payload, err error) {
	err = mirror.Request(ctx, o.engineOptions(), func(ctx context.Context) error {
		payload, err = release.ReadPayload(ctx, o.srcCtx, pullSpec, release.WithRetry(retry.Policy{Attempts: 1}),
			release.WithCache(o.cacheDir("releases")),
			release.WithOpen(func(ctx context.Context, ref types.ImageReference) (types.ImageSource, error) {
				return o.clients.OpenSource(ctx, o.srcCtx, ref)
			}))
		return err
	})
	switch {
	case errors.Is(err, release.ErrNotRelease):
		return nil, cli.BadInput(err)
	case err != nil:
		return nil, cli.Failed(err)
	}
	o.info("release %s (%s), %d components", payload.Version, payload.PullSpec(), len(payload.Components))
	return payload, nil
}
