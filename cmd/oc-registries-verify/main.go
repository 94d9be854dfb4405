// Command oc-registries-verify is `oc registries verify`: check that every pool and node has
// the registries.conf the cluster's mirror objects describe.
package main

import (
	"os"

	"k8s.io/cli-runtime/pkg/genericiooptions"

	"github.com/airgap-ocp/oc-plugins/pkg/cli"
	"github.com/airgap-ocp/oc-plugins/pkg/cmd/registriesverify"
)

func main() {
	streams := genericiooptions.IOStreams{In: os.Stdin, Out: os.Stdout, ErrOut: os.Stderr}
	os.Exit(cli.Execute(registriesverify.NewCmd(streams), streams))
}
