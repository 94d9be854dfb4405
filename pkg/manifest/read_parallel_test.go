package manifest

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"reflect"
	"strings"
	"testing"
)

// Reading a YAML stream's documents in parallel must give what reading them one by one with
// apimachinery's decoder gives: the same objects from the same places, or the same first
// error, at the same document.
func TestReadInParallelEqualsReadingDocumentByDocument(t *testing.T) {
	fragments := []string{
		"apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\ndata: {k: v}\n",
		"apiVersion: v1\nkind: Secret\nmetadata:\n  name: b\n  namespace: x\n",
		"apiVersion: v1\nkind: List\nitems:\n- {apiVersion: v1, kind: ConfigMap, metadata: {name: c}}\n- {apiVersion: v1, kind: ConfigMap, metadata: {name: d}}\n",
		"apiVersion: v1\nkind: List\nitems:\n- 3\n", // an item that is not an object
		"# only a comment\n",                     // an empty document
		"",                                       // nothing between separators
		"this: is: not: yaml\n  - [\n",           // not YAML
		"- a\n- b\n",                             // not an object
		"kind: ConfigMap\nmetadata: {name: e}\n", // no apiVersion
		"{\"apiVersion\": \"v1\", \"kind\": \"ConfigMap\", \"metadata\": {\"name\": \"f\"}}\n", // JSON inside YAML
		"apiVersion: v1\nkind: ConfigMap\nmetadata: {name: g}\ndata: {n: 12345678901234}\n",
	}
	separators := []string{"---\n", "--- # comment\n", "---\n\n", "--- not allowed\n"}
	rng := rand.New(rand.NewPCG(1, 2))
	var streams []string
	for range 2000 {
		var b strings.Builder
		for i := range 1 + rng.IntN(8) {
			if i > 0 || rng.IntN(3) == 0 {
				sep := separators[rng.IntN(len(separators)-1)]
				if rng.IntN(20) == 0 {
					sep = separators[len(separators)-1]
				}
				b.WriteString(sep)
			}
			frag := fragments[rng.IntN(len(fragments))]
			if rng.IntN(3) > 0 { // mostly valid documents, so that errors come late as well as early
				frag = fragments[rng.IntN(2)]
			}
			b.WriteString(frag)
		}
		streams = append(streams, b.String())
	}
	big, _ := stream(1 << 20)
	streams = append(streams, string(big), string(big[:len(big)/2]))

	failed := 0
	for i, s := range streams {
		got, gotErr := Read(strings.NewReader(s), "s.yaml")
		want, wantErr := readSequential(strings.NewReader(s), "s.yaml")
		if fmt.Sprint(gotErr) != fmt.Sprint(wantErr) {
			t.Fatalf("stream %d: error %v, one by one %v\n%s", i, gotErr, wantErr, s)
		}
		if gotErr != nil {
			failed++
			continue
		}
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("stream %d: %d objects, one by one %d, or they differ\n%s", i, len(got), len(want), s)
		}
	}
	if failed == 0 || failed == len(streams) {
		t.Errorf("%d of %d streams failed: the generator no longer covers both outcomes", failed, len(streams))
	}
}

func TestReadJSONStreamStaysSequential(t *testing.T) {
	s := `{"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "a"}}{"apiVersion": "v1", "kind": "List", "items": [{"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "b"}}]}`
	got, err := Read(bytes.NewReader([]byte(s)), "s.json")
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got[1].GetKind() != "Secret" || got[1].Source.Document != 2 || got[1].Source.Item != 1 {
		t.Fatalf("read %d objects: %+v", len(got), got)
	}
}
