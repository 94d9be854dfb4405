package mirror

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
	// Line is the 1-based line the mapping was read from; 0 if not read.
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
		m.Line = n
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
	for _, side := range []struct{ what, ref string }{{"source", src}, {"destination", dst}} {
		named, err := reference.ParseNormalizedNamed(side.ref)
		if err != nil {
			return Mapping{}, fmt.Errorf("%s %q: %w", side.what, side.ref, err)
		}
		if side.what == "destination" {
			if _, ok := named.(reference.Digested); ok {
				return Mapping{}, fmt.Errorf("destination %q: a destination cannot name a digest; give a repository or a tag", side.ref)
			}
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
