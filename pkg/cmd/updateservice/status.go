package updateservice

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/containers/image/v5/docker/reference"
	dockerconfig "github.com/containers/image/v5/pkg/docker/config"
	"github.com/containers/image/v5/types"
	"github.com/spf13/cobra"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/cli-runtime/pkg/printers"
	"sigs.k8s.io/yaml"

	"github.com/airgap-ocp/oc-plugins/pkg/cli"
	"github.com/airgap-ocp/oc-plugins/pkg/cluster"
	"github.com/airgap-ocp/oc-plugins/pkg/release"
	"github.com/airgap-ocp/oc-plugins/pkg/retry"
	"github.com/airgap-ocp/oc-plugins/pkg/signature"
	us "github.com/airgap-ocp/oc-plugins/pkg/updateservice"
)

// Names of the conditions status checks, in the order it checks them.
const (
	CondUpstream   = "upstream"
	CondGraph      = "graph"
	CondRetrieved  = "retrieved-updates"
	CondAvailable  = "available-updates"
	CondMirror     = "release-in-mirror"
	CondSignature  = "signature"
	CondPullSecret = "pull-secret"
)

const statusExample = `  # Every condition the update depends on, as a table
  oc update service status

  # The gate before oc adm upgrade: exit 1, with what to run, unless the cluster is offered 4.16.3
  oc update service status --expect 4.16.3

  # The same as data, with the mirror registry's CA and credentials to look the release up
  oc update service status --expect 4.16.3 --cert-dir ./ca -a auth.json -o yaml`

// StatusOptions is what status was asked to check.
type StatusOptions struct {
	*common
	Registry *cli.RegistryFlags
	Keyrings []string
	// Expect is the version the cluster must be offered; "" reports on the
	// newest the graph offers.
	Expect string
	// Name of the UpdateService; "" when there is one.
	Name string
	// Arch of the graph to ask for when the cluster is not multi-arch.
	Arch string
	// Output: "" (a table), yaml or json.
	Output string
}

func newStatusCmd(c *common) *cobra.Command {
	o := &StatusOptions{common: c, Registry: cli.NewRegistryFlags(), Arch: "amd64"}
	cmd := &cobra.Command{
		Use:   "status [--expect VERSION]",
		Short: "Check that the cluster is offered an update through the local update service",
		Long: `Check, changing nothing, every condition an update through the local update service
depends on:

  upstream           ClusterVersion's spec.upstream is the UpdateService's graph URL
  graph              the graph it serves for the cluster's channel and architecture holds
                     VERSION, reachable from the current version (read trusting what the
                     Cluster Version Operator trusts: the system CAs and the proxy's trustedCA)
  retrieved-updates  ClusterVersion's RetrievedUpdates condition is True
  available-updates  ClusterVersion's availableUpdates lists VERSION
  release-in-mirror  the release image it points at is in the mirror, by digest, asked as the
                     cluster pulls it: with its pull secret and the CA image.config trusts for
                     the registry (-a and --cert-dir, when given, stand in for them)
  signature          a signature ConfigMap in openshift-config-managed verifies for it, with
                     --keyring or, without it, the keys the Cluster Version Operator trusts
  pull-secret        the cluster's pull secret has credentials for the mirror registry

Without --expect, VERSION is the newest release the graph offers from the current one.
Prints a table (or -o yaml|json); with --expect, each unmet condition is also one line on
stderr saying what to run.

Exit codes: 0 every condition holds (or no --expect); 1 --expect and a condition is unmet;
2 bad usage; 3 the cluster could not be read.`,
		Example: statusExample,
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := o.Validate(); err != nil {
				return err
			}
			if err := o.connect(); err != nil {
				return err
			}
			return o.Run(cmd.Context())
		},
	}
	fs := cmd.Flags()
	fs.StringVar(&o.Expect, "expect", "", "Exit 1 unless the cluster is offered this version (e.g. 4.16.3)")
	fs.StringVar(&o.Name, "name", "", "The UpdateService in "+us.Namespace+" (default: the only one)")
	fs.StringVar(&o.Arch, "arch", o.Arch, "Architecture of the graph to read when the cluster is not multi-arch")
	fs.StringArrayVar(&o.Keyrings, "keyring", nil, "OpenPGP public keys the signature must verify with (default: the keys the cluster trusts)")
	fs.StringVarP(&o.Output, "output", "o", "", "Output format: yaml or json (default: a table)")
	o.Registry.AddFlags(fs)
	return cmd
}

// Validate rejects bad flags before anything is read.
func (o *StatusOptions) Validate() error {
	if o.Expect != "" && !release.IsVersion(o.Expect) {
		return cli.BadInputf("--expect %q: want a version such as 4.16.3", o.Expect)
	}
	switch o.Output {
	case "", "yaml", "json":
	default:
		return cli.BadInputf("-o %q: status prints a table, yaml or json", o.Output)
	}
	if _, err := release.GraphArch(o.Arch); err != nil {
		return cli.BadInputf("--arch: %v", err)
	}
	if o.Name != "" {
		if err := us.CheckName(o.Name, us.Namespace); err != nil {
			return cli.BadInputf("--name %v", err)
		}
	}
	return o.Registry.Validate()
}

// Condition is one thing the update depends on.
type Condition struct {
	Name   string `json:"name"`
	OK     bool   `json:"ok"`
	Detail string `json:"detail"`
	// Fix says what to run when it does not hold.
	Fix string `json:"fix,omitempty"`
}

// Report is what status found.
type Report struct {
	UpdateService  string      `json:"updateService,omitempty"`
	Upstream       string      `json:"upstream,omitempty"`
	Channel        string      `json:"channel,omitempty"`
	Architecture   string      `json:"architecture,omitempty"`
	CurrentVersion string      `json:"currentVersion,omitempty"`
	Version        string      `json:"version,omitempty"`
	Release        string      `json:"release,omitempty"`
	Conditions     []Condition `json:"conditions"`
}

func (r *Report) add(name string, ok bool, detail, fix string) {
	c := Condition{Name: name, OK: ok, Detail: detail}
	if !ok {
		c.Fix = fix
	}
	r.Conditions = append(r.Conditions, c)
}

// Run checks and reports.
func (o *StatusOptions) Run(ctx context.Context) error {
	r, err := o.check(ctx)
	if err != nil {
		return err
	}
	if err := o.print(o.Out, r); err != nil {
		return err
	}
	if o.Expect == "" {
		return nil
	}
	unmet := 0
	for _, c := range r.Conditions {
		if !c.OK {
			unmet++
			fmt.Fprintf(o.ErrOut, "%s: %s", c.Name, c.Detail)
			if c.Fix != "" {
				fmt.Fprintf(o.ErrOut, "; %s", c.Fix)
			}
			fmt.Fprintln(o.ErrOut)
		}
	}
	if unmet > 0 {
		return cli.Differs(fmt.Errorf("the cluster is not ready to update to %s: %d of %d conditions unmet", o.Expect, unmet, len(r.Conditions)))
	}
	fmt.Fprintf(o.ErrOut, "the cluster is offered %s through %s\n", o.Expect, r.Upstream)
	return nil
}

func (o *StatusOptions) print(w io.Writer, r *Report) error {
	switch o.Output {
	case "json":
		b, err := json.MarshalIndent(r, "", "    ")
		if err != nil {
			return err
		}
		_, err = fmt.Fprintf(w, "%s\n", b)
		return err
	case "yaml":
		b, err := yaml.Marshal(r)
		if err != nil {
			return err
		}
		_, err = w.Write(b)
		return err
	}
	tw := printers.GetNewTabWriter(w)
	fmt.Fprintln(tw, "CONDITION\tSTATUS\tDETAIL")
	for _, c := range r.Conditions {
		st := "ok"
		if !c.OK {
			st = "unmet"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\n", c.Name, st, c.Detail)
	}
	return tw.Flush()
}

// check reads the cluster, the graph and the mirror and judges every condition.
func (o *StatusOptions) check(ctx context.Context) (*Report, error) {
	r := &Report{}
	applyFix := "run: " + cli.Program() + " update service apply -f resources.yaml (what oc mirror lite --graph printed)"

	// upstream
	svc, why, err := o.findUpdateService(ctx)
	if err != nil {
		return nil, err
	}
	cv, err := o.client.Get(ctx, cluster.ClusterVersionResource, "", cluster.ClusterVersionName)
	if err != nil {
		return nil, err
	}
	if cv == nil {
		return nil, cli.Failed(fmt.Errorf("clusterversion/%s not found: is this an OpenShift cluster?", cluster.ClusterVersionName))
	}
	upstream, _, _ := unstructured.NestedString(cv.Object, "spec", "upstream")
	r.Channel, _, _ = unstructured.NestedString(cv.Object, "spec", "channel")
	r.CurrentVersion, _, _ = unstructured.NestedString(cv.Object, "status", "desired", "version")
	r.Architecture, _ = release.GraphArch(o.Arch)
	if a, _, _ := unstructured.NestedString(cv.Object, "status", "desired", "architecture"); a == "Multi" {
		r.Architecture = "multi"
	}
	local := ""
	switch {
	case svc == nil:
		r.add(CondUpstream, false, why, applyFix)
	case us.PolicyEngineURI(svc) == "":
		r.UpdateService = svc.GetName()
		r.add(CondUpstream, false, fmt.Sprintf("updateservice/%s has no status.policyEngineURI yet", svc.GetName()),
			fmt.Sprintf("check the operator: oc get updateservice -n %s %s -o yaml", us.Namespace, svc.GetName()))
	default:
		r.UpdateService = svc.GetName()
		local = us.Upstream(us.PolicyEngineURI(svc))
		if upstream == local {
			r.add(CondUpstream, true, fmt.Sprintf("%s (updateservice/%s)", upstream, svc.GetName()), "")
		} else {
			now := upstream
			if now == "" {
				now = "unset (the Red Hat service)"
			}
			r.add(CondUpstream, false, fmt.Sprintf("spec.upstream is %s, not %s (updateservice/%s)", now, local, svc.GetName()), applyFix)
		}
	}
	r.Upstream = local

	// graph
	version := o.Expect
	var offer us.Offer
	graphOK := false
	switch {
	case local == "":
		r.add(CondGraph, false, "no local update service to ask", applyFix)
	case r.Channel == "":
		r.add(CondGraph, false, "clusterversion/version has no spec.channel", "run: "+cli.Program()+" update service apply -f resources.yaml --channel stable-X.Y")
	case r.CurrentVersion == "":
		r.add(CondGraph, false, "clusterversion/version has no status.desired.version", "wait for the Cluster Version Operator to report the current version")
	default:
		g, err := o.fetchGraph(ctx, local, r.Channel, r.Architecture)
		if err != nil {
			r.add(CondGraph, false, err.Error(), "make the Cluster Version Operator trust the route: "+cli.Program()+" update service apply -f resources.yaml --route-ca FILE")
			break
		}
		if version == "" {
			version = us.Newest(g, r.CurrentVersion)
		}
		where := fmt.Sprintf("channel %s (%s)", r.Channel, r.Architecture)
		offer = us.Offers(g, r.CurrentVersion, version)
		mirrorFix := fmt.Sprintf("mirror it with the graph: oc mirror lite release %s --graph --to docker://MIRROR/PATH, and wait for the service to rebuild its graph", version)
		switch {
		case version == "":
			r.add(CondGraph, true, fmt.Sprintf("%s: %d releases, none newer reachable from %s", where, len(g.Nodes), r.CurrentVersion), "")
		case !offer.ToFound:
			r.add(CondGraph, false, fmt.Sprintf("%s: no %s among its %d releases", where, version, len(g.Nodes)), mirrorFix)
		case !offer.FromFound:
			r.add(CondGraph, false, fmt.Sprintf("%s: the current version %s is not in it", where, r.CurrentVersion), "mirror the current release with --graph too, so the service knows where the cluster starts")
		case offer.Path == nil:
			r.add(CondGraph, false, fmt.Sprintf("%s: no update path from %s to %s", where, r.CurrentVersion, version), "pick a version the channel offers from the current one, or another channel")
		default:
			graphOK = true
			r.add(CondGraph, true, fmt.Sprintf("%s: %s reachable from %s (%s)", where, version, r.CurrentVersion, strings.Join(offer.Path, " -> ")), "")
		}
	}
	r.Version = version

	// retrieved-updates
	st, reason, msg := condition(cv, "RetrievedUpdates")
	if st == "True" {
		r.add(CondRetrieved, true, "RetrievedUpdates=True", "")
	} else {
		detail := "RetrievedUpdates is " + orWord(st, "not reported")
		if reason != "" || msg != "" {
			detail += " (" + strings.TrimSpace(reason+": "+msg) + ")"
		}
		r.add(CondRetrieved, false, detail, "the Cluster Version Operator could not read the graph: check spec.upstream and the proxy's trustedCA (oc adm upgrade shows its error)")
	}

	// available-updates
	payload := offer.Payload
	var listed []string
	found := false
	updates, _, _ := unstructured.NestedSlice(cv.Object, "status", "availableUpdates")
	for _, u := range updates {
		m, _ := u.(map[string]interface{})
		v, _ := m["version"].(string)
		listed = append(listed, v)
		if version != "" && v == version {
			found = true
			if img, _ := m["image"].(string); img != "" {
				payload = img
			}
		}
	}
	sort.Strings(listed)
	switch {
	case version == "":
		r.add(CondAvailable, true, fmt.Sprintf("lists %s", orWord(strings.Join(listed, ", "), "nothing")), "")
	case found:
		r.add(CondAvailable, true, fmt.Sprintf("lists %s", version), "")
	default:
		fix := "wait for the Cluster Version Operator to read the graph again (it does every few minutes)"
		if !graphOK {
			fix = "first make the graph offer it (see graph)"
		}
		r.add(CondAvailable, false, fmt.Sprintf("lists %s, not %s", orWord(strings.Join(listed, ", "), "nothing"), version), fix)
	}
	r.Release = payload

	// release-in-mirror, signature, pull-secret
	o.checkRelease(ctx, r, payload, version, svc)
	return r, nil
}

func orWord(s, word string) string {
	if s == "" {
		return word
	}
	return s
}

// checkRelease judges the three conditions on the release image itself.
func (o *StatusOptions) checkRelease(ctx context.Context, r *Report, payload, version string, svc *unstructured.Unstructured) {
	if payload == "" {
		what := "no release to check"
		if version != "" {
			what = "no release image known for " + version
		}
		r.add(CondMirror, version == "", what, "see graph and available-updates")
		r.add(CondSignature, version == "", what, "see graph and available-updates")
		host := ""
		if svc != nil {
			if s, err := us.SpecOf(svc); err == nil {
				host = reference.Domain(mustNamed(s.Releases))
			}
		}
		o.checkPullSecret(ctx, r, host)
		return
	}
	mirrorFix := fmt.Sprintf("oc mirror lite release %s --graph --to docker://MIRROR/PATH", version)
	d, err := release.Digest(payload)
	switch {
	case err != nil || d == "":
		r.add(CondMirror, false, fmt.Sprintf("%s is not by digest", payload), mirrorFix)
	default:
		sys, how, done, err := o.mirrorContext(ctx, payload)
		if err != nil {
			r.add(CondMirror, false, err.Error(), "give the registry's CA and credentials: --cert-dir, -a")
			break
		}
		err = release.Present(ctx, sys, payload, release.WithRetry(retry.Policy{Attempts: 2}))
		done()
		if err != nil {
			r.add(CondMirror, false, err.Error()+" ("+how+")", mirrorFix)
		} else {
			r.add(CondMirror, true, payload+" ("+how+")", "")
		}
	}
	o.checkSignature(ctx, r, d.String(), version)
	host := ""
	if n, err := reference.ParseNormalizedNamed(payload); err == nil {
		host = reference.Domain(n)
	}
	o.checkPullSecret(ctx, r, host)
}

// mirrorContext is how the mirror is asked for the release: as the cluster
// pulls it, with its pull secret and the CA image.config trusts for the
// registry, each replaced by -a or --cert-dir when that flag is given
// (REGISTRY_AUTH_FILE is not: the check is of the cluster's credentials).
// It says how, and returns what to call when done (it may write files only
// this user can read, removed then).
func (o *StatusOptions) mirrorContext(ctx context.Context, payload string) (*types.SystemContext, string, func(), error) {
	sys := o.Registry.SystemContext()
	sys.AuthFilePath = o.Registry.AuthFile
	if o.Registry.AuthFile != "" && o.Registry.CertDir != "" {
		return sys, "with -a and --cert-dir", func() {}, nil
	}
	host := reference.Domain(mustNamed(payload))
	dir, err := os.MkdirTemp("", "oc-update-service-")
	if err != nil {
		return nil, "", nil, err
	}
	done := func() { os.RemoveAll(dir) }
	how := "as the cluster pulls it"
	if o.Registry.AuthFile == "" {
		sec, err := o.client.Get(ctx, cluster.SecretResource, pullSecretNamespace, pullSecretName)
		if err != nil {
			done()
			return nil, "", nil, err
		}
		// Without one, no credentials: what the cluster would have.
		sys.AuthFilePath = filepath.Join(dir, "auth.json")
		raw := dockerConfigOf(sec)
		if len(raw) == 0 {
			raw = []byte(`{"auths":{}}`)
		}
		if err := os.WriteFile(sys.AuthFilePath, raw, 0o600); err != nil {
			done()
			return nil, "", nil, err
		}
	}
	img, err := o.client.Get(ctx, cluster.ImageResource, "", cluster.ImageConfigName)
	if err != nil {
		done()
		return nil, "", nil, err
	}
	if name := str(img, "spec", "additionalTrustedCA", "name"); name != "" && o.Registry.CertDir == "" {
		cm, err := o.client.Get(ctx, cluster.ConfigMapResource, us.ConfigNamespace, name)
		if err != nil {
			done()
			return nil, "", nil, err
		}
		// The nodes read the key named for the registry (":" as ".." before a port).
		if ca := str(cm, "data", strings.ReplaceAll(host, ":", "..")); ca != "" {
			sys.DockerCertPath = filepath.Join(dir, "certs")
			if err := os.Mkdir(sys.DockerCertPath, 0o700); err != nil {
				done()
				return nil, "", nil, err
			}
			if err := os.WriteFile(filepath.Join(sys.DockerCertPath, "ca.crt"), []byte(ca), 0o600); err != nil {
				done()
				return nil, "", nil, err
			}
		}
	}
	return sys, how, done, nil
}

func str(u *unstructured.Unstructured, path ...string) string {
	if u == nil {
		return ""
	}
	s, _, _ := unstructured.NestedString(u.Object, path...)
	return s
}

// dockerConfigOf is the docker config.json of a pull secret, or nil.
func dockerConfigOf(sec *unstructured.Unstructured) []byte {
	raw, err := base64.StdEncoding.DecodeString(str(sec, "data", ".dockerconfigjson"))
	if err != nil {
		return nil
	}
	return raw
}

func mustNamed(s string) reference.Named {
	n, err := reference.ParseNormalizedNamed(s)
	if err != nil {
		n, _ = reference.ParseNormalizedNamed("invalid.invalid/x")
	}
	return n
}

func (o *StatusOptions) checkSignature(ctx context.Context, r *Report, digest, version string) {
	sigFix := fmt.Sprintf("oc release sig %s --keyring redhat.asc --apply", orWord(version, "VERSION"))
	if digest == "" {
		r.add(CondSignature, false, "no release digest to look a signature up for", sigFix)
		return
	}
	kr, err := o.keyring(ctx)
	if err != nil {
		r.add(CondSignature, false, err.Error(), "give --keyring FILE")
		return
	}
	list, err := o.client.List(ctx, cluster.ConfigMapResource, signature.ConfigMapNamespace, signature.ConfigMapLabel)
	if err != nil {
		r.add(CondSignature, false, err.Error(), sigFix)
		return
	}
	var problems []string
	for _, u := range list {
		cm := &corev1.ConfigMap{}
		if err := runtime.DefaultUnstructuredConverter.FromUnstructured(u.Object, cm); err != nil {
			continue
		}
		checked, err := signature.CheckConfigMap(cm, kr)
		if err != nil {
			continue
		}
		for _, c := range checked {
			if c.Digest != digest {
				continue
			}
			if c.Err == nil {
				r.add(CondSignature, true, fmt.Sprintf("configmap/%s in %s: signed by %s", cm.Name, cm.Namespace, c.Signature.SignerFingerprint), "")
				return
			}
			problems = append(problems, fmt.Sprintf("configmap/%s key %s: %v", cm.Name, c.Key, c.Err))
		}
	}
	detail := fmt.Sprintf("no signature ConfigMap in %s for %s", signature.ConfigMapNamespace, digest)
	if len(problems) > 0 {
		detail = fmt.Sprintf("no signature for %s verifies: %s", digest, strings.Join(problems, "; "))
	}
	r.add(CondSignature, false, detail, sigFix)
}

// keyring is --keyring's keys, or the keys the Cluster Version Operator trusts.
func (o *StatusOptions) keyring(ctx context.Context) (signature.Keyring, error) {
	if len(o.Keyrings) > 0 {
		return signature.ReadKeyringFiles(o.Keyrings)
	}
	list, err := o.client.List(ctx, cluster.ConfigMapResource, signature.ConfigMapNamespace, "")
	if err != nil {
		return signature.Keyring{}, err
	}
	kr, err := signature.VerifierKeyring(list)
	if err != nil {
		return kr, err
	}
	if kr.Len() == 0 {
		return kr, fmt.Errorf("no keys to verify with: the cluster holds no ConfigMap in %s annotated %s", signature.ConfigMapNamespace, signature.VerificationConfigMapAnnotation)
	}
	return kr, nil
}

// pullSecretNamespace and pullSecretName are where the cluster's global pull secret lives.
const (
	pullSecretNamespace = "openshift-config"
	pullSecretName      = "pull-secret"
)

// checkPullSecret checks, without changing or printing it, that the
// cluster's pull secret has credentials for host, as containers/image looks
// them up.
func (o *StatusOptions) checkPullSecret(ctx context.Context, r *Report, host string) {
	fix := fmt.Sprintf("add credentials for %s to secret/%s in %s (oc registry login --registry %s --to pull-secret.json, then oc set data secret/%s -n %s --from-file=.dockerconfigjson=pull-secret.json)",
		orWord(host, "the mirror registry"), pullSecretName, pullSecretNamespace, orWord(host, "MIRROR"), pullSecretName, pullSecretNamespace)
	if host == "" {
		r.add(CondPullSecret, false, "no mirror registry known to look credentials up for", fix)
		return
	}
	sec, err := o.client.Get(ctx, cluster.SecretResource, pullSecretNamespace, pullSecretName)
	if err != nil {
		r.add(CondPullSecret, false, err.Error(), fix)
		return
	}
	if sec == nil {
		r.add(CondPullSecret, false, fmt.Sprintf("secret/%s in %s not found", pullSecretName, pullSecretNamespace), fix)
		return
	}
	raw := dockerConfigOf(sec)
	if len(raw) == 0 {
		r.add(CondPullSecret, false, fmt.Sprintf("secret/%s in %s has no .dockerconfigjson", pullSecretName, pullSecretNamespace), fix)
		return
	}
	ok, err := hasCredentials(raw, host)
	if err != nil {
		r.add(CondPullSecret, false, fmt.Sprintf("secret/%s in %s: .dockerconfigjson: %v", pullSecretName, pullSecretNamespace, err), fix)
		return
	}
	if !ok {
		r.add(CondPullSecret, false, fmt.Sprintf("secret/%s in %s has no credentials for %s", pullSecretName, pullSecretNamespace, host), fix)
		return
	}
	r.add(CondPullSecret, true, fmt.Sprintf("secret/%s in %s has credentials for %s", pullSecretName, pullSecretNamespace, host), "")
}

// hasCredentials looks host up in a docker config.json as containers/image
// does (a key may be the host, host/path, or a URL of it). containers/image
// reads credentials only from files: the secret goes into one readable by
// this user alone, removed at once.
func hasCredentials(dockerConfig []byte, host string) (bool, error) {
	var probe struct {
		Auths map[string]json.RawMessage `json:"auths"`
	}
	if err := json.Unmarshal(dockerConfig, &probe); err != nil {
		return false, fmt.Errorf("not a docker config.json: %w", err)
	}
	dir, err := os.MkdirTemp("", "oc-update-service-")
	if err != nil {
		return false, err
	}
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, "auth.json")
	if err := os.WriteFile(path, dockerConfig, 0o600); err != nil {
		return false, err
	}
	auth, err := dockerconfig.GetCredentials(&types.SystemContext{AuthFilePath: path}, host)
	if err != nil {
		return false, fmt.Errorf("reading credentials for %s: %w", host, err)
	}
	return auth.Username != "" || auth.Password != "" || auth.IdentityToken != "", nil
}

// findUpdateService returns the UpdateService to check, or nil and why there is none.
func (o *StatusOptions) findUpdateService(ctx context.Context) (*unstructured.Unstructured, string, error) {
	if o.Name != "" {
		u, err := o.client.Get(ctx, cluster.UpdateServiceResource, us.Namespace, o.Name)
		if err != nil || u != nil {
			return u, "", err
		}
		return nil, fmt.Sprintf("no updateservice/%s in %s", o.Name, us.Namespace), nil
	}
	ok, err := o.client.Served(cluster.UpdateServiceResource)
	if err != nil {
		return nil, "", err
	}
	if !ok {
		return nil, "the cluster does not serve UpdateServices: install the OpenShift Update Service operator", nil
	}
	list, err := o.client.List(ctx, cluster.UpdateServiceResource, us.Namespace, "")
	if err != nil {
		return nil, "", err
	}
	switch len(list) {
	case 0:
		return nil, fmt.Sprintf("no UpdateService in %s", us.Namespace), nil
	case 1:
		return list[0], "", nil
	}
	var names []string
	for _, u := range list {
		names = append(names, u.GetName())
	}
	return nil, "", cli.BadInputf("%d UpdateServices in %s (%s): name one with --name", len(list), us.Namespace, strings.Join(names, ", "))
}

// fetchGraph reads the graph from the local service trusting what the
// Cluster Version Operator trusts: the system CAs and the bundle the
// cluster proxy's trustedCA names.
func (o *StatusOptions) fetchGraph(ctx context.Context, url, channel, arch string) (*release.Graph, error) {
	pool, err := x509.SystemCertPool()
	if err != nil {
		pool = x509.NewCertPool()
	}
	proxy, err := o.client.Get(ctx, cluster.ProxyResource, "", cluster.ProxyName)
	if err != nil {
		return nil, err
	}
	if proxy != nil {
		if name, _, _ := unstructured.NestedString(proxy.Object, "spec", "trustedCA", "name"); name != "" {
			cm, err := o.client.Get(ctx, cluster.ConfigMapResource, us.ConfigNamespace, name)
			if err != nil {
				return nil, err
			}
			if cm != nil {
				bundle, _, _ := unstructured.NestedString(cm.Object, "data", us.BundleKey)
				if _, err := us.CertPool(pool, bundle); err != nil {
					return nil, fmt.Errorf("configmap/%s in %s (the proxy's trustedCA), key %s: %w", name, us.ConfigNamespace, us.BundleKey, err)
				}
			}
		}
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.TLSClientConfig = &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
	return release.FetchGraph(ctx, &http.Client{Transport: tr}, url, channel, arch, retry.Policy{Attempts: 2})
}

// condition returns the status, reason and message of a status condition.
func condition(u *unstructured.Unstructured, typ string) (status, reason, message string) {
	conds, _, _ := unstructured.NestedSlice(u.Object, "status", "conditions")
	for _, c := range conds {
		m, ok := c.(map[string]interface{})
		if ok && m["type"] == typ {
			status, _ = m["status"].(string)
			reason, _ = m["reason"].(string)
			message, _ = m["message"].(string)
			return
		}
	}
	return "", "", ""
}
