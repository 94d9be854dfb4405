package mirrorset

import (
	"bytes"
	"fmt"

	"github.com/BurntSushi/toml"
	"github.com/containers/image/v5/docker/reference"
	"github.com/containers/image/v5/pkg/sysregistriesv2"
	"github.com/containers/image/v5/types"
	"github.com/openshift/runtime-utils/pkg/registries"
)

// ProtectPayload applies the Machine Config Operator's rule for the release payload
// (getValidBlockedAndAllowedRegistries): a blockedRegistries scope that holds the repository of
// releaseImage stays blocked only when a digest mirror of that repository (from the IDMSs and
// ICSPs; ITMSs do not count, the payload is pulled by digest) is itself not blocked. Otherwise
// the MCO drops the scope, logs an error and renders the rest.
//
// It returns c with such scopes removed from the Image's blockedRegistries (c itself is not
// modified) and the scopes removed. With no Image, no blocked registry or no releaseImage it
// returns c unchanged.
func (c Config) ProtectPayload(releaseImage string) (Config, []string, error) {
	if c.Image == nil || releaseImage == "" || len(c.Image.Spec.RegistrySources.BlockedRegistries) == 0 {
		return c, nil, nil
	}
	ref, err := reference.ParseNamed(releaseImage)
	if err != nil {
		return c, nil, fmt.Errorf("release image %q: %w", releaseImage, err)
	}
	payloadRepo := ref.Name()
	spec := c.Image.Spec.RegistrySources
	var kept, dropped []string
	for _, scope := range spec.BlockedRegistries {
		if !registries.ScopeIsNestedInsideScope(payloadRepo, scope) {
			kept = append(kept, scope)
			continue
		}
		ok, err := c.payloadHasUnblockedMirror(ref)
		if err != nil {
			return c, nil, err
		}
		if ok {
			kept = append(kept, scope)
		} else {
			dropped = append(dropped, scope)
		}
	}
	if len(dropped) == 0 {
		return c, nil, nil
	}
	img := c.Image.DeepCopy()
	img.Spec.RegistrySources.BlockedRegistries = kept
	out := c
	out.Image = img
	return out, dropped, nil
}

// payloadHasUnblockedMirror is the MCO's payloadRepoHasUnblockedMirror: render the digest
// mirrors with the image config's insecure and blocked scopes, ask containers/image for the
// payload's pull sources and look for one outside every blocked scope.
func (c Config) payloadHasUnblockedMirror(ref reference.Named) (bool, error) {
	idmss := nonNil(c.IDMSs)
	for _, icsp := range nonNil(c.ICSPs) {
		idmss = append(idmss, ConvertICSP(icsp))
	}
	spec := c.Image.Spec.RegistrySources
	conf := sysregistriesv2.V2RegistriesConf{}
	if err := registries.EditRegistriesConfig(&conf, spec.InsecureRegistries, spec.BlockedRegistries, nil, idmss, nil); err != nil {
		return false, fmt.Errorf("checking the release payload's mirrors: %w", err)
	}
	var buf bytes.Buffer
	if err := toml.NewEncoder(&buf).Encode(conf); err != nil {
		return false, fmt.Errorf("checking the release payload's mirrors: %w", err)
	}
	found := false
	err := withRegistriesConf("the release payload's mirrors", buf.Bytes(), func(sys *types.SystemContext) error {
		reg, err := sysregistriesv2.FindRegistry(sys, ref.Name())
		if err != nil || reg == nil {
			return err
		}
		sources, err := reg.PullSourcesFromReference(ref)
		if err != nil {
			return err
		}
		for _, s := range sources {
			if !nestedInAny(s.Reference.Name(), spec.BlockedRegistries) {
				found = true
				return nil
			}
		}
		return nil
	})
	return found, err
}

func nestedInAny(scope string, supers []string) bool {
	for _, s := range supers {
		if registries.ScopeIsNestedInsideScope(scope, s) {
			return true
		}
	}
	return false
}

// PolicyRefusal is why the Machine Config Operator refuses the image config's
// allowedRegistries and blockedRegistries, or nil. The MCO turns them into policy.json in the
// same Ignition config as registries.conf, so when it refuses them it writes neither, and
// pools keep their previous files (updatePolicyJSON): it refuses both lists at once (unless
// the allowed list holds only the release payload's repository, which the MCO adds itself
// when the payload's registry is blocked and mirrored), and any allowed or blocked entry that
// runtime-utils does not take as a registries.conf scope.
//
// c is the configuration after ProtectPayload(releaseImage): a scope the MCO drops from
// blockedRegistries is in neither list.
func (c Config) PolicyRefusal(releaseImage string) error {
	if c.Image == nil {
		return nil
	}
	spec := c.Image.Spec.RegistrySources
	payloadRepo := ""
	if releaseImage != "" {
		ref, err := reference.ParseNamed(releaseImage)
		if err != nil {
			return fmt.Errorf("release image %q: %w", releaseImage, err)
		}
		payloadRepo = ref.Name()
	}
	var blocked, allowed []string
	for _, scope := range spec.BlockedRegistries {
		if payloadRepo != "" && registries.ScopeIsNestedInsideScope(payloadRepo, scope) {
			// Still blocked, so the payload has an unblocked mirror: the MCO allows its
			// repository in policy.json, to reach the mirrors.
			allowed = append(allowed, payloadRepo)
			if scope == payloadRepo {
				continue
			}
		}
		blocked = append(blocked, scope)
	}
	allowed = append(allowed, spec.AllowedRegistries...)
	if len(allowed) > 0 && len(blocked) > 0 && !(len(allowed) == 1 && allowed[0] == payloadRepo) {
		return fmt.Errorf("images.config.openshift.io/cluster sets both allowedRegistries and blockedRegistries: the Machine Config Operator takes only one of them")
	}
	for _, scope := range blocked {
		if !registries.IsValidRegistriesConfScope(scope) {
			return fmt.Errorf("images.config.openshift.io/cluster: blockedRegistries %q is not a valid registry scope", scope)
		}
	}
	for _, scope := range allowed {
		if !registries.IsValidRegistriesConfScope(scope) {
			return fmt.Errorf("images.config.openshift.io/cluster: allowedRegistries %q is not a valid registry scope (host[:port][/path] or *.domain)", scope)
		}
	}
	return nil
}
