package catalog

import (
	"context"
	"encoding/json"
	"fmt"
	"io/fs"
	"sort"
	"sync"

	"github.com/blang/semver/v4"
	"github.com/operator-framework/operator-registry/alpha/declcfg"
	"github.com/operator-framework/operator-registry/alpha/property"
)

// Index is what filtering needs of a catalog and nothing more: packages,
// channel entries, and per bundle its version, images and dependency
// properties. Bundle objects (CSVs, CRDs), which are most of a catalog's
// bytes, are read once and dropped, so memory follows the number of
// bundles, not the catalog's size.
type Index struct {
	Packages map[string]*PackageIndex
}

// PackageIndex is one package of an Index.
type PackageIndex struct {
	Name           string
	DefaultChannel string
	// Channels holds each channel's entries as the catalog lists them.
	Channels map[string][]declcfg.ChannelEntry
	Bundles  map[string]*BundleInfo
}

// BundleInfo is what the Index keeps of a bundle.
type BundleInfo struct {
	Name, Package string
	Version       semver.Version
	// Image is the bundle image; Related its relatedImages' images.
	Image   string
	Related []string
	// Provides are its olm.gvk properties; Requires its olm.package.required
	// and olm.gvk.required ones.
	Provides []property.GVK
	Requires []Requirement
}

// Requirement is one dependency of a bundle: a package in a version range,
// or an API (group, version, kind).
type Requirement struct {
	Package      string
	VersionRange string
	GVK          *property.GVK
}

func (r Requirement) String() string {
	if r.GVK != nil {
		return fmt.Sprintf("API %s/%s %s", r.GVK.Group, r.GVK.Version, r.GVK.Kind)
	}
	return fmt.Sprintf("package %s %s", r.Package, r.VersionRange)
}

// SortedNames returns the package names in order.
func (x *Index) SortedNames() []string {
	names := make([]string, 0, len(x.Packages))
	for n := range x.Packages {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// bundleMeta is the part of an olm.bundle blob the Index reads.
type bundleMeta struct {
	Name          string `json:"name"`
	Package       string `json:"package"`
	Image         string `json:"image"`
	Properties    []property.Property
	RelatedImages []declcfg.RelatedImage `json:"relatedImages"`
}

// Scan reads the catalog at root (a configs directory) into an Index with
// the operator-framework's own meta walker. A document it cannot read is
// an error naming its file.
func Scan(ctx context.Context, root fs.FS) (*Index, error) {
	x := &Index{Packages: map[string]*PackageIndex{}}
	var mu sync.Mutex
	pkg := func(name string) *PackageIndex {
		p := x.Packages[name]
		if p == nil {
			p = &PackageIndex{Name: name, Channels: map[string][]declcfg.ChannelEntry{}, Bundles: map[string]*BundleInfo{}}
			x.Packages[name] = p
		}
		return p
	}
	err := declcfg.WalkMetasFS(ctx, root, func(path string, m *declcfg.Meta, err error) error {
		if err != nil {
			return fmt.Errorf("%s: %w", path, err)
		}
		switch m.Schema {
		case declcfg.SchemaPackage:
			var p declcfg.Package
			if err := json.Unmarshal(m.Blob, &p); err != nil {
				return fmt.Errorf("%s: package %q: %w", path, m.Name, err)
			}
			mu.Lock()
			defer mu.Unlock()
			pkg(p.Name).DefaultChannel = p.DefaultChannel
		case declcfg.SchemaChannel:
			var c declcfg.Channel
			if err := json.Unmarshal(m.Blob, &c); err != nil {
				return fmt.Errorf("%s: channel %q of %q: %w", path, m.Name, m.Package, err)
			}
			mu.Lock()
			defer mu.Unlock()
			pkg(c.Package).Channels[c.Name] = c.Entries
		case declcfg.SchemaBundle:
			b, err := readBundle(m.Blob)
			if err != nil {
				return fmt.Errorf("%s: bundle %q of %q: %w", path, m.Name, m.Package, err)
			}
			mu.Lock()
			defer mu.Unlock()
			pkg(b.Package).Bundles[b.Name] = b
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	if len(x.Packages) == 0 {
		return nil, fmt.Errorf("no olm.package in the catalog")
	}
	return x, nil
}

func readBundle(blob []byte) (*BundleInfo, error) {
	var m bundleMeta
	if err := json.Unmarshal(blob, &m); err != nil {
		return nil, err
	}
	b := &BundleInfo{Name: m.Name, Package: m.Package, Image: m.Image}
	for _, r := range m.RelatedImages {
		if r.Image != "" {
			b.Related = append(b.Related, r.Image)
		}
	}
	haveVersion := false
	for _, p := range m.Properties {
		switch p.Type {
		case property.TypePackage:
			var v property.Package
			if err := json.Unmarshal(p.Value, &v); err != nil {
				return nil, fmt.Errorf("%s property: %w", p.Type, err)
			}
			ver, err := semver.Parse(v.Version)
			if err != nil {
				return nil, fmt.Errorf("%s property: version %q: %w", p.Type, v.Version, err)
			}
			b.Version, haveVersion = ver, true
		case property.TypeGVK:
			var v property.GVK
			if err := json.Unmarshal(p.Value, &v); err != nil {
				return nil, fmt.Errorf("%s property: %w", p.Type, err)
			}
			b.Provides = append(b.Provides, v)
		case property.TypePackageRequired:
			var v property.PackageRequired
			if err := json.Unmarshal(p.Value, &v); err != nil {
				return nil, fmt.Errorf("%s property: %w", p.Type, err)
			}
			b.Requires = append(b.Requires, Requirement{Package: v.PackageName, VersionRange: v.VersionRange})
		case property.TypeGVKRequired:
			var v property.GVKRequired
			if err := json.Unmarshal(p.Value, &v); err != nil {
				return nil, fmt.Errorf("%s property: %w", p.Type, err)
			}
			b.Requires = append(b.Requires, Requirement{GVK: &property.GVK{Group: v.Group, Version: v.Version, Kind: v.Kind}})
		}
	}
	if !haveVersion {
		return nil, fmt.Errorf("no %s property with its version", property.TypePackage)
	}
	return b, nil
}
