package catalog

import (
	"fmt"
	"maps"
	"slices"
	"sort"
	"strings"

	"github.com/operator-framework/operator-registry/alpha/declcfg"
)

// repair returns sel, or when sel alone is not a channel OLM accepts, sel
// with the fewest entries of the full channel added that make it one:
// one head, and every other entry on the head's replaces chain or skipped
// by a kept entry (the rules of the operator-framework's model). A version
// range cut out of the middle of a channel is the usual case: the kept
// entries are then joined through the replaces chain that links them.
func repair(entries []declcfg.ChannelEntry, sel map[string]bool) (kept map[string]bool, added []string, err error) {
	if checkChannel(entries, sel) == nil {
		return sel, nil, nil
	}
	full := map[string]bool{}
	for _, e := range entries {
		full[e.Name] = true
	}
	top, err := head(entries)
	if err != nil {
		return nil, nil, err
	}
	byName := map[string]declcfg.ChannelEntry{}
	skippedBy := map[string][]string{}
	for _, e := range entries {
		byName[e.Name] = e
		for _, s := range e.Skips {
			skippedBy[s] = append(skippedBy[s], e.Name)
		}
	}
	// The full channel's replaces chain, from its head down.
	var chain []string
	pos := map[string]int{}
	for cur := top; cur != "" && full[cur]; cur = byName[cur].Replaces {
		if _, seen := pos[cur]; seen {
			break
		}
		pos[cur] = len(chain)
		chain = append(chain, cur)
	}

	kept = map[string]bool{}
	lo, hi := -1, -1
	extend := func(i int) {
		if lo < 0 || i < lo {
			lo = i
		}
		if i > hi {
			hi = i
		}
	}
	names := slices.Sorted(maps.Keys(sel))
	for _, n := range names {
		kept[n] = true
		if i, ok := pos[n]; ok {
			extend(i)
		}
	}
	// An entry off the chain stays only when a kept entry skips it: find
	// the nearest chain entry that reaches it through skips.
	for _, n := range names {
		if _, ok := pos[n]; ok {
			continue
		}
		type candidate struct {
			at   int
			path []string
		}
		var best *candidate
		cost := func(c candidate) int {
			switch {
			case lo < 0:
				return -c.at // nothing kept on the chain yet: the oldest skipper
			case c.at < lo:
				return lo - c.at
			case c.at > hi:
				return c.at - hi
			}
			return 0
		}
		seen := map[string]bool{n: true}
		queue := []candidate{{-1, []string{n}}}
		for len(queue) > 0 {
			c := queue[0]
			queue = queue[1:]
			for _, by := range skippedBy[c.path[len(c.path)-1]] {
				if seen[by] {
					continue
				}
				seen[by] = true
				next := candidate{-1, append(append([]string{}, c.path...), by)}
				if i, ok := pos[by]; ok {
					next.at = i
					if best == nil || cost(next) < cost(*best) {
						best = &next
					}
					continue
				}
				queue = append(queue, next)
			}
		}
		if best == nil {
			return nil, nil, fmt.Errorf("bundle %s is neither on the channel's replaces chain nor skipped by an entry that is", n)
		}
		for _, p := range best.path {
			kept[p] = true
		}
		extend(best.at)
	}
	for i := lo; i >= 0 && i <= hi; i++ {
		kept[chain[i]] = true
	}
	for n := range kept {
		if !sel[n] {
			added = append(added, n)
		}
	}
	sort.Strings(added)
	if err := checkChannel(entries, kept); err != nil {
		return nil, nil, fmt.Errorf("cannot keep the selected bundles as one upgrade graph: %w", err)
	}
	return kept, added, nil
}

// checkChannel applies the model's channel rules to the entries in kept.
func checkChannel(entries []declcfg.ChannelEntry, kept map[string]bool) error {
	var sub []declcfg.ChannelEntry
	byName := map[string]declcfg.ChannelEntry{}
	skipped := map[string]bool{}
	for _, e := range entries {
		if kept[e.Name] {
			sub = append(sub, e)
			byName[e.Name] = e
			for _, s := range e.Skips {
				skipped[s] = true
			}
		}
	}
	if len(sub) == 0 {
		return fmt.Errorf("no entries")
	}
	h, err := head(sub)
	if err != nil {
		return err
	}
	onChain := map[string]bool{}
	for cur := h; cur != ""; cur = byName[cur].Replaces {
		if onChain[cur] {
			return fmt.Errorf("the replaces chain has a cycle at %s", cur)
		}
		onChain[cur] = true
		if _, ok := byName[cur]; !ok {
			break
		}
	}
	var stranded []string
	for _, e := range sub {
		if !onChain[e.Name] && !skipped[e.Name] {
			stranded = append(stranded, e.Name)
		}
	}
	if len(stranded) > 0 {
		sort.Strings(stranded)
		return fmt.Errorf("stranded bundles (neither on the head's replaces chain nor skipped): %s", strings.Join(stranded, ", "))
	}
	return nil
}
