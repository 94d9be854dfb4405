// Package catalog mirrors file-based operator catalogs: it reads a catalog
// image's configs with the operator-framework's own declcfg and model,
// keeps what a selection asks for (oc-mirror v2's filtering, scenarios 1-14
// of its documentation), repairs each channel so that OLM accepts it,
// checks dependencies, writes the filtered catalog and rebuilds the catalog
// image around it, and turns the result into plan items.
package catalog

import (
	"fmt"
	"strings"

	"github.com/blang/semver/v4"
)

// Selection is what to keep of one catalog: an ImageSetConfiguration's
// mirror.operators[] entry without the catalog's name and destination.
type Selection struct {
	// Full keeps every bundle of what is selected: of the whole catalog
	// when no package is named, else of the named packages and channels.
	Full     bool      `json:"full,omitempty"`
	Packages []Package `json:"packages,omitempty"`
}

// Package selects within one package.
type Package struct {
	Name string `json:"name"`
	// DefaultChannel replaces the package's default channel in the
	// filtered catalog; it must be one that is kept.
	DefaultChannel string `json:"defaultChannel,omitempty"`
	// MinVersion and MaxVersion bound the bundles of the default channel,
	// or of each named channel that has no range of its own.
	MinVersion string    `json:"minVersion,omitempty"`
	MaxVersion string    `json:"maxVersion,omitempty"`
	Channels   []Channel `json:"channels,omitempty"`
	// Bundles keeps exactly these bundles, by name.
	Bundles []BundleRef `json:"bundles,omitempty"`
}

// Channel selects within one channel: its head, its bundles in a range,
// or all of them with Full.
type Channel struct {
	Name       string `json:"name"`
	MinVersion string `json:"minVersion,omitempty"`
	MaxVersion string `json:"maxVersion,omitempty"`
}

// BundleRef names a bundle as the catalog does (csv name).
type BundleRef struct {
	Name string `json:"name"`
}

// FieldError is a selection that cannot be served: Field is its path
// below the selection ("packages[0].channels[1].minVersion").
type FieldError struct {
	Field, Msg string
}

func (e *FieldError) Error() string { return e.Field + ": " + e.Msg }

// versionRange is an inclusive range; a nil end is open.
type versionRange struct {
	min, max *semver.Version
}

func (r versionRange) set() bool { return r.min != nil || r.max != nil }

func (r versionRange) contains(v semver.Version) bool {
	return (r.min == nil || v.GTE(*r.min)) && (r.max == nil || v.LTE(*r.max))
}

func (r versionRange) String() string {
	switch {
	case r.min != nil && r.max != nil:
		return fmt.Sprintf("between %s and %s", r.min, r.max)
	case r.min != nil:
		return fmt.Sprintf("from %s", r.min)
	case r.max != nil:
		return fmt.Sprintf("up to %s", r.max)
	}
	return "any version"
}

// parseRange reads a min/max pair at field (a path ending in a dot or "").
func parseRange(field, min, max string) (versionRange, error) {
	var r versionRange
	parse := func(name, s string) (*semver.Version, error) {
		if s == "" {
			return nil, nil
		}
		v, err := semver.ParseTolerant(s)
		if err != nil {
			return nil, &FieldError{field + name, fmt.Sprintf("%q is not a version: %v", s, err)}
		}
		return &v, nil
	}
	var err error
	if r.min, err = parse("minVersion", min); err != nil {
		return r, err
	}
	if r.max, err = parse("maxVersion", max); err != nil {
		return r, err
	}
	if r.min != nil && r.max != nil && r.min.GT(*r.max) {
		return r, &FieldError{field + "minVersion", fmt.Sprintf("%s is above maxVersion %s", r.min, r.max)}
	}
	return r, nil
}

// Validate refuses the combinations oc-mirror's documentation calls
// invalid (scenarios 15-17) and malformed entries, naming the field.
func (s Selection) Validate() error {
	seen := map[string]bool{}
	for i, p := range s.Packages {
		at := fmt.Sprintf("packages[%d].", i)
		if strings.TrimSpace(p.Name) == "" {
			return &FieldError{at + "name", "required"}
		}
		if seen[p.Name] {
			return &FieldError{at + "name", fmt.Sprintf("package %q is named twice", p.Name)}
		}
		seen[p.Name] = true
		pr, err := parseRange(at, p.MinVersion, p.MaxVersion)
		if err != nil {
			return err
		}
		if s.Full && pr.set() {
			return &FieldError{at + rangeField(p.MinVersion), "full: true keeps every bundle; it cannot be combined with a version range"}
		}
		if len(p.Bundles) > 0 {
			switch {
			case len(p.Channels) > 0:
				return &FieldError{at + "bundles", "name either bundles or channels of a package, not both"}
			case pr.set():
				return &FieldError{at + "bundles", "name either bundles or a version range of a package, not both"}
			case s.Full:
				return &FieldError{at + "bundles", "full: true keeps every bundle; it cannot be combined with named bundles"}
			}
		}
		bundles := map[string]bool{}
		for j, b := range p.Bundles {
			if b.Name == "" || bundles[b.Name] {
				return &FieldError{fmt.Sprintf("%sbundles[%d].name", at, j), "empty or named twice"}
			}
			bundles[b.Name] = true
		}
		channels := map[string]bool{}
		for j, c := range p.Channels {
			cat := fmt.Sprintf("%schannels[%d].", at, j)
			if c.Name == "" || channels[c.Name] {
				return &FieldError{cat + "name", "empty or named twice"}
			}
			channels[c.Name] = true
			cr, err := parseRange(cat, c.MinVersion, c.MaxVersion)
			if err != nil {
				return err
			}
			if cr.set() && pr.set() {
				return &FieldError{cat + rangeField(c.MinVersion), "a version range is set on the package too; set it on the package or on its channels, not both"}
			}
			if cr.set() && s.Full {
				return &FieldError{cat + rangeField(c.MinVersion), "full: true keeps every bundle; it cannot be combined with a version range"}
			}
		}
		if p.DefaultChannel != "" && len(p.Channels) > 0 && !channels[p.DefaultChannel] {
			return &FieldError{at + "defaultChannel", fmt.Sprintf("%q is not one of the package's selected channels", p.DefaultChannel)}
		}
	}
	return nil
}

// rangeField names the bound that is set, minVersion first.
func rangeField(min string) string {
	if min != "" {
		return "minVersion"
	}
	return "maxVersion"
}
