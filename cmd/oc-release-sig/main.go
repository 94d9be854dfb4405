// Command oc-release-sig is `oc release sig`: fetch, verify and package
// release image signatures as the ConfigMap the Cluster Version Operator
// reads, and verify such ConfigMaps.
package main

import (
	"os"

	"k8s.io/cli-runtime/pkg/genericiooptions"

	"github.com/airgap-ocp/oc-plugins/pkg/cli"
	"github.com/airgap-ocp/oc-plugins/pkg/cmd/releasesig"
)

func main() {
	streams := genericiooptions.IOStreams{In: os.Stdin, Out: os.Stdout, ErrOut: os.Stderr}
	os.Exit(cli.Execute(releasesig.NewCmd(streams), streams))
}
