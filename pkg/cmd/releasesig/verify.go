package releasesig

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"

	"github.com/spf13/cobra"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/cli-runtime/pkg/genericiooptions"

	"github.com/airgap-ocp/oc-plugins/pkg/cli"
	"github.com/airgap-ocp/oc-plugins/pkg/manifest"
	"github.com/airgap-ocp/oc-plugins/pkg/release"
	"github.com/airgap-ocp/oc-plugins/pkg/signature"
)

const verifyExample = `  # Gate an update: is the cluster holding a signature the CVO will accept for this release?
  oc release sig verify --from-cluster --digest sha256:e3f12513a4b22a2d7c0e7c9207f52128113758d9d68c7d06b11a0ac7672966f7 \
    --keyring-from-cluster

  # As a filter: apply only what verified (every other object passes through)
  oc mirror lite release 4.16.3 --to docker://mirror.example:5000/ocp4/openshift4 \
    | oc release sig verify -f - --keyring redhat.asc | oc apply -f -

  # Check the files 'oc release sig --to-dir' wrote, for one release
  oc release sig verify -f ./release-signatures --keyring redhat.asc \
    --digest sha256:e3f12513a4b22a2d7c0e7c9207f52128113758d9d68c7d06b11a0ac7672966f7`

// VerifyOptions is what the verify subcommand was asked to do.
type VerifyOptions struct {
	common
	Input       cli.InputOptions
	FromCluster bool
}

// NewVerifyOptions returns VerifyOptions with the defaults.
func NewVerifyOptions(streams genericiooptions.IOStreams) *VerifyOptions {
	return &VerifyOptions{common: newCommon(streams)}
}

// NewVerifyCmd builds `oc release sig verify`.
func NewVerifyCmd(streams genericiooptions.IOStreams) *cobra.Command {
	o := NewVerifyOptions(streams)
	cmd := &cobra.Command{
		Use:   "verify [-f FILE|-] [--from-cluster] [--digest sha256:... | PULLSPEC]",
		Short: "Verify release signature ConfigMaps as the Cluster Version Operator would",
		Long: `Verify release signature ConfigMaps (label release.openshift.io/verification-signatures, namespace
openshift-config-managed) the way the Cluster Version Operator reads them: every binaryData key
that starts with sha256-<hex> holds a signature for that digest.

From a stream (-f, or a pipe) every signature ConfigMap must verify, and every object passes
to stdout, unchanged and in place, only when all of them do: a filter in front of 'oc apply'.
With --digest or PULLSPEC, some ConfigMap (in the stream, or in the cluster with --from-cluster)
must also carry a signature that verifies for that release.

Exit codes: 0 verified; 1 not verified (nothing printed), with the reason; 2 bad usage or input;
3 a registry or cluster operation failed.`,
		Example: verifyExample,
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
	o.Input.AddFlags(fs, "signature ConfigMaps to verify, among any other objects")
	fs.BoolVar(&o.FromCluster, "from-cluster", false, "Also read the signature ConfigMaps the cluster holds (needs --digest or PULLSPEC)")
	o.addFlags(cmd)
	cmd.SilenceUsage = true
	cmd.SilenceErrors = true
	return cmd
}

// Complete takes the positional argument, builds the printer, and a cluster
// client when one is needed.
func (o *VerifyOptions) Complete(args []string) error {
	return o.complete(args, o.FromCluster || o.Keys.KeyringFromCluster)
}

// Validate rejects bad combinations before any input is read.
func (o *VerifyOptions) Validate() error {
	if err := o.validate(); err != nil {
		return err
	}
	if o.Target != "" {
		if release.IsVersion(o.Target) {
			return cli.BadInputf("%q: verify takes a PULLSPEC or --digest, not a version", o.Target)
		}
		if _, err := release.Digest(o.Target); err != nil {
			return cli.BadInput(err)
		}
	}
	if o.FromCluster && o.Target == "" && o.Digest == "" {
		return cli.BadInputf("--from-cluster needs the release to check: --digest or PULLSPEC")
	}
	return nil
}

// verdict is one signature ConfigMap and what became of its signatures.
type verdict struct {
	where   string
	checked []signature.Checked
}

// Run verifies and, when everything verified, prints the stream.
func (o *VerifyOptions) Run(ctx context.Context) error {
	objs, err := o.Input.Read(o.In, o.FromCluster)
	if err != nil {
		return err
	}
	if len(objs) == 0 && !o.FromCluster && !o.Input.Given() {
		return cli.BadInputf("no input: name files with -f, pipe objects in, or use --from-cluster")
	}
	streamCMs, err := signatureConfigMaps(objs)
	if err != nil {
		return err
	}
	kr, err := o.Keys.load(ctx, o.client)
	if err != nil {
		return err
	}
	want := o.Digest
	if o.Target != "" {
		if want, err = resolveDigest(ctx, "", o.Target, o.RegistryFlags); err != nil {
			return err
		}
		fmt.Fprintf(o.ErrOut, "%s is %s\n", o.Target, want)
	}

	// From the stream: everything must verify, for it is about to be applied.
	var problems []string
	found := false
	for _, s := range streamCMs {
		v, err := check(s.cm, s.obj.Source.String(), kr)
		if err != nil {
			problems = append(problems, err.Error())
			continue
		}
		for _, c := range v.checked {
			if c.Err != nil {
				problems = append(problems, fmt.Sprintf("%s: %s: %v", v.where, c.Key, c.Err))
				continue
			}
			o.report(v.where, c)
			found = found || want == "" || c.Digest == want
		}
	}
	// From the cluster: the CVO needs one good signature of the release; the
	// others it holds (older releases) do not matter here.
	if o.FromCluster && !found {
		var clusterProblems []string
		if found, clusterProblems, err = o.checkCluster(ctx, want, kr); err != nil {
			return err
		}
		if !found {
			problems = append(problems, clusterProblems...)
		}
	}
	switch {
	case len(problems) > 0:
		return cli.Differs(fmt.Errorf("not verified: %s", strings.Join(problems, "; ")))
	case !found && want != "":
		return cli.Differs(fmt.Errorf("not verified: no signature ConfigMap carries a signature of %s", want))
	case !found:
		return cli.Differs(fmt.Errorf("not verified: the input holds no release signature ConfigMap"))
	}

	out := make([]*unstructured.Unstructured, len(objs))
	for i, obj := range objs {
		out[i] = obj.Unstructured
	}
	if len(out) == 0 {
		return nil
	}
	return o.printer.Print(o.Out, out)
}

// checkCluster looks for a signature of want in the cluster's signature
// ConfigMaps as the CVO does: any binaryData key of a labelled ConfigMap in
// openshift-config-managed that names the digest.
func (o *VerifyOptions) checkCluster(ctx context.Context, want string, kr signature.Keyring) (bool, []string, error) {
	list, err := o.client.List(ctx, configMapResource, signature.ConfigMapNamespace, "")
	if err != nil {
		return false, nil, err
	}
	var problems []string
	for _, u := range list {
		if _, ok := u.GetLabels()[signature.ConfigMapLabel]; !ok {
			continue
		}
		where := fmt.Sprintf("cluster: ConfigMap %s/%s", u.GetNamespace(), u.GetName())
		cm, err := signature.ConfigMapFromObject(u.Object)
		if err != nil {
			problems = append(problems, fmt.Sprintf("%s: %v", where, err))
			continue
		}
		keys := make([]string, 0, len(cm.BinaryData))
		for key := range cm.BinaryData {
			keys = append(keys, key)
		}
		sort.Strings(keys)
		for _, key := range keys {
			if d, ok := signature.KeyDigest(key); !ok || d != want {
				continue
			}
			sig, err := signature.Verify(cm.BinaryData[key], want, kr)
			if err != nil {
				problems = append(problems, fmt.Sprintf("%s: %s: %v", where, key, err))
				continue
			}
			o.report(where, signature.Checked{Key: key, Digest: want, Signature: sig})
			return true, nil, nil
		}
	}
	return false, problems, nil
}

func (o *VerifyOptions) report(where string, c signature.Checked) {
	fmt.Fprintf(o.ErrOut, "%s: %s verifies for %s: %s, signed by %s\n",
		where, c.Key, c.Digest, c.Signature.Identity, c.Signature.SignerFingerprint)
}

func check(cm *corev1.ConfigMap, from string, kr signature.Keyring) (verdict, error) {
	v := verdict{where: fmt.Sprintf("%s: ConfigMap %s/%s", from, cm.Namespace, cm.Name)}
	checked, err := signature.CheckConfigMap(cm, kr)
	if err != nil {
		return v, fmt.Errorf("%s: %w", from, err)
	}
	v.checked = checked
	return v, nil
}

type streamConfigMap struct {
	obj manifest.Object
	cm  *corev1.ConfigMap
}

// signatureConfigMaps picks the release signature ConfigMaps out of a stream.
func signatureConfigMaps(objs []manifest.Object) ([]streamConfigMap, error) {
	var out []streamConfigMap
	for _, obj := range objs {
		gvk := obj.GroupVersionKind()
		if gvk.Group != "" || gvk.Kind != "ConfigMap" {
			continue
		}
		if _, ok := obj.GetLabels()[signature.ConfigMapLabel]; !ok {
			continue
		}
		cm, err := signature.ConfigMapFromObject(obj.Object)
		if err != nil {
			merr := &manifest.Error{Source: obj.Source, Err: err}
			var fe *signature.FieldError
			if errors.As(err, &fe) {
				merr.Field, merr.Err = fe.Field, fe.Err
			}
			return nil, cli.BadInput(merr)
		}
		out = append(out, streamConfigMap{obj: obj, cm: cm})
	}
	return out, nil
}
