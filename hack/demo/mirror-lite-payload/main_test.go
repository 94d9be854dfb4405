package main

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/airgap-ocp/oc-plugins/pkg/signature"
)

// The demo's chain stands on this: the store and key --sign writes are what
// oc-mirror-lite --signature-store file://DIR/signatures --keyring
// DIR/release-key.asc reads, and the signature verifies for the release's
// digest only, and only with that key.
func TestSignWritesAStoreAndKeyThePluginsVerify(t *testing.T) {
	dir := t.TempDir()
	const (
		digest   = "sha256:c83fdb23d0b05148fe2573cfc73e7a04ac11489d336a5668a9304dacbbe17b9a"
		other    = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
		identity = "127.0.0.1:5000/openshift-release-dev/ocp-release:4.16.3-x86_64"
	)
	if err := sign(dir, digest, identity); err != nil {
		t.Fatal(err)
	}

	store, err := signature.NewStore("file://"+filepath.Join(dir, "signatures"), nil)
	if err != nil {
		t.Fatal(err)
	}
	sigs, err := store.Fetch(context.Background(), digest)
	if err != nil {
		t.Fatal(err)
	}
	if len(sigs) != 1 {
		t.Fatalf("the store holds %d signatures of the release, want 1", len(sigs))
	}
	keyFile, err := os.Open(filepath.Join(dir, "release-key.asc"))
	if err != nil {
		t.Fatal(err)
	}
	defer keyFile.Close()
	kr, err := signature.ReadKeyring(keyFile)
	if err != nil {
		t.Fatal(err)
	}
	got, err := signature.Verify(sigs[0], digest, kr)
	if err != nil {
		t.Fatalf("the release's signature does not verify with release-key.asc: %v", err)
	}
	if got.Digest != digest || got.Identity != identity {
		t.Errorf("signature claims %s for %s, want %s for %s", got.Digest, got.Identity, digest, identity)
	}
	if _, err := signature.Verify(sigs[0], other, kr); err == nil {
		t.Error("the signature verifies for another digest")
	}

	redHat, err := os.Open(filepath.Join("..", "..", "..", "pkg", "signature", "testdata", "keyrings", "redhat.txt"))
	if err != nil {
		t.Fatal(err)
	}
	defer redHat.Close()
	redHatKR, err := signature.ReadKeyring(redHat)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := signature.Verify(sigs[0], digest, redHatKR); err == nil {
		t.Error("the demo's signature verifies with Red Hat's key (the demo shows it does not)")
	}

	// Each run makes a new key: one demo's key does not vouch for another's.
	dir2 := t.TempDir()
	if err := sign(dir2, digest, identity); err != nil {
		t.Fatal(err)
	}
	sigs2, err := os.ReadFile(filepath.Join(dir2, "signatures", "sha256=c83fdb23d0b05148fe2573cfc73e7a04ac11489d336a5668a9304dacbbe17b9a", "signature-1"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := signature.Verify(sigs2, digest, kr); err == nil {
		t.Error("a second run's signature verifies with the first run's key")
	}
}
