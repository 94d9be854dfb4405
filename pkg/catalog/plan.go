package catalog

import (
	"fmt"
	"maps"
	"path/filepath"
	"slices"
	"sort"
	"strings"

	"github.com/airgap-ocp/oc-plugins/pkg/plan"
)

// Placement is where the mirror puts the catalog named name below its
// destination: targetCatalog and targetTag when given, else the source's
// repository path (an oci:// layout's directory name) and its tag, or
// "latest" for a catalog named by digest or without a tag.
func Placement(name, targetCatalog, targetTag string) (path, tag string) {
	if it, err := plan.ImageItem(name, plan.Catalog, ""); err == nil {
		path, tag = it.Path, it.Tag
	} else {
		dir, t, _ := strings.Cut(strings.TrimPrefix(strings.TrimPrefix(name, "oci://"), "oci:"), ":")
		path, tag = filepath.Base(dir), t
	}
	if tag == "" {
		tag = "latest"
	}
	if targetCatalog != "" {
		path = targetCatalog
	}
	if targetTag != "" {
		tag = targetTag
	}
	return path, tag
}

// Items are the plan items of what k keeps: each kept bundle's image and
// the images its relatedImages name, each image once however many bundles
// name it, in a stable order. origin names the catalog.
func (x *Index) Items(k *Kept, origin string) ([]plan.Item, error) {
	type use struct {
		kind    plan.Kind
		bundles []string
	}
	uses := map[string]*use{}
	note := func(image string, kind plan.Kind, bundle string) {
		u := uses[image]
		if u == nil {
			u = &use{kind: kind}
			uses[image] = u
		}
		if kind == plan.OperatorBundle {
			u.kind = kind
		}
		// A bundle lists its own image among its related images too.
		if !slices.Contains(u.bundles, bundle) {
			u.bundles = append(u.bundles, bundle)
		}
	}
	for _, pn := range k.SortedNames() {
		for _, bn := range k.Packages[pn].Bundles() {
			b := x.Packages[pn].Bundles[bn]
			note(b.Image, plan.OperatorBundle, bn)
			for _, r := range b.Related {
				note(r, plan.OperatorImage, bn)
			}
		}
	}
	images := make([]string, 0, len(uses))
	for img := range uses {
		images = append(images, img)
	}
	sort.Strings(images)
	var items []plan.Item
	for _, img := range images {
		u := uses[img]
		who := u.bundles[0]
		if len(u.bundles) > 1 {
			who = fmt.Sprintf("%s and %d more bundles", who, len(u.bundles)-1)
		}
		it, err := plan.ImageItem(img, u.kind, origin+": "+who)
		if err != nil {
			return nil, fmt.Errorf("%s: bundle %s: %w", origin, u.bundles[0], err)
		}
		items = append(items, it)
	}
	return items, nil
}

// BundleImages maps each kept bundle to its images (its own first).
func (x *Index) BundleImages(k *Kept) map[string][]string {
	out := map[string][]string{}
	for _, pn := range k.SortedNames() {
		for _, bn := range k.Packages[pn].Bundles() {
			b := x.Packages[pn].Bundles[bn]
			out[pn+"/"+bn] = append([]string{b.Image}, b.Related...)
		}
	}
	return out
}

// Without returns k without the named bundles (package/bundle), and says
// so in its notes. Channels left empty go; a package left without its
// default channel goes whole, as OLM would refuse it.
func (k *Kept) Without(gone map[string]bool) *Kept {
	out := &Kept{Packages: map[string]*KeptPackage{}, Notes: k.Notes, Unsatisfied: k.Unsatisfied}
	for _, pn := range k.SortedNames() {
		kp := k.Packages[pn]
		np := &KeptPackage{Name: pn, DefaultChannel: kp.DefaultChannel, Channels: map[string]map[string]bool{}}
		for ch, entries := range kp.Channels {
			left := map[string]bool{}
			for e := range entries {
				if !gone[pn+"/"+e] {
					left[e] = true
				}
			}
			if len(left) > 0 {
				np.Channels[ch] = left
			}
		}
		if np.Channels[np.DefaultChannel] == nil {
			continue
		}
		out.Packages[pn] = np
	}
	return out
}

// Describe lists what k keeps, a line per package and channel.
func (k *Kept) Describe() []string {
	var out []string
	for _, pn := range k.SortedNames() {
		kp := k.Packages[pn]
		for _, ch := range kp.SortedChannels() {
			def := ""
			if ch == kp.DefaultChannel {
				def = " (default)"
			}
			out = append(out, fmt.Sprintf("%s %s%s: %s", pn, ch, def, strings.Join(slices.Sorted(maps.Keys(kp.Channels[ch])), ", ")))
		}
	}
	return out
}
