// Package manifest reads and writes streams of Kubernetes objects: multi-document
// YAML or JSON, `v1 List` documents as `oc get -o yaml` prints them, from files,
// directories and standard input. Every object keeps the place it was read
// from, so that an error can name the file, the document and the field.
package manifest

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	utiljson "k8s.io/apimachinery/pkg/util/json"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	sigsjson "sigs.k8s.io/json"
	"sigs.k8s.io/yaml"
)

// Stdin is the file name that stands for standard input, as in `-f -`.
const Stdin = "-"

// Source is where an object was read from.
type Source struct {
	// File is the path the object was read from, Stdin for standard input,
	// or another label (such as "cluster") for objects that came from elsewhere.
	File string
	// Document is the 1-based index of the YAML or JSON document in File;
	// 0 when the object did not come from a stream.
	Document int
	// Item is the 1-based index of the object in a List document; 0 when the
	// document was the object itself.
	Item int
}

func (s Source) String() string {
	name := s.File
	if name == Stdin {
		name = "<stdin>"
	}
	var b strings.Builder
	b.WriteString(name)
	if s.Document > 0 {
		fmt.Fprintf(&b, ": document %d", s.Document)
	}
	if s.Item > 0 {
		fmt.Fprintf(&b, ", item %d", s.Item)
	}
	return b.String()
}

// Object is an object read from a stream, with where it came from.
type Object struct {
	*unstructured.Unstructured
	Source Source
}

// Error is bad input at a place in a stream: a document that is not YAML, an
// object without a kind, a field with an invalid value.
type Error struct {
	Source Source
	// Field is the path of the offending field (spec.mirrors[0]), if known.
	Field string
	Err   error
}

func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString(e.Source.String())
	if e.Field != "" {
		b.WriteString(": ")
		b.WriteString(e.Field)
	}
	b.WriteString(": ")
	b.WriteString(e.Err.Error())
	return b.String()
}

func (e *Error) Unwrap() error { return e.Err }

// ReadOptions says how file names are expanded.
type ReadOptions struct {
	// Recursive descends into sub-directories of a directory argument.
	Recursive bool
	// RequireObjects makes every path given hold at least one object: an
	// empty file, one of only comments and ---, a directory of such files or
	// an empty standard input is an *Error wrapping ErrNoObjects.
	RequireObjects bool
}

// ErrNoObjects is what a path that must hold objects and holds none is.
var ErrNoObjects = errors.New("no objects (the input is empty, or only comments and ---)")

// Extensions are the file name endings read from a directory.
var Extensions = []string{".yaml", ".yml", ".json"}

// ReadFiles reads every object from paths, in order. A path is a file, a
// directory (its .yaml, .yml and .json files in lexical order) or Stdin,
// read from stdin. Any error is an *Error naming the place.
func ReadFiles(paths []string, stdin io.Reader, opts ReadOptions) ([]Object, error) {
	var out []Object
	stdinSeen := false
	for _, p := range paths {
		if p == Stdin {
			if stdinSeen {
				return nil, &Error{Source: Source{File: Stdin}, Err: errors.New("standard input given more than once")}
			}
			stdinSeen = true
			if stdin == nil {
				return nil, &Error{Source: Source{File: Stdin}, Err: errors.New("no standard input")}
			}
			objs, err := Read(stdin, Stdin)
			if err != nil {
				return nil, err
			}
			if len(objs) == 0 && opts.RequireObjects {
				return nil, &Error{Source: Source{File: Stdin}, Err: ErrNoObjects}
			}
			out = append(out, objs...)
			continue
		}
		files, err := expand(p, opts.Recursive)
		if err != nil {
			return nil, err
		}
		n := len(out)
		for _, f := range files {
			objs, err := readFile(f)
			if err != nil {
				return nil, err
			}
			out = append(out, objs...)
		}
		if len(out) == n && opts.RequireObjects {
			return nil, &Error{Source: Source{File: p}, Err: ErrNoObjects}
		}
	}
	return out, nil
}

func expand(path string, recursive bool) ([]string, error) {
	info, err := os.Stat(path)
	if err != nil {
		return nil, &Error{Source: Source{File: path}, Err: unwrapPathError(err)}
	}
	if !info.IsDir() {
		return []string{path}, nil
	}
	var files []string
	err = filepath.WalkDir(path, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if p != path && !recursive {
				return filepath.SkipDir
			}
			return nil
		}
		if slices.Contains(Extensions, strings.ToLower(filepath.Ext(p))) {
			files = append(files, p)
		}
		return nil
	})
	if err != nil {
		return nil, &Error{Source: Source{File: path}, Err: unwrapPathError(err)}
	}
	slices.Sort(files)
	if len(files) == 0 {
		return nil, &Error{Source: Source{File: path}, Err: fmt.Errorf("directory has no %s files", strings.Join(Extensions, ", "))}
	}
	return files, nil
}

// unwrapPathError drops the path from an *os.PathError, because Error already names it.
func unwrapPathError(err error) error {
	var pe *os.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

func readFile(path string) ([]Object, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, &Error{Source: Source{File: path}, Err: unwrapPathError(err)}
	}
	defer f.Close()
	return Read(f, path)
}

// Read reads every object of one stream; name labels the objects' Source.
// Empty documents are skipped (but counted, so indexes match what a reader
// sees); List documents are expanded into their items. A key given twice in
// one mapping is bad input, as kubectl's strict decoding has it: the last
// one would otherwise win silently, and the object would differ from what a
// reviewer reads.
func Read(r io.Reader, name string) ([]Object, error) {
	docs := newDocuments(r)
	var out []Object
	for doc := 1; ; doc++ {
		raw, err := docs.next()
		if err == io.EOF {
			return out, nil
		}
		src := Source{File: name, Document: doc}
		var dup *duplicateKeyError
		if errors.As(err, &dup) {
			return nil, &Error{Source: src, Err: err}
		}
		if err != nil {
			return nil, &Error{Source: src, Err: fmt.Errorf("not valid YAML or JSON: %w", err)}
		}
		raw = bytes.TrimSpace(raw)
		if len(raw) == 0 || string(raw) == "null" {
			continue
		}
		objs, err := decodeDocument(raw, src)
		if err != nil {
			return nil, err
		}
		out = append(out, objs...)
	}
}

// documents splits a stream as utilyaml.NewYAMLOrJSONDecoder does (a
// stream of JSON values, or YAML documents separated by ---, or one JSON
// value followed by YAML), but converts each document with the strict
// converters, which refuse a key given twice.
type documents struct {
	stream   *utilyaml.StreamReader
	json     *json.Decoder
	yaml     *utilyaml.YAMLReader
	count    int
	consumed int64
	switched bool // just fell back from JSON to YAML
}

func newDocuments(r io.Reader) *documents {
	stream, _, isJSON := utilyaml.GuessJSONStream(r, 4096)
	d := &documents{stream: stream}
	if isJSON {
		d.json = json.NewDecoder(stream)
	} else {
		d.yaml = utilyaml.NewYAMLReader(bufio.NewReader(stream))
	}
	return d
}

// duplicateKeyError is a document that gives a key twice.
type duplicateKeyError struct{ err error }

func (e *duplicateKeyError) Error() string {
	// The YAML converter lists its findings one a line after this prefix.
	msg := e.err.Error()
	if _, rest, ok := strings.Cut(msg, "unmarshal errors:"); ok {
		msg = rest
	}
	return "a key is given twice: " + strings.Join(strings.Fields(msg), " ")
}
func (e *duplicateKeyError) Unwrap() error { return e.err }

// next returns the next document as JSON, or io.EOF.
func (d *documents) next() (json.RawMessage, error) {
	if d.json != nil {
		var raw json.RawMessage
		err := d.json.Decode(&raw)
		if err == nil {
			d.count++
			off := d.json.InputOffset()
			d.stream.Consume(int(off - d.consumed))
			d.consumed = off
			var v interface{}
			strict, err := sigsjson.UnmarshalStrict(raw, &v, sigsjson.DisallowDuplicateFields)
			if err != nil {
				return nil, err
			}
			if len(strict) > 0 {
				return nil, &duplicateKeyError{errors.Join(strict...)}
			}
			return raw, nil
		}
		if err == io.EOF || d.count > 1 {
			return nil, err
		}
		// As the library: a stream that began with at most one JSON value
		// may go on as YAML.
		d.stream.Rewind()
		d.json = nil
		d.yaml = utilyaml.NewYAMLReader(bufio.NewReader(d.stream))
		d.switched = d.count > 0
	}
	doc, err := d.yaml.Read()
	if err != nil {
		return nil, err
	}
	if d.switched {
		// The rest of the line the JSON value ended on is no document.
		d.switched = false
		if len(bytes.TrimSpace(doc)) == 0 {
			if doc, err = d.yaml.Read(); err != nil {
				return nil, err
			}
		}
	}
	js, err := yaml.YAMLToJSONStrict(doc)
	if err != nil {
		if _, lax := yaml.YAMLToJSON(doc); lax == nil {
			return nil, &duplicateKeyError{err}
		}
		return nil, err
	}
	return js, nil
}

func decodeDocument(raw []byte, src Source) ([]Object, error) {
	var content map[string]interface{}
	if err := utiljson.Unmarshal(raw, &content); err != nil {
		return nil, &Error{Source: src, Err: fmt.Errorf("not an object: %w", err)}
	}
	u := &unstructured.Unstructured{Object: content}
	if err := checkTypeMeta(u); err != nil {
		return nil, &Error{Source: src, Field: err.field, Err: err}
	}
	if !u.IsList() {
		return []Object{{Unstructured: u, Source: src}}, nil
	}
	items, _, err := unstructured.NestedSlice(content, "items")
	if err != nil {
		return nil, &Error{Source: src, Field: "items", Err: err}
	}
	out := make([]Object, 0, len(items))
	for i, item := range items {
		isrc := src
		isrc.Item = i + 1
		m, ok := item.(map[string]interface{})
		if !ok {
			return nil, &Error{Source: isrc, Err: fmt.Errorf("not an object but %T", item)}
		}
		iu := &unstructured.Unstructured{Object: m}
		if err := checkTypeMeta(iu); err != nil {
			return nil, &Error{Source: isrc, Field: err.field, Err: err}
		}
		out = append(out, Object{Unstructured: iu, Source: isrc})
	}
	return out, nil
}

type fieldError struct {
	field string
	msg   string
}

func (e *fieldError) Error() string { return e.msg }

func checkTypeMeta(u *unstructured.Unstructured) *fieldError {
	for _, f := range []string{"apiVersion", "kind"} {
		v, found := u.Object[f]
		if !found {
			return &fieldError{field: f, msg: "required field is missing"}
		}
		if s, ok := v.(string); !ok || s == "" {
			return &fieldError{field: f, msg: "must be a non-empty string"}
		}
	}
	return nil
}

// EncodeYAML renders one object as YAML, with keys in sorted order, so that
// the same object always gives the same bytes.
func EncodeYAML(obj *unstructured.Unstructured) ([]byte, error) {
	return yaml.Marshal(obj.Object)
}

// WriteFileAtomic writes data to path so that path either keeps its old
// content or has all of data, never a part: it writes a temporary file in the
// same directory, syncs it and renames it into place.
func WriteFileAtomic(path string, data []byte, perm os.FileMode) error {
	dir, base := filepath.Split(path)
	if dir == "" {
		dir = "."
	}
	tmp, err := os.CreateTemp(dir, "."+base+".tmp-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name()) // a no-op once renamed
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Chmod(perm); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return err
	}
	// Make the rename itself durable.
	if d, err := os.Open(dir); err == nil {
		_ = d.Sync()
		d.Close()
	}
	return nil
}
