// Command oc-mirror-lite is `oc mirror lite`: mirror an OpenShift release or
// images into a registry, and print the objects that make a cluster use it.
package main

import (
	"os"

	"github.com/airgap-ocp/oc-plugins/pkg/cli"
	"github.com/airgap-ocp/oc-plugins/pkg/cmd/mirrorlite"
)

func main() {
	stopProfile := cli.StartProfile()
	streams := cli.Streams()
	code := cli.Execute(mirrorlite.NewCmd(streams), streams)
	stopProfile()
	os.Exit(code)
}
