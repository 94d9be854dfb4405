// Command oc-registries-verify is `oc registries verify`: check that every pool and node has
// the registries.conf the cluster's mirror objects describe.
package main

import (
	"os"

	"github.com/airgap-ocp/oc-plugins/pkg/cli"
	"github.com/airgap-ocp/oc-plugins/pkg/cmd/registriesverify"
)

func main() {
	streams := cli.Streams()
	os.Exit(cli.Execute(registriesverify.NewCmd(streams), streams))
}
