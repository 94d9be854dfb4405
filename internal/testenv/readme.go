package testenv

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// README returns the project's README.md, whose examples tests run as
// written.
func README(t testing.TB) string {
	t.Helper()
	root, err := RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join(root, "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// READMEBlock returns the first code block of language lang (```lang)
// after the README's first line that is exactly after: a marker comment
// such as "<!-- mirror-lite-delete -->", or a heading.
func READMEBlock(t testing.TB, after, lang string) string {
	t.Helper()
	_, rest, ok := strings.Cut(README(t), "\n"+after+"\n")
	if !ok {
		t.Fatalf("README.md has no line %q", after)
	}
	_, block, ok := strings.Cut(rest, "```"+lang+"\n")
	if !ok {
		t.Fatalf("README.md has no %s block after %q", lang, after)
	}
	block, _, _ = strings.Cut(block, "```")
	return block
}
