package testenv

import (
	"bytes"
	"strings"

	"github.com/spf13/cobra"
	"k8s.io/cli-runtime/pkg/genericiooptions"

	"github.com/airgap-ocp/oc-plugins/pkg/cli"
)

// Result is what one run of a plugin command returned and printed.
type Result struct {
	Code           int
	Stdout, Stderr string
}

// Run runs the command newCmd builds the way the plugin's main does
// (cli.Execute: one error line, exit codes), with stdin and args, and
// returns its exit code and output.
func Run(newCmd func(genericiooptions.IOStreams) *cobra.Command, stdin string, args ...string) Result {
	var stdout, stderr bytes.Buffer
	streams := genericiooptions.IOStreams{In: strings.NewReader(stdin), Out: cli.HoldOutput(&stdout), ErrOut: &stderr}
	cmd := newCmd(streams)
	cmd.SetArgs(append([]string{}, args...)) // never nil: cobra would read os.Args
	code := cli.Execute(cmd, streams)
	return Result{Code: code, Stdout: stdout.String(), Stderr: stderr.String()}
}
