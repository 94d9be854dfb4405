package catalog

import (
	"context"
	"errors"
	"maps"
	"os"
	"reflect"
	"slices"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/operator-framework/operator-registry/alpha/property"

	"github.com/airgap-ocp/oc-plugins/internal/testenv"
)

// sample is a small catalog shaped like the reference's examples:
// compliance-operator with a long stable channel and a second one,
// elasticsearch-operator with two channels, aws-load-balancer-operator,
// and a pair of packages where one depends on the other.
func sample() []testenv.CatalogPackage {
	img := func(n string) string {
		return "registry.example.com/operators/" + n + "@sha256:" + strings.Repeat("a", 64)
	}
	return []testenv.CatalogPackage{
		{Name: "compliance-operator", DefaultChannel: "stable", Bundles: []testenv.CatalogBundle{
			{Name: "compliance-operator.v5.5.0", Version: "5.5.0", Channels: []string{"stable", "stable-5.5"}, Image: img("co-550")},
			{Name: "compliance-operator.v5.5.1", Version: "5.5.1", Channels: []string{"stable-5.5"}, Replaces: "compliance-operator.v5.5.0", Image: img("co-551")},
			{Name: "compliance-operator.v5.6.0", Version: "5.6.0", Channels: []string{"stable"}, Replaces: "compliance-operator.v5.5.0", Image: img("co-560"), Related: []string{img("co-560-rel")}},
			{Name: "compliance-operator.v5.6.1", Version: "5.6.1", Channels: []string{"stable"}, Replaces: "compliance-operator.v5.6.0", Image: img("co-561")},
			{Name: "compliance-operator.v6.0.0", Version: "6.0.0", Channels: []string{"stable"}, Replaces: "compliance-operator.v5.6.1", Image: img("co-600")},
			{Name: "compliance-operator.v6.1.0", Version: "6.1.0", Channels: []string{"stable"}, Replaces: "compliance-operator.v6.0.0", SkipRange: "<6.1.0", Image: img("co-610")},
		}},
		{Name: "elasticsearch-operator", DefaultChannel: "stable-v5", Bundles: []testenv.CatalogBundle{
			{Name: "elasticsearch-operator.v0.1.0", Version: "0.1.0", Channels: []string{"stable-v0"}, Image: img("es-010")},
			{Name: "elasticsearch-operator.v0.2.0", Version: "0.2.0", Channels: []string{"stable-v0"}, Replaces: "elasticsearch-operator.v0.1.0", Image: img("es-020")},
			{Name: "elasticsearch-operator.v5.1.0", Version: "5.1.0", Channels: []string{"stable-v5"}, Image: img("es-510")},
			{Name: "elasticsearch-operator.v5.2.0", Version: "5.2.0", Channels: []string{"stable-v5"}, Replaces: "elasticsearch-operator.v5.1.0", Image: img("es-520")},
		}},
		{Name: "aws-load-balancer-operator", DefaultChannel: "stable-v1", Bundles: []testenv.CatalogBundle{
			{Name: "aws-load-balancer-operator.v1.0.0", Version: "1.0.0", Channels: []string{"stable-v1"}, Image: img("alb-100")},
			{Name: "aws-load-balancer-operator.v1.1.0", Version: "1.1.0", Channels: []string{"stable-v1"}, Replaces: "aws-load-balancer-operator.v1.0.0", Image: img("alb-110")},
			{Name: "aws-load-balancer-operator.v1.2.0", Version: "1.2.0", Channels: []string{"stable-v1"}, Replaces: "aws-load-balancer-operator.v1.1.0", Image: img("alb-120")},
		}},
		// A hotfix branch off the chain, skipped by the next release: a
		// range over 1.1.x keeps two heads unless the filter joins them.
		{Name: "branchy-operator", DefaultChannel: "stable", Bundles: []testenv.CatalogBundle{
			{Name: "branchy.v1.0.0", Version: "1.0.0", Channels: []string{"stable"}, Image: img("br-100")},
			{Name: "branchy.v1.1.0", Version: "1.1.0", Channels: []string{"stable"}, Replaces: "branchy.v1.0.0", Image: img("br-110")},
			{Name: "branchy.v1.1.5", Version: "1.1.5", Channels: []string{"stable"}, Replaces: "branchy.v1.0.0", Image: img("br-115")},
			{Name: "branchy.v1.2.0", Version: "1.2.0", Channels: []string{"stable"}, Replaces: "branchy.v1.1.0", Image: img("br-120")},
			{Name: "branchy.v2.0.0", Version: "2.0.0", Channels: []string{"stable"}, Replaces: "branchy.v1.2.0", Skips: []string{"branchy.v1.1.5"}, Image: img("br-200")},
		}},
		{Name: "consumer-operator", DefaultChannel: "stable", Bundles: []testenv.CatalogBundle{
			{Name: "consumer.v1.0.0", Version: "1.0.0", Channels: []string{"stable"}, Image: img("cons-100"), Requires: []property.Property{
				property.MustBuildPackageRequired("provider-operator", ">=1.0.0 <2.0.0"),
				property.MustBuildGVKRequired("widgets.example.com", "v1", "Widget"),
			}},
		}},
		{Name: "provider-operator", DefaultChannel: "stable", Bundles: []testenv.CatalogBundle{
			{Name: "provider.v1.0.0", Version: "1.0.0", Channels: []string{"stable"}, Image: img("prov-100"), Provides: []property.GVK{{Group: "widgets.example.com", Version: "v1", Kind: "Widget"}}},
			{Name: "provider.v1.5.0", Version: "1.5.0", Channels: []string{"stable"}, Replaces: "provider.v1.0.0", Image: img("prov-150"), Provides: []property.GVK{{Group: "widgets.example.com", Version: "v1", Kind: "Widget"}}},
			{Name: "provider.v2.0.0", Version: "2.0.0", Channels: []string{"candidate"}, Image: img("prov-200"), Provides: []property.GVK{{Group: "widgets.example.com", Version: "v1", Kind: "Widget"}}},
		}},
	}
}

func sampleFS(t testing.TB) fstest.MapFS {
	t.Helper()
	files, err := testenv.CatalogFiles(".", testenv.Catalog(sample()...))
	if err != nil {
		t.Fatal(err)
	}
	fsys := fstest.MapFS{}
	for _, f := range files {
		fsys[strings.TrimPrefix(f.Name, "./")] = &fstest.MapFile{Data: f.Data, Mode: 0o644}
	}
	return fsys
}

func sampleIndex(t testing.TB) *Index {
	t.Helper()
	x, err := Scan(context.Background(), sampleFS(t))
	if err != nil {
		t.Fatal(err)
	}
	return x
}

// kept flattens a result to package/channel: sorted versions.
func kept(x *Index, k *Kept) map[string][]string {
	out := map[string][]string{}
	for _, pn := range k.SortedNames() {
		kp := k.Packages[pn]
		for _, ch := range kp.SortedChannels() {
			var vs []string
			for _, b := range slices.Sorted(maps.Keys(kp.Channels[ch])) {
				vs = append(vs, x.Packages[pn].Bundles[b].Version.String())
			}
			out[pn+"/"+ch] = vs
		}
	}
	return out
}

func TestFilterScenarios(t *testing.T) {
	x := sampleIndex(t)
	co := func(p Package) Selection { p.Name = "compliance-operator"; return Selection{Packages: []Package{p}} }
	tests := []struct {
		name string
		sel  Selection
		want map[string][]string
	}{
		{"1: no package keeps the head of each default channel", Selection{}, map[string][]string{
			"aws-load-balancer-operator/stable-v1": {"1.2.0"},
			"branchy-operator/stable":              {"2.0.0"},
			"compliance-operator/stable":           {"6.1.0"},
			"consumer-operator/stable":             {"1.0.0"},
			"elasticsearch-operator/stable-v5":     {"5.2.0"},
			"provider-operator/stable":             {"1.5.0"},
		}},
		{"3: a named package keeps the head of its default channel", co(Package{}), map[string][]string{
			"compliance-operator/stable": {"6.1.0"},
		}},
		{"4: full with a named package keeps all its channels", Selection{Full: true, Packages: []Package{{Name: "elasticsearch-operator"}}}, map[string][]string{
			"elasticsearch-operator/stable-v0": {"0.1.0", "0.2.0"},
			"elasticsearch-operator/stable-v5": {"5.1.0", "5.2.0"},
		}},
		{"5: minVersion keeps the default channel from it up", co(Package{MinVersion: "5.6.1"}), map[string][]string{
			"compliance-operator/stable": {"5.6.1", "6.0.0", "6.1.0"},
		}},
		{"6: maxVersion keeps the default channel up to it", co(Package{MaxVersion: "5.6.0"}), map[string][]string{
			"compliance-operator/stable": {"5.5.0", "5.6.0"},
		}},
		{"7: both keep the default channel between them", co(Package{MinVersion: "5.6.0", MaxVersion: "6.0.0"}), map[string][]string{
			"compliance-operator/stable": {"5.6.0", "5.6.1", "6.0.0"},
		}},
		{"8: a named channel keeps its head", co(Package{Channels: []Channel{{Name: "stable"}}}), map[string][]string{
			"compliance-operator/stable": {"6.1.0"},
		}},
		{"9: full with a named channel keeps all of it", Selection{Full: true, Packages: []Package{{Name: "elasticsearch-operator", Channels: []Channel{{Name: "stable-v5"}}}}}, map[string][]string{
			"elasticsearch-operator/stable-v5": {"5.1.0", "5.2.0"},
		}},
		{"10: two named channels keep each head", co(Package{Channels: []Channel{{Name: "stable"}, {Name: "stable-5.5"}}}), map[string][]string{
			"compliance-operator/stable":     {"6.1.0"},
			"compliance-operator/stable-5.5": {"5.5.1"},
		}},
		{"11: a channel's minVersion", co(Package{Channels: []Channel{{Name: "stable", MinVersion: "6.0.0"}}}), map[string][]string{
			"compliance-operator/stable": {"6.0.0", "6.1.0"},
		}},
		{"12: a channel's maxVersion", co(Package{Channels: []Channel{{Name: "stable", MaxVersion: "5.6.1"}}}), map[string][]string{
			"compliance-operator/stable": {"5.5.0", "5.6.0", "5.6.1"},
		}},
		{"13: a channel's range", co(Package{Channels: []Channel{{Name: "stable", MinVersion: "5.6.0", MaxVersion: "5.6.1"}}}), map[string][]string{
			"compliance-operator/stable": {"5.6.0", "5.6.1"},
		}},
		{"14: named bundles only", Selection{Packages: []Package{
			{Name: "aws-load-balancer-operator", Bundles: []BundleRef{{Name: "aws-load-balancer-operator.v1.1.0"}}},
			{Name: "elasticsearch-operator", Bundles: []BundleRef{{Name: "elasticsearch-operator.v5.1.0"}}},
		}}, map[string][]string{
			"aws-load-balancer-operator/stable-v1": {"1.1.0"},
			"elasticsearch-operator/stable-v5":     {"5.1.0"},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			k, err := x.Filter(tt.sel, FilterOptions{})
			if err != nil {
				t.Fatal(err)
			}
			if got := kept(x, k); !reflect.DeepEqual(got, tt.want) {
				t.Errorf("kept %v\nwant %v", got, tt.want)
			}
		})
	}

	t.Run("2: full keeps every bundle of every channel", func(t *testing.T) {
		k, err := x.Filter(Selection{Full: true}, FilterOptions{})
		if err != nil {
			t.Fatal(err)
		}
		n := 0
		for _, vs := range kept(x, k) {
			n += len(vs)
		}
		// 22 bundles, compliance-operator.v5.5.0 in two channels.
		if n != 23 {
			t.Errorf("kept %d channel entries, want 23: %v", n, kept(x, k))
		}
	})
}

func TestFilterKeepsTheDefaultChannel(t *testing.T) {
	x := sampleIndex(t)
	sel := Selection{Packages: []Package{{Name: "compliance-operator", Channels: []Channel{{Name: "stable-5.5"}}}}}
	k, err := x.Filter(sel, FilterOptions{})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string][]string{"compliance-operator/stable": {"6.1.0"}, "compliance-operator/stable-5.5": {"5.5.1"}}
	if got := kept(x, k); !reflect.DeepEqual(got, want) {
		t.Errorf("kept %v, want %v", got, want)
	}
	if len(k.Notes) != 1 || !strings.Contains(k.Notes[0], "head of default channel stable") {
		t.Errorf("notes %q: want one saying the default channel's head was kept", k.Notes)
	}

	sel.Packages[0].DefaultChannel = "stable-5.5"
	if k, err = x.Filter(sel, FilterOptions{}); err != nil {
		t.Fatal(err)
	}
	if got := kept(x, k); len(got) != 1 || k.Packages["compliance-operator"].DefaultChannel != "stable-5.5" || len(k.Notes) != 0 {
		t.Errorf("with defaultChannel: kept %v, default %q, notes %q", got, k.Packages["compliance-operator"].DefaultChannel, k.Notes)
	}
}

func TestSelectedIsTheSelectionWithoutRepairs(t *testing.T) {
	x := sampleIndex(t)
	for _, tc := range []struct {
		name string
		sel  Selection
		want map[string][]string
	}{
		// Filter adds 1.2.0 and 2.0.0 to join the channel.
		{"a range Filter joins", Selection{Packages: []Package{{Name: "branchy-operator", MinVersion: "1.1.0", MaxVersion: "1.1.5"}}},
			map[string][]string{"branchy-operator/stable": {"1.1.0", "1.1.5"}}},
		// Filter adds the default channel's head.
		{"a channel other than the default", Selection{Packages: []Package{{Name: "compliance-operator", Channels: []Channel{{Name: "stable-5.5"}}}}},
			map[string][]string{"compliance-operator/stable-5.5": {"5.5.1"}}},
		{"named bundles", Selection{Packages: []Package{{Name: "aws-load-balancer-operator", Bundles: []BundleRef{{Name: "aws-load-balancer-operator.v1.0.0"}}}}},
			map[string][]string{"aws-load-balancer-operator/stable-v1": {"1.0.0"}}},
		{"a whole package", Selection{Full: true, Packages: []Package{{Name: "elasticsearch-operator"}}},
			map[string][]string{"elasticsearch-operator/stable-v0": {"0.1.0", "0.2.0"}, "elasticsearch-operator/stable-v5": {"5.1.0", "5.2.0"}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			k, err := x.Selected(tc.sel)
			if err != nil {
				t.Fatal(err)
			}
			if got := kept(x, k); !reflect.DeepEqual(got, tc.want) {
				t.Errorf("selected %v, want %v", got, tc.want)
			}
		})
	}
	var fe *FieldError
	if _, err := x.Selected(Selection{Packages: []Package{{Name: "no-such-operator"}}}); !errors.As(err, &fe) || fe.Field != "packages[0].name" {
		t.Errorf("an unknown package: %v, want a FieldError naming packages[0].name", err)
	}
}

func TestFilterJoinsARangeThatWouldLeaveTwoHeads(t *testing.T) {
	x := sampleIndex(t)
	sel := Selection{Packages: []Package{{Name: "branchy-operator", MinVersion: "1.1.0", MaxVersion: "1.1.5"}}}
	k, err := x.Filter(sel, FilterOptions{})
	if err != nil {
		t.Fatal(err)
	}
	// 1.1.0 and 1.1.5 alone are two heads; 2.0.0 skips 1.1.5 and reaches
	// 1.1.0 through 1.2.0.
	want := map[string][]string{"branchy-operator/stable": {"1.1.0", "1.1.5", "1.2.0", "2.0.0"}}
	if got := kept(x, k); !reflect.DeepEqual(got, want) {
		t.Errorf("kept %v, want %v", got, want)
	}
	if len(k.Notes) != 1 || !strings.Contains(k.Notes[0], "branchy.v1.2.0, branchy.v2.0.0") || !strings.Contains(k.Notes[0], "several heads") {
		t.Errorf("notes %q: want the two added bundles and why", k.Notes)
	}
	if err := checkChannel(x.Packages["branchy-operator"].Channels["stable"], k.Packages["branchy-operator"].Channels["stable"]); err != nil {
		t.Errorf("repaired channel: %v", err)
	}
}

func TestFilterDependencies(t *testing.T) {
	x := sampleIndex(t)
	sel := Selection{Packages: []Package{{Name: "consumer-operator"}}}
	k, err := x.Filter(sel, FilterOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, u := range k.Unsatisfied {
		got = append(got, u.String())
	}
	want := []string{
		"bundle consumer.v1.0.0 requires package provider-operator >=1.0.0 <2.0.0, which no kept bundle provides",
		"bundle consumer.v1.0.0 requires API widgets.example.com/v1 Widget, which no kept bundle provides",
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("unsatisfied %q\nwant %q", got, want)
	}

	k, err = x.Filter(sel, FilterOptions{IncludeDependencies: true})
	if err != nil {
		t.Fatal(err)
	}
	if len(k.Unsatisfied) != 0 {
		t.Errorf("with dependencies: still unsatisfied %v", k.Unsatisfied)
	}
	// The newest provider within >=1.0.0 <2.0.0 is 1.5.0; 2.0.0 would do
	// for the API alone, but 1.5.0 already provides it once added.
	wantKept := map[string][]string{"consumer-operator/stable": {"1.0.0"}, "provider-operator/stable": {"1.5.0"}}
	if got := kept(x, k); !reflect.DeepEqual(got, wantKept) {
		t.Errorf("kept %v, want %v", got, wantKept)
	}
	if len(k.Notes) == 0 || !strings.Contains(strings.Join(k.Notes, "\n"), "added bundle provider.v1.5.0") {
		t.Errorf("notes %q: want the added dependency named", k.Notes)
	}
}

func TestFilterRefuses(t *testing.T) {
	x := sampleIndex(t)
	tests := []struct {
		name  string
		sel   Selection
		field string
	}{
		{"15: a range on the package and on a channel", Selection{Packages: []Package{{Name: "compliance-operator", MinVersion: "5.6.0", Channels: []Channel{{Name: "stable", MaxVersion: "6.0.0"}}}}}, "packages[0].channels[0].maxVersion"},
		{"16: named bundles with channels", Selection{Packages: []Package{{Name: "compliance-operator", Channels: []Channel{{Name: "stable"}}, Bundles: []BundleRef{{Name: "compliance-operator.v6.0.0"}}}}}, "packages[0].bundles"},
		{"17: full with a channel range", Selection{Full: true, Packages: []Package{{Name: "compliance-operator", Channels: []Channel{{Name: "stable", MinVersion: "5.6.0", MaxVersion: "6.0.0"}}}}}, "packages[0].channels[0].minVersion"},
		{"full with a package range", Selection{Full: true, Packages: []Package{{Name: "compliance-operator", MaxVersion: "6.0.0"}}}, "packages[0].maxVersion"},
		{"minVersion above maxVersion", Selection{Packages: []Package{{Name: "compliance-operator", MinVersion: "7.0.0", MaxVersion: "6.0.0"}}}, "packages[0].minVersion"},
		{"not a version", Selection{Packages: []Package{{Name: "compliance-operator", MinVersion: "latest"}}}, "packages[0].minVersion"},
		{"a package the catalog lacks", Selection{Packages: []Package{{Name: "no-such-operator"}}}, "packages[0].name"},
		{"a channel the package lacks", Selection{Packages: []Package{{Name: "compliance-operator", Channels: []Channel{{Name: "fast"}}}}}, "packages[0].channels[0].name"},
		{"a bundle the package lacks", Selection{Packages: []Package{{Name: "compliance-operator", Bundles: []BundleRef{{Name: "compliance-operator.v9.9.9"}}}}}, "packages[0].bundles[0].name"},
		{"a range with no bundle in it", Selection{Packages: []Package{{Name: "compliance-operator", MinVersion: "7.0.0"}}}, "packages[0].minVersion"},
		{"a package named twice", Selection{Packages: []Package{{Name: "compliance-operator"}, {Name: "compliance-operator"}}}, "packages[1].name"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := x.Filter(tt.sel, FilterOptions{})
			var fe *FieldError
			if !errors.As(err, &fe) || fe.Field != tt.field {
				t.Fatalf("error %v: want a FieldError at %s", err, tt.field)
			}
		})
	}
}

func TestWriteKeepsOnlyWhatWasKept(t *testing.T) {
	x := sampleIndex(t)
	sel := Selection{Packages: []Package{
		{Name: "branchy-operator", MinVersion: "1.1.0", MaxVersion: "1.1.5"},
		{Name: "compliance-operator", Channels: []Channel{{Name: "stable-5.5"}}, DefaultChannel: "stable-5.5"},
	}}
	k, err := x.Filter(sel, FilterOptions{})
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	if err := Write(context.Background(), sampleFS(t), k, dir); err != nil {
		t.Fatal(err)
	}
	got, err := Scan(context.Background(), os.DirFS(dir))
	if err != nil {
		t.Fatal(err)
	}
	if names := got.SortedNames(); !reflect.DeepEqual(names, []string{"branchy-operator", "compliance-operator"}) {
		t.Errorf("packages %v", names)
	}
	co := got.Packages["compliance-operator"]
	if co.DefaultChannel != "stable-5.5" || len(co.Channels) != 1 || len(co.Bundles) != 1 || co.Bundles["compliance-operator.v5.5.1"] == nil {
		t.Errorf("compliance-operator: default %q, channels %v, bundles %v", co.DefaultChannel, co.Channels, slices.Sorted(maps.Keys(co.Bundles)))
	}
	if n := len(got.Packages["branchy-operator"].Bundles); n != 4 {
		t.Errorf("branchy-operator: %d bundles, want 4", n)
	}
}
