// Package plugins is the suite as one multi-call binary: every plugin, the
// names it answers to, and the dispatch by the name the binary was run as.
package plugins

import (
	"fmt"
	"io"
	"path/filepath"
	"sort"
	"strings"

	"github.com/spf13/cobra"
	"k8s.io/cli-runtime/pkg/genericiooptions"

	"github.com/airgap-ocp/oc-plugins/pkg/cli"
	"github.com/airgap-ocp/oc-plugins/pkg/cmd/icspmigrate"
	"github.com/airgap-ocp/oc-plugins/pkg/cmd/mhcpause"
	"github.com/airgap-ocp/oc-plugins/pkg/cmd/mirrorlite"
	"github.com/airgap-ocp/oc-plugins/pkg/cmd/registriesverify"
	"github.com/airgap-ocp/oc-plugins/pkg/cmd/releasesig"
	"github.com/airgap-ocp/oc-plugins/pkg/cmd/updateservice"
)

// commands maps each plugin name (the part after oc- or kubectl-) to its
// root command.
var commands = map[string]func(genericiooptions.IOStreams) *cobra.Command{
	"icsp-migrate":      icspmigrate.NewCmd,
	"mhc-pause":         func(s genericiooptions.IOStreams) *cobra.Command { return mhcpause.NewCmd(s, false) },
	"mhc-resume":        func(s genericiooptions.IOStreams) *cobra.Command { return mhcpause.NewCmd(s, true) },
	"mirror-lite":       mirrorlite.NewCmd,
	"registries-verify": registriesverify.NewCmd,
	"release-sig":       releasesig.NewCmd,
	"update-service":    updateservice.NewCmd,
}

// Names lists the plugin names, sorted.
func Names() []string {
	names := make([]string, 0, len(commands))
	for n := range commands {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// Lookup returns the plugin a file name stands for, as oc and kubectl name
// plugin files and their completion helpers: oc-NAME, kubectl-NAME (an
// underscore for a dash: kubectl-mhc_resume, as krew links it),
// kubectl_complete-NAME and oc_complete-NAME, or NAME itself. complete
// reports a completion helper, which answers cobra's __complete.
func Lookup(file string) (name string, complete bool, ok bool) {
	base := strings.TrimSuffix(filepath.Base(file), ".exe")
	for _, prefix := range []string{"oc-", "kubectl-", "oc_complete-", "kubectl_complete-"} {
		if rest, found := strings.CutPrefix(base, prefix); found {
			base, complete = rest, strings.Contains(prefix, "_complete")
			break
		}
	}
	name = strings.ReplaceAll(base, "_", "-")
	_, ok = commands[name]
	return name, complete, ok
}

// Main runs the plugin argv[0] names with argv[1:], or, when argv[0] is no
// plugin's name, the plugin argv[1] names with argv[2:]; it returns the
// exit code.
func Main(argv []string, streams genericiooptions.IOStreams) int {
	name, complete, ok := Lookup(argv[0])
	args := argv[1:]
	if !ok {
		if len(args) == 0 || args[0] == "-h" || args[0] == "--help" {
			usage(streams.Out, argv[0])
			return cli.ExitOK
		}
		if args[0] == "--names" {
			// For install scripts: the names to link, one a line.
			fmt.Fprintln(streams.Out, strings.Join(Names(), "\n"))
			return cli.ExitOK
		}
		if name, complete, ok = Lookup(args[0]); !ok {
			cli.PrintError(streams.ErrOut, fmt.Errorf("%s is not a plugin of this binary (plugins: %s)", args[0], strings.Join(Names(), ", ")))
			return cli.ExitBadInput
		}
		args = args[1:]
	}
	if complete {
		args = append([]string{cobra.ShellCompRequestCmd}, args...)
	}
	streams.Out = cli.HoldOutput(streams.Out) // as cli.Streams holds it for a plugin's own binary
	cmd := commands[name](streams)
	cmd.SetArgs(args)
	return cli.Execute(cmd, streams)
}

func usage(w io.Writer, argv0 string) {
	prog := filepath.Base(argv0)
	fmt.Fprintf(w, "%s is every oc plugin of the suite in one binary. It runs the plugin its file name\n", prog)
	fmt.Fprintf(w, "names (oc-NAME, kubectl-NAME: install links to it under those names), or:\n\n")
	fmt.Fprintf(w, "  %s NAME [ARGS...]\n\nNAME is one of: %s\n", prog, strings.Join(Names(), ", "))
}
