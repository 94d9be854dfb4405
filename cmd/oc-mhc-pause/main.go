// Command oc-mhc-pause is `oc mhc pause`: pause MachineHealthChecks around a
// cluster update and resume them after it. Run as oc-mhc-resume (or
// kubectl-mhc-resume, kubectl-mhc_resume), it is `oc mhc resume`.
package main

import (
	"os"

	"k8s.io/cli-runtime/pkg/genericiooptions"

	"github.com/airgap-ocp/oc-plugins/pkg/cli"
	"github.com/airgap-ocp/oc-plugins/pkg/cmd/mhcpause"
)

func main() {
	streams := genericiooptions.IOStreams{In: os.Stdin, Out: os.Stdout, ErrOut: os.Stderr}
	os.Exit(cli.Execute(mhcpause.NewCmd(streams, mhcpause.InvokedAsResume(os.Args[0])), streams))
}
