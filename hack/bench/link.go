package main

import (
	"fmt"
	"net"
	"os/exec"
	"path/filepath"
	"strings"
	"time"
)

// linkProfile is the emulated link between the tools and every registry
// (BENCH_LINK): a round trip and a rate, each way. Named after the cases
// of issue 20: a registry on another continent (quay.io seen from Europe
// or Asia), one in the same region, one on a site link.
type linkProfile struct {
	Name string `json:"name"`
	// RTTms is the round trip; half of it is added each way.
	RTTms int `json:"rttMs"`
	// Mbits is the link's rate in Mbit/s, each way, shared by all of a
	// registry's connections.
	Mbits int `json:"mbitPerSecond"`
}

var linkProfiles = map[string]linkProfile{
	"intercontinental": {Name: "intercontinental", RTTms: 150, Mbits: 100},
	"regional":         {Name: "regional", RTTms: 50, Mbits: 500},
	"site":             {Name: "site", RTTms: 10, Mbits: 1000},
}

func (p linkProfile) String() string {
	return fmt.Sprintf("%s (%d ms RTT, %d Mbit/s)", p.Name, p.RTTms, p.Mbits)
}

// bytesPerSecond is the link's rate.
func (p linkProfile) bytesPerSecond() float64 { return float64(p.Mbits) * 1e6 / 8 }

// link runs toxiproxy (hack/benchtools/link: its server with a rate shared
// by a proxy's connections) and puts a proxy with the profile's toxics in
// front of each registry, through toxiproxy-cli.
type link struct {
	profile linkProfile
	toolDir string
	api     string
	server  *exec.Cmd
	n       int
}

func startLink(toolDir string, p linkProfile) (*link, error) {
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	l := &link{profile: p, toolDir: toolDir, api: "http://127.0.0.1:" + port}
	l.server = exec.Command(filepath.Join(toolDir, "toxiproxy-link"), "-host", "127.0.0.1", "-port", port)
	if err := l.server.Start(); err != nil {
		return nil, fmt.Errorf("starting toxiproxy: %w", err)
	}
	for i := 0; ; i++ {
		if err := l.cli("list"); err == nil {
			return l, nil
		} else if i == 100 {
			l.close()
			return nil, fmt.Errorf("toxiproxy does not answer: %w", err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func (l *link) cli(args ...string) error {
	out, err := exec.Command(filepath.Join(l.toolDir, "toxiproxy-cli"), append([]string{"--host", l.api}, args...)...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("toxiproxy-cli %s: %v: %s", strings.Join(args, " "), err, strings.TrimSpace(string(out)))
	}
	return nil
}

// front is a testenv.WithFront for a registry: a new proxy in front of it,
// without toxics until on.
func (l *link) front(name *string) func(string) (string, error) {
	return func(upstream string) (string, error) {
		port, err := freePort()
		if err != nil {
			return "", err
		}
		l.n++
		*name = fmt.Sprintf("registry-%d", l.n)
		listen := "127.0.0.1:" + port
		return listen, l.cli("create", "--listen", listen, "--upstream", upstream, *name)
	}
}

// on puts the profile on proxy name: half the round trip each way, and the
// rate each way.
func (l *link) on(name string) error {
	for _, dir := range []string{"upstream", "downstream"} {
		if err := l.cli("toxic", "add", "--type", "latency", "--toxicName", "latency-"+dir, "--"+dir,
			"--attribute", fmt.Sprintf("latency=%d", l.profile.RTTms/2), name); err != nil {
			return err
		}
		if err := l.cli("toxic", "add", "--type", "linkrate", "--toxicName", "rate-"+dir, "--"+dir,
			"--attribute", fmt.Sprintf("rate=%d", l.profile.Mbits*1000/8), name); err != nil {
			return err
		}
	}
	return nil
}

func (l *link) remove(name string) {
	if name != "" {
		_ = l.cli("delete", name)
	}
}

func (l *link) close() {
	if l.server.Process != nil {
		_ = l.server.Process.Kill()
		_ = l.server.Wait()
	}
}

// freePort is a port nothing listens on now.
func freePort() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer ln.Close()
	_, port, err := net.SplitHostPort(ln.Addr().String())
	return port, err
}

// linkTargets are issue 20's targets on a link: the first run moves the
// payload's unique bytes at 90% of the link's rate or more (the source and
// the destination each have a link of their own, so the payload crosses
// each once, side by side).
func linkTargets(p linkProfile, rep *Report) []Target {
	var ts []Target
	for _, s := range rep.Summary {
		if s.Tool != ours || s.Runs == 0 || s.Wall <= 0 {
			continue
		}
		rate := rep.UniqueMB * 1e6 / s.Wall
		share := rate / p.bytesPerSecond()
		ts = append(ts, Target{Name: "first run >= 90% of the link's rate for the unique bytes", Met: share >= 0.9,
			Got: fmt.Sprintf("%.1f%% (%.2f MB/s of %.1f MB/s)", 100*share, rate/1e6, p.bytesPerSecond()/1e6)})
	}
	return ts
}
