package mirrorset

import (
	"fmt"
	"regexp"
	"sort"
	"strings"

	configv1 "github.com/openshift/api/config/v1"
	operatorv1alpha1 "github.com/openshift/api/operator/v1alpha1"
	"github.com/openshift/runtime-utils/pkg/registries"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// The patterns of the ImageDigestMirrorSet and ImageTagMirrorSet CRDs (openshift/api
// config/v1 types_image_digest_mirror_set.go, kubebuilder:validation:Pattern). The Machine
// Config Operator checks ImageContentSourcePolicy entries with the same two patterns, because
// the ICSP CRD has none (machine-config-operator pkg/controller/container-runtime-config,
// validateRegistriesConfScopes).
const (
	mirrorPattern = `^((?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])(?:(?:\.(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9]))+)?(?::[0-9]+)?)(?:(?:/[a-z0-9]+(?:(?:(?:[._]|__|[-]*)[a-z0-9]+)+)?)+)?$`
	sourcePattern = `^\*(?:\.(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9]))+$|` + mirrorPattern
)

var (
	mirrorRegexp = regexp.MustCompile(mirrorPattern)
	sourceRegexp = regexp.MustCompile(sourcePattern)
)

var supportedPolicies = []string{string(configv1.NeverContactSource), string(configv1.AllowContactingSource)}

// ValidateICSP checks an ImageContentSourcePolicy against its CRD and against what the
// Machine Config Operator accepts: sources are host[:port][/path] scopes or *.domain
// wildcards, mirrors are host[:port][/path], neither carries a tag or digest. An ICSP
// without entries is an error: it mirrors nothing.
func ValidateICSP(icsp *operatorv1alpha1.ImageContentSourcePolicy) field.ErrorList {
	if errs := validateICSPObject(icsp); len(errs) > 0 {
		return errs
	}
	return mcoRefusesICSP(icsp)
}

// validateICSPObject is what is wrong with an ICSP whatever the MCO makes of it.
func validateICSPObject(icsp *operatorv1alpha1.ImageContentSourcePolicy) field.ErrorList {
	if icsp == nil {
		return field.ErrorList{field.Required(field.NewPath("spec"), "no ImageContentSourcePolicy")}
	}
	errs := validateName(icsp.Name, icsp.GenerateName)
	list := field.NewPath("spec", "repositoryDigestMirrors")
	if len(icsp.Spec.RepositoryDigestMirrors) == 0 {
		errs = append(errs, field.Required(list,
			"an ImageContentSourcePolicy without repositoryDigestMirrors mirrors nothing; add source and mirrors entries or delete the object"))
	}
	for i, e := range icsp.Spec.RepositoryDigestMirrors {
		if e.Source == "" { // the CRD requires it
			errs = append(errs, validateSource(list.Index(i).Child("source"), e.Source)...)
		}
	}
	return errs
}

// mcoRefusesICSP is what the MCO refuses in an ICSP that the API server accepts: the ICSP
// CRD has no pattern for sources and mirrors, the MCO checks them with the IDMS's.
func mcoRefusesICSP(icsp *operatorv1alpha1.ImageContentSourcePolicy) field.ErrorList {
	var errs field.ErrorList
	list := field.NewPath("spec", "repositoryDigestMirrors")
	for i, e := range icsp.Spec.RepositoryDigestMirrors {
		p := list.Index(i)
		errs = append(errs, validateSource(p.Child("source"), e.Source)...)
		for j, m := range e.Mirrors {
			errs = append(errs, validateMirror(p.Child("mirrors").Index(j), m)...)
		}
	}
	return errs
}

// ValidateIDMS checks an ImageDigestMirrorSet against its CRD and the Machine Config
// Operator (see validateMirrorEntry for the per-entry rules).
func ValidateIDMS(idms *configv1.ImageDigestMirrorSet) field.ErrorList {
	if idms == nil {
		return field.ErrorList{field.Required(field.NewPath("spec"), "no ImageDigestMirrorSet")}
	}
	errs := validateName(idms.Name, idms.GenerateName)
	list := field.NewPath("spec", "imageDigestMirrors")
	for i, e := range idms.Spec.ImageDigestMirrors {
		errs = append(errs, validateMirrorEntry(list.Index(i), e.Source, e.Mirrors, e.MirrorSourcePolicy)...)
	}
	return errs
}

// ValidateITMS checks an ImageTagMirrorSet against its CRD and the Machine Config Operator
// (see validateMirrorEntry for the per-entry rules).
func ValidateITMS(itms *configv1.ImageTagMirrorSet) field.ErrorList {
	if itms == nil {
		return field.ErrorList{field.Required(field.NewPath("spec"), "no ImageTagMirrorSet")}
	}
	errs := validateName(itms.Name, itms.GenerateName)
	list := field.NewPath("spec", "imageTagMirrors")
	for i, e := range itms.Spec.ImageTagMirrors {
		errs = append(errs, validateMirrorEntry(list.Index(i), e.Source, e.Mirrors, e.MirrorSourcePolicy)...)
	}
	return errs
}

func validateName(name, generateName string) field.ErrorList {
	if name == "" && generateName == "" {
		return field.ErrorList{field.Required(field.NewPath("metadata", "name"), "name or generateName is required")}
	}
	return nil
}

// validateMirrorEntry applies the rules of one IDMS or ITMS entry:
//   - source: required, host[:port][/path] or *.domain (CRD pattern);
//   - mirrors: host[:port][/path] (CRD pattern), unique (listType=set);
//   - mirrorSourcePolicy: NeverContactSource or AllowContactingSource (CRD enum);
//   - NeverContactSource: the source must not be one of the mirrors (the MCO refuses it), and
//     at least one mirror is needed (the CRD says the policy is valid only with mirrors, and
//     runtime-utils silently ignores the policy of an entry without a real mirror, so the
//     source would not be blocked).
func validateMirrorEntry(p *field.Path, source string, mirrors []configv1.ImageMirror, policy configv1.MirrorSourcePolicy) field.ErrorList {
	errs := validateSource(p.Child("source"), source)
	seen := map[configv1.ImageMirror]bool{}
	for j, m := range mirrors {
		mp := p.Child("mirrors").Index(j)
		errs = append(errs, validateMirror(mp, string(m))...)
		if seen[m] {
			errs = append(errs, field.Duplicate(mp, string(m)))
		}
		seen[m] = true
	}
	switch policy {
	case "", configv1.AllowContactingSource:
	case configv1.NeverContactSource:
		if len(mirrors) == 0 {
			errs = append(errs, field.Required(p.Child("mirrors"),
				"mirrorSourcePolicy NeverContactSource needs at least one mirror; without one the source is not blocked"))
		}
		for j, m := range mirrors {
			if string(m) == source {
				errs = append(errs, field.Invalid(p.Child("mirrors").Index(j), string(m),
					"must not be the source itself when mirrorSourcePolicy is NeverContactSource"))
			}
		}
	default:
		errs = append(errs, field.NotSupported(p.Child("mirrorSourcePolicy"), string(policy), supportedPolicies))
	}
	return errs
}

func validateSource(p *field.Path, s string) field.ErrorList {
	if s == "" {
		return field.ErrorList{field.Required(p, "a repository scope such as registry.example.com/namespace is required")}
	}
	if sourceRegexp.MatchString(s) {
		return nil
	}
	if msg := explainScope(s, true); msg != "" {
		return field.ErrorList{field.Invalid(p, s, msg)}
	}
	return field.ErrorList{field.Invalid(p, s,
		"must be a repository scope host[:port][/namespace...][/repository] with lowercase path components, or a *.domain wildcard")}
}

func validateMirror(p *field.Path, s string) field.ErrorList {
	if s == "" {
		return field.ErrorList{field.Required(p, "a mirror location such as mirror.example.com:5000/namespace is required")}
	}
	if mirrorRegexp.MatchString(s) {
		return nil
	}
	if msg := explainScope(s, false); msg != "" {
		return field.ErrorList{field.Invalid(p, s, msg)}
	}
	return field.ErrorList{field.Invalid(p, s,
		"must be a location host[:port][/namespace...][/repository] with lowercase path components")}
}

// explainScope gives a specific reason for a scope that fails its pattern, or "".
func explainScope(s string, wildcardAllowed bool) string {
	if hasTagOrDigest(s) {
		return "must not contain a tag or digest: name a repository or namespace, not an image"
	}
	if strings.Contains(s, "://") {
		return "must not contain a URL scheme: write host[:port][/path]"
	}
	if strings.Contains(s, "*") {
		if !wildcardAllowed {
			return "must not contain a wildcard: mirrors are exact locations"
		}
		return "a wildcard must be the whole leftmost label of a domain, *.example.com, with no port or path"
	}
	if strings.HasSuffix(s, "/") {
		return "must not end with /"
	}
	return ""
}

// hasTagOrDigest reports whether s looks like an image reference with a tag or digest rather
// than a repository scope: it contains @, or its last path component carries :something
// (a colon after the host is a port only when the scope has no path after it and digits follow).
func hasTagOrDigest(s string) bool {
	if strings.Contains(s, "@") {
		return true
	}
	slash := strings.LastIndex(s, "/")
	last := s[slash+1:]
	i := strings.LastIndex(last, ":")
	if i < 0 {
		return false
	}
	if slash >= 0 {
		return true // a colon in a path component is a tag
	}
	port := last[i+1:]
	return port == "" || strings.Trim(port, "0123456789") != ""
}

// place names one mirror entry of one object, for messages.
type place struct {
	entry  *field.Path // Kind[name].spec.<list>[i]
	policy configv1.MirrorSourcePolicy
	icsp   bool
}

func (p place) String() string { return p.entry.String() }

// policyPath points at the field that carries the policy: mirrorSourcePolicy, or for an ICSP
// (which has none) its source.
func (p place) policyPath() *field.Path {
	if p.icsp {
		return p.entry.Child("source")
	}
	return p.entry.Child("mirrorSourcePolicy")
}

func entryPath(kind, name, list string, i int) *field.Path {
	return field.NewPath(kind).Key(name).Child("spec", list).Index(i)
}

// effectivePolicy is how the MCO reads a policy: unset means AllowContactingSource.
func effectivePolicy(p configv1.MirrorSourcePolicy) configv1.MirrorSourcePolicy {
	if p == "" {
		return configv1.AllowContactingSource
	}
	return p
}

func collectPlaces(icsps []*operatorv1alpha1.ImageContentSourcePolicy, idmss []*configv1.ImageDigestMirrorSet,
	itmss []*configv1.ImageTagMirrorSet) (sources []string, bySource map[string][]place) {
	bySource = map[string][]place{}
	add := func(source string, pl place) {
		if _, ok := bySource[source]; !ok {
			sources = append(sources, source)
		}
		bySource[source] = append(bySource[source], pl)
	}
	for _, o := range idmss {
		if o == nil {
			continue
		}
		for i, e := range o.Spec.ImageDigestMirrors {
			add(e.Source, place{entry: entryPath(IDMSKind.Kind, o.Name, "imageDigestMirrors", i),
				policy: effectivePolicy(e.MirrorSourcePolicy)})
		}
	}
	for _, o := range icsps {
		if o == nil {
			continue
		}
		for i, e := range o.Spec.RepositoryDigestMirrors {
			add(e.Source, place{entry: entryPath(ICSPKind.Kind, o.Name, "repositoryDigestMirrors", i),
				policy: configv1.AllowContactingSource, icsp: true})
		}
	}
	for _, o := range itmss {
		if o == nil {
			continue
		}
		for i, e := range o.Spec.ImageTagMirrors {
			add(e.Source, place{entry: entryPath(ITMSKind.Kind, o.Name, "imageTagMirrors", i),
				policy: effectivePolicy(e.MirrorSourcePolicy)})
		}
	}
	sort.Strings(sources)
	return sources, bySource
}

// Conflicts finds sources that carry two different mirrorSourcePolicy values across all the
// given objects. The Machine Config Operator keeps one policy per source across every
// ImageDigestMirrorSet, ImageTagMirrorSet and ImageContentSourcePolicy together (an ICSP
// entry, and an entry with no policy, counts as AllowContactingSource), and refuses to render
// registries.conf at all while two disagree, even for entries without mirrors. One error is
// reported per conflicting source, at a NeverContactSource place, naming an
// AllowContactingSource place; paths read Kind[name].spec....
func Conflicts(icsps []*operatorv1alpha1.ImageContentSourcePolicy, idmss []*configv1.ImageDigestMirrorSet,
	itmss []*configv1.ImageTagMirrorSet) field.ErrorList {
	sources, bySource := collectPlaces(icsps, idmss, itmss)
	var errs field.ErrorList
	for _, source := range sources {
		var never, allow []place
		for _, pl := range bySource[source] {
			if pl.policy == configv1.NeverContactSource {
				never = append(never, pl)
			} else {
				allow = append(allow, pl)
			}
		}
		if len(never) == 0 || len(allow) == 0 {
			continue
		}
		a := allow[0]
		why := ""
		if a.icsp {
			why = " (an ImageContentSourcePolicy always allows contacting the source)"
		}
		more := ""
		if n := len(never) + len(allow) - 2; n > 0 {
			more = fmt.Sprintf(" and %d more place(s)", n)
		}
		errs = append(errs, field.Invalid(never[0].policyPath(), string(configv1.NeverContactSource),
			fmt.Sprintf("source %q is NeverContactSource here but AllowContactingSource at %s%s%s; the Machine Config Operator refuses to render registries.conf while one source has two policies",
				source, a, why, more)))
	}
	return errs
}

// mcoPrecheck applies exactly the checks the Machine Config Operator runs before it calls
// EditRegistriesConfig (validateRegistriesConfScopes): valid insecure and blocked scopes,
// source and mirror patterns for every kind, one policy per source, and no NeverContactSource
// entry listing its own source as a mirror. When any fails, the MCO's sync fails and nodes
// keep the registries.conf they had.
func mcoPrecheck(insecure, blocked []string, icsps []*operatorv1alpha1.ImageContentSourcePolicy,
	idmss []*configv1.ImageDigestMirrorSet, itmss []*configv1.ImageTagMirrorSet) field.ErrorList {
	var errs field.ErrorList
	rs := field.NewPath(ImageKind.Kind).Key("cluster").Child("spec", "registrySources")
	for i, s := range insecure {
		if !registries.IsValidRegistriesConfScope(s) {
			errs = append(errs, field.Invalid(rs.Child("insecureRegistries").Index(i), s,
				"must be host[:port][/path] or a *.domain wildcard"))
		}
	}
	for i, s := range blocked {
		if !registries.IsValidRegistriesConfScope(s) {
			errs = append(errs, field.Invalid(rs.Child("blockedRegistries").Index(i), s,
				"must be host[:port][/path] or a *.domain wildcard"))
		}
	}
	check := func(root *field.Path, source string, mirrors []string, policy configv1.MirrorSourcePolicy) {
		if !sourceRegexp.MatchString(source) {
			errs = append(errs, validateSourceOrInvalid(root.Child("source"), source))
		}
		for j, m := range mirrors {
			if !mirrorRegexp.MatchString(m) {
				errs = append(errs, validateMirrorOrInvalid(root.Child("mirrors").Index(j), m))
			}
			if effectivePolicy(policy) == configv1.NeverContactSource && m == source {
				errs = append(errs, field.Invalid(root.Child("mirrors").Index(j), m,
					"must not be the source itself when mirrorSourcePolicy is NeverContactSource"))
			}
		}
	}
	for _, o := range idmss {
		for i, e := range o.Spec.ImageDigestMirrors {
			check(entryPath(IDMSKind.Kind, o.Name, "imageDigestMirrors", i), e.Source, mirrorStrings(e.Mirrors), e.MirrorSourcePolicy)
		}
	}
	for _, o := range icsps {
		for i, e := range o.Spec.RepositoryDigestMirrors {
			check(entryPath(ICSPKind.Kind, o.Name, "repositoryDigestMirrors", i), e.Source, e.Mirrors, "")
		}
	}
	for _, o := range itmss {
		for i, e := range o.Spec.ImageTagMirrors {
			check(entryPath(ITMSKind.Kind, o.Name, "imageTagMirrors", i), e.Source, mirrorStrings(e.Mirrors), e.MirrorSourcePolicy)
		}
	}
	errs = append(errs, Conflicts(icsps, idmss, itmss)...)
	return errs
}

func validateSourceOrInvalid(p *field.Path, s string) *field.Error {
	if errs := validateSource(p, s); len(errs) > 0 {
		return errs[0]
	}
	return field.Invalid(p, s, "invalid source")
}

func validateMirrorOrInvalid(p *field.Path, s string) *field.Error {
	if errs := validateMirror(p, s); len(errs) > 0 {
		return errs[0]
	}
	return field.Invalid(p, s, "invalid mirror")
}

func mirrorStrings(ms []configv1.ImageMirror) []string {
	out := make([]string, len(ms))
	for i, m := range ms {
		out[i] = string(m)
	}
	return out
}
