package mirrorlite

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/containers/image/v5/docker/reference"
	"github.com/containers/image/v5/types"
	digest "github.com/opencontainers/go-digest"
	"github.com/spf13/pflag"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/airgap-ocp/oc-plugins/pkg/catalog"
	"github.com/airgap-ocp/oc-plugins/pkg/cli"
	"github.com/airgap-ocp/oc-plugins/pkg/imageset"
	"github.com/airgap-ocp/oc-plugins/pkg/mirror"
	"github.com/airgap-ocp/oc-plugins/pkg/plan"
)

// The catalog side of the one path: each catalog is read and filtered
// before the plan is run, so its bundles and their images are plan items
// like any other; once they are copied, the catalog is rebuilt without any
// bundle whose images failed and pushed in a second run of the engine.

// catalogJob is one catalog to mirror.
type catalogJob struct {
	// Name is the catalog as given; Field where (for errors).
	Name, Field string
	// Path and Tag place the catalog below the destination ("": the
	// source's path and tag).
	Path, Tag string
	Sel       catalog.Selection
	// where says a selection error for people: the flag or file field.
	where func(*catalog.FieldError) string

	// blocks, when set, says which images mirror.blockedImages leaves out.
	blocks func(plan.Item) bool
	// from, when set, is the catalog's copy in an archive, and archived
	// holds the archive's images by digest: an enclave filters the
	// archived catalog again, and every image it keeps must be there.
	from     types.ImageReference
	archived map[digest.Digest]plan.Item

	img     *catalog.Image
	index   *catalog.Index
	kept    *catalog.Kept
	configs string
	work    string
	// blocked are the sources of the images left out by blocks.
	blocked map[string]bool
}

// origin names the catalog and the digest it was read at, which the
// items (and so an archive's index) record.
func (j *catalogJob) origin() string {
	return fmt.Sprintf("catalog %s (%s)", j.Name, j.img.Digest)
}

// bad is err as bad input, after the field that named the catalog.
func (j *catalogJob) bad(err error) error {
	if j.Field == "" {
		return cli.BadInput(err)
	}
	return cli.BadInputf("%s: %w", j.Field, err)
}

// filtered says whether the catalog changes at all: full with no package
// named ships the image its publisher signed.
func (j *catalogJob) filtered() bool { return !j.Sel.Full || len(j.Sel.Packages) > 0 }

// CatalogFlags are the flags about catalogs that every command taking them shares.
type CatalogFlags struct {
	IncludeDependencies   bool
	SourceName            string
	DefaultNames          bool
	DisableDefaultSources bool
}

func (f *CatalogFlags) addFlags(fs *pflag.FlagSet) {
	fs.BoolVar(&f.IncludeDependencies, "include-dependencies", false, "Add, for each dependency (olm.package.required, olm.gvk.required) no kept bundle satisfies, the newest bundle of the catalog that does, recursively")
	fs.StringVar(&f.SourceName, "catalog-source-name", "", "Name of the printed CatalogSource and ClusterCatalog (default: cs-<catalog>-<tag>)")
	fs.BoolVar(&f.DefaultNames, "default-catalog-names", false, "Name the CatalogSource of Red Hat's indexes as OpenShift does (redhat-operators, certified-operators, ...), for operators and runbooks that refer to those names")
	fs.BoolVar(&f.DisableDefaultSources, "disable-default-sources", false, "Also print the OperatorHub change that disables the default catalog sources, which a disconnected cluster cannot reach")
}

// planCatalogs reads and filters each catalog and adds what it keeps to p.
// It works in a temporary directory, and on the catalog copies of
// --cache-dir, which cleanup removes and lets go of.
func (o *Options) planCatalogs(ctx context.Context, p *plan.Plan) (cleanup func(), err error) {
	cleanup = func() {}
	if len(o.catalogs) == 0 {
		return cleanup, nil
	}
	work, err := os.MkdirTemp("", "oc-mirror-lite-catalogs-")
	if err != nil {
		return cleanup, cli.Failed(err)
	}
	var releases []func()
	cleanup = func() {
		for _, release := range releases {
			release()
		}
		os.RemoveAll(work)
	}
	for i, j := range o.catalogs {
		j.work = filepath.Join(work, fmt.Sprint(i))
		if err := os.MkdirAll(j.work, 0o755); err != nil {
			return cleanup, cli.Failed(err)
		}
		var cp *catalog.Copy
		if j.from != nil {
			cp, err = catalog.OpenFrom(ctx, j.Name, j.from, j.work, o.retry)
		} else {
			cp, err = catalog.Cache{Dir: o.cacheDir("catalogs"), MaxAge: catalog.DefaultCacheMaxAge}.Open(ctx, j.Name, o.srcCtx, j.work, o.retry)
		}
		if err != nil {
			if catalog.IsBadCatalog(err) {
				return cleanup, j.bad(err)
			}
			return cleanup, cli.Failed(err)
		}
		releases = append(releases, cp.Release)
		j.img, j.configs = cp.Image, cp.Configs
		if j.index, err = catalog.Scan(ctx, os.DirFS(j.configs)); err != nil {
			return cleanup, j.bad(fmt.Errorf("catalog %s: %w", j.Name, err))
		}
		j.kept, err = j.index.Filter(j.Sel, catalog.FilterOptions{IncludeDependencies: o.Catalog.IncludeDependencies})
		var fe *catalog.FieldError
		switch {
		case errors.As(err, &fe):
			return cleanup, cli.BadInputf("%s", j.where(fe))
		case err != nil:
			return cleanup, j.bad(fmt.Errorf("catalog %s: %w", j.Name, err))
		}
		bundles := 0
		for _, kp := range j.kept.Packages {
			bundles += len(kp.Bundles())
		}
		o.info("catalog %s (%s): keeping %d of %d packages, %d bundles", j.Name, j.img.Digest, len(j.kept.Packages), len(j.index.Packages), bundles)
		if j.filtered() {
			o.info("note: the filtered catalog is a new image, no longer the one its publisher signed; set full: true and name no package to mirror it unchanged")
		}
		for _, n := range j.kept.Notes {
			o.info("catalog %s: %s", j.Name, n)
		}
		for _, u := range j.kept.Unsatisfied {
			o.info("warning: catalog %s: %s (--include-dependencies adds it)", j.Name, u)
		}
		if o.DryRun {
			for _, line := range j.kept.Describe() {
				o.info("# keep %s", line)
			}
		}
		items, err := j.index.Items(j.kept, j.origin())
		if err != nil {
			return cleanup, cli.BadInput(err)
		}
		j.blocked = map[string]bool{}
		var blocked []plan.Item
		for _, it := range items {
			if j.blocks != nil && j.blocks(it) {
				j.blocked[it.Source] = true
				blocked = append(blocked, it)
				continue
			}
			if j.archived != nil {
				a, ok := j.archived[it.Digest]
				if !ok {
					return cleanup, j.bad(fmt.Errorf("catalog %s lists %s, which the archive does not hold", j.Name, it.Source))
				}
				it = a
			}
			if err := p.Add(it); err != nil {
				return cleanup, cli.BadInput(err)
			}
		}
		o.reportBlocked(blocked)
	}
	return cleanup, nil
}

// archivedCatalogs are the catalogs -c names, read from the archive that
// holds archived: each must be there, and lands where the archive says
// unless -c places it.
func archivedCatalogs(c *imageset.Config, archived *plan.Plan, dr *mirror.DiskReader) ([]*catalogJob, error) {
	jobs := configCatalogs(c)
	images := map[digest.Digest]plan.Item{}
	for _, it := range archived.Items {
		if it.Digest != "" && it.Kind != plan.Catalog {
			images[it.Digest] = it
		}
	}
	for _, j := range jobs {
		want := normalized(strings.TrimPrefix(j.Name, "docker://"))
		i := slices.IndexFunc(archived.Items, func(it plan.Item) bool {
			return it.Kind == plan.Catalog && (it.Source == want || it.Source == j.Name)
		})
		if i < 0 {
			return nil, cli.BadInputf("%s.catalog: the archive holds no catalog %s", j.Field, j.Name)
		}
		at := archived.Items[i]
		var err error
		if j.from, err = dr.SourceRef(at); err != nil {
			return nil, cli.BadInputf("%s.catalog: %w", j.Field, err)
		}
		j.archived = images
		if j.Path == "" {
			j.Path = at.Path
		}
		if j.Tag == "" {
			j.Tag = at.Tag
		}
	}
	return jobs, nil
}

// item is where j's catalog goes: below its source's path and tag, or
// for an oci:// catalog its directory's name, unless told otherwise.
func (j *catalogJob) item() (plan.Item, error) {
	it, err := plan.ImageItem(strings.TrimPrefix(j.img.Source, "docker://"), plan.Catalog, j.origin())
	if err != nil {
		it = plan.Item{Source: j.Name, Kind: plan.Catalog, Origin: j.origin()}
	}
	it.ByTag, it.Digest = false, ""
	it.Path, it.Tag = catalog.Placement(j.Name, j.Path, j.Tag)
	return it, nil
}

// mirrorCatalogs runs after the plan's images: each catalog loses the
// bundles whose images failed, is rebuilt and is pushed; the items and
// results join p and rep. A dry run only says where each would go.
func (o *Options) mirrorCatalogs(ctx context.Context, p *plan.Plan, rep *mirror.Report, dst mirror.Target, opts mirror.Options) error {
	if len(o.catalogs) == 0 || ctx.Err() != nil {
		return nil
	}
	failed := map[string]error{}
	for _, r := range rep.Failed() {
		failed[r.Item.Source] = r.Err
	}
	q := &plan.Plan{}
	src := rebuiltSource{refs: map[string]types.ImageReference{}}
	for _, j := range o.catalogs {
		it, err := j.item()
		if err != nil {
			return cli.BadInput(err)
		}
		gone := map[string]bool{}
		for bundle, images := range j.index.BundleImages(j.kept) {
			for _, img := range images {
				why := ""
				switch {
				case j.blocked[normalized(img)]:
					why = "is blocked by mirror.blockedImages"
				case failed[normalized(img)] != nil:
					why = "could not be copied"
				default:
					continue
				}
				o.info("catalog %s: left out bundle %s: its image %s %s", j.Name, bundle, img, why)
				gone[bundle] = true
				break
			}
		}
		if o.DryRun {
			// The rebuilt catalog is no image at any source, so it has no
			// line in the mapping; it is said here instead.
			dest, err := dst.DestRef(it)
			if err != nil {
				return cli.BadInput(err)
			}
			o.info("# dry run: catalog %s would be rebuilt with what it keeps and pushed to %s", j.Name, strings.TrimPrefix(dest.StringWithinTransport(), "//"))
			continue
		}
		var ref types.ImageReference
		switch {
		case !j.filtered() && len(gone) == 0:
			ref, err = j.img.SourceRef()
			it.Digest = j.img.Digest
		default:
			ref, it.Digest, err = o.rebuild(ctx, j, j.kept.Without(gone))
		}
		if err != nil {
			return err
		}
		if ref == nil {
			continue
		}
		src.refs[it.Source] = ref
		if err := q.Add(it); err != nil {
			return cli.BadInput(err)
		}
	}
	if len(q.Items) == 0 {
		return nil
	}
	opts.SigstoreAttachments = false // a rebuilt catalog has no signature
	opts.DryRunChecksDest = false
	crep, err := mirror.Mirror(ctx, q, src, dst, opts)
	if err != nil {
		return cli.BadInput(err)
	}
	p.Items = append(p.Items, q.Items...)
	rep.Add(crep)
	return nil
}

// rebuild writes what kept holds and rebuilds j's image around it; a
// catalog left with nothing is not pushed (nil reference).
func (o *Options) rebuild(ctx context.Context, j *catalogJob, kept *catalog.Kept) (types.ImageReference, digest.Digest, error) {
	if len(kept.Packages) == 0 {
		o.info("catalog %s: not pushed: none of its bundles could be copied", j.Name)
		return nil, "", nil
	}
	dir := filepath.Join(j.work, "filtered")
	if err := os.RemoveAll(dir); err != nil {
		return nil, "", cli.Failed(err)
	}
	if err := catalog.Write(ctx, os.DirFS(j.configs), kept, dir); err != nil {
		return nil, "", cli.Failed(fmt.Errorf("catalog %s: %w", j.Name, err))
	}
	d, ref, err := j.img.Rebuild(ctx, dir)
	if err != nil {
		return nil, "", cli.Failed(fmt.Errorf("catalog %s: %w", j.Name, err))
	}
	o.info("catalog %s: rebuilt as %s", j.Name, d)
	return ref, d, nil
}

// normalized is a pull spec as plan items spell their sources.
func normalized(s string) string {
	if named, err := reference.ParseNormalizedNamed(s); err == nil {
		return reference.TagNameOnly(named).String()
	}
	return s
}

// rebuiltSource reads catalog items from their local layouts.
type rebuiltSource struct {
	refs map[string]types.ImageReference
}

func (s rebuiltSource) SourceRef(it plan.Item) (types.ImageReference, error) {
	if ref, ok := s.refs[it.Source]; ok {
		return ref, nil
	}
	return nil, fmt.Errorf("no rebuilt catalog for %s", it.Source)
}

// catalogObjects are the CatalogSource and ClusterCatalog of every catalog
// the report holds, by mirror digest, and with --disable-default-sources
// the OperatorHub change.
func (o *Options) catalogObjects(rep *mirror.Report, root string) ([]*unstructured.Unstructured, error) {
	var out []*unstructured.Unstructured
	for _, r := range rep.Items {
		if r.Item.Kind != plan.Catalog || r.Status == mirror.StatusFailed || r.Item.Digest == "" {
			continue
		}
		repo, err := plan.NestPaths(r.Item.Repo(root), o.MaxNestedPaths)
		if err != nil {
			return nil, err
		}
		name := o.Catalog.SourceName
		if name == "" {
			name = catalog.SourceName(r.Item.Source, o.Catalog.DefaultNames)
		}
		objs, err := catalog.Objects(name, repo+"@"+r.Item.Digest.String())
		if err != nil {
			return nil, err
		}
		out = append(out, objs...)
	}
	if o.Catalog.DisableDefaultSources && len(out) > 0 {
		hub, err := catalog.DisableDefaultSources()
		if err != nil {
			return nil, err
		}
		out = append(out, hub)
	}
	return out, nil
}
