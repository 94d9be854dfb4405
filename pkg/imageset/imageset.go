// Package imageset reads the part of oc-mirror v2's ImageSetConfiguration
// (apiVersion mirror.openshift.io/v2alpha1) that mirror-lite covers:
// platform channels and architectures, operator catalogs, additional
// images, blocked images, the graph-data image (platform.graph) and the
// archive size. The sections it does not cover (helm) are refused, naming
// the field, never silently ignored.
package imageset

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"sort"
	"strings"

	"github.com/blang/semver/v4"
	"github.com/containers/image/v5/docker/reference"

	"github.com/airgap-ocp/oc-plugins/pkg/catalog"
)

// APIVersion and Kind of the accepted document; V1APIVersion is oc-mirror
// v1's, named in its error.
const (
	APIVersion   = "mirror.openshift.io/v2alpha1"
	Kind         = "ImageSetConfiguration"
	V1APIVersion = "mirror.openshift.io/v1alpha2"
)

// covered are the fields mirror-lite reads, by path ("[]" for the
// elements of a list); helm is refused on its own.
var covered = map[string][]string{
	"":                              {"apiVersion", "kind", "archiveSize", "mirror"},
	"mirror.operators[]":            {"catalog", "targetCatalog", "targetTag", "full", "packages"},
	"mirror.operators[].packages[]": {"name", "channels", "minVersion", "maxVersion", "bundles", "defaultChannel"},
	"mirror.operators[].packages[].channels[]": {"name", "minVersion", "maxVersion"},
	"mirror.operators[].packages[].bundles[]":  {"name"},
	"mirror":                     {"platform", "additionalImages", "blockedImages", "operators", "helm"},
	"mirror.platform":            {"channels", "architectures", "graph", "kubeVirtContainer"},
	"mirror.platform.channels[]": {"name", "type", "minVersion", "maxVersion", "shortestPath", "full"},
	"mirror.additionalImages[]":  {"name", "targetRepo", "targetTag"},
	"mirror.blockedImages[]":     {"name"},
}

const coveredHint = "mirror-lite covers mirror.platform.channels and architectures, mirror.operators, mirror.additionalImages, mirror.blockedImages and archiveSize"

// imageSetSchema is the ImageSetConfiguration as decode checks it.
var imageSetSchema = schema{
	kind:    Kind,
	covered: covered,
	unknown: "not covered by mirror-lite (it reads mirror.platform.channels and architectures, mirror.operators, mirror.additionalImages, mirror.blockedImages and archiveSize)",
	strict:  coveredHint,
	// The sections mirror-lite does not cover, named before anything else.
	precheck: func(js []byte, bad badFunc) error {
		var loose document
		if err := json.Unmarshal(js, &loose); err != nil {
			return bad("", "not an ImageSetConfiguration: %v", err)
		}
		notCovered := func(raw json.RawMessage) bool {
			t := bytes.TrimSpace(raw)
			return len(t) > 0 && !bytes.Equal(t, []byte("null")) && !bytes.Equal(t, []byte("[]"))
		}
		if notCovered(loose.Mirror.Helm) {
			return bad("mirror.helm", "helm charts are not mirrored by mirror-lite; use oc-mirror for them")
		}
		if loose.Mirror.Platform != nil && loose.Mirror.Platform.KubeVirtContainer {
			return bad("mirror.platform.kubeVirtContainer", "the KubeVirt container disk image is not mirrored by mirror-lite yet; set kubeVirtContainer: false or use oc-mirror")
		}
		return nil
	},
}

// unknownField is the path of the first field of v (at path) that the
// schema does not list, in a stable order, or "".
func unknownField(v any, path string, schema map[string][]string) string {
	join := func(k string) string {
		if path == "" {
			return k
		}
		return path + "." + k
	}
	switch v := v.(type) {
	case map[string]any:
		known, ok := schema[stripIndexes(path)]
		if !ok {
			return ""
		}
		keys := make([]string, 0, len(v))
		for k := range v {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			if !slices.Contains(known, k) {
				return join(k)
			}
			if f := unknownField(v[k], join(k), schema); f != "" {
				return f
			}
		}
	case []any:
		for i, e := range v {
			if f := unknownField(e, fmt.Sprintf("%s[%d]", path, i), schema); f != "" {
				return f
			}
		}
	}
	return ""
}

var index = regexp.MustCompile(`\[[0-9]+\]`)

// stripIndexes turns a.b[3].c into a.b[].c, the schema's spelling.
func stripIndexes(path string) string { return index.ReplaceAllString(path, "[]") }

// Config is what an ImageSetConfiguration asks mirror-lite for.
type Config struct {
	// ArchiveSize is the largest archive chunk in GiB (0: the default).
	ArchiveSize int
	// Channels are the release channels; Architectures those of the
	// releases (x86_64/amd64 when none is given).
	Channels      []Channel
	Architectures []string
	// AdditionalImages are extra images to mirror.
	AdditionalImages []AdditionalImage
	// Blocked are patterns of images never to mirror.
	Blocked []*regexp.Regexp
	// Operators are the catalogs to mirror and what to keep of each.
	Operators []Operator
	// Graph: also build the graph-data image for a local update service,
	// and lay the releases out as it needs them (pkg/graph).
	Graph bool

	file string
}

// Channel is one release channel.
type Channel struct {
	Name string `json:"name"`
	// Type is ocp (the default) or okd.
	Type         string `json:"type,omitempty"`
	MinVersion   string `json:"minVersion,omitempty"`
	MaxVersion   string `json:"maxVersion,omitempty"`
	ShortestPath bool   `json:"shortestPath,omitempty"`
	Full         bool   `json:"full,omitempty"`
}

// Operator is one mirror.operators[] entry: a catalog, where it goes, and
// what of it to keep.
type Operator struct {
	// Catalog is a pull spec (docker:// optional) or oci://DIR.
	Catalog string `json:"catalog"`
	// TargetCatalog and TargetTag place the rebuilt catalog below the
	// destination (default: the source's path and tag).
	TargetCatalog string `json:"targetCatalog,omitempty"`
	TargetTag     string `json:"targetTag,omitempty"`
	catalog.Selection
}

// validate checks the entry; the error's Field is below the entry, its
// File unset.
func (op Operator) validate() *Error {
	if op.Catalog == "" {
		return &Error{Field: "catalog", Msg: "required"}
	}
	if _, err := catalog.SourceReference(op.Catalog); err != nil {
		return &Error{Field: "catalog", Msg: err.Error()}
	}
	if err := op.Selection.Validate(); err != nil {
		var fe *catalog.FieldError
		if errors.As(err, &fe) {
			return &Error{Field: fe.Field, Msg: fe.Msg}
		}
		return &Error{Msg: err.Error()}
	}
	return nil
}

// Field is the path of operators[i] in the file, for errors.
func (c *Config) Field(i int) string {
	return fmt.Sprintf("%s: mirror.operators[%d]", c.file, i)
}

// AdditionalImage is one extra image.
type AdditionalImage struct {
	Name string `json:"name"`
	// TargetRepo and TargetTag place it at the destination (default: the
	// source's repository path and tag).
	TargetRepo string `json:"targetRepo,omitempty"`
	TargetTag  string `json:"targetTag,omitempty"`
}

// Blocks reports whether an image is blocked.
func (c *Config) Blocks(pullSpec string) bool {
	for _, re := range c.Blocked {
		if re.MatchString(pullSpec) {
			return true
		}
	}
	return false
}

type document struct {
	APIVersion  string `json:"apiVersion"`
	Kind        string `json:"kind"`
	ArchiveSize int    `json:"archiveSize,omitempty"`
	Mirror      struct {
		Platform *struct {
			Channels          []Channel `json:"channels,omitempty"`
			Architectures     []string  `json:"architectures,omitempty"`
			Graph             bool      `json:"graph,omitempty"`
			KubeVirtContainer bool      `json:"kubeVirtContainer,omitempty"`
		} `json:"platform,omitempty"`
		AdditionalImages []AdditionalImage `json:"additionalImages,omitempty"`
		BlockedImages    []struct {
			Name string `json:"name"`
		} `json:"blockedImages,omitempty"`
		Operators []Operator      `json:"operators,omitempty"`
		Helm      json.RawMessage `json:"helm,omitempty"`
	} `json:"mirror"`
}

// Error names the file and field at fault.
type Error struct {
	File, Field, Msg string
}

func (e *Error) Error() string {
	if e.Field == "" {
		return fmt.Sprintf("%s: %s", e.File, e.Msg)
	}
	return fmt.Sprintf("%s: %s: %s", e.File, e.Field, e.Msg)
}

// Parse reads an ImageSetConfiguration; name is the file name for errors.
func Parse(data []byte, name string) (*Config, error) {
	bad := func(field, format string, args ...any) error {
		return &Error{File: name, Field: field, Msg: fmt.Sprintf(format, args...)}
	}
	var doc document
	if _, err := decode(data, name, imageSetSchema, &doc); err != nil {
		return nil, err
	}
	c := &Config{ArchiveSize: doc.ArchiveSize, file: name}
	if doc.ArchiveSize < 0 {
		return nil, bad("archiveSize", "must not be negative")
	}
	if p := doc.Mirror.Platform; p != nil {
		for i, ch := range p.Channels {
			f := fmt.Sprintf("mirror.platform.channels[%d]", i)
			if ch.Name == "" {
				return nil, bad(f+".name", "required")
			}
			switch ch.Type {
			case "":
				ch.Type = "ocp"
			case "ocp", "okd":
			default:
				return nil, bad(f+".type", "%q, want ocp or okd", ch.Type)
			}
			for _, v := range []struct{ field, value string }{{"minVersion", ch.MinVersion}, {"maxVersion", ch.MaxVersion}} {
				if v.value == "" {
					continue
				}
				if _, err := semver.Parse(v.value); err != nil {
					return nil, bad(f+"."+v.field, "%q: %v", v.value, err)
				}
			}
			c.Channels = append(c.Channels, ch)
		}
		c.Architectures = p.Architectures
		c.Graph = p.Graph
	}
	for i, im := range doc.Mirror.AdditionalImages {
		f := fmt.Sprintf("mirror.additionalImages[%d]", i)
		if strings.HasPrefix(im.Name, "oci://") {
			return nil, bad(f+".name", "%q: images in OCI layouts on disk are not mirrored by mirror-lite; push them to a registry and name them there", im.Name)
		}
		im.Name = strings.TrimPrefix(im.Name, "docker://") // oc-mirror accepts the transport
		if _, err := reference.ParseNormalizedNamed(im.Name); err != nil {
			return nil, bad(f+".name", "%q: %v", im.Name, err)
		}
		if im.TargetRepo != "" {
			if _, err := reference.ParseNormalizedNamed("example.invalid/" + im.TargetRepo); err != nil {
				return nil, bad(f+".targetRepo", "%q: %v", im.TargetRepo, err)
			}
		}
		if im.TargetTag != "" {
			if _, err := reference.WithTag(reference.TrimNamed(mustName("example.invalid/x")), im.TargetTag); err != nil {
				return nil, bad(f+".targetTag", "%q: %v", im.TargetTag, err)
			}
		}
		c.AdditionalImages = append(c.AdditionalImages, im)
	}
	for i, b := range doc.Mirror.BlockedImages {
		re, err := regexp.Compile(b.Name)
		if err != nil || b.Name == "" {
			return nil, bad(fmt.Sprintf("mirror.blockedImages[%d].name", i), "%q is not a regular expression: %v", b.Name, err)
		}
		c.Blocked = append(c.Blocked, re)
	}
	for i, op := range doc.Mirror.Operators {
		if err := op.validate(); err != nil {
			err.File, err.Field = name, strings.TrimSuffix(fmt.Sprintf("mirror.operators[%d].%s", i, err.Field), ".")
			return nil, err
		}
		c.Operators = append(c.Operators, op)
	}
	if len(c.Channels) == 0 && len(c.AdditionalImages) == 0 && len(c.Operators) == 0 {
		return nil, bad("mirror", "names nothing to mirror: give platform.channels, operators or additionalImages")
	}
	return c, nil
}

func mustName(s string) reference.Named {
	n, err := reference.ParseNormalizedNamed(s)
	if err != nil {
		panic(err)
	}
	return n
}
