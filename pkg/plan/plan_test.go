package plan

import (
	"strings"
	"testing"
)

func TestAddMergesDuplicatesAndRefusesTwoSourcesForOneTag(t *testing.T) {
	p := &Plan{}
	a := Item{Source: "quay.io/a:1", Path: "m/a", Tag: "1", Origin: "argument 1"}
	if err := p.Add(a, Item{Source: "quay.io/b:1", Path: "m/b", Tag: "1"}); err != nil {
		t.Fatal(err)
	}
	again := a
	again.Origin = "mapping.txt line 4"
	if err := p.Add(again); err != nil {
		t.Fatal(err)
	}
	if len(p.Items) != 2 || len(p.Merged) != 1 || !strings.Contains(p.Items[0].Origin, "mapping.txt line 4") {
		t.Errorf("items %+v, merged %v; want the duplicate merged into the first, with both origins, and said", p.Items, p.Merged)
	}
	err := p.Add(Item{Source: "quay.io/other:1", Path: "m/a", Tag: "1", Origin: "argument 3"})
	if err == nil || !strings.Contains(err.Error(), "m/a:1") || !strings.Contains(err.Error(), "quay.io/other:1") {
		t.Errorf("two sources for m/a:1: %v, want an error naming both", err)
	}
}

func TestFromMappingsPlacesAsOcImageMirror(t *testing.T) {
	d := "sha256:" + strings.Repeat("a", 64)
	maps := []Mapping{
		{Source: "quay.io/a/b:1", Dest: "m.example.com/x/b"},
		{Source: "quay.io/a/c@" + d, Dest: "m.example.com/x/c"},
		{Source: "quay.io/a/d", Dest: "m.example.com/x/d:v2", File: "mapping.txt", Line: 7},
	}
	p, err := FromMappings(maps, true, nil)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"m.example.com/x/b:1", "m.example.com/x/c", "m.example.com/x/d:v2"}
	for i, it := range p.Items {
		if got, _ := it.Dest("", 0); got != want[i] {
			t.Errorf("item %d goes to %s, want %s", i, got, want[i])
		}
	}
	if !p.Items[0].ByTag || p.Items[1].ByTag || p.Items[1].Digest.String() != d || p.Items[2].Source != "quay.io/a/d:latest" {
		t.Errorf("items %+v", p.Items)
	}
	if p.Items[2].Origin != "mapping.txt line 7" || p.Items[0].Origin != "argument 1" {
		t.Errorf("origins %q, %q", p.Items[0].Origin, p.Items[2].Origin)
	}
	disk, err := FromMappings(maps, false, nil)
	if err != nil {
		t.Fatal(err)
	}
	if got, _ := disk.Items[0].Dest("enclave.example.com/root", 0); got != "enclave.example.com/root/x/b:1" {
		t.Errorf("to disk, the destination's registry is left for the far side: %s", got)
	}
}
