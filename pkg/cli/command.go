package cli

import (
	"context"
	"errors"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"
	"k8s.io/cli-runtime/pkg/genericiooptions"
)

// Setup gives a plugin's root command the behaviour every plugin shares: it
// is shown to users as displayName ("oc icsp migrate"), an error prints one
// line and not the usage screen, flag and argument errors are bad usage
// (exit 2), and --version prints the version.
func Setup(cmd *cobra.Command, displayName string) {
	if cmd.Annotations == nil {
		cmd.Annotations = map[string]string{}
	}
	cmd.Annotations[cobra.CommandDisplayNameAnnotation] = displayName
	cmd.Version = Version
	cmd.SilenceUsage = true
	cmd.SilenceErrors = true
	cmd.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return BadInput(err) })
	cmd.CompletionOptions.DisableDefaultCmd = true
	for _, sub := range cmd.Commands() {
		sub.SilenceUsage = true
		sub.SilenceErrors = true
	}
}

// Execute runs a plugin's root command and returns its exit code, after
// printing any error as one line on stderr. It cancels the command's context
// on SIGINT or SIGTERM. Errors cobra returns before the command ran (unknown
// flags, wrong arguments, unknown subcommands) are bad usage.
func Execute(cmd *cobra.Command, streams genericiooptions.IOStreams) int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	ran := false
	wrapRun(cmd, &ran)
	cmd.SetIn(streams.In)
	cmd.SetOut(streams.Out)
	cmd.SetErr(streams.ErrOut)
	err := cmd.ExecuteContext(ctx)
	if err != nil && !ran {
		var ee *exitError
		if !errors.As(err, &ee) {
			err = BadInput(err)
		}
	}
	PrintError(streams.ErrOut, err)
	return ExitCode(err)
}

// wrapRun notes in *ran when any command's RunE starts, so that Execute can
// tell cobra's own usage errors from the command's.
func wrapRun(cmd *cobra.Command, ran *bool) {
	if run := cmd.RunE; run != nil {
		cmd.RunE = func(c *cobra.Command, args []string) error {
			*ran = true
			return run(c, args)
		}
	}
	for _, sub := range cmd.Commands() {
		wrapRun(sub, ran)
	}
}
