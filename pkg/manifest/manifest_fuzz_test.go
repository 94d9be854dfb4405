package manifest

import (
	"bytes"
	"errors"
	"strings"
	"testing"
)

// FuzzRead feeds the stream reader arbitrary bytes: it never panics; an
// error is an *Error naming the stream (and, past the first byte, a
// document); every object read has its apiVersion, kind and place; and what
// EncodeYAML writes of an object reads back as that one object.
func FuzzRead(f *testing.F) {
	for _, seed := range []string{
		"",
		"apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\n",
		"apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\n---\n---\napiVersion: v1\nkind: Secret\nmetadata: {name: b}\n",
		"apiVersion: v1\nkind: List\nitems:\n- {apiVersion: v1, kind: ConfigMap, metadata: {name: a}}\n- 3\n",
		`{"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "a"}}{"apiVersion": "v1", "kind": "List", "items": []}`,
		"this: is: not: yaml\n  - [",
		"- a\n- b\n",
		"apiVersion: 1\nkind: [x]\n",
		"\xff\xfe\x00binary",
		"apiVersion: v1\nkind: ConfigMap\ndata: {a: &x [*x]}\n",
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		objs, err := Read(bytes.NewReader(data), "fuzz.yaml")
		if err != nil {
			var e *Error
			if !errors.As(err, &e) {
				t.Fatalf("error %T is not an *Error: %v", err, err)
			}
			if e.Source.File != "fuzz.yaml" || !strings.HasPrefix(err.Error(), "fuzz.yaml") {
				t.Fatalf("error does not name the stream: %v", err)
			}
			if objs != nil {
				t.Fatalf("objects returned with an error")
			}
			return
		}
		for _, o := range objs {
			if o.GetAPIVersion() == "" || o.GetKind() == "" {
				t.Fatalf("object without apiVersion or kind: %v", o.Object)
			}
			if o.Source.File != "fuzz.yaml" || o.Source.Document < 1 {
				t.Fatalf("object without its place: %+v", o.Source)
			}
			out, err := EncodeYAML(o.Unstructured)
			if err != nil {
				continue // not every value read has a YAML form (e.g. NaN); encoding says so
			}
			again, err := Read(bytes.NewReader(out), "again.yaml")
			if err != nil {
				t.Fatalf("EncodeYAML wrote what Read refuses: %v\n%s", err, out)
			}
			if len(again) != 1 || again[0].GetKind() != o.GetKind() || again[0].GetName() != o.GetName() || again[0].GetAPIVersion() != o.GetAPIVersion() {
				t.Fatalf("EncodeYAML of %s/%s read back as %d objects:\n%s", o.GetKind(), o.GetName(), len(again), out)
			}
		}
	})
}
