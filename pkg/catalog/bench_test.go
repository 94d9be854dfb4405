package catalog

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/operator-framework/operator-registry/alpha/declcfg"
	"github.com/operator-framework/operator-registry/alpha/property"
)

// writeSyntheticCatalog writes a catalog the size of Red Hat's operator
// index: packages × bundles, each channel entry skipping up to skips
// earlier bundles, each bundle carrying a CSV of csvSize bytes as its
// bundle object and three related images.
func writeSyntheticCatalog(tb testing.TB, dir string, packages, bundles, skips, csvSize int) {
	tb.Helper()
	filler := strings.Repeat("x", csvSize)
	for p := 0; p < packages; p++ {
		pkg := fmt.Sprintf("operator-%03d", p)
		if err := os.MkdirAll(filepath.Join(dir, pkg), 0o755); err != nil {
			tb.Fatal(err)
		}
		f, err := os.Create(filepath.Join(dir, pkg, "catalog.json"))
		if err != nil {
			tb.Fatal(err)
		}
		w := bufio.NewWriter(f)
		enc := json.NewEncoder(w)
		must := func(v any) {
			if err := enc.Encode(v); err != nil {
				tb.Fatal(err)
			}
		}
		must(declcfg.Package{Schema: declcfg.SchemaPackage, Name: pkg, DefaultChannel: "stable"})
		ch := declcfg.Channel{Schema: declcfg.SchemaChannel, Name: "stable", Package: pkg}
		for b := 0; b < bundles; b++ {
			name := fmt.Sprintf("%s.v1.%d.0", pkg, b)
			e := declcfg.ChannelEntry{Name: name}
			if b > 0 {
				e.Replaces = fmt.Sprintf("%s.v1.%d.0", pkg, b-1)
				e.SkipRange = fmt.Sprintf("<1.%d.0", b)
			}
			for s := 2; s <= skips && b-s >= 0; s++ {
				e.Skips = append(e.Skips, fmt.Sprintf("%s.v1.%d.0", pkg, b-s))
			}
			ch.Entries = append(ch.Entries, e)
			image := func(what string) string {
				return fmt.Sprintf("registry.example.com/%s/%s@sha256:%064x", pkg, what, p*bundles+b)
			}
			csv := fmt.Sprintf(`{"kind":"ClusterServiceVersion","metadata":{"name":%q},"spec":{"description":%q}}`, name, filler)
			must(declcfg.Bundle{
				Schema: declcfg.SchemaBundle, Name: name, Package: pkg, Image: image("bundle"),
				Properties: []property.Property{
					property.MustBuildPackage(pkg, fmt.Sprintf("1.%d.0", b)),
					property.MustBuildGVK("example.com", "v1", fmt.Sprintf("Kind%03d", p)),
					property.MustBuildBundleObject([]byte(csv)),
				},
				RelatedImages: []declcfg.RelatedImage{{Name: "operator", Image: image("operator")}, {Name: "operand", Image: image("operand")}, {Name: "bundle", Image: image("bundle")}},
			})
		}
		must(ch)
		if err := w.Flush(); err != nil {
			tb.Fatal(err)
		}
		if err := f.Close(); err != nil {
			tb.Fatal(err)
		}
	}
}

// BenchmarkFilterRedHatSizedCatalog: 200 packages of 50 bundles (10,000),
// entries with up to 100 skips, 8 KiB CSVs (about 200 MB of configs):
// scan, filter 20 packages with ranges and the rest untouched, write and
// validate the result. docs/benchmarks.md records time and peak RSS.
func BenchmarkFilterRedHatSizedCatalog(b *testing.B) {
	dir := b.TempDir()
	configs := filepath.Join(dir, "configs")
	writeSyntheticCatalog(b, configs, 200, 50, 100, 8<<10)
	sel := Selection{}
	for p := 0; p < 200; p += 10 {
		sel.Packages = append(sel.Packages, Package{Name: fmt.Sprintf("operator-%03d", p), MinVersion: "1.20.0", MaxVersion: "1.30.0"})
	}
	ctx := context.Background()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		x, err := Scan(ctx, os.DirFS(configs))
		if err != nil {
			b.Fatal(err)
		}
		k, err := x.Filter(sel, FilterOptions{IncludeDependencies: true})
		if err != nil {
			b.Fatal(err)
		}
		out := filepath.Join(dir, fmt.Sprint("out-", i))
		if err := Write(ctx, os.DirFS(configs), k, out); err != nil {
			b.Fatal(err)
		}
		if n := len(k.Packages); n != 20 {
			b.Fatalf("kept %d packages, want 20", n)
		}
		os.RemoveAll(out)
	}
}
