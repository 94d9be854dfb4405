// Package releasesig is the `oc release sig` command: it fetches a release
// image's signatures from the signature stores, verifies them with OpenPGP as
// the Cluster Version Operator will, and packages the verified ones as the
// ConfigMap the CVO reads; its verify subcommand gates an update on such
// ConfigMaps.
package releasesig

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/cli-runtime/pkg/genericclioptions"
	"k8s.io/cli-runtime/pkg/genericiooptions"

	"github.com/airgap-ocp/oc-plugins/pkg/cli"
	"github.com/airgap-ocp/oc-plugins/pkg/cluster"
	"github.com/airgap-ocp/oc-plugins/pkg/manifest"
	"github.com/airgap-ocp/oc-plugins/pkg/release"
	"github.com/airgap-ocp/oc-plugins/pkg/signature"
)

// Name is the binary's name and the field manager of what it applies.
const Name = "oc-release-sig"

const example = `  # The verified signature ConfigMap of a release, by version (resolved on quay.io)
  oc release sig 4.16.3 --keyring /etc/pki/rpm-gpg/RPM-GPG-KEY-redhat-release > sig.yaml

  # By pull spec, with the keys the cluster itself trusts, applied to the cluster
  oc release sig quay.io/openshift-release-dev/ocp-release:4.16.3-x86_64 --keyring-from-cluster --apply

  # By digest, from a signature store on disk, written as oc adm release mirror writes it
  oc release sig --digest sha256:e3f12513a4b22a2d7c0e7c9207f52128113758d9d68c7d06b11a0ac7672966f7 \
    --store file:///media/usb/signatures --keyring redhat.asc --to-dir ./release-signatures

  # The manual runbook's name for the ConfigMap
  oc release sig 4.16.3 --arch aarch64 --keyring redhat.asc --name release-image-4.16.3`

// KeyOptions are the flags that say which keys signatures must be made by;
// the command and its verify subcommand share them.
type KeyOptions struct {
	Keyrings           []string
	KeyringFromCluster bool
	InsecureSkipVerify bool

	files     signature.Keyring // the keys of Keyrings, once validate read them
	filesRead bool
}

func (k *KeyOptions) addFlags(cmd *cobra.Command) {
	fs := cmd.Flags()
	fs.StringArrayVar(&k.Keyrings, "keyring", nil, "OpenPGP public keys (armored or binary) signatures must be made by (repeatable)")
	fs.BoolVar(&k.KeyringFromCluster, "keyring-from-cluster", false,
		"Trust the verifier-public-key-* keys of the cluster's release verification ConfigMap in "+signature.ConfigMapNamespace)
}

func (k *KeyOptions) validate() error {
	if len(k.Keyrings) == 0 && !k.KeyringFromCluster && !k.InsecureSkipVerify {
		return cli.BadInputf("no keys to verify with: give --keyring FILE (Red Hat's is /etc/pki/rpm-gpg/RPM-GPG-KEY-redhat-release on RHEL) or --keyring-from-cluster")
	}
	// The files are read now, before any registry, store or cluster is asked.
	files, err := k.readFiles()
	if err != nil {
		return err
	}
	k.files, k.filesRead = files, true
	return nil
}

func (k *KeyOptions) readFiles() (signature.Keyring, error) {
	return signature.ReadKeyringFiles(k.Keyrings)
}

// load returns the keys of the keyring files (read by validate) and, when
// asked, the cluster's keys.
func (k *KeyOptions) load(ctx context.Context, client *cluster.Client) (signature.Keyring, error) {
	kr := k.files
	if !k.filesRead {
		var err error
		if kr, err = k.readFiles(); err != nil {
			return kr, err
		}
	}
	if k.KeyringFromCluster {
		one, err := clusterKeyring(ctx, client)
		if err != nil {
			return kr, err
		}
		kr = kr.Merge(one)
	}
	return kr, nil
}

var configMapResource = corev1.SchemeGroupVersion.WithResource("configmaps")

func clusterKeyring(ctx context.Context, client *cluster.Client) (signature.Keyring, error) {
	list, err := client.List(ctx, configMapResource, signature.ConfigMapNamespace, "")
	if err != nil {
		return signature.Keyring{}, err
	}
	kr, err := signature.VerifierKeyring(list)
	if err != nil {
		return kr, cli.Failed(err)
	}
	if kr.Len() == 0 {
		return kr, cli.BadInputf("--keyring-from-cluster: no ConfigMap in %s annotated %s holds verifier-public-key-* keys",
			signature.ConfigMapNamespace, signature.VerificationConfigMapAnnotation)
	}
	return kr, nil
}

// common is what the command and its verify subcommand share: the
// connection flags, the keys, the release named, and what Complete builds.
type common struct {
	genericiooptions.IOStreams
	ConfigFlags   *genericclioptions.ConfigFlags
	PrintFlags    *genericclioptions.PrintFlags
	RegistryFlags *cli.RegistryFlags
	Keys          KeyOptions

	Target string // VERSION or PULLSPEC, as given
	Digest string

	printer *cli.Printer
	client  *cluster.Client
}

func newCommon(streams genericiooptions.IOStreams) common {
	return common{
		IOStreams:     streams,
		ConfigFlags:   genericclioptions.NewConfigFlags(true),
		PrintFlags:    cli.NewPrintFlags(),
		RegistryFlags: cli.NewRegistryFlags(),
	}
}

// addFlags registers the shared flags; the command's own come first in help.
func (c *common) addFlags(cmd *cobra.Command) {
	fs := cmd.Flags()
	fs.StringVar(&c.Digest, "digest", "", "The release image digest (sha256:...), instead of naming the release")
	c.Keys.addFlags(cmd)
	c.RegistryFlags.AddFlags(fs)
	c.PrintFlags.AddFlags(cmd)
	c.ConfigFlags.AddFlags(fs)
	// The objects read and written here are cluster-scoped or in a fixed namespace.
	_ = fs.MarkHidden("namespace")
}

// complete takes the positional argument, builds the printer, and a cluster
// client when needCluster.
func (c *common) complete(args []string, needCluster bool) error {
	if len(args) == 1 {
		c.Target = args[0]
	}
	p, err := cli.NewPrinter(c.PrintFlags)
	if err != nil {
		return err
	}
	c.printer = p
	if needCluster && c.client == nil {
		cl, err := cluster.New(c.ConfigFlags, Name)
		if err != nil {
			return err
		}
		c.client = cl
	}
	return nil
}

// validate checks the release is named at most once and the keys and
// registry flags make sense.
func (c *common) validate() error {
	if c.Target != "" && c.Digest != "" {
		return cli.BadInputf("give the release once: by name or --digest")
	}
	if c.Digest != "" {
		if err := signature.ValidateDigest(c.Digest); err != nil {
			return cli.BadInputf("--digest: %w", err)
		}
	}
	if err := c.Keys.validate(); err != nil {
		return err
	}
	return c.RegistryFlags.Validate()
}

// Options is what the command was asked to do.
type Options struct {
	common

	Arch        string
	ReleaseRepo string
	Stores      []string
	IdleTimeout time.Duration
	ToDir       string
	Apply       bool
	Name        string

	stores []signature.Store
}

// NewOptions returns Options with the defaults.
func NewOptions(streams genericiooptions.IOStreams) *Options {
	return &Options{
		common:      newCommon(streams),
		Arch:        "x86_64",
		ReleaseRepo: release.DefaultRepo,
	}
}

// NewCmd builds `oc release sig` and its verify subcommand.
func NewCmd(streams genericiooptions.IOStreams) *cobra.Command {
	o := NewOptions(streams)
	cmd := &cobra.Command{
		Use:   Name + " (VERSION | PULLSPEC | --digest sha256:...)",
		Short: "Fetch, verify and package release image signatures for the Cluster Version Operator",
		Long: `Fetch the signatures of an OpenShift release image, verify them with OpenPGP exactly as the
Cluster Version Operator (CVO) will, and print the verified ones as the ConfigMap the CVO reads
(namespace openshift-config-managed, label release.openshift.io/verification-signatures).

The release is a VERSION (with --arch, looked up as --release-repo:VERSION-ARCH), a release
image PULLSPEC by tag (resolved to its digest through the registry) or by digest, or a
--digest. For a multi-arch release the digest is the manifest list's, the one the cluster pulls.

Signatures come from the stores the cluster itself uses, or --store (https, http or file://,
laid out as <store>/sha256=<hex>/signature-<N>). Only signatures that verify are packaged:
made by a key of --keyring or --keyring-from-cluster, neither expired, for this very digest.

Exit codes: 0 done; 1 no signature verifies (nothing written); 2 bad usage or input;
3 a registry, signature store or cluster operation failed.`,
		Example: example,
		Args:    cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := o.Complete(args); err != nil {
				return err
			}
			if err := o.Validate(); err != nil {
				return err
			}
			return o.Run(cmd.Context())
		},
	}
	fs := cmd.Flags()
	fs.StringVar(&o.Arch, "arch", o.Arch, "Architecture of a VERSION: x86_64, aarch64, ppc64le, s390x or multi (amd64 and arm64 accepted)")
	fs.StringVar(&o.ReleaseRepo, "release-repo", o.ReleaseRepo, "Repository a VERSION is looked up in")
	signature.AddStoreFlag(fs, &o.Stores, "Signature store URL, https://, http:// or file:///DIR (repeatable; replaces the default stores)")
	fs.DurationVar(&o.IdleTimeout, "idle-timeout", signature.DefaultTimeouts.Idle, "Give up on a signature store request, and retry it, when it has moved no data for this long (as oc mirror lite's)")
	fs.BoolVar(&o.Keys.InsecureSkipVerify, "insecure-skip-verify", false, "Package signatures WITHOUT verifying them (the cluster still verifies them)")
	fs.StringVar(&o.ToDir, "to-dir", "", "Also write the ConfigMap to DIR/signature-sha256-<first 16 hex>.json, as oc adm release mirror does")
	fs.BoolVar(&o.Apply, "apply", false, "Server-side apply the ConfigMap to the cluster")
	fs.StringVar(&o.Name, "name", "", "Name the ConfigMap NAME instead of sha256-<hex> (e.g. release-image-4.16.3)")
	o.addFlags(cmd)
	cmd.AddCommand(NewVerifyCmd(streams))
	cli.Setup(cmd, "oc release sig")
	return cmd
}

// Complete takes the positional argument, builds the printer, and a cluster
// client when one is needed.
func (o *Options) Complete(args []string) error {
	return o.complete(args, o.Apply || o.Keys.KeyringFromCluster)
}

// Validate rejects bad combinations before any network access.
func (o *Options) Validate() error {
	if o.Target == "" && o.Digest == "" {
		return cli.BadInputf("name the release: VERSION, PULLSPEC or --digest sha256:...")
	}
	if err := o.validate(); err != nil {
		return err
	}
	if o.Target != "" {
		spec, err := release.Target(o.Target, o.ReleaseRepo, o.Arch)
		if err != nil {
			return cli.BadInput(err)
		}
		o.Target = spec
	}
	if o.IdleTimeout < 0 {
		return cli.BadInputf("--idle-timeout: must not be negative")
	}
	if o.Name != "" {
		if errs := validation.IsDNS1123Subdomain(o.Name); len(errs) > 0 {
			return cli.BadInputf("--name %q: %s", o.Name, errs[0])
		}
	}
	client, err := o.RegistryFlags.HTTPClient()
	if err != nil {
		return err
	}
	stores, err := signature.OpenStores(o.Stores, client, signature.Timeouts{Idle: o.IdleTimeout})
	if err != nil {
		return err
	}
	o.stores = stores
	return nil
}

// resolveDigest returns the digest of --digest or of the release named.
func resolveDigest(ctx context.Context, digest, target string, rf *cli.RegistryFlags) (string, error) {
	if digest != "" {
		return digest, nil
	}
	d, err := release.ResolveDigest(ctx, rf.SystemContext(), target)
	if err != nil {
		return "", cli.Failed(err)
	}
	if err := signature.ValidateDigest(d.String()); err != nil {
		return "", cli.Failed(fmt.Errorf("%s: %w", target, err))
	}
	return d.String(), nil
}

// Run fetches, verifies, packages and writes.
func (o *Options) Run(ctx context.Context) error {
	kr, err := o.Keys.load(ctx, o.client)
	if err != nil {
		return err
	}
	digest, err := resolveDigest(ctx, o.Digest, o.Target, o.RegistryFlags)
	if err != nil {
		return err
	}
	if o.Target != "" {
		fmt.Fprintf(o.ErrOut, "%s is %s\n", o.Target, digest)
	}
	keys := &kr
	if o.Keys.InsecureSkipVerify {
		keys = nil
	}
	found, err := signature.Find(ctx, o.stores, digest, keys)
	if err != nil {
		return cli.Failed(err)
	}
	sigs, err := o.verified(found, digest)
	if err != nil {
		return err
	}

	cm, err := signature.ConfigMap(digest, sigs)
	if err != nil {
		return err
	}
	if o.Name != "" {
		cm.Name = o.Name
	}
	u, err := manifest.ToUnstructured(cm)
	if err != nil {
		return err
	}
	if o.ToDir != "" {
		if err := writeToDir(o.ToDir, digest, u); err != nil {
			return err
		}
		fmt.Fprintf(o.ErrOut, "wrote %s\n", filepath.Join(o.ToDir, fileName(digest)))
	}
	if o.Apply {
		if _, err := o.client.Apply(ctx, u, false); err != nil {
			return err
		}
		fmt.Fprintf(o.ErrOut, "configmap/%s applied in %s\n", u.GetName(), u.GetNamespace())
	}
	return o.printer.Print(o.Out, []*unstructured.Unstructured{u})
}

// verified says on stderr what each signature checked is and returns the
// verified set; with none it fails: exit 3 when a store could not be read
// (the good signatures may be there), else exit 1 with every reason.
func (o *Options) verified(found *signature.Found, digest string) ([][]byte, error) {
	if o.Keys.InsecureSkipVerify && len(found.Verified) > 0 {
		fmt.Fprintf(o.ErrOut, "WARNING: --insecure-skip-verify: %d signature(s) of %s packaged WITHOUT verification; the cluster will refuse the update if they are bad\n", len(found.Verified), digest)
		return found.Verified, nil
	}
	for _, v := range found.Verdicts {
		if v.Err != nil {
			fmt.Fprintf(o.ErrOut, "%s of %s skipped: %v\n", v.Name(), digest, v.Err)
			continue
		}
		if v.Store == found.Store {
			fmt.Fprintf(o.ErrOut, "%s of %s verified: %s, signed by %s\n", v.Name(), digest, v.Signature.Identity, v.Signature.SignerFingerprint)
		}
	}
	if len(found.Verified) > 0 {
		return found.Verified, nil
	}
	var reasons []string
	for _, err := range signature.Rejected(found.Verdicts) {
		reasons = append(reasons, err.Error())
	}
	switch {
	case len(found.Failed) > 0:
		return nil, cli.Failed(fmt.Errorf("no signature of %s verifies: %w", digest, errors.Join(append(found.Failed, signature.Rejected(found.Verdicts)...)...)))
	case len(reasons) > 0:
		return nil, cli.Differs(fmt.Errorf("no signature of %s verifies: %s", digest, strings.Join(reasons, "; ")))
	}
	return nil, cli.Differs(fmt.Errorf("no signatures of %s in %s", digest, storeNames(o.stores)))
}

func storeNames(stores []signature.Store) string {
	names := make([]string, len(stores))
	for i, s := range stores {
		names[i] = s.String()
	}
	return strings.Join(names, ", ")
}

// fileName is the name oc adm release mirror gives the ConfigMap's file.
func fileName(digest string) string {
	return "signature-sha256-" + strings.TrimPrefix(digest, "sha256:")[:16] + ".json"
}

func writeToDir(dir, digest string, u *unstructured.Unstructured) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return cli.Failed(fmt.Errorf("--to-dir: %w", err))
	}
	data, err := json.MarshalIndent(u.Object, "", "  ")
	if err != nil {
		return err
	}
	if err := manifest.WriteFileAtomic(filepath.Join(dir, fileName(digest)), append(data, '\n'), 0o644); err != nil {
		return cli.Failed(fmt.Errorf("--to-dir: %w", err))
	}
	return nil
}
