package imageset

import (
	"encoding/json"
	"fmt"
	"strings"
)

// DeleteKind is the kind of oc-mirror v2's delete document, of the same
// apiVersion as the ImageSetConfiguration.
const DeleteKind = "DeleteImageSetConfiguration"

// deleteCovered are the fields of a DeleteImageSetConfiguration, by path.
var deleteCovered = map[string][]string{
	"":                              {"apiVersion", "kind", "delete"},
	"delete":                        {"platform", "operators", "additionalImages"},
	"delete.platform":               {"channels", "architectures", "graph", "kubeVirtContainer"},
	"delete.platform.channels[]":    {"name", "type", "minVersion", "maxVersion", "shortestPath", "full"},
	"delete.additionalImages[]":     {"name", "targetRepo", "targetTag"},
	"delete.operators[]":            {"catalog", "targetCatalog", "targetTag", "full", "packages"},
	"delete.operators[].packages[]": {"name", "channels", "minVersion", "maxVersion", "bundles", "defaultChannel"},
	"delete.operators[].packages[].channels[]": {"name", "minVersion", "maxVersion"},
	"delete.operators[].packages[].bundles[]":  {"name"},
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

// DeleteOperator is one entry of delete.operators: a catalog, where the
// mirror put it, and what of it to retire, selected as mirror.operators
// selects; no package names the whole catalog, the catalog image with it.
type DeleteOperator = Operator

// deleteDocument is the DeleteImageSetConfiguration as decoded; platform
// and additionalImages stay generic, read by Parse as the mirror section
// of an ImageSetConfiguration.
type deleteDocument struct {
	APIVersion string `json:"apiVersion"`
	Kind       string `json:"kind"`
	Delete     *struct {
		Platform         map[string]any   `json:"platform,omitempty"`
		AdditionalImages any              `json:"additionalImages,omitempty"`
		Operators        []DeleteOperator `json:"operators,omitempty"`
	} `json:"delete"`
}

// deleteSchema is the DeleteImageSetConfiguration as decode checks it.
var deleteSchema = schema{
	kind:    DeleteKind,
	covered: deleteCovered,
	unknown: "not a field of " + DeleteKind + " (it has delete.platform, delete.operators and delete.additionalImages)",
	strict:  "a " + DeleteKind + " has delete.platform, delete.operators and delete.additionalImages",
}

// ParseDelete reads a DeleteImageSetConfiguration (oc-mirror v2's
// mirror.openshift.io/v2alpha1); name is the file name for errors, which
// are *Error naming the field.
func ParseDelete(data []byte, name string) (*DeleteConfig, error) {
	bad := func(field, format string, args ...any) error {
		return &Error{File: name, Field: field, Msg: fmt.Sprintf(format, args...)}
	}
	var doc deleteDocument
	if _, err := decode(data, name, deleteSchema, &doc); err != nil {
		return nil, err
	}
	section := doc.Delete
	if section == nil {
		return nil, bad("delete", "required: what to delete (platform, operators, additionalImages)")
	}
	out := &DeleteConfig{Operators: section.Operators}
	for i, op := range out.Operators {
		if err := op.validate(); err != nil {
			err.File, err.Field = name, strings.TrimSuffix(fmt.Sprintf("delete.operators[%d].%s", i, err.Field), ".")
			return nil, err
		}
	}
	// The releases and images, read by the ImageSetConfiguration's own
	// parser, so both documents mean the same by the same fields; the graph
	// image is not mirrored by mirror-lite, so there is none to delete.
	mirror := map[string]any{}
	if section.Platform != nil {
		delete(section.Platform, "graph")
		mirror["platform"] = section.Platform
	}
	if section.AdditionalImages != nil {
		mirror["additionalImages"] = section.AdditionalImages
	}
	if len(mirror) == 0 {
		if len(out.Operators) == 0 {
			return nil, bad("delete", "names nothing to delete: give platform.channels, additionalImages or operators")
		}
		return out, nil
	}
	isc, err := json.Marshal(map[string]any{"apiVersion": APIVersion, "kind": Kind, "mirror": mirror})
	if err != nil {
		return nil, err
	}
	cfg, err := Parse(isc, name)
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
