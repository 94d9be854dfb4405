package manifest

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

// names renders what was read as "kind/name@source" lines, the facts a caller uses.
func names(objs []Object) []string {
	var out []string
	for _, o := range objs {
		out = append(out, o.GetKind()+"/"+o.GetName()+"@"+o.Source.String())
	}
	return out
}

func TestRead(t *testing.T) {
	tests := []struct {
		name  string
		input string
		want  []string
	}{
		{
			name:  "multi-document YAML keeps order and document numbers",
			input: "kind: A\napiVersion: v1\nmetadata: {name: a}\n---\nkind: B\napiVersion: v1\nmetadata: {name: b}\n",
			want:  []string{"A/a@in.yaml: document 1", "B/b@in.yaml: document 2"},
		},
		{
			name:  "empty documents and comments are skipped but counted",
			input: "---\n# only a comment\n---\nkind: A\napiVersion: v1\nmetadata: {name: a}\n---\n---\n",
			want:  []string{"A/a@in.yaml: document 2"},
		},
		{
			name: "a v1 List as oc get -o yaml prints it is expanded into its items",
			input: `apiVersion: v1
kind: List
metadata:
  resourceVersion: ""
items:
- apiVersion: operator.openshift.io/v1alpha1
  kind: ImageContentSourcePolicy
  metadata: {name: one}
- apiVersion: operator.openshift.io/v1alpha1
  kind: ImageContentSourcePolicy
  metadata: {name: two}
---
apiVersion: v1
kind: ConfigMap
metadata: {name: after}
`,
			want: []string{
				"ImageContentSourcePolicy/one@in.yaml: document 1, item 1",
				"ImageContentSourcePolicy/two@in.yaml: document 1, item 2",
				"ConfigMap/after@in.yaml: document 2",
			},
		},
		{
			name:  "a JSON stream of several objects",
			input: `{"apiVersion":"v1","kind":"A","metadata":{"name":"a"}} {"apiVersion":"v1","kind":"B","metadata":{"name":"b"}}`,
			want:  []string{"A/a@in.yaml: document 1", "B/b@in.yaml: document 2"},
		},
		{
			name:  "one JSON object, then YAML",
			input: "{\"apiVersion\":\"v1\",\"kind\":\"A\",\"metadata\":{\"name\":\"a\"}}\n---\napiVersion: v1\nkind: B\nmetadata: {name: b}\n",
			want:  []string{"A/a@in.yaml: document 1", "B/b@in.yaml: document 2"},
		},
		{
			name:  "an empty stream has no objects",
			input: "",
			want:  nil,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			objs, err := Read(strings.NewReader(tt.input), "in.yaml")
			if err != nil {
				t.Fatalf("Read: %v", err)
			}
			got := names(objs)
			if strings.Join(got, "\n") != strings.Join(tt.want, "\n") {
				t.Errorf("got\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(tt.want, "\n"))
			}
		})
	}
}

func TestReadKeepsNumbersAsIntegers(t *testing.T) {
	objs, err := Read(strings.NewReader("apiVersion: v1\nkind: A\nspec: {replicas: 3, ratio: 0.5}\n"), "in")
	if err != nil {
		t.Fatal(err)
	}
	if v, _, _ := unstructured.NestedFieldNoCopy(objs[0].Object, "spec", "replicas"); v != int64(3) {
		t.Errorf("replicas = %#v, want int64(3)", v)
	}
	// DeepCopy panics on types that are not JSON-compatible; it must not.
	_ = objs[0].DeepCopy()
}

func TestReadErrorsNameTheDocumentAndField(t *testing.T) {
	tests := []struct {
		name  string
		input string
		want  string
	}{
		{"missing kind", "apiVersion: v1\nkind: A\n---\napiVersion: v1\nmetadata: {name: x}\n", "in.yaml: document 2: kind: required field is missing"},
		{"empty apiVersion", "apiVersion: \"\"\nkind: A\n", "in.yaml: document 1: apiVersion: must be a non-empty string"},
		{"not YAML", "kind: A\napiVersion: v1\n---\nkind: [unclosed\n", "in.yaml: document 2: not valid YAML or JSON"},
		{"a scalar document", "just a string\n", "in.yaml: document 1: not an object"},
		{"a List item without kind", "apiVersion: v1\nkind: List\nitems:\n- apiVersion: v1\n  kind: A\n- apiVersion: v1\n", "in.yaml: document 1, item 2: kind: required field is missing"},
		{"a List item that is not an object", "apiVersion: v1\nkind: List\nitems:\n- 3\n", "in.yaml: document 1, item 1: not an object"},
		{"a key given twice in YAML", "apiVersion: v1\nkind: A\n---\napiVersion: v1\nkind: A\nmetadata: {name: first, name: second}\n",
			`in.yaml: document 2: a key is given twice: line 3: key "name" already set in map`},
		{"a key given twice in a YAML List item", "apiVersion: v1\nkind: List\nitems:\n- apiVersion: v1\n  kind: A\n  spec:\n    source: a\n    source: b\n",
			`in.yaml: document 1: a key is given twice: line 8: key "source" already set in map`},
		{"a key given twice in JSON", `{"apiVersion":"v1","kind":"A"} {"apiVersion":"v1","kind":"A","metadata":{"name":"first","name":"second"}}`,
			`in.yaml: document 2: a key is given twice: duplicate field "metadata.name"`},
		{"a top-level key given twice in JSON", `{"apiVersion":"v1","kind":"A","kind":"B"}`,
			`in.yaml: document 1: a key is given twice: duplicate field "kind"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Read(strings.NewReader(tt.input), "in.yaml")
			if err == nil {
				t.Fatal("no error")
			}
			var me *Error
			if !errors.As(err, &me) {
				t.Fatalf("error %v is not a *manifest.Error", err)
			}
			if !strings.HasPrefix(err.Error(), tt.want) {
				t.Errorf("error %q does not start with %q", err, tt.want)
			}
			if strings.Contains(err.Error(), "\n") {
				t.Errorf("error is not one line: %q", err)
			}
		})
	}
}

func TestReadFiles(t *testing.T) {
	dir := t.TempDir()
	write := func(name, content string) string {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	obj := func(kind string) string { return "apiVersion: v1\nkind: " + kind + "\nmetadata: {name: x}\n" }
	write("b.yaml", obj("B"))
	write("a.json", `{"apiVersion":"v1","kind":"A","metadata":{"name":"x"}}`)
	write("notes.txt", "not read")
	write("sub/c.yml", obj("C"))
	single := write("single.yaml", obj("S"))
	stdin := strings.NewReader(obj("In"))

	objs, err := ReadFiles([]string{single, "-", dir}, stdin, ReadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var kinds []string
	for _, o := range objs {
		kinds = append(kinds, o.GetKind())
	}
	// The directory is read in lexical order, top level only, .txt ignored,
	// and single.yaml is read again as part of it.
	if got, want := strings.Join(kinds, ","), "S,In,A,B,S"; got != want {
		t.Errorf("kinds %s, want %s", got, want)
	}
	if objs[1].Source.String() != "<stdin>: document 1" {
		t.Errorf("stdin source = %q", objs[1].Source)
	}

	objs, err = ReadFiles([]string{dir}, nil, ReadOptions{Recursive: true})
	if err != nil {
		t.Fatal(err)
	}
	if len(objs) != 4 || objs[3].GetKind() != "C" {
		t.Errorf("recursive read got %v", names(objs))
	}

	if _, err := ReadFiles([]string{filepath.Join(dir, "missing.yaml")}, nil, ReadOptions{}); err == nil ||
		!strings.Contains(err.Error(), "missing.yaml: no such file or directory") {
		t.Errorf("missing file: %v", err)
	}
	if _, err := ReadFiles([]string{"-", "-"}, strings.NewReader(""), ReadOptions{}); err == nil {
		t.Error("stdin twice: no error")
	}
	if _, err := ReadFiles([]string{filepath.Join(dir, "sub", "..", "sub", "c.yml"), t.TempDir()}, nil, ReadOptions{}); err == nil ||
		!strings.Contains(err.Error(), "directory has no") {
		t.Errorf("empty dir: %v", err)
	}
}

func TestRequireObjects(t *testing.T) {
	dir := t.TempDir()
	write := func(name, data string) string {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	good := write("good.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}\n")
	empty := write("empty.yaml", "")
	seps := write("seps.yaml", "# a comment\n---\n---\n# another\n")
	nulls := write("null.json", "null\n")
	write("emptydir/a.yaml", "---\n")
	write("emptydir/b.yml", "")
	emptyDir := filepath.Join(dir, "emptydir")
	require := ReadOptions{RequireObjects: true}
	for _, tc := range []struct {
		name  string
		paths []string
		stdin string
		file  string // the place the error names; "" for no error
	}{
		{"a file with objects", []string{good}, "", ""},
		{"an empty file", []string{empty}, "", empty},
		{"a file of only comments and separators", []string{seps}, "", seps},
		{"a JSON null", []string{nulls}, "", nulls},
		{"an empty file after a good one", []string{good, empty}, "", empty},
		{"a directory of empty files", []string{emptyDir}, "", emptyDir},
		{"empty standard input", []string{Stdin}, "", Stdin},
		{"standard input of only separators", []string{Stdin}, "---\n---\n", Stdin},
	} {
		t.Run(tc.name, func(t *testing.T) {
			objs, err := ReadFiles(tc.paths, strings.NewReader(tc.stdin), require)
			if tc.file == "" {
				if err != nil || len(objs) == 0 {
					t.Fatalf("%d objects, err %v", len(objs), err)
				}
				return
			}
			var me *Error
			if !errors.As(err, &me) || !errors.Is(err, ErrNoObjects) || me.Source.File != tc.file {
				t.Fatalf("err %v, want ErrNoObjects naming %s", err, tc.file)
			}
			// Without the option, nothing is an error: a caller may accept empty input.
			if objs, err := ReadFiles(tc.paths, strings.NewReader(tc.stdin), ReadOptions{}); err != nil {
				t.Errorf("without RequireObjects: %d objects, err %v", len(objs), err)
			}
		})
	}
}

func TestEncodeYAMLIsDeterministic(t *testing.T) {
	in := "kind: A\napiVersion: v1\nmetadata: {name: x, labels: {z: '1', a: '2'}}\nspec: {b: 1, a: [3, 2, 1]}\n"
	var first []byte
	for i := 0; i < 5; i++ {
		objs, err := Read(strings.NewReader(in), "in")
		if err != nil {
			t.Fatal(err)
		}
		out, err := EncodeYAML(objs[0].Unstructured)
		if err != nil {
			t.Fatal(err)
		}
		if i == 0 {
			first = out
			continue
		}
		if string(out) != string(first) {
			t.Fatalf("run %d gave\n%s\nfirst gave\n%s", i, out, first)
		}
	}
	want := "apiVersion: v1\nkind: A\nmetadata:\n  labels:\n    a: \"2\"\n    z: \"1\"\n  name: x\nspec:\n  a:\n  - 3\n  - 2\n  - 1\n  b: 1\n"
	if string(first) != want {
		t.Errorf("got\n%s\nwant\n%s", first, want)
	}
}

func TestWriteFileAtomic(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "out.yaml")
	if err := os.WriteFile(p, []byte("old"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := WriteFileAtomic(p, []byte("new"), 0o644); err != nil {
		t.Fatal(err)
	}
	got, _ := os.ReadFile(p)
	if string(got) != "new" {
		t.Errorf("content %q", got)
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 {
		t.Errorf("temporary files left behind: %v", entries)
	}
	if err := WriteFileAtomic(filepath.Join(dir, "no-such-dir", "x"), []byte("x"), 0o644); err == nil {
		t.Error("writing into a missing directory succeeded")
	}
}
