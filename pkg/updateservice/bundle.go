package updateservice

import (
	"bytes"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"strings"
)

// MergePEM adds the certificates of add that existing lacks to the end of
// existing, keeping existing as it is, byte for byte: a CA bundle another
// registry or proxy relies on must not lose or reorder anything. It
// reports whether anything was added. Both must hold only PEM
// certificates (existing may be empty).
func MergePEM(existing, add string) (string, bool, error) {
	have, err := certificates(existing)
	if err != nil {
		return "", false, fmt.Errorf("the bundle already there: %w", err)
	}
	more, err := certificates(add)
	if err != nil {
		return "", false, err
	}
	if len(more) == 0 {
		return "", false, errors.New("no PEM certificate")
	}
	seen := map[string]bool{}
	for _, c := range have {
		seen[string(c.Bytes)] = true
	}
	out := existing
	added := false
	for _, c := range more {
		if seen[string(c.Bytes)] {
			continue
		}
		seen[string(c.Bytes)] = true
		if out != "" && !strings.HasSuffix(out, "\n") {
			out += "\n"
		}
		out += string(pem.EncodeToMemory(c))
		added = true
	}
	return out, added, nil
}

// certificates reads the PEM CERTIFICATE blocks of s; anything else but
// blank space is an error.
func certificates(s string) ([]*pem.Block, error) {
	var out []*pem.Block
	rest := []byte(s)
	for n := 1; ; n++ {
		var b *pem.Block
		b, rest = pem.Decode(rest)
		if b == nil {
			break
		}
		if b.Type != "CERTIFICATE" {
			return nil, fmt.Errorf("PEM block %d is a %s, not a CERTIFICATE", n, b.Type)
		}
		if _, err := x509.ParseCertificate(b.Bytes); err != nil {
			return nil, fmt.Errorf("PEM block %d: %w", n, err)
		}
		out = append(out, b)
	}
	if len(bytes.TrimSpace(rest)) > 0 {
		return nil, errors.New("text that is not a PEM certificate")
	}
	return out, nil
}

// CertPool adds the PEM certificates of bundle to pool; it reports how many.
func CertPool(pool *x509.CertPool, bundle string) (int, error) {
	certs, err := certificates(bundle)
	if err != nil {
		return 0, err
	}
	for _, b := range certs {
		c, _ := x509.ParseCertificate(b.Bytes)
		pool.AddCert(c)
	}
	return len(certs), nil
}
