package cli

import (
	"fmt"
	"io"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

// unverifiedAnnotation marks a flag that turns TLS verification off; its
// value is the flag value that does, and what is then left unverified.
const unverifiedAnnotation = "oc-plugins/unverified-tls"

// MarkUnverified notes that flag name of fs, set to value, leaves what
// unverified ("registry and signature store TLS certificates are not
// verified"), so that Execute warns whenever a user sets it so.
func MarkUnverified(fs *pflag.FlagSet, name, value, what string) {
	_ = fs.SetAnnotation(name, unverifiedAnnotation, []string{value, what})
}

// markKubeInsecure marks kubectl's --insecure-skip-tls-verify (from
// ConfigFlags) wherever the command tree defines it.
func markKubeInsecure(cmd *cobra.Command) {
	for _, fs := range []*pflag.FlagSet{cmd.PersistentFlags(), cmd.LocalNonPersistentFlags(), cmd.Flags()} {
		if fs.Lookup("insecure-skip-tls-verify") != nil {
			MarkUnverified(fs, "insecure-skip-tls-verify", "true", "the API server's TLS certificate is not verified")
		}
	}
	for _, sub := range cmd.Commands() {
		markKubeInsecure(sub)
	}
}

// warnUnverified prints one warning line on w for every flag given to cmd
// that turned TLS verification off, naming what is left unverified.
func warnUnverified(w io.Writer, cmd *cobra.Command) {
	cmd.Flags().VisitAll(func(f *pflag.Flag) {
		a := f.Annotations[unverifiedAnnotation]
		if len(a) != 2 || !f.Changed || f.Value.String() != a[0] {
			return
		}
		fmt.Fprintf(w, "warning: --%s=%s: %s\n", f.Name, a[0], a[1])
	})
}
