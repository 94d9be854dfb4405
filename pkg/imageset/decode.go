package imageset

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"

	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"sigs.k8s.io/yaml"
)

// schema is what decode checks a document against: its kind, the fields
// it has by path, and what to say of a field it lacks.
type schema struct {
	kind    string
	covered map[string][]string
	// unknown is said of a field covered lacks; strict after a decoding
	// error of the typed document.
	unknown, strict string
	// precheck, when set, refuses what the kind names before any other
	// field (sections mirror-lite does not cover), on the document as JSON.
	precheck func(js []byte, bad badFunc) error
}

type badFunc func(field, format string, args ...any) error

// article is "an" or "a" before a kind's name.
func article(kind string) string {
	if strings.ContainsAny(kind[:1], "AEIOU") {
		return "an"
	}
	return "a"
}

// decode reads data (the file name) as one document of s's kind into out,
// strictly: YAML, one document, the apiVersion and kind, no field s does
// not cover, no key twice. It returns the document as a generic map for
// the checks of each kind. Every error is an *Error naming the field.
func decode(data []byte, name string, s schema, out any) (map[string]any, error) {
	bad := func(field, format string, args ...any) error {
		return &Error{File: name, Field: field, Msg: fmt.Sprintf(format, args...)}
	}
	js, err := yaml.YAMLToJSONStrict(data)
	if err != nil {
		return nil, bad("", "not YAML: %v", err)
	}
	if n := documents(data); n > 1 {
		return nil, bad("", "holds %d YAML documents; give one %s per file", n, s.kind)
	}
	var generic map[string]any
	if err := json.Unmarshal(js, &generic); err != nil {
		return nil, bad("", "not %s %s: %v", article(s.kind), s.kind, err)
	}
	switch v, _ := generic["apiVersion"].(string); {
	case v == V1APIVersion:
		return nil, bad("apiVersion", "%s is oc-mirror v1's format; mirror-lite reads %s (oc-mirror v2's)", v, APIVersion)
	case v != APIVersion:
		return nil, bad("apiVersion", "%q, want %s", v, APIVersion)
	}
	if k, _ := generic["kind"].(string); k != s.kind {
		return nil, bad("kind", "%q, want %s", k, s.kind)
	}
	if s.precheck != nil {
		if err := s.precheck(js, bad); err != nil {
			return nil, err
		}
	}
	if field := unknownField(generic, "", s.covered); field != "" {
		return nil, bad(field, "%s", s.unknown)
	}
	dec := json.NewDecoder(bytes.NewReader(js))
	dec.DisallowUnknownFields()
	if err := dec.Decode(out); err != nil {
		return nil, bad("", "%v (%s)", err, s.strict)
	}
	return generic, nil
}

// documents counts the non-empty YAML documents of data, split as the
// API machinery splits a stream.
func documents(data []byte) int {
	r := utilyaml.NewYAMLReader(bufio.NewReader(bytes.NewReader(data)))
	n := 0
	for {
		doc, err := r.Read()
		if errors.Is(err, io.EOF) || err != nil {
			return n
		}
		var v any
		if yaml.Unmarshal(doc, &v) == nil && v != nil {
			n++
		}
	}
}
