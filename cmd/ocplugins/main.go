// Command ocplugins is every plugin of the suite in one binary: linked as
// oc-mhc-pause (or kubectl-mhc-pause, kubectl_complete-mhc-pause, ...) it is
// `oc mhc pause`, chosen by the name it was run as.
package main

import (
	"os"

	"github.com/airgap-ocp/oc-plugins/pkg/cli"
	"github.com/airgap-ocp/oc-plugins/pkg/cmd/plugins"
	"k8s.io/cli-runtime/pkg/genericiooptions"
)

func main() {
	stopProfile := cli.StartProfile()
	// Not cli.Streams: Main holds standard output for the plugin it runs,
	// and writes its own answers (--names, usage) straight away.
	streams := genericiooptions.IOStreams{In: os.Stdin, Out: os.Stdout, ErrOut: os.Stderr}
	code := plugins.Main(os.Args, streams)
	stopProfile()
	os.Exit(code)
}
