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
//
// Empty input, one rule for every plugin: a source the user named with -f (a
// file, a directory, or - for stdin) that holds no object (empty, or only
// comments and ---) is bad input, "FILE: no objects ..." (exit 2); standard
// input read because it was piped may be empty, which is the same as nothing
// piped: Read returns no objects and the command does what it does with no
// input (read the cluster, or say what input it needs). A command can
// therefore take "no objects and no -f" to mean "no input".
func (o *InputOptions) Read(stdin io.Reader, otherInput bool) ([]manifest.Object, error) {
	files := o.Filenames
	if len(files) == 0 {
		if otherInput || !Piped(stdin) {
			return nil, nil
		}
		return manifest.ReadFiles([]string{manifest.Stdin}, stdin, manifest.ReadOptions{Recursive: o.Recursive})
	}
	return manifest.ReadFiles(files, stdin, manifest.ReadOptions{Recursive: o.Recursive, RequireObjects: true})
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
