// Command mirror-lite-payload pushes the synthetic release payload of
// internal/testenv (real images: a release image with
// release-manifests/image-references and release-metadata, components on
// shared base layers) into a running registry, for the demo. It prints the
// release's pull spec by tag.
//
// With --operators it also pushes internal/testenv's small operator index
// (Red Hat's index name, two operators the demo mirrors and one it does not,
// bundle and operand images), built with the opm on PATH.
//
// With --sign DIR it also plays the release engineer: it makes a fresh
// OpenPGP release key and signs the release digest with it, as Red Hat signs
// its releases, writing DIR/release-key.asc (the public key, the keyring the
// plugins verify with) and DIR/signatures/sha256=<hex>/signature-1 (a
// signature store laid out as mirror.openshift.com's, for file://).
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"golang.org/x/crypto/openpgp"       //nolint:staticcheck // the library pkg/signature verifies with
	"golang.org/x/crypto/openpgp/armor" //nolint:staticcheck // the library pkg/signature verifies with

	"github.com/airgap-ocp/oc-plugins/internal/testenv"
)

func main() {
	host := flag.String("registry", os.Getenv("REGISTRY"), "registry host:port")
	authFile := flag.String("authfile", os.Getenv("REGISTRY_AUTH_FILE"), "auth.json for the registry")
	certDir := flag.String("cert-dir", os.Getenv("REGISTRY_CERT_DIR"), "folder with the registry's ca.crt")
	version := flag.String("version", "4.16.3", "release version")
	signDir := flag.String("sign", "", "sign the release with a new key: write DIR/release-key.asc and the store DIR/signatures")
	operators := flag.Bool("operators", false, "also push a small operator index and its images")
	graphDir := flag.String("graph", "", "instead of a release: push the graph-data image's base (ubi9/ubi:latest) and write DIR/graph-data.tar.gz")
	from := flag.String("components-from", "", "build the components as the release of this version builds them (a z-stream sharing its images)")
	changed := flag.String("changed", "", "with --components-from: comma-separated components built anew")
	flag.Parse()
	if *graphDir != "" {
		if err := graphInputs(*host, *authFile, *certDir, *graphDir); err != nil {
			fmt.Fprintln(os.Stderr, "error:", err)
			os.Exit(1)
		}
		return
	}
	spec := testenv.ReleaseSpec{Version: *version, BaseLayerSize: 2 << 20, OwnLayerSize: 128 << 10, ComponentsFrom: *from}
	if *changed != "" {
		spec.Changed = strings.Split(*changed, ",")
	}
	if err := run(*host, *authFile, *certDir, spec, *signDir, *operators); err != nil {
		fmt.Fprintln(os.Stderr, "error:", err)
		os.Exit(1)
	}
}

func run(host, authFile, certDir string, spec testenv.ReleaseSpec, signDir string, operators bool) error {
	reg, err := testenv.OpenRegistry(host, authFile, certDir)
	if err != nil {
		return err
	}
	defer os.RemoveAll(reg.Dir)
	rel, err := reg.PushReleaseTo(context.Background(), spec)
	if err != nil {
		return err
	}
	if signDir != "" {
		if err := sign(signDir, rel.Digest.String(), rel.Tag); err != nil {
			return fmt.Errorf("signing the release: %w", err)
		}
	}
	fmt.Println(rel.Tag)
	if operators {
		opm, err := exec.LookPath("opm")
		if err != nil {
			return fmt.Errorf("the operator index is built with opm: %w", err)
		}
		index, err := reg.PushOperatorIndex(context.Background(), opm, reg.Dir)
		if err != nil {
			return fmt.Errorf("pushing the operator index: %w", err)
		}
		fmt.Println(index)
	}
	return nil
}

// sign writes a new key's public half and its signature of the release
// digest (an atomic container signature, the format the CVO verifies) into dir.
// graphInputs are what the graph-data image is built from, standing for
// UBI 9 on registry.access.redhat.com and Red Hat's graph-data tarball.
func graphInputs(host, authFile, certDir, dir string) error {
	reg, err := testenv.OpenRegistry(host, authFile, certDir)
	if err != nil {
		return err
	}
	defer os.RemoveAll(reg.Dir)
	if _, err := reg.PushImage(context.Background(), "ubi9/ubi:latest", testenv.GraphBaseImage); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, "graph-data.tar.gz"), testenv.GraphData, 0o644); err != nil {
		return err
	}
	fmt.Println(reg.Ref("ubi9/ubi:latest"))
	return nil
}

func sign(dir, digest, identity string) error {
	key, err := openpgp.NewEntity("Demo Release Signer", "", "release@example.com", nil)
	if err != nil {
		return err
	}
	// SHA-256, as gpg's keys prefer; without a preference openpgp.Sign
	// falls back to RIPEMD-160, which Go does not build in.
	for _, id := range key.Identities {
		id.SelfSignature.PreferredHash = []uint8{8}
		if err := id.SelfSignature.SignUserId(id.UserId.Id, key.PrimaryKey, key.PrivateKey, nil); err != nil {
			return err
		}
	}
	payload, err := json.Marshal(map[string]any{
		"critical": map[string]any{
			"type":     "atomic container signature",
			"image":    map[string]string{"docker-manifest-digest": digest},
			"identity": map[string]string{"docker-reference": identity},
		},
		"optional": map[string]any{"creator": "oc-plugins demo"},
	})
	if err != nil {
		return err
	}
	var sig bytes.Buffer
	w, err := openpgp.Sign(&sig, key, nil, nil)
	if err != nil {
		return err
	}
	if _, err := w.Write(payload); err != nil {
		return err
	}
	if err := w.Close(); err != nil {
		return err
	}

	var pub bytes.Buffer
	aw, err := armor.Encode(&pub, openpgp.PublicKeyType, nil)
	if err != nil {
		return err
	}
	if err := key.Serialize(aw); err != nil {
		return err
	}
	if err := aw.Close(); err != nil {
		return err
	}
	pub.WriteByte('\n')

	sigDir := filepath.Join(dir, "signatures", "sha256="+strings.TrimPrefix(digest, "sha256:"))
	if err := os.MkdirAll(sigDir, 0o755); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(sigDir, "signature-1"), sig.Bytes(), 0o644); err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(dir, "release-key.asc"), pub.Bytes(), 0o644)
}
