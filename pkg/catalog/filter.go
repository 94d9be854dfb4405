package catalog

import (
	"fmt"
	"maps"
	"slices"
	"sort"
	"strings"

	"github.com/operator-framework/operator-registry/alpha/declcfg"
)

// Kept is what a selection keeps of a catalog, ready to be written.
type Kept struct {
	Packages map[string]*KeptPackage
	// Notes say what was kept beyond the selection and why (a default
	// channel's head, bundles that hold a channel together, dependencies),
	// one line each, for stderr.
	Notes []string
	// Unsatisfied are the dependencies of kept bundles that nothing kept
	// provides.
	Unsatisfied []Unsatisfied
}

// KeptPackage is one package of the filtered catalog.
type KeptPackage struct {
	Name           string
	DefaultChannel string
	// Channels holds the names of each kept channel's kept entries.
	Channels map[string]map[string]bool
}

// Unsatisfied is a dependency of a kept bundle that the filtered catalog
// cannot satisfy.
type Unsatisfied struct {
	Bundle      string
	Requirement Requirement
}

func (u Unsatisfied) String() string {
	return fmt.Sprintf("bundle %s requires %s, which no kept bundle provides", u.Bundle, u.Requirement)
}

// SortedNames returns the kept package names in order.
func (k *Kept) SortedNames() []string {
	names := make([]string, 0, len(k.Packages))
	for n := range k.Packages {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// Bundles returns the kept bundles of a package, sorted.
func (p *KeptPackage) Bundles() []string {
	set := map[string]bool{}
	for _, entries := range p.Channels {
		for e := range entries {
			set[e] = true
		}
	}
	return slices.Sorted(maps.Keys(set))
}

// SortedChannels returns the kept channel names in order.
func (p *KeptPackage) SortedChannels() []string { return slices.Sorted(maps.Keys(p.Channels)) }

// FilterOptions change what Filter keeps beyond the selection.
type FilterOptions struct {
	// IncludeDependencies adds, for each dependency no kept bundle
	// satisfies, the newest bundle of the catalog that does, recursively.
	IncludeDependencies bool
}

// Filter applies sel to the catalog and repairs the result so that OLM
// accepts it: every kept channel one upgrade graph with one head, every
// package's default channel present. What it adds beyond the selection is
// said in Kept.Notes. A selection naming what the catalog lacks is a
// *FieldError.
func (x *Index) Filter(sel Selection, opts FilterOptions) (*Kept, error) {
	w, defaults, err := x.want(sel)
	if err != nil {
		return nil, err
	}
	var depNotes []string
	for {
		k, err := x.finalize(w, defaults)
		if err != nil {
			return nil, err
		}
		k.Unsatisfied = x.unsatisfied(k)
		if !opts.IncludeDependencies || len(k.Unsatisfied) == 0 {
			k.Notes = append(k.Notes, depNotes...)
			return k, nil
		}
		var added []*BundleInfo
	next:
		for _, u := range k.Unsatisfied {
			for _, a := range added {
				if u.Requirement.satisfiedBy(a) {
					continue next
				}
			}
			b := x.newestProviding(u.Requirement)
			if b == nil {
				continue
			}
			p := x.Packages[b.Package]
			ch := p.channelOf(b.Name)
			if w[b.Package][ch][b.Name] {
				continue
			}
			w.add(b.Package, ch, b.Name)
			added = append(added, b)
			depNotes = append(depNotes, fmt.Sprintf("package %s: added bundle %s (channel %s): bundle %s requires %s", b.Package, b.Name, ch, u.Bundle, u.Requirement))
		}
		if len(added) == 0 {
			k.Notes = append(k.Notes, depNotes...)
			return k, nil
		}
	}
}

// want is what sel names, before any repair, and the default channels it sets.
func (x *Index) want(sel Selection) (wanted, map[string]string, error) {
	if err := sel.Validate(); err != nil {
		return nil, nil, err
	}
	w := wanted{}
	defaults := map[string]string{}
	if len(sel.Packages) == 0 {
		for _, p := range x.Packages {
			if sel.Full {
				w.addAll(p, "")
				continue
			}
			if err := w.addHead(p, p.DefaultChannel); err != nil {
				return nil, nil, err
			}
		}
	}
	for i, ps := range sel.Packages {
		if err := x.select1(w, defaults, fmt.Sprintf("packages[%d].", i), ps, sel.Full); err != nil {
			return nil, nil, err
		}
	}
	return w, defaults, nil
}

// Selected is exactly what sel names of the catalog, read as Filter reads
// it, without what Filter adds to keep channels and packages whole for OLM
// (a channel's joining bundles, a default channel's head): what a delete
// retires, never a catalog to write. Entries without a bundle are left out.
func (x *Index) Selected(sel Selection) (*Kept, error) {
	w, defaults, err := x.want(sel)
	if err != nil {
		return nil, err
	}
	k := &Kept{Packages: map[string]*KeptPackage{}}
	for pn, chans := range w {
		p := x.Packages[pn]
		kp := &KeptPackage{Name: pn, DefaultChannel: p.DefaultChannel, Channels: map[string]map[string]bool{}}
		if d := defaults[pn]; d != "" {
			kp.DefaultChannel = d
		}
		for ch, entries := range chans {
			named := map[string]bool{}
			for e := range entries {
				if p.Bundles[e] != nil {
					named[e] = true
				}
			}
			if len(named) > 0 {
				kp.Channels[ch] = named
			}
		}
		if len(kp.Channels) > 0 {
			k.Packages[pn] = kp
		}
	}
	return k, nil
}

// wanted is the selection before repair: package → channel → entries.
type wanted map[string]map[string]map[string]bool

func (w wanted) add(pkg, ch, entry string) {
	if w[pkg] == nil {
		w[pkg] = map[string]map[string]bool{}
	}
	if w[pkg][ch] == nil {
		w[pkg][ch] = map[string]bool{}
	}
	if entry != "" {
		w[pkg][ch][entry] = true
	}
}

// addAll keeps every entry of one channel of p, or of all when ch is "".
func (w wanted) addAll(p *PackageIndex, ch string) {
	for name, entries := range p.Channels {
		if ch != "" && name != ch {
			continue
		}
		w.add(p.Name, name, "")
		for _, e := range entries {
			w.add(p.Name, name, e.Name)
		}
	}
}

func (w wanted) addHead(p *PackageIndex, ch string) error {
	entries, ok := p.Channels[ch]
	if !ok {
		return fmt.Errorf("package %s: its default channel %q has no olm.channel in the catalog", p.Name, ch)
	}
	h, err := head(entries)
	if err != nil {
		return fmt.Errorf("package %s channel %s: %w", p.Name, ch, err)
	}
	w.add(p.Name, ch, h)
	return nil
}

// addRange keeps the entries of ch whose bundle version is in r.
func (w wanted) addRange(p *PackageIndex, ch string, r versionRange, field string) error {
	n := 0
	for _, e := range p.Channels[ch] {
		if b := p.Bundles[e.Name]; b != nil && r.contains(b.Version) {
			w.add(p.Name, ch, e.Name)
			n++
		}
	}
	if n == 0 {
		return &FieldError{field, fmt.Sprintf("no bundle of package %s channel %s is %s", p.Name, ch, r)}
	}
	return nil
}

// select1 records what one package selection asks for.
func (x *Index) select1(w wanted, defaults map[string]string, at string, ps Package, full bool) error {
	p, ok := x.Packages[ps.Name]
	if !ok {
		return &FieldError{at + "name", fmt.Sprintf("the catalog has no package %q", ps.Name)}
	}
	if ps.DefaultChannel != "" {
		if _, ok := p.Channels[ps.DefaultChannel]; !ok {
			return &FieldError{at + "defaultChannel", fmt.Sprintf("package %s has no channel %q", p.Name, ps.DefaultChannel)}
		}
		defaults[p.Name] = ps.DefaultChannel
	}
	pr, _ := parseRange(at, ps.MinVersion, ps.MaxVersion)
	switch {
	case len(ps.Bundles) > 0:
		for j, b := range ps.Bundles {
			if _, ok := p.Bundles[b.Name]; !ok {
				return &FieldError{fmt.Sprintf("%sbundles[%d].name", at, j), fmt.Sprintf("package %s has no bundle %q", p.Name, b.Name)}
			}
			found := false
			for ch, entries := range p.Channels {
				for _, e := range entries {
					if e.Name == b.Name {
						w.add(p.Name, ch, e.Name)
						found = true
					}
				}
			}
			if !found {
				return &FieldError{fmt.Sprintf("%sbundles[%d].name", at, j), fmt.Sprintf("bundle %q of package %s is in no channel", b.Name, p.Name)}
			}
		}
	case len(ps.Channels) > 0:
		for j, c := range ps.Channels {
			cat := fmt.Sprintf("%schannels[%d].", at, j)
			if _, ok := p.Channels[c.Name]; !ok {
				return &FieldError{cat + "name", fmt.Sprintf("package %s has no channel %q", p.Name, c.Name)}
			}
			cr, _ := parseRange(cat, c.MinVersion, c.MaxVersion)
			field := cat + rangeField(c.MinVersion)
			if !cr.set() {
				cr, field = pr, at+rangeField(ps.MinVersion)
			}
			var err error
			switch {
			case cr.set():
				err = w.addRange(p, c.Name, cr, field)
			case full:
				w.addAll(p, c.Name)
			default:
				err = w.addHead(p, c.Name)
			}
			if err != nil {
				return err
			}
		}
	case pr.set():
		ch := p.DefaultChannel
		if d := defaults[p.Name]; d != "" {
			ch = d
		}
		return w.addRange(p, ch, pr, at+rangeField(ps.MinVersion))
	case full:
		w.addAll(p, "")
	default:
		ch := p.DefaultChannel
		if d := defaults[p.Name]; d != "" {
			ch = d
		}
		return w.addHead(p, ch)
	}
	return nil
}

// finalize makes each wanted package valid: its default channel kept and
// every channel repaired into one graph with one head.
func (x *Index) finalize(w wanted, defaults map[string]string) (*Kept, error) {
	k := &Kept{Packages: map[string]*KeptPackage{}}
	for _, name := range slices.Sorted(maps.Keys(w)) {
		p := x.Packages[name]
		kp := &KeptPackage{Name: name, DefaultChannel: p.DefaultChannel, Channels: map[string]map[string]bool{}}
		if d := defaults[name]; d != "" {
			kp.DefaultChannel = d
		}
		chans := w[name]
		if _, ok := chans[kp.DefaultChannel]; !ok {
			if defaults[name] != "" {
				return nil, fmt.Errorf("package %s: defaultChannel %q holds none of the selected bundles", name, kp.DefaultChannel)
			}
			one := wanted{}
			if err := one.addHead(p, kp.DefaultChannel); err != nil {
				return nil, err
			}
			h := slices.Sorted(maps.Keys(one[name][kp.DefaultChannel]))[0]
			chans[kp.DefaultChannel] = map[string]bool{h: true}
			k.Notes = append(k.Notes, fmt.Sprintf("package %s: kept bundle %s, the head of default channel %s, so that the package keeps its default channel (set defaultChannel to choose another)", name, h, kp.DefaultChannel))
		}
		for _, ch := range slices.Sorted(maps.Keys(chans)) {
			kept, added, err := repair(p.Channels[ch], chans[ch])
			if err != nil {
				return nil, fmt.Errorf("package %s channel %s: %w", name, ch, err)
			}
			if len(added) > 0 {
				k.Notes = append(k.Notes, fmt.Sprintf("package %s channel %s: kept %s beyond the selection: without them the channel's upgrade graph falls apart into several heads, which OLM refuses", name, ch, strings.Join(added, ", ")))
			}
			kp.Channels[ch] = kept
		}
		k.Packages[name] = kp
	}
	return k, nil
}

// channelOf is the channel a dependency's bundle joins: the default
// channel when it holds it, else the first by name that does.
func (p *PackageIndex) channelOf(bundle string) string {
	in := func(ch string) bool {
		for _, e := range p.Channels[ch] {
			if e.Name == bundle {
				return true
			}
		}
		return false
	}
	if in(p.DefaultChannel) {
		return p.DefaultChannel
	}
	for _, ch := range slices.Sorted(maps.Keys(p.Channels)) {
		if in(ch) {
			return ch
		}
	}
	return p.DefaultChannel
}

// head is the entry nothing else in entries replaces or skips, as the
// operator-framework's model finds it.
func head(entries []declcfg.ChannelEntry) (string, error) {
	incoming := map[string]bool{}
	for _, e := range entries {
		if e.Replaces != "" {
			incoming[e.Replaces] = true
		}
		for _, s := range e.Skips {
			incoming[s] = true
		}
	}
	var heads []string
	for _, e := range entries {
		if !incoming[e.Name] {
			heads = append(heads, e.Name)
		}
	}
	switch len(heads) {
	case 0:
		return "", fmt.Errorf("no channel head: every entry is replaced or skipped")
	case 1:
		return heads[0], nil
	}
	sort.Strings(heads)
	return "", fmt.Errorf("several channel heads: %s", strings.Join(heads, ", "))
}
