// Command mirror-lite-payload pushes the synthetic release payload of
// internal/testenv (real images: a release image with
// release-manifests/image-references and release-metadata, components on
// shared base layers) into a running registry, for the mirror-lite demo
// step. It prints the release's pull spec by tag.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"

	"github.com/airgap-ocp/oc-plugins/internal/testenv"
)

func main() {
	host := flag.String("registry", os.Getenv("REGISTRY"), "registry host:port")
	authFile := flag.String("authfile", os.Getenv("REGISTRY_AUTH_FILE"), "auth.json for the registry")
	certDir := flag.String("cert-dir", os.Getenv("REGISTRY_CERT_DIR"), "folder with the registry's ca.crt")
	version := flag.String("version", "4.16.3", "release version")
	flag.Parse()
	reg, err := testenv.OpenRegistry(*host, *authFile, *certDir)
	if err != nil {
		fmt.Fprintln(os.Stderr, "error:", err)
		os.Exit(1)
	}
	defer os.RemoveAll(reg.Dir)
	rel, err := reg.PushReleaseTo(context.Background(), testenv.ReleaseSpec{Version: *version, BaseLayerSize: 2 << 20, OwnLayerSize: 128 << 10})
	if err != nil {
		fmt.Fprintln(os.Stderr, "error:", err)
		os.Exit(1)
	}
	fmt.Println(rel.Tag)
}
