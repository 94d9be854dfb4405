package mirrorset

import (
	"bytes"
	"fmt"

	"github.com/BurntSushi/toml"
	"github.com/containers/image/v5/pkg/sysregistriesv2"
	configv1 "github.com/openshift/api/config/v1"
	operatorv1alpha1 "github.com/openshift/api/operator/v1alpha1"
	"github.com/pmezard/go-difflib/difflib"
)

// baseRegistriesConf is /etc/containers/registries.conf as the Machine Config Operator's
// template writes it (templates/<role>/01-<role>-container-runtime/_base/files/
// container-registries.yaml), byte for byte.
const baseRegistriesConf = "unqualified-search-registries = ['registry.access.redhat.com', 'docker.io']\n"

// BaseRegistriesConf returns the registries.conf every node has before any mirror object or
// image config applies: the MCO's template, verbatim.
func BaseRegistriesConf() []byte {
	return []byte(baseRegistriesConf)
}

// Config is the cluster state that decides a node's /etc/containers/registries.conf.
type Config struct {
	ICSPs []*operatorv1alpha1.ImageContentSourcePolicy
	IDMSs []*configv1.ImageDigestMirrorSet
	ITMSs []*configv1.ImageTagMirrorSet
	// Image is the cluster image config (the Image named cluster); optional, nil meaning one
	// without registry sources. Its spec.registrySources.insecureRegistries and
	// blockedRegistries are rendered.
	Image *configv1.Image
}

// Render returns the registries.conf the Machine Config Operator writes for c, by the MCO's
// own steps: decode its template with BurntSushi/toml, apply
// runtime-utils registries.EditRegistriesConfig, encode with BurntSushi/toml.
//
// When there is nothing to apply (no mirror object, no blocked registry, and insecureRegistries
// unset) the MCO writes no registries.conf of its own and nodes keep the template: Render then
// returns BaseRegistriesConf() verbatim. Any mirror object, even one without mirrors, or an
// insecureRegistries list that is set but empty, makes the MCO write its TOML re-encoding
// instead, which differs in bytes from the template.
//
// Render fails where the MCO fails, and the MCO then leaves the previous registries.conf in
// place: its own checks (invalid scopes, one source with two policies, a NeverContactSource
// entry listing its source as a mirror) give an error wrapping a field error aggregate with
// Kind[name].spec... paths; EditRegistriesConfig itself fails, for one, when an insecure or
// blocked registry lies inside a wildcard mirror source. The result does not depend on the
// order of the objects or of their entries.
//
// Not modelled: the MCO drops from blockedRegistries a scope that holds the cluster's own
// release payload repository unless a mirror of it stays unblocked; that needs the release
// image, which Config does not carry.
func (c Config) Render() ([]byte, error) {
	icsps := nonNil(c.ICSPs)
	idmss := nonNil(c.IDMSs)
	itmss := nonNil(c.ITMSs)
	var insecure, blocked []string
	if c.Image != nil {
		if c.Image.Name != "" && c.Image.Name != "cluster" {
			return nil, fmt.Errorf("rendering registries.conf: the Machine Config Operator reads only the Image named cluster, not %q", c.Image.Name)
		}
		insecure = c.Image.Spec.RegistrySources.InsecureRegistries
		if len(c.Image.Spec.RegistrySources.BlockedRegistries) > 0 {
			blocked = c.Image.Spec.RegistrySources.BlockedRegistries
		}
	}
	// The MCO's condition for writing registries.conf (registriesConfigIgnition): note that
	// insecureRegistries counts when set at all, blockedRegistries only when non-empty.
	if insecure == nil && blocked == nil && len(icsps) == 0 && len(idmss) == 0 && len(itmss) == 0 {
		return BaseRegistriesConf(), nil
	}

	if errs := mcoPrecheck(insecure, blocked, icsps, idmss, itmss); len(errs) > 0 {
		return nil, fmt.Errorf("rendering registries.conf: the Machine Config Operator would refuse this configuration: %w", errs.ToAggregate())
	}
	if _, err := toml.Decode(baseRegistriesConf, &sysregistriesv2.V2RegistriesConf{}); err != nil {
		return nil, fmt.Errorf("rendering registries.conf: decoding the base template: %w", err)
	}
	// registries.EditRegistriesConfig, group by group (partition.go).
	conf, err := editRegistriesConfig(insecure, blocked, icsps, idmss, itmss)
	if err != nil {
		return nil, fmt.Errorf("rendering registries.conf: EditRegistriesConfig, which the Machine Config Operator calls too, failed: %w", err)
	}
	var buf bytes.Buffer
	if err := toml.NewEncoder(&buf).Encode(conf); err != nil {
		return nil, fmt.Errorf("rendering registries.conf: encoding TOML: %w", err)
	}
	return buf.Bytes(), nil
}

func nonNil[T any](in []*T) []*T {
	out := make([]*T, 0, len(in))
	for _, o := range in {
		if o != nil {
			out = append(out, o)
		}
	}
	return out
}

// Diff returns a unified diff from a (called fromName) to b (called toName), with three lines
// of context, or "" when they are equal.
func Diff(fromName, toName string, a, b []byte) string {
	if bytes.Equal(a, b) {
		return ""
	}
	out, err := difflib.GetUnifiedDiffString(difflib.UnifiedDiff{
		A:        difflib.SplitLines(string(a)),
		B:        difflib.SplitLines(string(b)),
		FromFile: fromName,
		ToFile:   toName,
		Context:  3,
	})
	if err != nil { // difflib fails only when writing to its own buffer fails
		return fmt.Sprintf("--- %s\n+++ %s\n(diff failed: %v)\n", fromName, toName, err)
	}
	return out
}
