package testenv

import (
	"bytes"
	"encoding/json"
	"testing"

	"golang.org/x/crypto/openpgp"        //nolint:staticcheck // the library pkg/signature verifies with
	"golang.org/x/crypto/openpgp/armor"  //nolint:staticcheck // the library pkg/signature verifies with
	"golang.org/x/crypto/openpgp/packet" //nolint:staticcheck // the library pkg/signature verifies with
)

// SigningKey is an OpenPGP key that signs release images in tests, as the
// release tooling's key does.
type SigningKey struct {
	Entity *openpgp.Entity
}

// NewSigningKey generates a signing key; cfg may set its creation time.
func NewSigningKey(t testing.TB, cfg *packet.Config) *SigningKey {
	t.Helper()
	e, err := openpgp.NewEntity("Test Release Signer", "", "signer@example.com", cfg)
	if err != nil {
		t.Fatal(err)
	}
	// Prefer SHA-256, as gpg's keys do; without preferences openpgp.Sign
	// falls back to RIPEMD-160, which Go does not build in.
	for _, id := range e.Identities {
		id.SelfSignature.PreferredHash = []uint8{8} // SHA-256 (RFC 4880, 9.4)
		if err := id.SelfSignature.SignUserId(id.UserId.Id, e.PrimaryKey, e.PrivateKey, cfg); err != nil {
			t.Fatal(err)
		}
	}
	return &SigningKey{Entity: e}
}

// Sign makes an OpenPGP signed message (one-pass signature, literal data,
// signature) over payload.
func (k *SigningKey) Sign(t testing.TB, payload []byte, cfg *packet.Config) []byte {
	t.Helper()
	var buf bytes.Buffer
	w, err := openpgp.Sign(&buf, k.Entity, nil, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Write(payload); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// SignRelease signs an atomic container signature claiming that identity
// (a pull spec) has manifest digest.
func (k *SigningKey) SignRelease(t testing.TB, digest, identity string) []byte {
	t.Helper()
	payload, err := json.Marshal(map[string]any{
		"critical": map[string]any{
			"type":     "atomic container signature",
			"image":    map[string]string{"docker-manifest-digest": digest},
			"identity": map[string]string{"docker-reference": identity},
		},
		"optional": map[string]any{"creator": "oc-plugins testenv"},
	})
	if err != nil {
		t.Fatal(err)
	}
	return k.Sign(t, payload, nil)
}

// PublicKey returns the public key, binary.
func (k *SigningKey) PublicKey(t testing.TB) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := k.Entity.Serialize(&buf); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// ArmoredPublicKey returns the public key, ASCII-armored, as a key file or
// the cluster's verifier-public-key-* entries hold it.
func (k *SigningKey) ArmoredPublicKey(t testing.TB) []byte {
	t.Helper()
	var buf bytes.Buffer
	w, err := armor.Encode(&buf, openpgp.PublicKeyType, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Write(k.PublicKey(t)); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}
