package mirrorlite

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"regexp"
	"sort"
	"strings"

	configv1 "github.com/openshift/api/config/v1"
	operatorv1alpha1 "github.com/openshift/api/operator/v1alpha1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"

	"github.com/airgap-ocp/oc-plugins/pkg/mirrorset"
)

// RepoMirror is one source repository and the repository it was mirrored to.
type RepoMirror struct {
	Source, Mirror string
}

// Resources are the objects that make a cluster pull from the mirror.
type Resources struct {
	IDMS       *configv1.ImageDigestMirrorSet
	ITMS       *configv1.ImageTagMirrorSet
	ICSP       *operatorv1alpha1.ImageContentSourcePolicy
	Signatures []*unstructured.Unstructured
}

// Objects returns the resources in the order they are printed: IDMS, ITMS,
// ICSP, then the signature ConfigMaps.
func (r *Resources) Objects() ([]*unstructured.Unstructured, error) {
	var typed []runtime.Object
	if r.IDMS != nil {
		typed = append(typed, r.IDMS)
	}
	if r.ITMS != nil {
		typed = append(typed, r.ITMS)
	}
	if r.ICSP != nil {
		typed = append(typed, r.ICSP)
	}
	var out []*unstructured.Unstructured
	for _, obj := range typed {
		u, err := toUnstructured(obj)
		if err != nil {
			return nil, err
		}
		out = append(out, u)
	}
	return append(out, r.Signatures...), nil
}

func toUnstructured(obj runtime.Object) (*unstructured.Unstructured, error) {
	m, err := runtime.DefaultUnstructuredConverter.ToUnstructured(obj)
	if err != nil {
		return nil, err
	}
	u := &unstructured.Unstructured{Object: m}
	unstructured.RemoveNestedField(u.Object, "metadata", "creationTimestamp")
	unstructured.RemoveNestedField(u.Object, "status")
	return u, nil
}

// group sorts pairs by source then mirror and folds the mirrors of one
// source together, in that order (oc sorts the mirror strings of the whole
// set instead, so one source's mirrors can come out in any order).
func group(pairs []RepoMirror) ([]string, map[string][]string) {
	seen := map[RepoMirror]bool{}
	by := map[string][]string{}
	var sources []string
	for _, p := range pairs {
		if seen[p] {
			continue
		}
		seen[p] = true
		if _, ok := by[p.Source]; !ok {
			sources = append(sources, p.Source)
		}
		by[p.Source] = append(by[p.Source], p.Mirror)
	}
	sort.Strings(sources)
	for _, s := range sources {
		sort.Strings(by[s])
	}
	return sources, by
}

// BuildIDMS returns the ImageDigestMirrorSet name for pairs, or nil for none.
func BuildIDMS(name string, pairs []RepoMirror) (*configv1.ImageDigestMirrorSet, error) {
	if len(pairs) == 0 {
		return nil, nil
	}
	if objectName(name) != name || name == "" {
		return nil, fmt.Errorf("ImageDigestMirrorSet name %q: want a lower-case DNS name", name)
	}
	sources, by := group(pairs)
	idms := &configv1.ImageDigestMirrorSet{
		TypeMeta:   metav1.TypeMeta{APIVersion: configv1.GroupVersion.String(), Kind: "ImageDigestMirrorSet"},
		ObjectMeta: metav1.ObjectMeta{Name: name},
	}
	for _, s := range sources {
		e := configv1.ImageDigestMirrors{Source: s}
		for _, m := range by[s] {
			e.Mirrors = append(e.Mirrors, configv1.ImageMirror(m))
		}
		idms.Spec.ImageDigestMirrors = append(idms.Spec.ImageDigestMirrors, e)
	}
	if errs := mirrorset.ValidateIDMS(idms); len(errs) > 0 {
		return nil, fmt.Errorf("the ImageDigestMirrorSet for this mirror is invalid: %w", errs.ToAggregate())
	}
	return idms, nil
}

// BuildITMS returns the ImageTagMirrorSet name for pairs, or nil for none.
func BuildITMS(name string, pairs []RepoMirror) (*configv1.ImageTagMirrorSet, error) {
	if len(pairs) == 0 {
		return nil, nil
	}
	if objectName(name) != name || name == "" {
		return nil, fmt.Errorf("ImageTagMirrorSet name %q: want a lower-case DNS name", name)
	}
	sources, by := group(pairs)
	itms := &configv1.ImageTagMirrorSet{
		TypeMeta:   metav1.TypeMeta{APIVersion: configv1.GroupVersion.String(), Kind: "ImageTagMirrorSet"},
		ObjectMeta: metav1.ObjectMeta{Name: name},
	}
	for _, s := range sources {
		e := configv1.ImageTagMirrors{Source: s}
		for _, m := range by[s] {
			e.Mirrors = append(e.Mirrors, configv1.ImageMirror(m))
		}
		itms.Spec.ImageTagMirrors = append(itms.Spec.ImageTagMirrors, e)
	}
	if errs := mirrorset.ValidateITMS(itms); len(errs) > 0 {
		return nil, fmt.Errorf("the ImageTagMirrorSet for this mirror is invalid: %w", errs.ToAggregate())
	}
	return itms, nil
}

// BuildICSP returns the ImageContentSourcePolicy equivalent to the
// digest mirrors, for clusters older than 4.13.
func BuildICSP(name string, pairs []RepoMirror) *operatorv1alpha1.ImageContentSourcePolicy {
	if len(pairs) == 0 {
		return nil
	}
	sources, by := group(pairs)
	icsp := &operatorv1alpha1.ImageContentSourcePolicy{
		TypeMeta:   metav1.TypeMeta{APIVersion: operatorv1alpha1.GroupVersion.String(), Kind: "ImageContentSourcePolicy"},
		ObjectMeta: metav1.ObjectMeta{Name: name},
	}
	for _, s := range sources {
		icsp.Spec.RepositoryDigestMirrors = append(icsp.Spec.RepositoryDigestMirrors,
			operatorv1alpha1.RepositoryDigestMirrors{Source: s, Mirrors: by[s]})
	}
	return icsp
}

var notNameChar = regexp.MustCompile(`[^a-z0-9.-]+`)

// objectName makes a DNS-1123 subdomain of s: lower case, runs of other
// characters turned into "-".
func objectName(s string) string {
	n := strings.Trim(notNameChar.ReplaceAllString(strings.ToLower(s), "-"), "-.")
	if len(n) > 253 {
		n = n[:253]
	}
	return n
}

// imagesName names the objects of an images run after what they mirror, so
// that runs over different image sets do not replace each other's objects.
func imagesName(pairs []RepoMirror) string {
	sources, by := group(pairs)
	h := sha256.New()
	for _, s := range sources {
		fmt.Fprintf(h, "%s=%s\n", s, strings.Join(by[s], ","))
	}
	return "mirror-lite-" + hex.EncodeToString(h.Sum(nil))[:10]
}
