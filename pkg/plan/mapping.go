package plan

import (
	"bufio"
	"fmt"
	"io"
	"strings"

	"github.com/containers/image/v5/docker/reference"
)

// Mapping is one line of a mapping file: a source and a destination image
// reference (registry/path with an optional tag or digest).
type Mapping struct {
	Source, Dest string
	// File and Line are where the mapping was read from (Line is 1-based;
	// 0 for an argument).
	File string
	Line int
}

// ReadMappings reads the `oc image mirror` mapping format: one "SRC DST" or
// "SRC=DST" per line, blank lines and # comments ignored. A "docker://"
// prefix is accepted on either side. name is used in errors.
func ReadMappings(r io.Reader, name string) ([]Mapping, error) {
	var out []Mapping
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	n := 1
	for ; sc.Scan(); n++ {
		line := sc.Text()
		if i := strings.Index(line, "#"); i >= 0 {
			line = line[:i]
		}
		line = strings.TrimSpace(line)
		if line == "" {
			continue
		}
		m, err := ParseMapping(line)
		if err != nil {
			return nil, fmt.Errorf("%s: line %d: %w", name, n, err)
		}
		m.File, m.Line = name, n
		out = append(out, m)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("%s: line %d: %w", name, n, err)
	}
	return out, nil
}

// ParseMapping parses "SRC=DST" or "SRC DST".
func ParseMapping(s string) (Mapping, error) {
	var src, dst string
	if f := strings.Fields(s); len(f) == 2 {
		src, dst = f[0], f[1]
	} else if len(f) == 1 && strings.Count(s, "=") == 1 {
		src, dst, _ = strings.Cut(strings.TrimSpace(s), "=")
	} else {
		return Mapping{}, fmt.Errorf("%q: want SRC=DST or SRC DST", s)
	}
	src, dst = strings.TrimPrefix(src, "docker://"), strings.TrimPrefix(dst, "docker://")
	var srcDigest string
	for _, side := range []struct{ what, ref string }{{"source", src}, {"destination", dst}} {
		named, err := reference.ParseNormalizedNamed(side.ref)
		if err != nil {
			return Mapping{}, fmt.Errorf("%s %q: %w", side.what, side.ref, err)
		}
		d, ok := named.(reference.Digested)
		switch {
		case side.what == "source" && ok:
			srcDigest = d.Digest().String()
		case ok && d.Digest().String() != srcDigest:
			// What a copy pushed by digest, the mapping.txt of a run
			// says so: REPO@ the source's own digest.
			return Mapping{}, fmt.Errorf("destination %q: a destination cannot name a digest other than the source's; give a repository or a tag", side.ref)
		}
	}
	return Mapping{Source: src, Dest: dst}, nil
}

// NestPaths shortens the repository path of ref (host/a/b/c[:tag]) to at
// most n components, joining the last ones with "-" as oc-mirror's
// --max-nested-paths does (host/a/b-c for n = 2), for registries that refuse
// deep paths. n <= 0 leaves ref as it is.
func NestPaths(ref string, n int) (string, error) {
	if n <= 0 {
		return ref, nil
	}
	named, err := reference.ParseNormalizedNamed(ref)
	if err != nil {
		return "", err
	}
	parts := strings.Split(reference.Path(named), "/")
	if len(parts) <= n {
		return ref, nil
	}
	path := strings.Join(append(parts[:n-1:n-1], strings.Join(parts[n-1:], "-")), "/")
	out := reference.Domain(named) + "/" + path
	if t, ok := named.(reference.Tagged); ok {
		out += ":" + t.Tag()
	}
	if d, ok := named.(reference.Digested); ok {
		out += "@" + d.Digest().String()
	}
	return out, nil
}

// FromMappings plans mappings, in order. A destination without a tag gets
// the source's tag, or is pushed by digest when the source names one; a
// source without either is :latest. With keepRegistry each item's Path is
// the destination's whole repository (for a destination root of ""); without
// it, the destination's registry is left out, to be the one given at disk to
// mirror. platform, when set, copies one image of each manifest list.
func FromMappings(maps []Mapping, keepRegistry bool, platform *Platform) (*Plan, error) {
	p := &Plan{}
	for i, m := range maps {
		origin := fmt.Sprintf("argument %d", i+1)
		if m.File != "" {
			origin = fmt.Sprintf("%s line %d", m.File, m.Line)
		}
		it, err := mappingItem(m)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", origin, err)
		}
		if !keepRegistry {
			dst, _ := reference.ParseNormalizedNamed(it.Path)
			it.Path = reference.Path(dst)
		}
		it.Kind, it.Origin, it.Platform = Image, origin, platform
		if err := p.Add(it); err != nil {
			return nil, err
		}
	}
	return p, nil
}

func mappingItem(m Mapping) (Item, error) {
	src, err := reference.ParseNormalizedNamed(m.Source)
	if err != nil {
		return Item{}, fmt.Errorf("source %q: %w", m.Source, err)
	}
	dst, err := reference.ParseNormalizedNamed(m.Dest)
	if err != nil {
		return Item{}, fmt.Errorf("destination %q: %w", m.Dest, err)
	}
	it := Item{Path: reference.TrimNamed(dst).Name()}
	if d, ok := src.(reference.Digested); ok {
		it.Digest = d.Digest()
	} else {
		src = reference.TagNameOnly(src)
		it.ByTag = true
		it.Tag = src.(reference.Tagged).Tag()
	}
	if t, ok := dst.(reference.Tagged); ok {
		it.Tag = t.Tag()
	}
	it.Source = src.String()
	return it, nil
}
