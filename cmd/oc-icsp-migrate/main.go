// Command oc-icsp-migrate is `oc icsp migrate`: ImageContentSourcePolicy to
// ImageDigestMirrorSet, provably without changing nodes' registries.conf.
package main

import (
	"os"

	"github.com/airgap-ocp/oc-plugins/pkg/cli"
	"github.com/airgap-ocp/oc-plugins/pkg/cmd/icspmigrate"
)

func main() {
	streams := cli.Streams()
	os.Exit(cli.Execute(icspmigrate.NewCmd(streams), streams))
}
