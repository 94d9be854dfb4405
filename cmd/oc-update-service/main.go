// Command oc-update-service is `oc update service`: point a disconnected
// cluster at a local OpenShift Update Service and prove it offers the update.
package main

import (
	"os"

	"github.com/airgap-ocp/oc-plugins/pkg/cli"
	"github.com/airgap-ocp/oc-plugins/pkg/cmd/updateservice"
)

func main() {
	streams := cli.Streams()
	os.Exit(cli.Execute(updateservice.NewCmd(streams), streams))
}
