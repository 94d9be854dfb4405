// Command ocplugins is every plugin of the suite in one binary: linked as
// oc-mhc-pause (or kubectl-mhc-pause, kubectl_complete-mhc-pause, ...) it is
// `oc mhc pause`, chosen by the name it was run as.
package main

import (
	"os"

	"github.com/airgap-ocp/oc-plugins/pkg/cli"
	"github.com/airgap-ocp/oc-plugins/pkg/cmd/plugins"
)

func main() {
	stopProfile := cli.StartProfile()
	streams := cli.Streams()
	code := plugins.Main(os.Args, streams)
	stopProfile()
	os.Exit(code)
}
