package signature

import (
	"bytes"
	"crypto"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/openpgp"        //nolint:staticcheck // the library verify.go uses
	"golang.org/x/crypto/openpgp/packet" //nolint:staticcheck // the library verify.go uses

	"github.com/airgap-ocp/oc-plugins/internal/testenv"
)

const (
	redhatDigest = "sha256:e3f12513a4b22a2d7c0e7c9207f52128113758d9d68c7d06b11a0ac7672966f7"
	ciDigest     = "sha256:edd9824f0404f1a139688017e7001370e2f3fbc088b94da84506653b473fe140"
	otherDigest  = "sha256:0000000000000000000000000000000000000000000000000000000000000001"
)

func readFile(t *testing.T, parts ...string) []byte {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(append([]string{"testdata"}, parts...)...))
	if err != nil {
		t.Fatal(err)
	}
	return data
}

func fixtureSig(t *testing.T, digest string) []byte {
	return readFile(t, "store", digestDir(digest), "signature-1")
}

func keyring(t *testing.T, name string) Keyring {
	t.Helper()
	kr, err := ReadKeyring(bytes.NewReader(readFile(t, "keyrings", name)))
	if err != nil {
		t.Fatal(err)
	}
	return kr
}

func TestReadKeyring(t *testing.T) {
	kr := keyring(t, "redhat.txt")
	if got := kr.Fingerprints(); len(got) != 1 || got[0] != "567E347AD0044ADE55BA8A5F199E2F91FD431D51" {
		t.Errorf("fingerprints = %v", got)
	}
	// The same key in binary form reads the same.
	var bin bytes.Buffer
	if err := kr.entities[0].Serialize(&bin); err != nil {
		t.Fatal(err)
	}
	kr2, err := ReadKeyring(&bin)
	if err != nil {
		t.Fatalf("binary keyring: %v", err)
	}
	if kr2.Fingerprints()[0] != kr.Fingerprints()[0] {
		t.Errorf("binary keyring fingerprint = %v", kr2.Fingerprints())
	}
	// Armored keys concatenated into one file are all read.
	both := append(append([]byte{}, readFile(t, "keyrings", "redhat.txt")...), readFile(t, "keyrings", "simple.txt")...)
	kr3, err := ReadKeyring(bytes.NewReader(both))
	if err != nil || kr3.Len() != 2 {
		t.Fatalf("concatenated armored keys: %d keys, %v", kr3.Len(), err)
	}
	if _, err := ReadKeyring(strings.NewReader("")); err == nil {
		t.Error("empty keyring accepted")
	}
	if _, err := ReadKeyring(strings.NewReader("not a key")); err == nil {
		t.Error("garbage keyring accepted")
	}
}

// The real Red Hat signature (a version 3 signature packet, as Red Hat's
// release signatures are) verifies for its digest with Red Hat's key, and
// for no other digest.
func TestVerifyRealRedHatSignature(t *testing.T) {
	raw := fixtureSig(t, redhatDigest)
	sig, err := Verify(raw, redhatDigest, keyring(t, "redhat.txt"))
	if err != nil {
		t.Fatalf("Verify: %v", err)
	}
	if sig.Identity != "registry.access.redhat.com/rhel7:7.6" {
		t.Errorf("identity = %q", sig.Identity)
	}
	if sig.SignerFingerprint != "567E347AD0044ADE55BA8A5F199E2F91FD431D51" || sig.SignerKeyID != "199E2F91FD431D51" {
		t.Errorf("signer = %s (%s)", sig.SignerFingerprint, sig.SignerKeyID)
	}
	if !bytes.Equal(sig.Raw, raw) {
		t.Error("Raw is not the signature as read")
	}
	for _, d := range []string{otherDigest, ciDigest} {
		_, err := Verify(raw, d, keyring(t, "redhat.txt"))
		if !errors.Is(err, ErrDigestMismatch) || !strings.Contains(err.Error(), redhatDigest) {
			t.Errorf("digest %s: err = %v, want ErrDigestMismatch naming the signed digest", d, err)
		}
	}
}

func TestVerifyFailures(t *testing.T) {
	redhatSig := fixtureSig(t, redhatDigest)
	ciSig := fixtureSig(t, ciDigest)
	tampered := append([]byte(nil), redhatSig...)
	tampered[len(tampered)/2] ^= 0x01
	for _, tc := range []struct {
		name    string
		raw     []byte
		digest  string
		keyring string
		want    error
		wantMsg string
	}{
		{"CI signature against the Red Hat key has an unknown signer", ciSig, ciDigest, "redhat.txt", ErrUnknownSigner, "key ID"},
		{"CI signature against its own key fails because the key expired", ciSig, ciDigest, "simple.txt", ErrExpired, "expired"},
		{"Red Hat signature against the CI key has an unknown signer", redhatSig, redhatDigest, "simple.txt", ErrUnknownSigner, "199E2F91FD431D51"},
		{"non-OpenPGP body", []byte("<html>not found</html>"), redhatDigest, "redhat.txt", ErrMalformed, "OpenPGP"},
		{"over-size body", bytes.Repeat([]byte{0x90}, maxSignatureSize+1), redhatDigest, "redhat.txt", ErrMalformed, "bytes"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Verify(tc.raw, tc.digest, keyring(t, tc.keyring))
			if !errors.Is(err, tc.want) {
				t.Fatalf("err = %v, want %v", err, tc.want)
			}
			if !strings.Contains(err.Error(), tc.wantMsg) {
				t.Errorf("err = %q, want it to mention %q", err, tc.wantMsg)
			}
			t.Logf("%v", err)
		})
	}
	t.Run("tampered byte", func(t *testing.T) {
		if _, err := Verify(tampered, redhatDigest, keyring(t, "redhat.txt")); err == nil {
			t.Fatal("tampered signature verified")
		} else {
			t.Logf("%v", err)
		}
	})
	t.Run("digest not sha256", func(t *testing.T) {
		if _, err := Verify(redhatSig, "e3f12513", keyring(t, "redhat.txt")); err == nil {
			t.Fatal("bad digest accepted")
		}
	})
	t.Run("empty keyring", func(t *testing.T) {
		if _, err := Verify(redhatSig, redhatDigest, Keyring{}); err == nil {
			t.Fatal("empty keyring accepted")
		}
	})
}

// The CI signature is sound: at a time when its key was valid it verifies,
// so expiry is the only reason it fails today.
func TestVerifyCISignatureBeforeKeyExpired(t *testing.T) {
	at := func() time.Time { return time.Date(2019, 5, 1, 0, 0, 0, 0, time.UTC) }
	sig, err := verifyAt(fixtureSig(t, ciDigest), ciDigest, keyring(t, "simple.txt"), at)
	if err != nil {
		t.Fatalf("verify in 2019: %v", err)
	}
	if sig.Identity != "registry.svc.ci.openshift.org/ocp/release:4.0.0-0.ci-2019-04-19-181452" {
		t.Errorf("identity = %q", sig.Identity)
	}
	if sig.Timestamp.IsZero() {
		t.Error("timestamp missing")
	}
	t.Logf("verified in 2019: %+v", *sig)
	_, err = verifyAt(fixtureSig(t, ciDigest), otherDigest, keyring(t, "simple.txt"), at)
	if !errors.Is(err, ErrDigestMismatch) || !strings.Contains(err.Error(), ciDigest) {
		t.Errorf("other digest in 2019: err = %v, want ErrDigestMismatch naming %s", err, ciDigest)
	}
}

func newKey(t *testing.T, cfg *packet.Config) *openpgp.Entity {
	return testenv.NewSigningKey(t, cfg).Entity
}

func sign(t *testing.T, e *openpgp.Entity, payload string, cfg *packet.Config) []byte {
	return (&testenv.SigningKey{Entity: e}).Sign(t, []byte(payload), cfg)
}

const goodPayload = `{"critical":{"type":"atomic container signature","image":{"docker-manifest-digest":"` + otherDigest + `"},"identity":{"docker-reference":"quay.io/openshift-release-dev/ocp-release:4.16.0-x86_64"}},"optional":{"creator":"test","timestamp":1700000000}}`

func TestVerifyGeneratedPayloads(t *testing.T) {
	key := newKey(t, nil)
	kr := NewKeyring(key)
	t.Run("good payload verifies", func(t *testing.T) {
		sig, err := Verify(sign(t, key, goodPayload, nil), otherDigest, kr)
		if err != nil {
			t.Fatal(err)
		}
		want := Signature{Digest: otherDigest, Identity: "quay.io/openshift-release-dev/ocp-release:4.16.0-x86_64", Creator: "test", Timestamp: time.Unix(1700000000, 0).UTC()}
		if sig.Digest != want.Digest || sig.Identity != want.Identity || sig.Creator != want.Creator || !sig.Timestamp.Equal(want.Timestamp) {
			t.Errorf("got %+v, want %+v", *sig, want)
		}
	})
	t.Run("optional may be absent", func(t *testing.T) {
		p := `{"critical":{"type":"atomic container signature","image":{"docker-manifest-digest":"` + otherDigest + `"},"identity":{"docker-reference":"r"}}}`
		if _, err := Verify(sign(t, key, p, nil), otherDigest, kr); err != nil {
			t.Fatal(err)
		}
	})
	for _, tc := range []struct{ name, payload, wantMsg string }{
		{"unknown top-level field", strings.Replace(goodPayload, `"optional"`, `"extra":1,"optional"`, 1), "field extra: unknown"},
		{"unknown field in critical", strings.Replace(goodPayload, `"type"`, `"x":"y","type"`, 1), "field critical.x: unknown"},
		{"unknown field in critical.image", strings.Replace(goodPayload, `{"docker-manifest-digest"`, `{"tag":"latest","docker-manifest-digest"`, 1), "field critical.image.tag: unknown"},
		{"unknown field in optional", strings.Replace(goodPayload, `"creator"`, `"note":"n","creator"`, 1), "field optional.note: unknown"},
		{"wrong critical.type", strings.Replace(goodPayload, "atomic container signature", "cosign container image signature", 1), "field critical.type"},
		{"critical.type not a string", strings.Replace(goodPayload, `"atomic container signature"`, `7`, 1), "field critical.type: not a string"},
		{"missing critical.type", strings.Replace(goodPayload, `"type":"atomic container signature",`, ``, 1), "field critical.type: missing"},
		{"missing identity", strings.Replace(goodPayload, `,"identity":{"docker-reference":"quay.io/openshift-release-dev/ocp-release:4.16.0-x86_64"}`, ``, 1), "field critical.identity: missing"},
		{"empty docker-reference", strings.Replace(goodPayload, `"quay.io/openshift-release-dev/ocp-release:4.16.0-x86_64"`, `""`, 1), "field critical.identity.docker-reference: empty"},
		{"missing docker-reference", strings.Replace(goodPayload, `{"docker-reference":"quay.io/openshift-release-dev/ocp-release:4.16.0-x86_64"}`, `{}`, 1), "field critical.identity.docker-reference: missing"},
		{"missing critical", `{"optional":{}}`, "field critical: missing"},
		{"duplicate field", strings.Replace(goodPayload, `"optional"`, `"critical":{},"optional"`, 1), "field critical: appears twice"},
		{"timestamp not an integer", strings.Replace(goodPayload, `1700000000`, `1700000000.5`, 1), "field optional.timestamp"},
		{"timestamp a string", strings.Replace(goodPayload, `1700000000`, `"1700000000"`, 1), "field optional.timestamp"},
		{"not JSON", `hello`, "invalid JSON"},
		{"trailing data", goodPayload + `{}`, "trailing data"},
	} {
		t.Run(tc.name+" is rejected", func(t *testing.T) {
			_, err := Verify(sign(t, key, tc.payload, nil), otherDigest, kr)
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("err = %v, want ErrMalformed", err)
			}
			if !strings.Contains(err.Error(), tc.wantMsg) {
				t.Errorf("err = %q, want it to mention %q", err, tc.wantMsg)
			}
		})
	}
	t.Run("signature for another digest is rejected", func(t *testing.T) {
		_, err := Verify(sign(t, key, goodPayload, nil), redhatDigest, kr)
		if !errors.Is(err, ErrDigestMismatch) {
			t.Fatalf("err = %v", err)
		}
	})
	t.Run("key not in keyring is an unknown signer", func(t *testing.T) {
		_, err := Verify(sign(t, newKey(t, nil), goodPayload, nil), otherDigest, kr)
		if !errors.Is(err, ErrUnknownSigner) {
			t.Fatalf("err = %v", err)
		}
	})
	t.Run("keyring with several keys finds the signer", func(t *testing.T) {
		both := keyring(t, "redhat.txt").Merge(kr)
		if _, err := Verify(sign(t, key, goodPayload, nil), otherDigest, both); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("expired generated key is rejected", func(t *testing.T) {
		past := func() time.Time { return time.Now().Add(-48 * time.Hour) }
		cfg := &packet.Config{Time: past}
		old := withKeyLifetime(t, newKey(t, cfg), time.Hour, cfg)
		raw := sign(t, old, goodPayload, cfg)
		_, err := Verify(raw, otherDigest, publicKeyring(t, old))
		if !errors.Is(err, ErrExpired) || !strings.Contains(err.Error(), "signing key expired") {
			t.Fatalf("err = %v, want ErrExpired for the key", err)
		}
		// While the key was valid, the same signature verifies.
		within := func() time.Time { return past().Add(time.Minute) }
		if _, err := verifyAt(raw, otherDigest, publicKeyring(t, old), within); err != nil {
			t.Fatalf("within the key's lifetime: %v", err)
		}
	})
	t.Run("expired signature is rejected", func(t *testing.T) {
		raw := signWithLifetime(t, key, goodPayload, time.Now().Add(-2*time.Hour), time.Hour)
		_, err := Verify(raw, otherDigest, kr)
		if !errors.Is(err, ErrExpired) || !strings.Contains(err.Error(), "signature expired") {
			t.Fatalf("err = %v, want ErrExpired for the signature", err)
		}
		if _, err := Verify(signWithLifetime(t, key, goodPayload, time.Now().Add(-time.Minute), time.Hour), otherDigest, kr); err != nil {
			t.Fatalf("signature within its lifetime: %v", err)
		}
	})
	t.Run("unsigned literal message is rejected", func(t *testing.T) {
		var buf bytes.Buffer
		w, err := packet.SerializeLiteral(nopCloser{&buf}, true, "", 0)
		if err != nil {
			t.Fatal(err)
		}
		w.Write([]byte(goodPayload))
		w.Close()
		_, err = Verify(buf.Bytes(), otherDigest, kr)
		if !errors.Is(err, ErrMalformed) {
			t.Fatalf("err = %v, want ErrMalformed", err)
		}
	})
}

// withKeyLifetime gives e's primary key a lifetime, re-signing its
// identities as gpg --quick-set-expire does.
func withKeyLifetime(t *testing.T, e *openpgp.Entity, lifetime time.Duration, cfg *packet.Config) *openpgp.Entity {
	t.Helper()
	secs := uint32(lifetime / time.Second)
	for _, id := range e.Identities {
		id.SelfSignature.KeyLifetimeSecs = &secs
		if err := id.SelfSignature.SignUserId(id.UserId.Id, e.PrimaryKey, e.PrivateKey, cfg); err != nil {
			t.Fatal(err)
		}
	}
	return e
}

// publicKeyring exports e's public key and reads it back, as a user's
// keyring file would hold it.
func publicKeyring(t *testing.T, e *openpgp.Entity) Keyring {
	t.Helper()
	var buf bytes.Buffer
	if err := e.Serialize(&buf); err != nil {
		t.Fatal(err)
	}
	kr, err := ReadKeyring(&buf)
	if err != nil {
		t.Fatal(err)
	}
	return kr
}

// signWithLifetime makes a signed message whose signature packet carries a
// signature expiration time, which openpgp.Sign cannot set: one-pass
// signature, literal data, then the signature, built from the library's
// packet types.
func signWithLifetime(t *testing.T, e *openpgp.Entity, payload string, created time.Time, lifetime time.Duration) []byte {
	t.Helper()
	secs := uint32(lifetime / time.Second)
	sig := &packet.Signature{
		SigType:         packet.SigTypeBinary,
		PubKeyAlgo:      e.PrivateKey.PubKeyAlgo,
		Hash:            crypto.SHA256,
		CreationTime:    created,
		IssuerKeyId:     &e.PrivateKey.KeyId,
		SigLifetimeSecs: &secs,
	}
	var buf bytes.Buffer
	ops := &packet.OnePassSignature{SigType: sig.SigType, Hash: sig.Hash, PubKeyAlgo: sig.PubKeyAlgo, KeyId: e.PrivateKey.KeyId, IsLast: true}
	if err := ops.Serialize(&buf); err != nil {
		t.Fatal(err)
	}
	w, err := packet.SerializeLiteral(nopCloser{&buf}, true, "", 0)
	if err != nil {
		t.Fatal(err)
	}
	h := sig.Hash.New()
	if _, err := io.MultiWriter(w, h).Write([]byte(payload)); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if err := sig.Sign(h, e.PrivateKey, nil); err != nil {
		t.Fatal(err)
	}
	if err := sig.Serialize(&buf); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

type nopCloser struct{ *bytes.Buffer }

func (nopCloser) Close() error { return nil }
