package signature

import (
	"bytes"
	"errors"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/spf13/pflag"
)

func TestStoreFlagAndItsHiddenAlias(t *testing.T) {
	var stores []string
	fs := pflag.NewFlagSet("x", pflag.ContinueOnError)
	AddStoreFlag(fs, &stores, "store")
	if err := fs.Parse([]string{"--store", "a", "--signature-store", "b", "--store", "c"}); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(stores, []string{"a", "b", "c"}) {
		t.Errorf("stores = %v, want every one in order", stores)
	}
	var help bytes.Buffer
	fs.SetOutput(&help)
	fs.PrintDefaults()
	if !strings.Contains(help.String(), "--store") || strings.Contains(help.String(), "signature-store") {
		t.Errorf("help shows:\n%s", help.String())
	}
}

func TestKeyringFilesAndStoresAreBadInputNamed(t *testing.T) {
	bad := func(err error) bool {
		var b interface{ BadInput() bool }
		return errors.As(err, &b) && b.BadInput()
	}
	notAKey := filepath.Join("testdata", "store", "sha256="+strings.TrimPrefix(ciDigest, "sha256:"), "signature-1")
	for _, tc := range []struct {
		paths []string
		want  string
	}{
		{[]string{"testdata/keyrings/redhat.txt", filepath.Join(t.TempDir(), "missing.asc")}, "--keyring: open "},
		{[]string{notAKey}, "--keyring " + notAKey + ": "},
	} {
		if _, err := ReadKeyringFiles(tc.paths); !bad(err) || !strings.HasPrefix(err.Error(), tc.want) {
			t.Errorf("ReadKeyringFiles(%v) = %v, want bad input starting %q", tc.paths, err, tc.want)
		}
	}
	kr, err := ReadKeyringFiles([]string{"testdata/keyrings/redhat.txt", "testdata/keyrings/simple.txt"})
	if err != nil || kr.Len() < 2 {
		t.Errorf("two keyrings: %d keys, %v", kr.Len(), err)
	}
	if _, err := OpenStores([]string{"ftp://example.com/x"}, nil, Timeouts{}); !bad(err) || !strings.HasPrefix(err.Error(), "--store: ") {
		t.Errorf("OpenStores(ftp) = %v", err)
	}
	if s, err := OpenStores(nil, nil, Timeouts{}); err != nil || len(s) != len(DefaultStores) {
		t.Errorf("OpenStores(none) = %v, %v; want the default stores", s, err)
	}
}
