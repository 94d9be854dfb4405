package testenv

import (
	"bytes"
	"context"
	"fmt"
	"io/fs"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"testing"

	"github.com/operator-framework/operator-registry/alpha/declcfg"
	"github.com/operator-framework/operator-registry/alpha/property"
)

// CatalogLabel is the label that names a file-based catalog's configs
// directory in its image.
const CatalogLabel = "operators.operatorframework.io.index.configs.v1"

// CatalogPackage is one package of a test catalog.
type CatalogPackage struct {
	Name, DefaultChannel string
	Bundles              []CatalogBundle
	// Deprecated, when set, deprecates the package with this message.
	Deprecated string
}

// CatalogBundle is one bundle and its places in channels.
type CatalogBundle struct {
	// Name is the CSV name, e.g. "compliance-operator.v1.6.0"; Version its
	// semantic version.
	Name, Version string
	// Channels it is an entry of, with the same upgrade edges in each.
	Channels  []string
	Replaces  string
	Skips     []string
	SkipRange string
	// Image is the bundle image; Related the related images' pull specs.
	Image   string
	Related []string
	// Requires are olm.package.required and olm.gvk.required properties;
	// Provides the APIs it owns.
	Requires []property.Property
	Provides []property.GVK
}

// Catalog builds the declarative config of the packages with the
// operator-framework's own types: a package, its channels (entries in the
// order the bundles are listed) and its bundles, each with a small CSV as
// its bundle object, as `opm render` writes them.
func Catalog(pkgs ...CatalogPackage) declcfg.DeclarativeConfig {
	var cfg declcfg.DeclarativeConfig
	for _, p := range pkgs {
		cfg.Packages = append(cfg.Packages, declcfg.Package{Schema: declcfg.SchemaPackage, Name: p.Name, DefaultChannel: p.DefaultChannel})
		channels := map[string]*declcfg.Channel{}
		var order []string
		for _, b := range p.Bundles {
			for _, ch := range b.Channels {
				c := channels[ch]
				if c == nil {
					c = &declcfg.Channel{Schema: declcfg.SchemaChannel, Name: ch, Package: p.Name}
					channels[ch] = c
					order = append(order, ch)
				}
				c.Entries = append(c.Entries, declcfg.ChannelEntry{Name: b.Name, Replaces: b.Replaces, Skips: b.Skips, SkipRange: b.SkipRange})
			}
			props := []property.Property{property.MustBuildPackage(p.Name, b.Version)}
			for _, g := range b.Provides {
				props = append(props, property.MustBuildGVK(g.Group, g.Version, g.Kind))
			}
			props = append(props, b.Requires...)
			csv := fmt.Sprintf(`{"apiVersion":"operators.coreos.com/v1alpha1","kind":"ClusterServiceVersion","metadata":{"name":%q},"spec":{"version":%q,"displayName":%q}}`, b.Name, b.Version, p.Name)
			props = append(props, property.MustBuildBundleObject([]byte(csv)))
			related := []declcfg.RelatedImage{{Name: "bundle", Image: b.Image}}
			for i, r := range b.Related {
				related = append(related, declcfg.RelatedImage{Name: fmt.Sprintf("related-%d", i), Image: r})
			}
			cfg.Bundles = append(cfg.Bundles, declcfg.Bundle{
				Schema: declcfg.SchemaBundle, Name: b.Name, Package: p.Name, Image: b.Image,
				Properties: props, RelatedImages: related,
			})
		}
		sort.Strings(order)
		for _, ch := range order {
			cfg.Channels = append(cfg.Channels, *channels[ch])
		}
		if p.Deprecated != "" {
			cfg.Deprecations = append(cfg.Deprecations, declcfg.Deprecation{
				Schema: declcfg.SchemaDeprecation, Package: p.Name,
				Entries: []declcfg.DeprecationEntry{{Reference: declcfg.PackageScopedReference{Schema: declcfg.SchemaPackage}, Message: p.Deprecated}},
			})
		}
	}
	return cfg
}

// CatalogFiles lays cfg out as a configs directory below dir: one
// catalog.json per package, as catalogs are published.
func CatalogFiles(dir string, cfg declcfg.DeclarativeConfig) ([]File, error) {
	byPkg := map[string]*declcfg.DeclarativeConfig{}
	get := func(name string) *declcfg.DeclarativeConfig {
		if byPkg[name] == nil {
			byPkg[name] = &declcfg.DeclarativeConfig{}
		}
		return byPkg[name]
	}
	for _, p := range cfg.Packages {
		get(p.Name).Packages = append(get(p.Name).Packages, p)
	}
	for _, c := range cfg.Channels {
		get(c.Package).Channels = append(get(c.Package).Channels, c)
	}
	for _, b := range cfg.Bundles {
		get(b.Package).Bundles = append(get(b.Package).Bundles, b)
	}
	for _, d := range cfg.Deprecations {
		get(d.Package).Deprecations = append(get(d.Package).Deprecations, d)
	}
	var files []File
	for _, name := range slices.Sorted(maps.Keys(byPkg)) {
		var buf bytes.Buffer
		if err := declcfg.WriteJSON(*byPkg[name], &buf); err != nil {
			return nil, fmt.Errorf("writing package %s: %w", name, err)
		}
		files = append(files, File{Name: dir + "/" + name + "/catalog.json", Data: buf.Bytes()})
	}
	return files, nil
}

// CatalogImage is a catalog image as `opm generate dockerfile` builds one:
// a base layer holding the server, the configs in /configs, and the cache
// the real opm builds for them (`opm serve --cache-only`) in /tmp/cache,
// which the image's command makes opm check at start.
func CatalogImage(t testing.TB, cfg declcfg.DeclarativeConfig, arch string) (Image, error) {
	t.Helper()
	return BuildCatalogImage(OPM(t), t.TempDir(), cfg, arch)
}

// BuildCatalogImage is CatalogImage with the opm binary and a scratch
// directory given, for programs (the demo) that are not tests.
func BuildCatalogImage(opm, dir string, cfg declcfg.DeclarativeConfig, arch string) (Image, error) {
	files, err := CatalogFiles("configs", cfg)
	if err != nil {
		return Image{}, err
	}
	for _, f := range files {
		p := filepath.Join(dir, filepath.FromSlash(f.Name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			return Image{}, err
		}
		if err := os.WriteFile(p, f.Data, 0o644); err != nil {
			return Image{}, err
		}
	}
	cache := filepath.Join(dir, "tmp", "cache")
	if out, err := exec.Command(opm, "serve", filepath.Join(dir, "configs"), "--cache-dir="+cache, "--cache-only", "--pprof-addr=").CombinedOutput(); err != nil {
		return Image{}, fmt.Errorf("opm serve --cache-only: %w: %s", err, out)
	}
	var cacheFiles []File
	err = filepath.WalkDir(cache, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		cacheFiles = append(cacheFiles, File{Name: filepath.ToSlash(rel), Data: data})
		return nil
	})
	if err != nil {
		return Image{}, err
	}
	return Image{
		Layers: []Layer{
			{Files: []File{{Name: "bin/opm", Data: PseudoRandom("opm-"+arch, 32<<10), Mode: 0o755}}},
			{Files: files},
			{Files: cacheFiles},
		},
		Labels:       map[string]string{CatalogLabel: "/configs"},
		Entrypoint:   []string{"/bin/opm"},
		Cmd:          []string{"serve", "/configs", "--cache-dir=/tmp/cache"},
		Architecture: arch,
	}, nil
}

// IndexRepo is where PushOperatorIndex puts the index, as Red Hat names it.
const IndexRepo = "redhat/redhat-operator-index:v4.17"

// OperatorIndex is a small operator index: cincinnati-operator (the update
// service: two bundles in v1, each with operand images), local-storage-
// operator (stable with two bundles, preview with one), an operator nobody
// asks for, and an image both packages share. image pushes one image by
// name and returns its pull spec by digest.
func OperatorIndex(image func(name string) (string, error)) ([]CatalogPackage, error) {
	var err error
	img := func(name string) string {
		if err != nil {
			return ""
		}
		var ref string
		ref, err = image(name)
		return ref
	}
	pkgs := []CatalogPackage{
		{Name: "cincinnati-operator", DefaultChannel: "v1", Bundles: []CatalogBundle{
			{Name: "update-service-operator.v1.0.0", Version: "1.0.0", Channels: []string{"v1"}, Image: img("osus-bundle-100"), Related: []string{img("osus-operand-100")}},
			{Name: "update-service-operator.v1.1.0", Version: "1.1.0", Channels: []string{"v1"}, Replaces: "update-service-operator.v1.0.0", Image: img("osus-bundle-110"), Related: []string{img("osus-operand-110"), img("shared-operand")}},
		}},
		{Name: "local-storage-operator", DefaultChannel: "stable", Bundles: []CatalogBundle{
			{Name: "local-storage-operator.v4.16.0", Version: "4.16.0", Channels: []string{"stable"}, Image: img("lso-bundle-416")},
			{Name: "local-storage-operator.v4.17.0", Version: "4.17.0", Channels: []string{"stable"}, Replaces: "local-storage-operator.v4.16.0", Image: img("lso-bundle-417"), Related: []string{img("shared-operand")}},
			{Name: "local-storage-operator.v4.18.0", Version: "4.18.0", Channels: []string{"preview"}, Image: img("lso-bundle-418")},
		}},
		{Name: "unwanted-operator", DefaultChannel: "alpha", Bundles: []CatalogBundle{
			{Name: "unwanted.v0.1.0", Version: "0.1.0", Channels: []string{"alpha"}, Image: img("unwanted-bundle")},
		}},
	}
	return pkgs, err
}

// OperatorImage is the small image OperatorIndex's image function pushes
// for a name.
func OperatorImage(name string) Image {
	return Image{Layers: []Layer{{Files: []File{{Name: "f", Data: []byte(name)}}}}}
}

// PushOperatorIndex pushes OperatorIndex's images to operators/<name> and
// the index, built with opm, to IndexRepo; it returns the index's pull
// spec.
func (r *Registry) PushOperatorIndex(ctx context.Context, opm, dir string) (string, error) {
	pkgs, err := OperatorIndex(func(name string) (string, error) {
		d, err := r.PushImage(ctx, "operators/"+name+":x", OperatorImage(name))
		return r.Ref("operators/"+name) + "@" + d.String(), err
	})
	if err != nil {
		return "", err
	}
	img, err := BuildCatalogImage(opm, dir, Catalog(pkgs...), "amd64")
	if err != nil {
		return "", err
	}
	if _, err := r.PushImage(ctx, IndexRepo, img); err != nil {
		return "", err
	}
	return r.Ref(IndexRepo), nil
}
