package imageset

import (
	"encoding/json"
	"fmt"
	"strings"

	"github.com/containers/image/v5/docker/reference"
	"sigs.k8s.io/yaml"
)

// DeleteKind is the kind of oc-mirror v2's delete document, of the same
// apiVersion as the ImageSetConfiguration.
const DeleteKind = "DeleteImageSetConfiguration"

// deleteCovered are the fields of a DeleteImageSetConfiguration, by path.
var deleteCovered = map[string][]string{
	"":                           {"apiVersion", "kind", "delete"},
	"delete":                     {"platform", "operators", "additionalImages"},
	"delete.platform":            {"channels", "architectures", "graph", "kubeVirtContainer"},
	"delete.platform.channels[]": {"name", "type", "minVersion", "maxVersion", "shortestPath", "full"},
	"delete.additionalImages[]":  {"name", "targetRepo", "targetTag"},
	"delete.operators[]":         {"catalog", "targetCatalog", "targetTag", "full", "packages"},
}

// DeleteConfig is what a DeleteImageSetConfiguration asks to retire: the
// releases and additional images, named as the ImageSetConfiguration that
// mirrored them names them (so the same plan builder finds them), and the
// operator catalogs.
type DeleteConfig struct {
	// Config holds delete.platform and delete.additionalImages, as an
	// ImageSetConfiguration's mirror section would.
	Config *Config
	// Operators are the catalogs of delete.operators.
	Operators []DeleteOperator
}

// DeleteOperator is one entry of delete.operators: a catalog and,
// optionally, the packages of it to retire (all of them when none).
type DeleteOperator struct {
	Catalog       string          `json:"catalog"`
	TargetCatalog string          `json:"targetCatalog,omitempty"`
	TargetTag     string          `json:"targetTag,omitempty"`
	Full          bool            `json:"full,omitempty"`
	Packages      json.RawMessage `json:"packages,omitempty"`
}

// ParseDelete reads a DeleteImageSetConfiguration (oc-mirror v2's
// mirror.openshift.io/v2alpha1); name is the file name for errors, which
// are *Error naming the field.
func ParseDelete(data []byte, name string) (*DeleteConfig, error) {
	bad := func(field, format string, args ...any) error {
		return &Error{File: name, Field: field, Msg: fmt.Sprintf(format, args...)}
	}
	js, err := yaml.YAMLToJSONStrict(data)
	if err != nil {
		return nil, bad("", "not YAML: %v", err)
	}
	var generic map[string]any
	if err := json.Unmarshal(js, &generic); err != nil {
		return nil, bad("", "not a %s: %v", DeleteKind, err)
	}
	switch v, _ := generic["apiVersion"].(string); {
	case v == V1APIVersion:
		return nil, bad("apiVersion", "%s is oc-mirror v1's format; mirror-lite reads %s (oc-mirror v2's)", v, APIVersion)
	case v != APIVersion:
		return nil, bad("apiVersion", "%q, want %s", v, APIVersion)
	}
	if k, _ := generic["kind"].(string); k != DeleteKind {
		return nil, bad("kind", "%q, want %s", k, DeleteKind)
	}
	if field := unknownField(generic, "", deleteCovered); field != "" {
		return nil, bad(field, "not a field of %s (it has delete.platform, delete.operators and delete.additionalImages)", DeleteKind)
	}
	section, _ := generic["delete"].(map[string]any)
	if section == nil {
		return nil, bad("delete", "required: what to delete (platform, operators, additionalImages)")
	}
	out := &DeleteConfig{}
	if ops, ok := section["operators"]; ok && ops != nil {
		raw, _ := json.Marshal(ops)
		if err := json.Unmarshal(raw, &out.Operators); err != nil {
			return nil, bad("delete.operators", "want a list of catalogs: %v", err)
		}
		for i, op := range out.Operators {
			if _, err := reference.ParseNormalizedNamed(strings.TrimPrefix(op.Catalog, "docker://")); err != nil || op.Catalog == "" {
				return nil, bad(fmt.Sprintf("delete.operators[%d].catalog", i), "%q is not an image reference: %v", op.Catalog, err)
			}
		}
	}
	// The releases and images, read by the ImageSetConfiguration's own
	// parser, so both documents mean the same by the same fields; the graph
	// image is not mirrored by mirror-lite, so there is none to delete.
	mirror := map[string]any{}
	for _, k := range []string{"platform", "additionalImages"} {
		if v, ok := section[k]; ok {
			mirror[k] = v
		}
	}
	if p, ok := mirror["platform"].(map[string]any); ok {
		delete(p, "graph")
	}
	if len(mirror) == 0 {
		if len(out.Operators) == 0 {
			return nil, bad("delete", "names nothing to delete: give platform.channels, additionalImages or operators")
		}
		return out, nil
	}
	doc, err := json.Marshal(map[string]any{"apiVersion": APIVersion, "kind": Kind, "mirror": mirror})
	if err != nil {
		return nil, err
	}
	cfg, err := Parse(doc, name)
	if err != nil {
		if e, ok := err.(*Error); ok {
			e.Field = deleteField(e.Field)
			e.Msg = strings.ReplaceAll(e.Msg, "names nothing to mirror", "names nothing to delete")
		}
		return nil, err
	}
	out.Config = cfg
	return out, nil
}

// deleteField is the delete document's name of an ImageSetConfiguration field.
func deleteField(f string) string {
	if rest, ok := strings.CutPrefix(f, "mirror"); ok {
		return "delete" + rest
	}
	return f
}
