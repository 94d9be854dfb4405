// Command oc-icsp-migrate is `oc icsp migrate`: ImageContentSourcePolicy to
// ImageDigestMirrorSet, provably without changing nodes' registries.conf.
package main

import (
	"os"

	"k8s.io/cli-runtime/pkg/genericiooptions"

	"github.com/airgap-ocp/oc-plugins/pkg/cli"
	"github.com/airgap-ocp/oc-plugins/pkg/cmd/icspmigrate"
)

func main() {
	streams := genericiooptions.IOStreams{In: os.Stdin, Out: os.Stdout, ErrOut: os.Stderr}
	os.Exit(cli.Execute(icspmigrate.NewCmd(streams), streams))
}
