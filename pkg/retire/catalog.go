package retire

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/containers/image/v5/docker/reference"
	digest "github.com/opencontainers/go-digest"

	"github.com/airgap-ocp/oc-plugins/pkg/catalog"
	"github.com/airgap-ocp/oc-plugins/pkg/plan"
)

// CatalogEntry is one catalog to retire operators from: an entry of a
// DeleteImageSetConfiguration's delete.operators.
type CatalogEntry struct {
	// Name is the catalog the selection is read from, where it points: its
	// source, an oci:// layout, or an earlier catalog in the mirror itself
	// by digest (the image the earlier CatalogSource names).
	Name string
	// TargetCatalog and TargetTag are where the mirror put it, as the
	// ImageSetConfiguration said (default: catalog.Placement; for a
	// catalog named below the mirror's root, its own path there).
	TargetCatalog, TargetTag string
	// Selection names the bundles to retire; no package names the whole
	// catalog, and then the catalog image in the mirror goes too.
	Selection catalog.Selection
	// Field names the entry in errors and origins ("delete.yaml:
	// delete.operators[0]").
	Field string
}

// Catalogs is what delete.operators retires and what stays listed.
type Catalogs struct {
	// Plan holds the images the entries name: bundles, their related
	// images, and the catalog images of entries that name a whole catalog.
	Plan *plan.Plan
	// Listed are the images a catalog that stays in the mirror lists:
	// BuildKeeping keeps them.
	Listed []Listed
	// Listing are the catalogs in the mirror that entries retire bundles of
	// and that stay (entries naming packages of a catalog named there by
	// digest).
	Listing []Manifest
	// Notes say, one line each, which catalogs were read and what stays.
	Notes []string
}

// PlanCatalogs reads each entry's catalog and the catalogs that stay in
// the repository the mirror put it in (every tag of it but the one a whole
// catalog's entry retires), and plans the retirement of what the entries
// name; whatever a staying catalog lists is Listed, so BuildKeeping keeps
// it. root is the mirror's REGISTRY/PATH; work a directory for the
// catalogs' layouts. A selection the catalog cannot serve is a
// *catalog.FieldError whose Field starts with the entry's; a catalog
// image that is none wraps catalog.ErrNotCatalog.
func (o Options) PlanCatalogs(ctx context.Context, entries []CatalogEntry, root, work string) (*Catalogs, error) {
	out := &Catalogs{Plan: &plan.Plan{}}
	scan := o.scanner(ctx, work)
	retire := func(x *catalog.Index, sel catalog.Selection, field, origin string) (int, error) {
		k, err := x.Selected(sel)
		var fe *catalog.FieldError
		if errors.As(err, &fe) {
			return 0, &catalog.FieldError{Field: field + "." + fe.Field, Msg: fe.Msg}
		}
		if err != nil {
			return 0, fmt.Errorf("%s: %w", field, err)
		}
		items, err := x.Items(k, origin)
		if err != nil {
			return 0, err
		}
		return len(items), out.Plan.Add(items...)
	}
	seen := map[string]bool{}
	var staying []stay
	retiredTags := map[string]bool{} // repo:tag
	for _, e := range entries {
		img, x, err := scan(e.Name)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", e.Field, err)
		}
		whole := len(e.Selection.Packages) == 0
		sel := e.Selection
		if whole {
			sel.Full = true
		}
		origin := fmt.Sprintf("%s (catalog %s)", e.Field, e.Name)
		count, err := retire(x, sel, e.Field, origin)
		if err != nil {
			return nil, err
		}
		path, tag, named := o.catalogPlace(e, root)
		repo, err := plan.NestPaths(plan.Item{Path: path}.Repo(root), o.MaxNestedPaths)
		if err != nil {
			return nil, fmt.Errorf("%s: repository %q: %w", e.Field, path, err)
		}
		tags, err := o.tags(ctx, repo)
		if err != nil {
			return nil, err
		}
		at := map[string]digest.Digest{}
		for _, t := range tags {
			f, err := o.getManifest(ctx, repo+":"+t)
			if errors.Is(err, ErrNotFound) {
				continue
			}
			if err != nil {
				return nil, err
			}
			at[t] = f.digest
		}
		what := fmt.Sprintf("%d images of %d bundles", count, countBundles(x, sel))
		if whole {
			// The catalog image in the mirror goes too: the one named, when
			// named there by digest, else the one at its place's tag.
			it := plan.Item{Source: strings.TrimPrefix(e.Name, "docker://"), Path: path, Kind: plan.Catalog, Origin: origin}
			var retired digest.Digest
			switch {
			case named != "":
				it.Digest, retired = named, named
			case at[tag] != "":
				it.Tag, it.Digest, retired = tag, at[tag], at[tag]
				retiredTags[repo+":"+tag] = true
			default:
				out.Notes = append(out.Notes, fmt.Sprintf("%s: no catalog at %s:%s in the mirror; only the images %s lists are planned", e.Field, repo, tag, e.Name))
			}
			if err := out.Plan.Add(it); err != nil {
				return nil, err
			}
			// What the catalog going from the mirror lists goes with it,
			// when it is another than the one read.
			if retired != "" && retired != img.Digest {
				_, mx, err := scan(repo + "@" + retired.String())
				if err != nil {
					return nil, err
				}
				more, err := retire(mx, catalog.Selection{Full: true}, e.Field, fmt.Sprintf("%s (catalog %s@%s)", e.Field, repo, retired))
				if err != nil {
					return nil, err
				}
				what += fmt.Sprintf(", and %d images of the catalog %s@%s", more, repo, retired)
			}
			what += ", and the catalog image"
		} else if named != "" && !slices.Contains(slices.Collect(maps.Values(at)), named) {
			out.Listing = append(out.Listing, Manifest{Repository: repo, Digest: named, Kind: plan.Catalog, Source: e.Name,
				Reason: fmt.Sprintf("%s: a catalog that stays, listing bundles the plan retires", e.Field)})
		}
		out.Notes = append(out.Notes, fmt.Sprintf("%s: catalog %s (%s): planned %s", e.Field, e.Name, img.Digest, what))
		for _, t := range slices.Sorted(maps.Keys(at)) {
			staying = append(staying, stay{repo, t, at[t]})
		}
	}
	// Every catalog of those repositories stays but the tags retired (a
	// manifest another tag names stays too); what it lists stays with it,
	// each manifest read once.
	staying = slices.DeleteFunc(staying, func(c stay) bool {
		ref := c.repo + "@" + c.digest.String()
		if retiredTags[c.repo+":"+c.tag] || seen[ref] {
			return true
		}
		seen[ref] = true
		return false
	})
	listed, notes, err := listStaying(staying, scan)
	if err != nil {
		return nil, err
	}
	out.Listed, out.Notes = listed, append(out.Notes, notes...)
	return out, nil
}

// stay is a catalog that stays in the mirror, by a tag naming it.
type stay struct {
	repo, tag string
	digest    digest.Digest
}

type scanFunc func(name string) (*catalog.Image, *catalog.Index, error)

// scanner reads catalogs into indexes, each in its own directory below
// work, removed once read.
func (o Options) scanner(ctx context.Context, work string) scanFunc {
	n := 0
	return func(name string) (*catalog.Image, *catalog.Index, error) {
		n++
		dir := filepath.Join(work, fmt.Sprint(n))
		// Copied for this run only (no cache): these are the mirror's
		// catalogs, read once to be retired.
		cp, err := catalog.Cache{}.Open(ctx, name, o.Sys, dir, o.Retry)
		if err != nil {
			return nil, nil, err
		}
		x, err := catalog.Scan(ctx, os.DirFS(cp.Configs))
		if err != nil {
			return nil, nil, fmt.Errorf("catalog %s: %w: %w", name, catalog.ErrNotCatalog, err)
		}
		// The layouts are large; what is needed of them is in x.
		return cp.Image, x, os.RemoveAll(dir)
	}
}

// listStaying reads each catalog that stays and lists every bundle and
// related image of it, with a note per catalog.
func listStaying(staying []stay, scan scanFunc) ([]Listed, []string, error) {
	var out []Listed
	var notes []string
	for _, c := range staying {
		name := c.repo + ":" + c.tag
		if strings.HasSuffix(c.tag, ".sig") {
			continue // a sigstore signature, which lists nothing
		}
		_, x, err := scan(c.repo + "@" + c.digest.String())
		if errors.Is(err, catalog.ErrNotCatalog) {
			notes = append(notes, fmt.Sprintf("%s (%s) is not a catalog: it lists nothing", name, c.digest))
			continue
		}
		if err != nil {
			return nil, nil, err
		}
		listed := 0
		for _, pn := range x.SortedNames() {
			p := x.Packages[pn]
			for _, bn := range slices.Sorted(maps.Keys(p.Bundles)) {
				b := p.Bundles[bn]
				for _, image := range append([]string{b.Image}, b.Related...) {
					it, err := plan.ImageItem(image, plan.OperatorImage, "")
					if err != nil {
						continue // not an image anything could have mirrored
					}
					out = append(out, Listed{Item: it, Why: fmt.Sprintf("the catalog %s stays and lists it (bundle %s)", name, bn)})
					listed++
				}
			}
		}
		notes = append(notes, fmt.Sprintf("the catalog %s (%s) stays: the %d images its bundles list stay", name, c.digest, listed))
	}
	return out, notes, nil
}

// StayingCatalogs keeps what the catalogs that stay list, for a plan that
// retires catalogs (an archive's, which records each catalog's digest):
// every tag of a planned catalog's repository that names another manifest
// than a planned one is a catalog that stays, read and listed. work is a
// directory for the catalogs' layouts.
func (o Options) StayingCatalogs(ctx context.Context, p *plan.Plan, root, work string) (*Catalogs, error) {
	retired := map[string][]digest.Digest{}
	var repos []string
	for _, it := range p.Items {
		if it.Kind != plan.Catalog {
			continue
		}
		repo, err := plan.NestPaths(it.Repo(root), o.MaxNestedPaths)
		if err != nil {
			return nil, fmt.Errorf("%s (%s): repository %q: %w", it.Source, it.Origin, it.Repo(root), err)
		}
		if _, ok := retired[repo]; !ok {
			repos = append(repos, repo)
		}
		retired[repo] = append(retired[repo], it.Digest)
		if it.Digest == "" && it.Tag != "" {
			f, err := o.getManifest(ctx, repo+":"+it.Tag)
			if err != nil && !errors.Is(err, ErrNotFound) {
				return nil, err
			}
			if f != nil {
				retired[repo] = append(retired[repo], f.digest)
			}
		}
	}
	var staying []stay
	seen := map[digest.Digest]bool{}
	for _, repo := range repos {
		tags, err := o.tags(ctx, repo)
		if err != nil {
			return nil, err
		}
		slices.Sort(tags)
		for _, t := range tags {
			f, err := o.getManifest(ctx, repo+":"+t)
			if errors.Is(err, ErrNotFound) {
				continue
			}
			if err != nil {
				return nil, err
			}
			if slices.Contains(retired[repo], f.digest) || seen[f.digest] {
				continue
			}
			seen[f.digest] = true
			staying = append(staying, stay{repo, t, f.digest})
		}
	}
	listed, notes, err := listStaying(staying, o.scanner(ctx, work))
	if err != nil {
		return nil, err
	}
	return &Catalogs{Plan: p, Listed: listed, Notes: notes}, nil
}

// catalogPlace is where the mirror put e's catalog below root, and the
// digest it is named by when it is named in the mirror itself.
func (o Options) catalogPlace(e CatalogEntry, root string) (path, tag string, named digest.Digest) {
	path, tag = catalog.Placement(e.Name, e.TargetCatalog, e.TargetTag)
	ref, err := reference.ParseNormalizedNamed(strings.TrimPrefix(e.Name, "docker://"))
	if err != nil {
		return path, tag, ""
	}
	below, in := strings.CutPrefix(ref.Name(), root+"/")
	if !in || root == "" {
		return path, tag, ""
	}
	if e.TargetCatalog == "" {
		path = below
	}
	if d, ok := ref.(reference.Digested); ok {
		named = d.Digest()
	}
	return path, tag, named
}

// countBundles is how many bundles sel names of x.
func countBundles(x *catalog.Index, sel catalog.Selection) int {
	k, err := x.Selected(sel)
	if err != nil {
		return 0
	}
	n := 0
	for _, kp := range k.Packages {
		n += len(kp.Bundles())
	}
	return n
}
