package mirrorlite

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strings"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/airgap-ocp/oc-plugins/pkg/cli"
	"github.com/airgap-ocp/oc-plugins/pkg/manifest"
	"github.com/airgap-ocp/oc-plugins/pkg/plan"
	"github.com/airgap-ocp/oc-plugins/pkg/signature"
)

// readKeyrings reads --keyring, so that a bad key file is bad input before
// anything is asked of a registry or a signature store.
func (o *Options) readKeyrings() error {
	kr, err := signature.ReadKeyringFiles(o.Keyrings)
	o.keys = kr
	return err
}

// releaseSignatures returns, for each release, the signatures that go into
// its ConfigMap: fetched from the stores and verified with --keyring, or,
// for releases read from an archive, those it carries (verified again when
// --keyring is given). A release left with none is a warning, or an error
// with --require-signatures.
func (o *Options) releaseSignatures(ctx context.Context, releases []plan.Release, fromArchive bool) ([][][]byte, error) {
	out := make([][][]byte, len(releases))
	for i, r := range releases {
		var err error
		if fromArchive {
			out[i], err = o.archivedSignatures(r)
		} else {
			out[i], err = o.fetchSignatures(ctx, r)
		}
		if err != nil {
			return nil, err
		}
	}
	return out, nil
}

// fetchSignatures fetches the signatures of r and returns those that
// verify; without --keyring or verified signatures it warns and says how to
// get them later, unless --require-signatures.
func (o *Options) fetchSignatures(ctx context.Context, r plan.Release) ([][]byte, error) {
	d := r.Digest.String()
	later := o.laterCommand(r)
	if len(o.Keyrings) == 0 {
		o.info("warning: no --keyring, so no release signature ConfigMap; on a machine with access to the signature stores, run:\n  %s", later)
		return nil, nil
	}
	client, err := o.Registry.HTTPClient()
	if err != nil {
		return nil, err
	}
	stores, err := signature.OpenStores(o.SignatureStores, client, signature.Timeouts{Idle: o.IdleTimeout})
	if err != nil {
		return nil, err
	}
	found, err := signature.Find(ctx, stores, d, &o.keys)
	if err != nil {
		return nil, cli.Failed(fmt.Errorf("release signatures of %s: %w", d, err))
	}
	verified, bad := found.Verified, signature.Rejected(found.Verdicts)
	if len(verified) > 0 {
		return verified, nil
	}
	err = errors.Join(found.Failed...)
	why := "no signature store had signatures for it"
	switch {
	case len(bad) > 0 && err != nil:
		why = fmt.Sprintf("%d signatures did not verify with the keyring (%v), and a store was not reachable (%v)", len(bad), errors.Join(bad...), err)
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
	o.info("warning: no release signature ConfigMap for %s: %s; to make it later, run:\n  %s", d, why, later)
	return nil, nil
}

// archivedSignatures returns the signatures of a release in an archive.
// They were verified before they were archived; with --keyring they are
// verified again here, before anything is pushed, so an index altered or
// swapped on the way across gives no ConfigMap the Cluster Version Operator
// would refuse.
func (o *Options) archivedSignatures(r plan.Release) ([][]byte, error) {
	d := r.Digest.String()
	sigs, why := r.Signatures, "the archive carries no verified signatures for it"
	if len(o.Keyrings) > 0 && len(sigs) > 0 {
		var bad []error
		if vs := signature.VerifyEach(sigs, d, o.keys); len(signature.Rejected(vs)) > 0 {
			sigs, bad = signature.Verified(vs), signature.Rejected(vs)
			why = fmt.Sprintf("%d archived signatures did not verify with --keyring (%v)", len(bad), errors.Join(bad...))
			if len(sigs) > 0 {
				o.info("warning: release %s (%s): %s; left out", r.Version, d, why)
			}
		}
	}
	if len(sigs) == 0 {
		if o.RequireSignatures {
			return nil, cli.Differs(fmt.Errorf("release %s (%s): %s", r.Version, d, why))
		}
		o.info("warning: no release signature ConfigMap for %s (%s): %s", r.Version, d, why)
	}
	return sigs, nil
}

// signatureConfigMaps are the ConfigMaps of the releases that have
// signatures, in order.
func signatureConfigMaps(releases []plan.Release, sigs [][][]byte) ([]*unstructured.Unstructured, error) {
	var out []*unstructured.Unstructured
	for i, r := range releases {
		if len(sigs[i]) == 0 {
			continue
		}
		cm, err := signature.ConfigMap(r.Digest.String(), sigs[i])
		if err != nil {
			return nil, err
		}
		u, err := manifest.ToUnstructured(cm)
		if err != nil {
			return nil, err
		}
		out = append(out, u)
	}
	return out, nil
}

// laterCommand is the oc-release-sig command that makes the signature
// ConfigMap of r once a signature store can be reached.
func (o *Options) laterCommand(r plan.Release) string {
	var b strings.Builder
	fmt.Fprintf(&b, "oc-release-sig %s", r.Source)
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
