package cli

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/spf13/cobra"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"k8s.io/cli-runtime/pkg/genericclioptions"
	"k8s.io/cli-runtime/pkg/genericiooptions"

	"github.com/airgap-ocp/oc-plugins/pkg/cluster"
	"github.com/airgap-ocp/oc-plugins/pkg/manifest"
)

func TestExitCode(t *testing.T) {
	gr := schema.GroupResource{Group: "config.openshift.io", Resource: "imagedigestmirrorsets"}
	tests := []struct {
		name string
		err  error
		want int
	}{
		{"no error is success", nil, ExitOK},
		{"a check that found a difference", Differs(errors.New("drift")), ExitDiffers},
		{"bad usage", BadInputf("--x: bad"), ExitBadInput},
		{"a failed operation", Failed(errors.New("boom")), ExitFailed},
		{"marks survive wrapping", fmt.Errorf("context: %w", BadInput(errors.New("x"))), ExitBadInput},
		{"bad input read from a stream", &manifest.Error{Source: manifest.Source{File: "a.yaml", Document: 1}, Err: errors.New("x")}, ExitBadInput},
		{"an object the server rejects as invalid", apierrors.NewInvalid(schema.GroupKind{Kind: "X"}, "x", field.ErrorList{field.Required(field.NewPath("spec"), "")}), ExitBadInput},
		{"a server that is unavailable", apierrors.NewServiceUnavailable("down"), ExitFailed},
		{"anything else is a failed operation", errors.New("dial tcp: refused"), ExitFailed},
		{"a mark outranks the kind of error", Failed(&manifest.Error{Err: errors.New("x")}), ExitFailed},
		{"not found is a failed operation", apierrors.NewNotFound(gr, "x"), ExitFailed},
		{"an error that says it is bad input", fmt.Errorf("--to: %w", badInputError{true}), ExitBadInput},
		{"an error that says it is not", badInputError{false}, ExitFailed},
		{"a cluster operation that failed", fmt.Errorf("reading: %w", &cluster.Error{Err: errors.New("dial tcp: refused")}), ExitFailed},
		{"a cluster error that is the user's to fix", &cluster.Error{Err: errors.New("loading kubeconfig: no such file"), BadInput: true}, ExitBadInput},
		{"a failed cluster operation is not bad input, whatever the server said", &cluster.Error{Err: apierrors.NewBadRequest("x")}, ExitFailed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := ExitCode(tt.err); got != tt.want {
				t.Errorf("ExitCode(%v) = %d, want %d", tt.err, got, tt.want)
			}
		})
	}
}

type badInputError struct{ bad bool }

func (e badInputError) Error() string  { return "refused" }
func (e badInputError) BadInput() bool { return e.bad }

func TestPrintErrorIsOneLine(t *testing.T) {
	var b bytes.Buffer
	PrintError(&b, errors.New("applying x:\n  server said\tno"))
	if got := b.String(); got != "error: applying x: server said no\n" {
		t.Errorf("got %q", got)
	}
	b.Reset()
	PrintError(&b, nil)
	if b.Len() != 0 {
		t.Errorf("nil error printed %q", b.String())
	}
}

func TestExecuteMapsErrorsToExitCodes(t *testing.T) {
	newCmd := func(runErr error) *cobra.Command {
		cmd := &cobra.Command{
			Use:  "oc-x",
			Args: cobra.NoArgs,
			RunE: func(*cobra.Command, []string) error { return runErr },
		}
		cmd.Flags().Bool("known", false, "")
		Setup(cmd, "oc x")
		return cmd
	}
	tests := []struct {
		name   string
		args   []string
		runErr error
		code   int
		stderr string
	}{
		{"success", nil, nil, ExitOK, ""},
		{"an unknown flag is bad usage", []string{"--nope"}, nil, ExitBadInput, "error: unknown flag: --nope\n"},
		{"an unexpected argument is bad usage", []string{"arg"}, nil, ExitBadInput, "error: unknown command \"arg\" for \"oc x\"\n"},
		{"the command's own error keeps its code", nil, Differs(errors.New("drift")), ExitDiffers, "error: drift\n"},
		{"an unmarked error from the command is a failure", nil, errors.New("cluster gone"), ExitFailed, "error: cluster gone\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			streams, _, out, errOut := genericiooptions.NewTestIOStreams()
			cmd := newCmd(tt.runErr)
			cmd.SetArgs(tt.args)
			if code := Execute(cmd, streams); code != tt.code {
				t.Errorf("exit code %d, want %d (stderr %q)", code, tt.code, errOut)
			}
			if errOut.String() != tt.stderr {
				t.Errorf("stderr %q, want %q", errOut, tt.stderr)
			}
			if out.Len() != 0 {
				t.Errorf("stdout %q, want nothing (no usage screen)", out)
			}
		})
	}
}

func TestSetupShowsTheOcName(t *testing.T) {
	cmd := &cobra.Command{Use: "oc-icsp-migrate", Example: "x", RunE: func(*cobra.Command, []string) error { return nil }}
	Setup(cmd, "oc icsp migrate")
	if got := cmd.DisplayName(); got != "oc icsp migrate" {
		t.Errorf("DisplayName = %q", got)
	}
	if !strings.Contains(cmd.UsageString(), "oc icsp migrate") {
		t.Errorf("usage does not name the command as oc runs it:\n%s", cmd.UsageString())
	}
}

func TestDisplayNameIsHowTheBinaryWasInvoked(t *testing.T) {
	for _, tt := range []struct{ argv0, want string }{
		{"/usr/local/bin/oc-mhc-pause", "oc mhc pause"},
		{"kubectl-mhc-pause", "kubectl mhc pause"},
		{"/root/.krew/bin/kubectl-release-sig", "kubectl release sig"},
		{"kubectl-mhc_resume", "kubectl mhc-resume"},
		{"kubectl-icsp-migrate.exe", "kubectl icsp migrate"},
		{"/tmp/go-build123/b001/cli.test", "oc icsp migrate"},
		{"main", "oc icsp migrate"},
		{"kubectl", "oc icsp migrate"},
		{"oc--x", "oc icsp migrate"},
	} {
		t.Run(tt.argv0, func(t *testing.T) {
			if got := DisplayName(tt.argv0, "oc icsp migrate"); got != tt.want {
				t.Errorf("DisplayName(%q) = %q, want %q", tt.argv0, got, tt.want)
			}
		})
	}
}

func TestSetupUnderKubectlShowsTheKubectlName(t *testing.T) {
	defer func(old []string) { os.Args = old }(os.Args)
	os.Args = []string{"/root/.krew/bin/kubectl-mhc-pause"}
	cmd := &cobra.Command{Use: "oc-mhc-pause", Example: "  oc mhc pause --all\n  oc get mhc -o yaml | oc mhc pause -f -", RunE: func(*cobra.Command, []string) error { return nil }}
	cmd.AddCommand(&cobra.Command{Use: "status", Example: "  oc mhc pause status", RunE: func(*cobra.Command, []string) error { return nil }})
	Setup(cmd, "oc mhc pause")
	if got := cmd.DisplayName(); got != "kubectl mhc pause" {
		t.Errorf("DisplayName = %q", got)
	}
	status, _, _ := cmd.Find([]string{"status"})
	if got := status.UsageString(); !strings.Contains(got, "Usage:\n  kubectl mhc pause status") || !strings.Contains(got, "  kubectl mhc pause status\n") {
		t.Errorf("usage of the subcommand does not read as kubectl runs it:\n%s", got)
	}
	if want := "  kubectl mhc pause --all\n  oc get mhc -o yaml | kubectl mhc pause -f -"; cmd.Example != want {
		t.Errorf("examples = %q, want %q", cmd.Example, want)
	}
	if Program() != "kubectl" {
		t.Errorf("Program() = %q under kubectl", Program())
	}
}

// failingReader fails the test if anyone reads it: the command must not
// block on stdin it did not need.
type failingReader struct{ t *testing.T }

func (r failingReader) Read([]byte) (int, error) {
	r.t.Error("stdin was read")
	return 0, io.EOF
}

func TestInputReadsStdinOnlyWhenNothingElseIsGiven(t *testing.T) {
	obj := "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}\n"

	var o InputOptions
	objs, err := o.Read(strings.NewReader(obj), false)
	if err != nil || len(objs) != 1 {
		t.Fatalf("implicit stdin: %v objects, err %v", len(objs), err)
	}

	// Other input (--from-cluster, names, --all): stdin is not touched.
	objs, err = o.Read(failingReader{t}, true)
	if err != nil || len(objs) != 0 {
		t.Errorf("with other input: %d objects, err %v", len(objs), err)
	}

	// A named file: stdin is not touched either.
	dir := t.TempDir()
	path := dir + "/cm.yaml"
	if err := os.WriteFile(path, []byte(obj), 0o644); err != nil {
		t.Fatal(err)
	}
	o = InputOptions{Filenames: []string{path}}
	if objs, err := o.Read(failingReader{t}, false); err != nil || len(objs) != 1 {
		t.Errorf("with -f: %d objects, err %v", len(objs), err)
	}

	// -f - reads stdin even with other input.
	o = InputOptions{Filenames: []string{"-"}}
	if objs, err := o.Read(strings.NewReader(obj), true); err != nil || len(objs) != 1 {
		t.Errorf("with -f -: %d objects, err %v", len(objs), err)
	}
}

// TestEmptyInput is the one rule for empty input: a source named with -f
// that holds no object is bad input naming it; standard input that was only
// piped may be empty, which is no input.
func TestEmptyInput(t *testing.T) {
	dir := t.TempDir()
	empty := dir + "/empty.yaml"
	if err := os.WriteFile(empty, []byte("# nothing\n---\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name  string
		files []string
		want  string
	}{
		{"an empty file", []string{empty}, empty + ": no objects"},
		{"empty standard input named with -f -", []string{"-"}, "<stdin>: no objects"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			o := InputOptions{Filenames: tc.files}
			objs, err := o.Read(strings.NewReader(""), false)
			if ExitCode(err) != ExitBadInput || err == nil || !strings.HasPrefix(err.Error(), tc.want) || len(objs) != 0 {
				t.Errorf("%d objects, exit %d, err %v; want exit 2 and %q", len(objs), ExitCode(err), err, tc.want)
			}
		})
	}
	var o InputOptions
	if objs, err := o.Read(strings.NewReader("---\n"), false); err != nil || len(objs) != 0 {
		t.Errorf("empty piped stdin: %d objects, err %v; want none and no error", len(objs), err)
	}
}

func TestPiped(t *testing.T) {
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	defer w.Close()
	if !Piped(r) {
		t.Error("a pipe is not piped")
	}
	devnull, err := os.Open(os.DevNull)
	if err != nil {
		t.Fatal(err)
	}
	defer devnull.Close()
	if !Piped(devnull) {
		t.Error("a redirected file is not piped")
	}
	if Piped(nil) {
		t.Error("no stdin is piped")
	}
}

func TestPrinter(t *testing.T) {
	mk := func(name string) *unstructured.Unstructured {
		u := &unstructured.Unstructured{}
		u.SetAPIVersion("config.openshift.io/v1")
		u.SetKind("ImageDigestMirrorSet")
		u.SetName(name)
		return u
	}
	objs := []*unstructured.Unstructured{mk("a"), mk("b")}
	print := func(format string, objs []*unstructured.Unstructured) string {
		f := NewPrintFlags()
		f.OutputFormat = &format
		p, err := NewPrinter(f)
		if err != nil {
			t.Fatal(err)
		}
		var b bytes.Buffer
		if err := p.Print(&b, objs); err != nil {
			t.Fatal(err)
		}
		return b.String()
	}
	if got, want := print("yaml", objs), "apiVersion: config.openshift.io/v1\nkind: ImageDigestMirrorSet\nmetadata:\n  name: a\n---\napiVersion: config.openshift.io/v1\nkind: ImageDigestMirrorSet\nmetadata:\n  name: b\n"; got != want {
		t.Errorf("yaml:\n%s\nwant\n%s", got, want)
	}
	if got := print("name", objs); got != "imagedigestmirrorset.config.openshift.io/a\nimagedigestmirrorset.config.openshift.io/b\n" {
		t.Errorf("name: %q", got)
	}
	if got := print("json", objs); !strings.Contains(got, `"kind": "List"`) || strings.Count(got, `"kind": "ImageDigestMirrorSet"`) != 2 {
		t.Errorf("json of two objects is not a List:\n%s", got)
	}
	if got := print("json", objs[:1]); strings.Contains(got, `"List"`) {
		t.Errorf("json of one object is a List:\n%s", got)
	}
	f := NewPrintFlags()
	bad := "wide-ish"
	f.OutputFormat = &bad
	if _, err := NewPrinter(f); ExitCode(err) != ExitBadInput {
		t.Errorf("unknown -o: %v (code %d)", err, ExitCode(err))
	}
}

// TestAClusterErrorIsOneLine: with no kubeconfig, client-go's discovery
// fails against localhost:8080 and reports it through klog as well as in
// the error it returns; only the command's one error line reaches stderr,
// and -v=6 shows the requests as kubectl does.
func TestAClusterErrorIsOneLine(t *testing.T) {
	t.Setenv("KUBECONFIG", filepath.Join(t.TempDir(), "no-kubeconfig"))
	newCmd := func() *cobra.Command {
		kube := genericclioptions.NewConfigFlags(true)
		cmd := &cobra.Command{Use: "oc-x", RunE: func(*cobra.Command, []string) error {
			mapper, err := kube.ToRESTMapper()
			if err != nil {
				return err
			}
			_, err = mapper.RESTMapping(schema.GroupKind{Group: "machine.openshift.io", Kind: "MachineHealthCheck"})
			return Failed(fmt.Errorf("discovering machinehealthchecks: %w", err))
		}}
		kube.AddFlags(cmd.PersistentFlags())
		Setup(cmd, "oc x")
		return cmd
	}
	for _, tc := range []struct {
		args      []string
		wantLines int
		want      string
	}{
		{nil, 1, "error: discovering machinehealthchecks: "},
		{[]string{"-v=6"}, 3, `"Response" verb="GET" url="http://localhost:8080/api?timeout=32s"`},
	} {
		streams, _, out, errOut := genericiooptions.NewTestIOStreams()
		cmd := newCmd()
		cmd.SetArgs(tc.args)
		var code int
		// klog writes to the process's stderr unless told otherwise.
		direct := captureStderr(t, func() { code = Execute(cmd, streams) })
		if code != ExitFailed {
			t.Errorf("%v: exit %d, want %d", tc.args, code, ExitFailed)
		}
		if direct != "" {
			t.Errorf("%v: written to the process's stderr, past the command's streams:\n%s", tc.args, direct)
		}
		lines := strings.Split(strings.TrimSuffix(errOut.String(), "\n"), "\n")
		if len(lines) < tc.wantLines || tc.wantLines == 1 && len(lines) != 1 {
			t.Errorf("%v: %d lines on stderr, want %d:\n%s", tc.args, len(lines), tc.wantLines, errOut)
		}
		if !strings.Contains(errOut.String(), tc.want) || !strings.HasPrefix(lines[len(lines)-1], "error: discovering machinehealthchecks: ") {
			t.Errorf("%v: stderr does not show %q and end with the error:\n%s", tc.args, tc.want, errOut)
		}
		if out.Len() != 0 {
			t.Errorf("%v: stdout %q", tc.args, out)
		}
	}
}

// TestVersionIsLongAndVIsTheLogLevel: -v is the log level as in kubectl,
// --version prints the version.
func TestVersionIsLongAndVIsTheLogLevel(t *testing.T) {
	cmd := &cobra.Command{Use: "oc-x", RunE: func(*cobra.Command, []string) error { return nil }}
	Setup(cmd, "oc x")
	streams, _, out, errOut := genericiooptions.NewTestIOStreams()
	cmd.SetArgs([]string{"--version"})
	if code := Execute(cmd, streams); code != 0 || out.String() != "oc x version "+Version+"\n" {
		t.Errorf("--version: exit %d, stdout %q, stderr %q", code, out, errOut)
	}
	for _, args := range [][]string{{"-v=4"}, {"-v", "4"}, {"--v=4"}} {
		cmd := &cobra.Command{Use: "oc-x", RunE: func(*cobra.Command, []string) error { return nil }}
		Setup(cmd, "oc x")
		streams, _, out, errOut := genericiooptions.NewTestIOStreams()
		cmd.SetArgs(args)
		if code := Execute(cmd, streams); code != 0 || out.Len() != 0 || verbosity() != 4 {
			t.Errorf("%v: exit %d, log level %d, stdout %q, stderr %q; want 0, 4 and no version", args, code, verbosity(), out, errOut)
		}
	}
}

// captureStderr runs f with os.Stderr going to a pipe and returns what was
// written there.
func captureStderr(t *testing.T, f func()) string {
	t.Helper()
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	saved := os.Stderr
	os.Stderr = w
	done := make(chan string)
	go func() {
		b, _ := io.ReadAll(r)
		done <- string(b)
	}()
	defer func() {
		os.Stderr = saved
	}()
	f()
	os.Stderr = saved
	w.Close()
	return <-done
}

// TestCompletion: every plugin has `completion bash|zsh|fish`, and -o's
// values complete as in kubectl.
func TestCompletion(t *testing.T) {
	newCmd := func() *cobra.Command {
		cmd := &cobra.Command{Use: "oc-x", RunE: func(*cobra.Command, []string) error { return nil }}
		NewPrintFlags().AddFlags(cmd)
		Setup(cmd, "oc x")
		return cmd
	}
	for _, shell := range []string{"bash", "zsh", "fish"} {
		streams, _, out, errOut := genericiooptions.NewTestIOStreams()
		cmd := newCmd()
		cmd.SetArgs([]string{"completion", shell})
		if code := Execute(cmd, streams); code != 0 || !strings.Contains(out.String(), "oc-x") {
			t.Errorf("completion %s: exit %d, stderr %q, script %.200q", shell, code, errOut, out)
		}
	}
	streams, _, out, _ := genericiooptions.NewTestIOStreams()
	cmd := newCmd()
	cmd.SetArgs([]string{"__complete", "-o", ""})
	if code := Execute(cmd, streams); code != 0 {
		t.Fatalf("__complete -o '': exit %d", code)
	}
	lines := strings.Split(strings.TrimSuffix(out.String(), "\n"), "\n")
	for _, want := range []string{"yaml", "json", "name"} {
		if !slices.Contains(lines, want) {
			t.Errorf("-o does not complete %s: %q", want, lines)
		}
	}
	if lines[len(lines)-1] != ":4" {
		t.Errorf("-o completion ends with %q, want :4 (no file names)", lines[len(lines)-1])
	}
}
