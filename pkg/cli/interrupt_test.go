package cli

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"strings"
	"syscall"
	"testing"

	"github.com/spf13/cobra"
	"k8s.io/cli-runtime/pkg/genericiooptions"
)

// TestAnInterruptIsExit3WithNothingOnStdout: a command that has already
// written part of its output when SIGINT or SIGTERM arrives, and then
// returns as if all were well (as a command that takes a cancelled
// context for "no answer" would), exits 3 and prints nothing on stdout.
// Without an interrupt the output comes through.
func TestAnInterruptIsExit3WithNothingOnStdout(t *testing.T) {
	run := func(sig syscall.Signal, fail error) (int, string, string) {
		var stdout, stderr bytes.Buffer
		streams := genericiooptions.IOStreams{In: strings.NewReader(""), Out: &heldOutput{to: &stdout}, ErrOut: &stderr}
		cmd := &cobra.Command{Use: "x", RunE: func(c *cobra.Command, _ []string) error {
			fmt.Fprintln(streams.Out, "apiVersion: v1")
			if sig != 0 {
				if err := syscall.Kill(os.Getpid(), sig); err != nil {
					return err
				}
				<-c.Context().Done()
			}
			fmt.Fprintln(streams.Out, "kind: ConfigMap")
			return fail
		}}
		Setup(cmd, "x")
		cmd.SetArgs([]string{})
		code := Execute(cmd, streams)
		return code, stdout.String(), stderr.String()
	}
	for _, sig := range []syscall.Signal{syscall.SIGINT, syscall.SIGTERM} {
		code, stdout, stderr := run(sig, nil)
		if code != ExitFailed || stdout != "" || !strings.Contains(stderr, "interrupted") {
			t.Errorf("%v: exit %d, stdout %q, stderr %q; want 3, nothing, interrupted", sig, code, stdout, stderr)
		}
		code, stdout, stderr = run(sig, BadInputf("a re-run continues"))
		if code != ExitFailed || stdout != "" || !strings.Contains(stderr, "a re-run continues") {
			t.Errorf("%v with an error: exit %d, stdout %q, stderr %q; want 3 and the command's error", sig, code, stdout, stderr)
		}
	}
	code, stdout, _ := run(0, nil)
	if code != ExitOK || stdout != "apiVersion: v1\nkind: ConfigMap\n" {
		t.Errorf("not interrupted: exit %d, stdout %q", code, stdout)
	}
	code, stdout, _ = run(0, Failed(errors.New("boom")))
	if code != ExitFailed || stdout == "" {
		t.Errorf("a failure that is not an interrupt keeps what was written: exit %d, stdout %q", code, stdout)
	}
}
