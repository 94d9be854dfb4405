package cli

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"sync"
	"syscall"

	"github.com/spf13/cobra"
	"k8s.io/cli-runtime/pkg/genericiooptions"
)

// Setup gives a plugin's root command the behaviour every plugin shares: it
// is shown to users as they invoked it (DisplayName of the binary's name,
// displayName, "oc icsp migrate", when that name is not a plugin name), an
// error prints one line and not the usage screen, flag and argument errors
// are bad usage (exit 2), -v/--v sets the log level as in kubectl and
// --version prints the version.
func Setup(cmd *cobra.Command, displayName string) {
	if cmd.Annotations == nil {
		cmd.Annotations = map[string]string{}
	}
	shown := DisplayName(os.Args[0], displayName)
	cmd.Annotations[cobra.CommandDisplayNameAnnotation] = shown
	if prog, rest, _ := strings.Cut(shown, " "); prog == "kubectl" {
		// The examples are written for oc; under kubectl they read as typed there.
		word, _, _ := strings.Cut(rest, " ")
		renameExamples(cmd, "oc "+word+" ", "kubectl "+word+" ")
	}
	cmd.Version = Version
	cmd.SilenceUsage = true
	cmd.SilenceErrors = true
	cmd.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return BadInput(err) })
	// `completion bash|zsh|fish`; the hidden __complete answers the shell
	// and kubectl's kubectl_complete-<plugin> helpers.
	cmd.CompletionOptions.HiddenDefaultCmd = false
	cmd.CompletionOptions.DisableDefaultCmd = false
	addVerbosityFlag(cmd)
	completeFlagValues(cmd)
	markKubeInsecure(cmd)
	for _, sub := range cmd.Commands() {
		sub.SilenceUsage = true
		sub.SilenceErrors = true
	}
}

// DisplayName is the command line a plugin binary answers to, by kubectl's
// plugin lookup rule, from the name it was run under (argv0): oc-mhc-pause is
// "oc mhc pause", kubectl-mhc-pause is "kubectl mhc pause", and an
// underscore stands for a dash within a word (kubectl-mhc_resume is "kubectl
// mhc-resume"). Any other name (a test binary, go run) gives fallback.
func DisplayName(argv0, fallback string) string {
	base := strings.TrimSuffix(filepath.Base(argv0), ".exe")
	for _, prog := range []string{"oc", "kubectl"} {
		rest, ok := strings.CutPrefix(base, prog+"-")
		if !ok || rest == "" {
			continue
		}
		words := strings.Split(rest, "-")
		for i, w := range words {
			if w == "" {
				return fallback
			}
			words[i] = strings.ReplaceAll(w, "_", "-")
		}
		return prog + " " + strings.Join(words, " ")
	}
	return fallback
}

// Program is "kubectl" when the plugin was run as a kubectl plugin
// (kubectl-*), else "oc": the word hints such as "resume them with: oc mhc
// resume" start with.
func Program() string {
	if strings.HasPrefix(filepath.Base(os.Args[0]), "kubectl-") {
		return "kubectl"
	}
	return "oc"
}

func renameExamples(cmd *cobra.Command, from, to string) {
	cmd.Example = strings.ReplaceAll(cmd.Example, from, to)
	for _, sub := range cmd.Commands() {
		renameExamples(sub, from, to)
	}
}

// Streams are a plugin's standard streams, with standard output held until
// the command has ended (see Execute).
func Streams() genericiooptions.IOStreams {
	return genericiooptions.IOStreams{In: os.Stdin, Out: HoldOutput(os.Stdout), ErrOut: os.Stderr}
}

// HoldOutput is w held until Execute knows the command was not
// interrupted; tests that run commands in-process use it as Streams does.
func HoldOutput(w io.Writer) io.Writer { return &heldOutput{to: w} }

// heldOutput keeps what a command writes to standard output until Execute
// knows it was not interrupted: a pipeline must never get (and apply) part
// of a stream.
type heldOutput struct {
	mu  sync.Mutex
	buf bytes.Buffer
	to  io.Writer
}

func (h *heldOutput) Write(p []byte) (int, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.buf.Write(p)
}

func (h *heldOutput) flush() error {
	h.mu.Lock()
	defer h.mu.Unlock()
	_, err := h.buf.WriteTo(h.to)
	return err
}

// interrupted is the cause of a command's context ended by a signal.
type interrupted struct{ sig os.Signal }

func (e *interrupted) Error() string { return "interrupted (" + e.sig.String() + ")" }

// Execute runs a plugin's root command and returns its exit code, after
// printing any error as one line on stderr. SIGINT or SIGTERM cancels the
// command's context and makes the run exit 3, whatever the command
// returned, with nothing on standard output when it came from Streams.
// Errors cobra returns before the command ran (unknown flags, wrong
// arguments, unknown subcommands) are bad usage.
func Execute(cmd *cobra.Command, streams genericiooptions.IOStreams) int {
	ctx, cancel := context.WithCancelCause(context.Background())
	defer cancel(nil)
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	defer signal.Stop(sigs)
	go func() {
		select {
		case s := <-sigs:
			cancel(&interrupted{s})
		case <-ctx.Done():
		}
	}()

	quietLogging(streams.ErrOut)
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
	var intr *interrupted
	if errors.As(context.Cause(ctx), &intr) {
		if err == nil {
			err = intr
		} else {
			err = fmt.Errorf("%v: %w", intr, err)
		}
		err = Failed(err)
	} else if h, ok := streams.Out.(*heldOutput); ok {
		if ferr := h.flush(); ferr != nil && err == nil {
			err = Failed(fmt.Errorf("writing standard output: %w", ferr))
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
			verboseLogging(c.ErrOrStderr())
			warnUnverified(c.ErrOrStderr(), c)
			return run(c, args)
		}
	}
	for _, sub := range cmd.Commands() {
		wrapRun(sub, ran)
	}
}
