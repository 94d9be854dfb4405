package mirrorset

import (
	"sort"
	"strings"

	"github.com/BurntSushi/toml"
	"github.com/containers/image/v5/pkg/sysregistriesv2"
	configv1 "github.com/openshift/api/config/v1"
	operatorv1alpha1 "github.com/openshift/api/operator/v1alpha1"
	"github.com/openshift/runtime-utils/pkg/registries"
)

// editRegistriesConfig is registries.EditRegistriesConfig on the base template, returning the
// same registries.conf, but run on each group of scopes that can affect one another on its own.
//
// EditRegistriesConfig compares every mirror source with every registry entry (it looks each
// source up by a linear scan, then walks all entries for nested scopes): quadratic, 1.5 s of
// CPU for 10,000 mirror entries (BenchmarkRender10000Mirrors). Two scopes only ever affect each
// other when one is nested in the other (ScopeIsNestedInsideScope: equal, a path prefix, or a
// wildcard *.domain matching the host); the one effect that crosses that line, an insecure scope
// marking the mirrors inside it, is kept by giving every group all the insecure scopes. Entries
// come back in the order the single call appends them (digest sources sorted, then tag sources
// sorted, then blocked, then insecure scopes, each at its first appearance). Whenever anything
// does not fit (an error, a scope it cannot place, a base with registries of its own) the
// single call decides, so errors read exactly as the MCO's.
func editRegistriesConfig(insecure, blocked []string, icsps []*operatorv1alpha1.ImageContentSourcePolicy,
	idmss []*configv1.ImageDigestMirrorSet, itmss []*configv1.ImageTagMirrorSet) (*sysregistriesv2.V2RegistriesConf, error) {
	single := func() (*sysregistriesv2.V2RegistriesConf, error) {
		conf := &sysregistriesv2.V2RegistriesConf{}
		if _, err := toml.Decode(baseRegistriesConf, conf); err != nil {
			return nil, err
		}
		return conf, registries.EditRegistriesConfig(conf, insecure, blocked, icsps, idmss, itmss)
	}

	// Union the scopes that nest.
	u := newScopeUnion()
	for _, o := range idmss {
		for _, e := range o.Spec.ImageDigestMirrors {
			u.add(e.Source)
		}
	}
	for _, o := range icsps {
		for _, e := range o.Spec.RepositoryDigestMirrors {
			u.add(e.Source)
		}
	}
	for _, o := range itmss {
		for _, e := range o.Spec.ImageTagMirrors {
			u.add(e.Source)
		}
	}
	for _, s := range blocked {
		u.add(s)
	}
	for _, s := range insecure {
		u.add(s)
	}
	u.link()
	groups := u.groups()
	if groups < 2 {
		return single()
	}

	// Each group's share of the objects, in their order (the merge of one source's mirror sets
	// depends on it), and its blocked scopes.
	type part struct {
		idmss   []*configv1.ImageDigestMirrorSet
		icsps   []*operatorv1alpha1.ImageContentSourcePolicy
		itmss   []*configv1.ImageTagMirrorSet
		blocked []string
	}
	parts := make([]part, groups)
	for _, o := range idmss {
		split := map[int]*configv1.ImageDigestMirrorSet{}
		for _, e := range o.Spec.ImageDigestMirrors {
			g := u.group(e.Source)
			if split[g] == nil {
				split[g] = &configv1.ImageDigestMirrorSet{}
				parts[g].idmss = append(parts[g].idmss, split[g])
			}
			split[g].Spec.ImageDigestMirrors = append(split[g].Spec.ImageDigestMirrors, e)
		}
	}
	for _, o := range icsps {
		split := map[int]*operatorv1alpha1.ImageContentSourcePolicy{}
		for _, e := range o.Spec.RepositoryDigestMirrors {
			g := u.group(e.Source)
			if split[g] == nil {
				split[g] = &operatorv1alpha1.ImageContentSourcePolicy{}
				parts[g].icsps = append(parts[g].icsps, split[g])
			}
			split[g].Spec.RepositoryDigestMirrors = append(split[g].Spec.RepositoryDigestMirrors, e)
		}
	}
	for _, o := range itmss {
		split := map[int]*configv1.ImageTagMirrorSet{}
		for _, e := range o.Spec.ImageTagMirrors {
			g := u.group(e.Source)
			if split[g] == nil {
				split[g] = &configv1.ImageTagMirrorSet{}
				parts[g].itmss = append(parts[g].itmss, split[g])
			}
			split[g].Spec.ImageTagMirrors = append(split[g].Spec.ImageTagMirrors, e)
		}
	}
	for _, s := range blocked {
		g := u.group(s)
		parts[g].blocked = append(parts[g].blocked, s)
	}

	var conf sysregistriesv2.V2RegistriesConf
	if _, err := toml.Decode(baseRegistriesConf, &conf); err != nil || len(conf.Registries) > 0 {
		return single()
	}
	var entries []sysregistriesv2.Registry
	for g, p := range parts {
		c := conf // the base, decoded once: EditRegistriesConfig only appends to Registries
		c.Registries = nil
		if err := registries.EditRegistriesConfig(&c, insecure, p.blocked, p.icsps, p.idmss, p.itmss); err != nil {
			return single()
		}
		for _, reg := range c.Registries {
			// An insecure scope of another group is added to every group: keep its home's.
			if u.group(registryScope(reg)) == g {
				entries = append(entries, reg)
			}
		}
	}

	// The single call's order.
	rank := map[string]int{}
	next := 0
	place := func(scopes []string) {
		for _, s := range scopes {
			if _, ok := rank[s]; !ok {
				rank[s] = next
				next++
			}
		}
	}
	place(sortedSources(digestSources(icsps, idmss)))
	place(sortedSources(tagSources(itmss)))
	place(blocked)
	place(insecure)
	for _, reg := range entries {
		if _, ok := rank[registryScope(reg)]; !ok {
			return single()
		}
	}
	if len(entries) != len(rank) {
		return single()
	}
	sort.SliceStable(entries, func(i, j int) bool { return rank[registryScope(entries[i])] < rank[registryScope(entries[j])] })
	conf.Registries = entries
	return &conf, nil
}

// registryScope is the scope of a registries.conf entry, as runtime-utils reads it.
func registryScope(reg sysregistriesv2.Registry) string {
	if reg.Prefix != "" {
		return reg.Prefix
	}
	return reg.Location
}

// digestSources are the sources EditRegistriesConfig makes digest mirror entries of: those
// with a mirror that is not the source itself.
func digestSources(icsps []*operatorv1alpha1.ImageContentSourcePolicy, idmss []*configv1.ImageDigestMirrorSet) map[string]bool {
	out := map[string]bool{}
	for _, o := range idmss {
		for _, e := range o.Spec.ImageDigestMirrors {
			for _, m := range e.Mirrors {
				if string(m) != e.Source {
					out[e.Source] = true
				}
			}
		}
	}
	for _, o := range icsps {
		for _, e := range o.Spec.RepositoryDigestMirrors {
			for _, m := range e.Mirrors {
				if m != e.Source {
					out[e.Source] = true
				}
			}
		}
	}
	return out
}

func tagSources(itmss []*configv1.ImageTagMirrorSet) map[string]bool {
	out := map[string]bool{}
	for _, o := range itmss {
		for _, e := range o.Spec.ImageTagMirrors {
			for _, m := range e.Mirrors {
				if string(m) != e.Source {
					out[e.Source] = true
				}
			}
		}
	}
	return out
}

func sortedSources(set map[string]bool) []string {
	out := make([]string, 0, len(set))
	for s := range set {
		out = append(out, s)
	}
	sort.Strings(out)
	return out
}

// scopeUnion groups scopes by nesting (union-find).
type scopeUnion struct {
	index   map[string]int
	parent  []int
	names   []string
	groupOf map[int]int // root -> group number
}

func newScopeUnion() *scopeUnion { return &scopeUnion{index: map[string]int{}} }

func (u *scopeUnion) add(s string) {
	if _, ok := u.index[s]; ok {
		return
	}
	u.index[s] = len(u.parent)
	u.parent = append(u.parent, len(u.parent))
	u.names = append(u.names, s)
}

func (u *scopeUnion) find(i int) int {
	for u.parent[i] != i {
		u.parent[i] = u.parent[u.parent[i]]
		i = u.parent[i]
	}
	return i
}

// link unions each scope with every scope it is nested in.
func (u *scopeUnion) link() {
	for i, s := range u.names {
		for _, a := range enclosingScopes(s) {
			if j, ok := u.index[a]; ok {
				u.parent[u.find(i)] = u.find(j)
			}
		}
	}
	u.groupOf = map[int]int{}
	for i := range u.names {
		r := u.find(i)
		if _, ok := u.groupOf[r]; !ok {
			u.groupOf[r] = len(u.groupOf)
		}
	}
}

func (u *scopeUnion) groups() int { return len(u.groupOf) }

// group is the group number of a scope added before link, -1 for any other.
func (u *scopeUnion) group(s string) int {
	i, ok := u.index[s]
	if !ok {
		return -1
	}
	return u.groupOf[u.find(i)]
}

// enclosingScopes lists every scope s is nested in by registries.ScopeIsNestedInsideScope,
// other than s: its path prefixes (host, host/ns, ...) and, for its host, each wildcard
// *.domain it matches.
func enclosingScopes(s string) []string {
	var out []string
	for i := 1; i < len(s); i++ {
		if s[i] == '/' {
			out = append(out, s[:i])
		}
	}
	host, ok := s, true
	if before, _, found := strings.Cut(s, ":"); found {
		host, ok = before, !strings.Contains(before, "/")
	} else if before, _, found := strings.Cut(s, "/"); found {
		host = before
	}
	if ok {
		for i := 0; i < len(host); i++ {
			if host[i] == '.' {
				if w := "*" + host[i:]; w != s {
					out = append(out, w)
				}
			}
		}
	}
	return out
}
