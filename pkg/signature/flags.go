package signature

import (
	"fmt"
	"net/http"
	"os"
	"strings"

	"github.com/spf13/pflag"
)

// InputError is bad input about signatures given by a user: a keyring file
// that cannot be read or holds no key, a store URL that is not one. The
// command layer makes it exit 2.
type InputError struct{ Err error }

func (e *InputError) Error() string  { return e.Err.Error() }
func (e *InputError) Unwrap() error  { return e.Err }
func (e *InputError) BadInput() bool { return true }

// AddStoreFlag adds --store URL (repeatable), the one spelling of a release
// signature store in every plugin, and the older --signature-store as a
// hidden alias that adds to the same list.
func AddStoreFlag(fs *pflag.FlagSet, stores *[]string, usage string) {
	v := &storesValue{p: stores}
	fs.Var(v, "store", usage)
	fs.Var(v, "signature-store", usage)
	_ = fs.MarkHidden("signature-store")
}

// storesValue appends every --store and --signature-store to one list, in
// the order given.
type storesValue struct{ p *[]string }

func (v *storesValue) Set(s string) error { *v.p = append(*v.p, s); return nil }
func (v *storesValue) Type() string       { return "stringArray" }
func (v *storesValue) String() string     { return "[" + strings.Join(*v.p, ",") + "]" }

// ReadKeyringFiles reads --keyring files (OpenPGP public keys, armored or
// binary) into one keyring.
func ReadKeyringFiles(paths []string) (Keyring, error) {
	var kr Keyring
	for _, path := range paths {
		f, err := os.Open(path)
		if err != nil {
			return kr, &InputError{fmt.Errorf("--keyring: %w", err)}
		}
		one, err := ReadKeyring(f)
		f.Close()
		if err != nil {
			return kr, &InputError{fmt.Errorf("--keyring %s: %w", path, err)}
		}
		kr = kr.Merge(one)
	}
	return kr, nil
}

// OpenStores opens the --store URLs, or DefaultStores when none is given;
// client carries the TLS settings for HTTPS stores, t bounds each store.
func OpenStores(urls []string, client *http.Client, t Timeouts) ([]Store, error) {
	if len(urls) == 0 {
		urls = DefaultStores
	}
	stores := make([]Store, 0, len(urls))
	for _, u := range urls {
		s, err := openStore(u, client, t)
		if err != nil {
			return nil, &InputError{fmt.Errorf("--store: %w", err)}
		}
		stores = append(stores, s)
	}
	return stores, nil
}
