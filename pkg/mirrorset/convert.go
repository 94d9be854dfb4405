package mirrorset

import (
	"fmt"
	"slices"

	"github.com/containers/image/v5/pkg/sysregistriesv2"
	configv1 "github.com/openshift/api/config/v1"
	operatorv1alpha1 "github.com/openshift/api/operator/v1alpha1"
	"github.com/openshift/runtime-utils/pkg/registries"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// lastAppliedAnnotation is written by kubectl apply; it describes the old object and must
// not follow it into the new one.
const lastAppliedAnnotation = "kubectl.kubernetes.io/last-applied-configuration"

// ConvertICSP turns an ImageContentSourcePolicy into the config.openshift.io/v1
// ImageDigestMirrorSet that makes nodes do the same: spec.repositoryDigestMirrors becomes
// spec.imageDigestMirrors with sources and mirrors as they are and no mirrorSourcePolicy
// (the MCO treats an ICSP entry as AllowContactingSource, the IDMS default).
//
// The name, generateName, labels and annotations are kept, except the
// kubectl.kubernetes.io/last-applied-configuration annotation. Everything the server or
// controllers own is dropped: uid, resourceVersion, generation, creationTimestamp,
// deletion fields, managedFields, namespace, ownerReferences (the owner manages the ICSP,
// not this new object) and finalizers (no controller will clear them on the new object).
func ConvertICSP(icsp *operatorv1alpha1.ImageContentSourcePolicy) *configv1.ImageDigestMirrorSet {
	if icsp == nil {
		return nil
	}
	idms := &configv1.ImageDigestMirrorSet{
		TypeMeta: metav1.TypeMeta{APIVersion: IDMSKind.GroupVersion().String(), Kind: IDMSKind.Kind},
		ObjectMeta: metav1.ObjectMeta{
			Name:         icsp.Name,
			GenerateName: icsp.GenerateName,
			Labels:       copyMap(icsp.Labels, ""),
			Annotations:  copyMap(icsp.Annotations, lastAppliedAnnotation),
		},
		Spec: configv1.ImageDigestMirrorSetSpec{
			ImageDigestMirrors: make([]configv1.ImageDigestMirrors, 0, len(icsp.Spec.RepositoryDigestMirrors)),
		},
	}
	for _, e := range icsp.Spec.RepositoryDigestMirrors {
		var mirrors []configv1.ImageMirror
		for _, m := range e.Mirrors {
			mirrors = append(mirrors, configv1.ImageMirror(m))
		}
		idms.Spec.ImageDigestMirrors = append(idms.Spec.ImageDigestMirrors, configv1.ImageDigestMirrors{
			Source:  e.Source,
			Mirrors: mirrors,
		})
	}
	return idms
}

func copyMap(m map[string]string, drop string) map[string]string {
	var out map[string]string
	for k, v := range m {
		if k == drop {
			continue
		}
		if out == nil {
			out = make(map[string]string, len(m))
		}
		out[k] = v
	}
	return out
}

// SetSourcePolicy sets mirrorSourcePolicy on every entry of idms. Validate afterwards:
// NeverContactSource on an entry without a mirror other than its source is an error.
func SetSourcePolicy(idms *configv1.ImageDigestMirrorSet, p configv1.MirrorSourcePolicy) {
	if idms == nil {
		return
	}
	for i := range idms.Spec.ImageDigestMirrors {
		idms.Spec.ImageDigestMirrors[i].MirrorSourcePolicy = p
	}
}

// MergeIDMS merges sets into one ImageDigestMirrorSet called name that makes nodes do the same
// as the sets together (it renders the same registries.conf). Entries with the same source
// become one entry, in the order sources are first seen. Its mirrors are the sets' mirrors,
// de-duplicated in first-seen order, unless the Machine Config Operator would try them in
// another order: it merges the lists of one source topologically and breaks ties and cycles
// lexically ([a b] and [c] give a, c, b). The MCO's order is then used, and where that order
// cannot be written as one valid entry (it can put the source itself among the mirrors when
// lists disagree, which a wildcard source or NeverContactSource forbids) the source's entries
// are kept as they were, one after the other. Two different policies for one source are an
// error, as they are to the MCO; an unset policy counts as AllowContactingSource.
func MergeIDMS(name string, sets ...*configv1.ImageDigestMirrorSet) (*configv1.ImageDigestMirrorSet, error) {
	type merged struct {
		originals  []configv1.ImageDigestMirrors
		policy     configv1.MirrorSourcePolicy // as written; "" until an entry sets one
		policyFrom place
	}
	var order []string
	bySource := map[string]*merged{}
	var all []configv1.ImageDigestMirrors
	for _, set := range sets {
		if set == nil {
			continue
		}
		for i, e := range set.Spec.ImageDigestMirrors {
			here := place{entry: entryPath(IDMSKind.Kind, set.Name, "imageDigestMirrors", i), policy: effectivePolicy(e.MirrorSourcePolicy)}
			m, ok := bySource[e.Source]
			if !ok {
				m = &merged{policyFrom: here}
				bySource[e.Source] = m
				order = append(order, e.Source)
			}
			if m.policyFrom.policy != here.policy {
				return nil, fmt.Errorf("merging ImageDigestMirrorSets into %q: source %q is %s at %s but %s at %s",
					name, e.Source, m.policyFrom.policy, m.policyFrom, here.policy, here)
			}
			if m.policy == "" {
				m.policy = e.MirrorSourcePolicy
			}
			m.originals = append(m.originals, configv1.ImageDigestMirrors{Source: e.Source, Mirrors: slices.Clone(e.Mirrors)})
			all = append(all, configv1.ImageDigestMirrors{Source: e.Source, Mirrors: e.Mirrors})
		}
	}

	mcoOrder, err := mcoMirrorOrder(all)
	if err != nil {
		return nil, fmt.Errorf("merging ImageDigestMirrorSets into %q: %w", name, err)
	}
	out := &configv1.ImageDigestMirrorSet{
		TypeMeta:   metav1.TypeMeta{APIVersion: IDMSKind.GroupVersion().String(), Kind: IDMSKind.Kind},
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec:       configv1.ImageDigestMirrorSetSpec{ImageDigestMirrors: make([]configv1.ImageDigestMirrors, 0, len(order))},
	}
	for _, source := range order {
		m := bySource[source]
		firstSeen := dedupMirrors(m.originals)
		want, configured := mcoOrder[source]
		var entries []configv1.ImageDigestMirrors
		switch {
		case !configured || sameMirrorOrder(source, firstSeen, want):
			entries = []configv1.ImageDigestMirrors{{Source: source, Mirrors: firstSeen}}
		case len(validateMirrorEntry(field.NewPath("entry"), source, want, m.policy)) == 0:
			entries = []configv1.ImageDigestMirrors{{Source: source, Mirrors: want}}
		default:
			entries = m.originals
		}
		for _, e := range entries {
			e.MirrorSourcePolicy = m.policy
			out.Spec.ImageDigestMirrors = append(out.Spec.ImageDigestMirrors, e)
		}
	}
	return out, nil
}

func dedupMirrors(entries []configv1.ImageDigestMirrors) []configv1.ImageMirror {
	var out []configv1.ImageMirror
	seen := map[configv1.ImageMirror]bool{}
	for _, e := range entries {
		for _, m := range e.Mirrors {
			if !seen[m] {
				seen[m] = true
				out = append(out, m)
			}
		}
	}
	return out
}

// mcoMirrorOrder asks runtime-utils for the order in which nodes try the mirrors of each
// source, given all entries together. Sources without a real mirror are absent.
func mcoMirrorOrder(entries []configv1.ImageDigestMirrors) (map[string][]configv1.ImageMirror, error) {
	conf := sysregistriesv2.V2RegistriesConf{}
	idms := &configv1.ImageDigestMirrorSet{Spec: configv1.ImageDigestMirrorSetSpec{ImageDigestMirrors: entries}}
	if err := registries.EditRegistriesConfig(&conf, nil, nil, nil, []*configv1.ImageDigestMirrorSet{idms}, nil); err != nil {
		return nil, fmt.Errorf("ordering mirrors as the Machine Config Operator does: %w", err)
	}
	out := make(map[string][]configv1.ImageMirror, len(conf.Registries))
	for _, reg := range conf.Registries {
		scope := reg.Prefix
		if scope == "" {
			scope = reg.Location
		}
		mirrors := make([]configv1.ImageMirror, 0, len(reg.Mirrors))
		for _, m := range reg.Mirrors {
			mirrors = append(mirrors, configv1.ImageMirror(m.Location))
		}
		out[scope] = mirrors
	}
	return out, nil
}

// sameMirrorOrder reports whether mirrors, as one list, is tried in the order want: equal,
// or equal but for a trailing source (the source is always tried last anyway).
func sameMirrorOrder(source string, mirrors, want []configv1.ImageMirror) bool {
	if n := len(mirrors); n > 0 && string(mirrors[n-1]) == source {
		mirrors = mirrors[:n-1]
	}
	return slices.Equal(mirrors, want)
}
