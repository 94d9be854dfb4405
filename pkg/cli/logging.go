package cli

import (
	goflag "flag"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"

	"github.com/sirupsen/logrus"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"k8s.io/client-go/transport"
	"k8s.io/klog/v2"
)

// Verbosity levels, as kubectl uses them: client-go logs each API request
// with its status and time at 6, request headers at 7 and bodies at 8. The
// registry trace (containers/image's debug log) shows at the same level as
// the API requests.
const (
	levelInfo     = 2
	levelRequests = 6
	levelHeaders  = 7
)

// klogFlags holds klog's flags. klog keeps its settings in globals, so one
// set serves every command of the process.
var (
	klogOnce  sync.Once
	klogFlags *goflag.FlagSet
)

func klogFlagSet() *goflag.FlagSet {
	klogOnce.Do(func() {
		klogFlags = goflag.NewFlagSet("klog", goflag.ContinueOnError)
		klog.InitFlags(klogFlags)
		// klog writes to the writer quietLogging or verboseLogging gives,
		// and never on its own to stderr: an error a command returns is
		// printed once, as its one line.
		for name, value := range map[string]string{"logtostderr": "false", "alsologtostderr": "false", "stderrthreshold": "FATAL", "one_output": "true"} {
			if err := klogFlags.Set(name, value); err != nil {
				panic(fmt.Sprintf("klog flag %s: %v", name, err))
			}
		}
	})
	return klogFlags
}

// addVerbosityFlag gives cmd kubectl's -v/--v flag (klog's verbosity).
// cobra then leaves -v alone and keeps --version long.
func addVerbosityFlag(cmd *cobra.Command) {
	if cmd.PersistentFlags().Lookup("v") != nil {
		return
	}
	v := pflag.PFlagFromGoFlag(klogFlagSet().Lookup("v"))
	v.Usage = "Log level: 6 shows each API and registry request, 7 their headers (credentials masked), 8 API bodies"
	cmd.PersistentFlags().AddFlag(v)
}

// quietLogging sends klog and logrus (containers/image) nowhere but their
// warnings, before flags are parsed: client-go reports a failed discovery
// through klog as well as in the error it returns, which the command prints.
func quietLogging(errOut io.Writer) {
	_ = klogFlagSet().Set("v", "0")
	klog.SetOutput(io.Discard)
	routeLogrus(errOut, 0)
}

// verboseLogging applies -v once flags are parsed: from 1 on, klog's lines
// (client-go's requests, retries and handled errors) go to errOut, and
// containers/image's debug log, its registry request trace, from 6 on.
func verboseLogging(errOut io.Writer) {
	level := verbosity()
	if level > 0 {
		klog.SetOutput(errOut)
	}
	routeLogrus(errOut, level)
}

// verbosity is the -v level in effect.
func verbosity() int {
	n, _ := strconv.Atoi(klogFlagSet().Lookup("v").Value.String())
	return n
}

// routeLogrus sends containers/image's logrus entries through klog at the
// level kubectl users expect for them, and its warnings to errOut as one
// "warning:" line each. Only an entry's message is printed, never its
// fields.
func routeLogrus(errOut io.Writer, level int) {
	std := logrus.StandardLogger()
	std.SetOutput(io.Discard)
	std.ReplaceHooks(logrus.LevelHooks{})
	switch {
	case level >= levelRequests:
		std.SetLevel(logrus.DebugLevel)
	case level >= levelInfo:
		std.SetLevel(logrus.InfoLevel)
	default:
		std.SetLevel(logrus.WarnLevel)
	}
	std.AddHook(&logrusToKlog{errOut: errOut})
}

type logrusToKlog struct {
	mu     sync.Mutex
	errOut io.Writer
}

func (h *logrusToKlog) Levels() []logrus.Level { return logrus.AllLevels }

func (h *logrusToKlog) Fire(e *logrus.Entry) error {
	if _, ok := e.Data["go.version"]; ok {
		// The distribution registry's own log (in-process in tests and the
		// sandbox) shares the logger; it is the server's, not ours.
		return nil
	}
	msg := strings.Join(strings.Fields(e.Message), " ")
	switch e.Level {
	case logrus.PanicLevel, logrus.FatalLevel, logrus.ErrorLevel, logrus.WarnLevel:
		h.mu.Lock()
		defer h.mu.Unlock()
		_, err := fmt.Fprintf(h.errOut, "warning: %s\n", msg)
		return err
	case logrus.InfoLevel:
		klog.V(levelInfo).Info(msg)
	case logrus.DebugLevel:
		klog.V(levelRequests).Info("registry: " + msg)
	default:
		klog.V(levelHeaders).Info("registry: " + msg)
	}
	return nil
}

// traceTransport logs each request rt makes as client-go logs API requests:
// method, URL and status with the time taken at 6, headers (credentials
// masked) at 7. A password in the URL (https://user:password@host/) has
// become the Authorization header by then, and is dropped from the URL
// that is logged and sent.
func traceTransport(rt http.RoundTripper) http.RoundTripper {
	return withoutUserinfo{transport.DebugWrappers(rt)}
}

type withoutUserinfo struct{ next http.RoundTripper }

func (w withoutUserinfo) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.URL.User != nil {
		req = req.Clone(req.Context())
		req.URL.User = nil
	}
	return w.next.RoundTrip(req)
}
