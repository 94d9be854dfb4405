package cli

import (
	"io"
	"os"

	"github.com/spf13/pflag"
	"golang.org/x/term"

	"github.com/airgap-ocp/oc-plugins/pkg/manifest"
)

// InputOptions are the -f/--filename and -R/--recursive flags, and the rule
// for reading standard input when no file is named.
type InputOptions struct {
	Filenames []string
	Recursive bool
}

// AddFlags adds -f and -R as kubectl spells them. usage says what the files hold.
func (o *InputOptions) AddFlags(fs *pflag.FlagSet, usage string) {
	fs.StringSliceVarP(&o.Filenames, "filename", "f", o.Filenames, usage+" (a file, a directory, or - for standard input; repeatable)")
	fs.BoolVarP(&o.Recursive, "recursive", "R", o.Recursive, "Read directories given with -f recursively")
}

// Given reports whether any -f was given.
func (o *InputOptions) Given() bool { return len(o.Filenames) > 0 }

// Read reads the objects named by -f. When no -f was given, standard input is
// read only if otherInput is false (the command was given nothing else to work
// on: no --from-cluster, no names, no --all) and stdin is not a terminal (a
// pipe or a redirected file); otherwise Read returns no objects, so a command
// never blocks on input it did not need.
func (o *InputOptions) Read(stdin io.Reader, otherInput bool) ([]manifest.Object, error) {
	files := o.Filenames
	if len(files) == 0 {
		if otherInput || !Piped(stdin) {
			return nil, nil
		}
		files = []string{manifest.Stdin}
	}
	return manifest.ReadFiles(files, stdin, manifest.ReadOptions{Recursive: o.Recursive})
}

// Piped reports whether r can be read without waiting for a person: it is not
// a terminal. A reader that is not a file (as in tests) counts as piped.
func Piped(r io.Reader) bool {
	if r == nil {
		return false
	}
	f, ok := r.(*os.File)
	if !ok {
		return true
	}
	return !term.IsTerminal(int(f.Fd()))
}
