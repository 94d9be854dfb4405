package mirrorset

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"

	"github.com/containers/image/v5/pkg/sysregistriesv2"
	"github.com/containers/image/v5/types"
)

// RegistriesConf is a registries.conf as containers/image (and so CRI-O) reads it: prefixes
// defaulted to locations, one entry per prefix (the first wins, as in containers/image), sorted
// by prefix.
type RegistriesConf struct {
	UnqualifiedSearchRegistries []string
	Registries                  []sysregistriesv2.Registry
}

// confMu serialises the use of sysregistriesv2's process-wide cache (see withRegistriesConf).
var confMu sync.Mutex

// withRegistriesConf loads data with sysregistriesv2's own loader, the code CRI-O runs, and
// calls fn with a SystemContext that FindRegistry answers from that file alone (no drop-in
// directory, no per-user file). sysregistriesv2 reads configuration only from a path, so data
// goes to a private temporary file, removed before returning; the package reads no file of the
// user's. name labels data in errors.
func withRegistriesConf(name string, data []byte, fn func(sys *types.SystemContext) error) error {
	confMu.Lock()
	defer confMu.Unlock()
	dir, err := os.MkdirTemp("", "registries-conf-")
	if err != nil {
		return fmt.Errorf("parsing %s: %w", name, err)
	}
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, "registries.conf")
	if err := os.WriteFile(path, data, 0o600); err != nil {
		return fmt.Errorf("parsing %s: %w", name, err)
	}
	sys := &types.SystemContext{
		SystemRegistriesConfPath:    path,
		SystemRegistriesConfDirPath: filepath.Join(dir, "registries.conf.d"), // does not exist: no drop-ins
	}
	defer sysregistriesv2.InvalidateCache()
	if _, err := sysregistriesv2.TryUpdatingCache(sys); err != nil {
		msg := strings.ReplaceAll(err.Error(), fmt.Sprintf("loading registries configuration %q: ", path), "")
		return fmt.Errorf("parsing %s: %s", name, strings.ReplaceAll(msg, path, name))
	}
	return fn(sys)
}

// ParseRegistriesConf parses a registries.conf with containers/image's sysregistriesv2 rules
// (TOML, v1 or v2 format, the same validation and normalisation). name labels data in errors.
func ParseRegistriesConf(name string, data []byte) (*RegistriesConf, error) {
	var out RegistriesConf
	err := withRegistriesConf(name, data, func(sys *types.SystemContext) error {
		regs, err := sysregistriesv2.GetRegistries(sys) //nolint:staticcheck // the parsed entries are what is compared
		if err != nil {
			return err
		}
		search, err := sysregistriesv2.UnqualifiedSearchRegistries(sys)
		if err != nil {
			return err
		}
		out.Registries = slices.Clone(regs)
		out.UnqualifiedSearchRegistries = slices.Clone(search)
		return nil
	})
	if err != nil {
		return nil, err
	}
	return &out, nil
}

// Difference is one way an actual registries.conf differs from the expected one.
type Difference struct {
	// Scope is the registry prefix the difference is about, or "" for a top-level setting.
	Scope string `json:"scope,omitempty"`
	// Change is missing (expected, not there), extra (there, not expected) or different.
	Change string `json:"change"`
	// Field is, for a difference, the setting that differs: location, blocked, insecure,
	// mirror-by-digest-only, mirrors, unqualified-search-registries.
	Field    string `json:"field,omitempty"`
	Expected string `json:"expected,omitempty"`
	Actual   string `json:"actual,omitempty"`
}

// The kinds of Difference.
const (
	Missing   = "missing"
	Extra     = "extra"
	Different = "different"
)

func (d Difference) String() string {
	switch d.Change {
	case Missing:
		return fmt.Sprintf("[[registry]] %s missing (expected %s)", d.Scope, d.Expected)
	case Extra:
		return fmt.Sprintf("[[registry]] %s not expected (found %s)", d.Scope, d.Actual)
	}
	if d.Scope == "" {
		return fmt.Sprintf("%s: expected %s, found %s", d.Field, d.Expected, d.Actual)
	}
	return fmt.Sprintf("[[registry]] %s: %s: expected %s, found %s", d.Scope, d.Field, d.Expected, d.Actual)
}

// Compare compares two parsed registries.conf semantically: the unqualified search registries,
// and per registry prefix its location, blocked, insecure, mirror-by-digest-only and ordered
// mirrors with their pull-from-mirror and insecure. Spellings with the same meaning to
// containers/image are the same: pull-from-mirror "" and "all", and mirror-by-digest-only =
// true (what the MCO wrote before 4.13) and every mirror pull-from-mirror = "digest-only" (what
// it writes now). It returns nothing when they pull alike, else the differences sorted by scope.
func Compare(expected, actual *RegistriesConf) []Difference {
	var out []Difference
	if !slices.Equal(expected.UnqualifiedSearchRegistries, actual.UnqualifiedSearchRegistries) {
		out = append(out, Difference{Change: Different, Field: "unqualified-search-registries",
			Expected: listString(expected.UnqualifiedSearchRegistries), Actual: listString(actual.UnqualifiedSearchRegistries)})
	}
	exp := byPrefix(expected.Registries)
	act := byPrefix(actual.Registries)
	prefixes := make([]string, 0, len(exp)+len(act))
	for p := range exp {
		prefixes = append(prefixes, p)
	}
	for p := range act {
		if _, ok := exp[p]; !ok {
			prefixes = append(prefixes, p)
		}
	}
	sort.Strings(prefixes)
	for _, p := range prefixes {
		e, inExp := exp[p]
		a, inAct := act[p]
		switch {
		case !inAct:
			out = append(out, Difference{Scope: p, Change: Missing, Expected: RegistryString(e)})
		case !inExp:
			out = append(out, Difference{Scope: p, Change: Extra, Actual: RegistryString(a)})
		default:
			out = append(out, compareRegistry(p, e, a)...)
		}
	}
	return out
}

func byPrefix(regs []sysregistriesv2.Registry) map[string]*sysregistriesv2.Registry {
	m := make(map[string]*sysregistriesv2.Registry, len(regs))
	for i := range regs {
		if _, seen := m[regs[i].Prefix]; !seen { // containers/image: the first entry of a prefix wins
			m[regs[i].Prefix] = normalised(regs[i])
		}
	}
	return m
}

// normalised spells r the way the MCO writes it today: mirror-by-digest-only = true becomes
// pull-from-mirror = "digest-only" on every mirror (PullSourcesFromReference treats them alike),
// and "all" becomes "".
func normalised(r sysregistriesv2.Registry) *sysregistriesv2.Registry {
	r.Mirrors = slices.Clone(r.Mirrors)
	for i := range r.Mirrors {
		if r.MirrorByDigestOnly {
			r.Mirrors[i].PullFromMirror = sysregistriesv2.MirrorByDigestOnly
		}
		if r.Mirrors[i].PullFromMirror == sysregistriesv2.MirrorAll {
			r.Mirrors[i].PullFromMirror = ""
		}
	}
	if len(r.Mirrors) > 0 {
		r.MirrorByDigestOnly = false
	}
	return &r
}

func compareRegistry(prefix string, e, a *sysregistriesv2.Registry) []Difference {
	var out []Difference
	diff := func(field, exp, act string) {
		out = append(out, Difference{Scope: prefix, Change: Different, Field: field, Expected: exp, Actual: act})
	}
	if e.Location != a.Location {
		diff("location", quoteOrNone(e.Location), quoteOrNone(a.Location))
	}
	if e.Blocked != a.Blocked {
		diff("blocked", fmt.Sprint(e.Blocked), fmt.Sprint(a.Blocked))
	}
	if e.Insecure != a.Insecure {
		diff("insecure", fmt.Sprint(e.Insecure), fmt.Sprint(a.Insecure))
	}
	if e.MirrorByDigestOnly != a.MirrorByDigestOnly {
		diff("mirror-by-digest-only", fmt.Sprint(e.MirrorByDigestOnly), fmt.Sprint(a.MirrorByDigestOnly))
	}
	if !slices.Equal(e.Mirrors, a.Mirrors) { // normalised: Location, Insecure, PullFromMirror
		diff("mirrors", mirrorsString(e.Mirrors), mirrorsString(a.Mirrors))
	}
	return out
}

// RegistryString describes a [[registry]] entry on one line.
func RegistryString(r *sysregistriesv2.Registry) string {
	var parts []string
	if r.Location != "" {
		parts = append(parts, "location "+r.Location)
	}
	if r.Blocked {
		parts = append(parts, "blocked")
	}
	if r.Insecure {
		parts = append(parts, "insecure")
	}
	if r.MirrorByDigestOnly {
		parts = append(parts, "mirror-by-digest-only")
	}
	if len(r.Mirrors) > 0 {
		parts = append(parts, "mirrors "+mirrorsString(r.Mirrors))
	}
	return strings.Join(parts, ", ")
}

func mirrorsString(ms []sysregistriesv2.Endpoint) string {
	if len(ms) == 0 {
		return "[]"
	}
	s := make([]string, len(ms))
	for i, m := range ms {
		s[i] = m.Location
		var attrs []string
		if p := m.PullFromMirror; p != "" && p != sysregistriesv2.MirrorAll {
			attrs = append(attrs, p)
		}
		if m.Insecure {
			attrs = append(attrs, "insecure")
		}
		if len(attrs) > 0 {
			s[i] += " (" + strings.Join(attrs, ", ") + ")"
		}
	}
	return "[" + strings.Join(s, ", ") + "]"
}

func listString(s []string) string { return "[" + strings.Join(s, ", ") + "]" }

func quoteOrNone(s string) string {
	if s == "" {
		return "(none)"
	}
	return s
}
