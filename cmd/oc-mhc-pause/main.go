// Command oc-mhc-pause is `oc mhc pause`: pause MachineHealthChecks around a
// cluster update and resume them after it. Run as oc-mhc-resume (or
// kubectl-mhc-resume, kubectl-mhc_resume), it is `oc mhc resume`.
package main

import (
	"os"

	"github.com/airgap-ocp/oc-plugins/pkg/cli"
	"github.com/airgap-ocp/oc-plugins/pkg/cmd/mhcpause"
)

func main() {
	streams := cli.Streams()
	os.Exit(cli.Execute(mhcpause.NewCmd(streams, mhcpause.InvokedAsResume(os.Args[0])), streams))
}
