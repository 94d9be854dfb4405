package mirrorset

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

	"github.com/airgap-ocp/oc-plugins/pkg/manifest"
	"github.com/airgap-ocp/oc-plugins/pkg/plan"
)

// Pair is one source repository and the repository it is mirrored to.
type Pair struct {
	Source, Mirror string
}

// Objects are the mirror objects that send a plan's pulls to the mirror.
type Objects struct {
	IDMS *configv1.ImageDigestMirrorSet
	ITMS *configv1.ImageTagMirrorSet
	ICSP *operatorv1alpha1.ImageContentSourcePolicy
}

// Unstructured returns the objects in the order they are printed: IDMS,
// ITMS, ICSP.
func (o *Objects) Unstructured() ([]*unstructured.Unstructured, error) {
	var typed []runtime.Object
	if o.IDMS != nil {
		typed = append(typed, o.IDMS)
	}
	if o.ITMS != nil {
		typed = append(typed, o.ITMS)
	}
	if o.ICSP != nil {
		typed = append(typed, o.ICSP)
	}
	out := make([]*unstructured.Unstructured, 0, len(typed))
	for _, obj := range typed {
		u, err := manifest.ToUnstructured(obj)
		if err != nil {
			return nil, err
		}
		out = append(out, u)
	}
	return out, nil
}

// BuildOptions say how a plan's objects are made.
type BuildOptions struct {
	// Name names the objects; "" derives one from the plan.
	Name string
	// MaxNestedPaths flattens destination repositories as the copy did.
	MaxNestedPaths int
	// ICSP makes the ImageContentSourcePolicy that clusters older than
	// 4.13 read, instead of the IDMS and ITMS they do not serve.
	ICSP bool
}

// Pairs are the repository pairs of p's items below root: every item's but
// a catalog's (images copied by tag keep their digests, so pulls by digest find them
// through the IDMS too) and those of the items copied by tag.
func Pairs(p *plan.Plan, root string, maxNested int) (all, byTag []Pair, err error) {
	for _, it := range p.Items {
		if it.Kind == plan.Catalog {
			// A catalog is named by its mirror digest in its CatalogSource;
			// a rebuilt one is not the image at its source.
			continue
		}
		src, err := it.SourceRepo()
		if err != nil {
			return nil, nil, err
		}
		repo, err := plan.NestPaths(it.Repo(root), maxNested)
		if err != nil {
			return nil, nil, fmt.Errorf("destination of %s: %w", it.Source, err)
		}
		pair := Pair{Source: src, Mirror: repo}
		all = append(all, pair)
		if it.ByTag {
			byTag = append(byTag, pair)
		}
	}
	return all, byTag, nil
}

// FromPlan builds the mirror objects for p copied below root.
func FromPlan(p *plan.Plan, root string, o BuildOptions) (*Objects, error) {
	all, byTag, err := Pairs(p, root, o.MaxNestedPaths)
	if err != nil {
		return nil, err
	}
	name := o.Name
	switch {
	case name == "" && p.Name != "":
		name = ObjectName(p.Name)
	case name == "":
		name = ImagesName(all)
	}
	out := &Objects{}
	if o.ICSP {
		out.ICSP, err = BuildICSP(name, all)
		return out, err
	}
	if out.IDMS, err = BuildIDMS(name, all); err != nil {
		return nil, err
	}
	if out.ITMS, err = BuildITMS(name, byTag); err != nil {
		return nil, err
	}
	return out, nil
}

// group sorts pairs by source then mirror and folds the mirrors of one
// source together, in that order (oc sorts the mirror strings of the whole
// set instead, so one source's mirrors can come out in any order).
func group(pairs []Pair) ([]string, map[string][]string) {
	seen := map[Pair]bool{}
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

func checkName(kind, name string) error {
	if name == "" || ObjectName(name) != name {
		return fmt.Errorf("%s name %q: want a lower-case DNS name", kind, name)
	}
	return nil
}

// BuildIDMS returns the ImageDigestMirrorSet name for pairs, or nil for none.
func BuildIDMS(name string, pairs []Pair) (*configv1.ImageDigestMirrorSet, error) {
	if len(pairs) == 0 {
		return nil, nil
	}
	if err := checkName("ImageDigestMirrorSet", name); err != nil {
		return nil, err
	}
	sources, by := group(pairs)
	idms := &configv1.ImageDigestMirrorSet{
		TypeMeta:   metav1.TypeMeta{APIVersion: configv1.GroupVersion.String(), Kind: "ImageDigestMirrorSet"},
		ObjectMeta: metav1.ObjectMeta{Name: name},
	}
	for _, s := range sources {
		idms.Spec.ImageDigestMirrors = append(idms.Spec.ImageDigestMirrors, configv1.ImageDigestMirrors{Source: s, Mirrors: imageMirrors(by[s])})
	}
	if errs := ValidateIDMS(idms); len(errs) > 0 {
		return nil, fmt.Errorf("the ImageDigestMirrorSet for this mirror is invalid: %w", errs.ToAggregate())
	}
	return idms, nil
}

// BuildITMS returns the ImageTagMirrorSet name for pairs, or nil for none.
func BuildITMS(name string, pairs []Pair) (*configv1.ImageTagMirrorSet, error) {
	if len(pairs) == 0 {
		return nil, nil
	}
	if err := checkName("ImageTagMirrorSet", name); err != nil {
		return nil, err
	}
	sources, by := group(pairs)
	itms := &configv1.ImageTagMirrorSet{
		TypeMeta:   metav1.TypeMeta{APIVersion: configv1.GroupVersion.String(), Kind: "ImageTagMirrorSet"},
		ObjectMeta: metav1.ObjectMeta{Name: name},
	}
	for _, s := range sources {
		itms.Spec.ImageTagMirrors = append(itms.Spec.ImageTagMirrors, configv1.ImageTagMirrors{Source: s, Mirrors: imageMirrors(by[s])})
	}
	if errs := ValidateITMS(itms); len(errs) > 0 {
		return nil, fmt.Errorf("the ImageTagMirrorSet for this mirror is invalid: %w", errs.ToAggregate())
	}
	return itms, nil
}

// BuildICSP returns the ImageContentSourcePolicy for pairs, for clusters
// older than 4.13, or nil for none.
func BuildICSP(name string, pairs []Pair) (*operatorv1alpha1.ImageContentSourcePolicy, error) {
	if len(pairs) == 0 {
		return nil, nil
	}
	if err := checkName("ImageContentSourcePolicy", name); err != nil {
		return nil, err
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
	return icsp, nil
}

func imageMirrors(ms []string) []configv1.ImageMirror {
	out := make([]configv1.ImageMirror, len(ms))
	for i, m := range ms {
		out[i] = configv1.ImageMirror(m)
	}
	return out
}

var notNameChar = regexp.MustCompile(`[^a-z0-9.-]+`)

// ObjectName makes a DNS-1123 subdomain of s: lower case, runs of other
// characters turned into "-".
func ObjectName(s string) string {
	n := strings.Trim(notNameChar.ReplaceAllString(strings.ToLower(s), "-"), "-.")
	if len(n) > 253 {
		n = n[:253]
	}
	return n
}

// ImagesName names the objects of a set of images after what they mirror,
// so that runs over different image sets do not replace each other's
// objects.
func ImagesName(pairs []Pair) string {
	sources, by := group(pairs)
	h := sha256.New()
	for _, s := range sources {
		fmt.Fprintf(h, "%s=%s\n", s, strings.Join(by[s], ","))
	}
	return "mirror-lite-" + hex.EncodeToString(h.Sum(nil))[:10]
}
