// Command oc-release-sig is `oc release sig`: fetch, verify and package
// release image signatures as the ConfigMap the Cluster Version Operator
// reads, and verify such ConfigMaps.
package main

import (
	"os"

	"github.com/airgap-ocp/oc-plugins/pkg/cli"
	"github.com/airgap-ocp/oc-plugins/pkg/cmd/releasesig"
)

func main() {
	streams := cli.Streams()
	os.Exit(cli.Execute(releasesig.NewCmd(streams), streams))
}
