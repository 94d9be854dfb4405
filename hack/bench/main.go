// Command bench is the mirroring benchmark (make bench, issue 8): it pushes
// a release-sized synthetic payload into a source registry (distribution v3
// on loopback, TLS, htpasswd, filesystem storage), then mirrors it with
// oc-mirror-lite and with its peers, each run into a fresh destination
// registry, the tools in a rotated order each round so machine drift falls
// on all of them alike, and reports the median of each tool's runs: wall
// and CPU seconds and peak RSS of the tool's process (rusage, children
// included), and the blobs and bytes the destination registry accepted.
//
// The peers: Debian's skopeo (sync from a YAML list), crane and regctl (4
// copies at a time with xargs -P4), and "limit", a minimal client that
// streams each unique blob once and then puts the manifests (hack/benchtools).
//
// With -link (BENCH_LINK) every registry is reached through an emulated
// link (link.go: toxiproxy's latency and a rate shared by a registry's
// connections): intercontinental, regional or site.
//
// With -payload operators (BENCH_PAYLOAD) the payload is an operator
// catalog's selection instead of a release (operators.go).
//
// Usage: go run ./hack/bench [-scale small|full] [-payload release|operators] [-runs N] [-tools LIST] [-link PROFILE]
package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	digest "github.com/opencontainers/go-digest"

	"github.com/airgap-ocp/oc-plugins/internal/testenv"
	"github.com/airgap-ocp/oc-plugins/pkg/mirror"
)

// Tool names, in the table's order.
const (
	ours     = "oc-mirror-lite"
	oursIncr = "oc-mirror-lite (incremental)"
	oursDisk = "oc-mirror-lite (disk, then disk to mirror)"
	skopeo   = "skopeo sync"
	crane    = "crane copy -P4"
	regctl   = "regctl image copy -P4"
	limit    = "limit"
	// The re-runs of the peers and of the limit onto the destination their
	// first run filled: what issue 8's incremental target is measured
	// against (the limit's re-run is one HEAD per tag, the least a re-run
	// can ask).
	craneIncr  = "crane copy -P4 (incremental)"
	regctlIncr = "regctl image copy -P4 (incremental)"
	limitIncr  = "limit (incremental: a HEAD per tag)"
	// baseline is oc-mirror-lite from another build (-baseline), run as
	// ours is: a before-and-after comparison under the same conditions.
	baseline = "oc-mirror-lite (baseline build)"
)

var allTools = []string{ours, oursIncr, oursDisk, skopeo, crane, regctl, limit, craneIncr, regctlIncr, limitIncr}

// rerunOf pairs each tool that is also run again, onto the destination
// its first run filled, with the name of that re-run.
var rerunOf = map[string]string{ours: oursIncr, crane: craneIncr, regctl: regctlIncr, limit: limitIncr}

func isRerun(tool string) bool {
	for _, r := range rerunOf {
		if r == tool {
			return true
		}
	}
	return false
}

// Measurement is one run of one tool.
type Measurement struct {
	Tool  string `json:"tool"`
	Round int    `json:"round"`
	// Load is the machine's load average when the run started.
	Load string  `json:"loadAverage"`
	Wall float64 `json:"wallSeconds"`
	CPU  float64 `json:"cpuSeconds"`
	// RSS is the peak resident set of the tool's process, or of its largest
	// child (xargs runs four at a time: each is one process).
	RSSMB float64 `json:"peakRSSMB"`
	// Uploads and UploadedMB: blob uploads the destination completed;
	// MaxPerBlob the most uploads of one blob; Mounts cross-repository
	// mounts; Manifests manifests stored.
	Uploads    int     `json:"blobUploads"`
	UploadedMB float64 `json:"uploadedMB"`
	MaxPerBlob int     `json:"maxUploadsOfOneBlob"`
	SharedOnce bool    `json:"sharedBlobsUploadedOnce"`
	Mounts     int     `json:"mounts"`
	Manifests  int     `json:"manifests"`
	// Requests and Pings (GET /v2/, one per client a tool sets up) the
	// source and the destination served.
	// RegistryCPU is the CPU seconds the two registries (this process)
	// spent during the run: the other half of a tool's cost.
	RegistryCPU float64 `json:"registryCPUSeconds"`
	SrcRequests int     `json:"sourceRequests"`
	SrcPings    int     `json:"sourcePings"`
	DstRequests int     `json:"destRequests"`
	DstPings    int     `json:"destPings"`
	// SrcConns and DstConns are the connections (TLS handshakes) the
	// tool opened to each registry.
	SrcConns int `json:"sourceConnections"`
	DstConns int `json:"destConnections"`
	// ArchiveMB is the archive's size after mirror to disk; PushPeakMB the
	// most the working folders held beyond it during disk to mirror (an
	// unpacked copy of the payload would show here).
	ArchiveMB  float64 `json:"archiveMB,omitempty"`
	PushPeakMB float64 `json:"pushExtraPeakMB,omitempty"`
	// TmpPeakMB is the most the tool's own working folders held (the
	// archive, for the disk run).
	TmpPeakMB float64 `json:"tmpPeakMB,omitempty"`
	Err       string  `json:"error,omitempty"`
}

// Summary is the median of a tool's runs.
type Summary struct {
	Tool       string  `json:"tool"`
	Runs       int     `json:"runs"`
	Wall       float64 `json:"wallSeconds"`
	CPU        float64 `json:"cpuSeconds"`
	RegCPU     float64 `json:"registryCPUSeconds"`
	RSSMB      float64 `json:"peakRSSMB"`
	Uploads    float64 `json:"blobUploads"`
	Requests   float64 `json:"requests"`
	UploadedMB float64 `json:"uploadedMB"`
	MaxPerBlob int     `json:"maxUploadsOfOneBlob"`
	TmpPeakMB  float64 `json:"tmpPeakMB,omitempty"`
	ArchiveMB  float64 `json:"archiveMB,omitempty"`
	// PushPeakMB is the largest of the runs, not their median.
	PushPeakMB float64 `json:"pushExtraPeakMB,omitempty"`
	VsOurs     float64 `json:"wallVsOurs"`
	VsLimit    float64 `json:"wallVsLimit"`
	Skipped    string  `json:"skipped,omitempty"`
}

// Report is what the JSON file holds.
type Report struct {
	Started time.Time `json:"started"`
	Scale   string    `json:"scale"`
	Command string    `json:"command"`
	// Link is the emulated link to every registry; none on loopback.
	Link *linkProfile `json:"link,omitempty"`
	// TokenAuth: the registries handed out Bearer tokens (-token-auth).
	TokenAuth   bool          `json:"tokenAuth,omitempty"`
	Machine     string        `json:"machine"`
	LoadBefore  string        `json:"loadBefore"`
	LoadAfter   string        `json:"loadAfter"`
	Images      int           `json:"images"`
	Blobs       int           `json:"uniqueBlobs"`
	UniqueMB    float64       `json:"uniqueMB"`
	Runs        []Measurement `json:"runs"`
	Summary     []Summary     `json:"summary"`
	Targets     []Target      `json:"targets"`
	SetupSecond float64       `json:"setupSeconds"`
}

// Target is one of issue 8's targets, checked against the medians.
type Target struct {
	Name string `json:"name"`
	Got  string `json:"got"`
	Met  bool   `json:"met"`
}

type bench struct {
	work, binDir, toolDir string
	baselineDir           string
	src                   *testenv.Registry
	payload               *testenv.BenchPayload
	list                  [][2]string // source by digest, destination by tag (repo path mirror/ocp)
	parallel              int
	verbose               bool
	// link, when set, is in front of every registry; srcProxy is the
	// source's proxy on it.
	link     *link
	srcProxy string

	// catalog is the operator payload (operators.go), if chosen.
	catalog *testenv.BenchCatalog
}

func main() {
	scale := flag.String("scale", envOr("BENCH_SCALE", "small"), "payload scale: small or full (BENCH_SCALE)")
	runs := flag.Int("runs", atoiOr(os.Getenv("BENCH_RUNS"), 3), "runs of each tool (BENCH_RUNS)")
	tools := flag.String("tools", os.Getenv("BENCH_TOOLS"), "comma-separated tools to run (default all): ours,incr,disk,skopeo,crane,regctl,limit,crane-incr,regctl-incr,limit-incr (BENCH_TOOLS)")
	binDir := flag.String("bin", "bin", "folder holding oc-mirror-lite")
	toolDir := flag.String("tool-bin", "bin/bench", "folder holding crane, regctl and limit")
	out := flag.String("out", "bench/results", "folder for the JSON results")
	verbose := flag.Bool("v", true, "print each run as it ends (on stderr)")
	profile := flag.String("registry-cpuprofile", "", "write a CPU profile of the registries (this process) during the runs to this file")
	baselineDir := flag.String("baseline", "", "folder holding another build of oc-mirror-lite to run beside ours (before and after a change)")
	linkName := flag.String("link", os.Getenv("BENCH_LINK"), "emulated link to every registry: intercontinental, regional or site (BENCH_LINK); none if empty")
	hold := flag.Bool("hold", false, "set up the source and one destination, print the command lines of each tool (to profile one by hand) and wait for Ctrl-C")
	flag.Parse()
	if *profile != "" {
		f, err := os.Create(*profile)
		if err != nil {
			fmt.Fprintln(os.Stderr, "bench:", err)
			os.Exit(1)
		}
		profileRuns = func() func() {
			if err := pprof.StartCPUProfile(f); err != nil {
				fmt.Fprintln(os.Stderr, "bench:", err)
				return func() {}
			}
			return func() { pprof.StopCPUProfile(); f.Close() }
		}
	}
	if err := run(*scale, *runs, *tools, *binDir, *toolDir, *baselineDir, *out, *linkName, *verbose, *hold); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

func run(scale string, runs int, only, binDir, toolDir, baselineDir, out, linkName string, verbose, hold bool) error {
	spec, err := testenv.BenchScale(scale)
	if err != nil {
		return err
	}
	var profile *linkProfile
	if linkName != "" {
		p, ok := linkProfiles[linkName]
		if !ok {
			return fmt.Errorf("-link %q: want intercontinental, regional or site", linkName)
		}
		profile = &p
	}
	selected, err := selectTools(only)
	if err != nil {
		return err
	}
	opsPayload, err := operatorsPayload()
	if err != nil {
		return err
	}
	// The limit keeps as many requests in flight as ours does by default:
	// at 8 it was round-trip bound on a long link, no floor for ours.
	b := &bench{parallel: mirror.DefaultParallel, verbose: verbose}
	if baselineDir != "" {
		if b.baselineDir, err = filepath.Abs(baselineDir); err != nil {
			return err
		}
		if _, err := os.Stat(filepath.Join(b.baselineDir, "oc-mirror-lite")); err != nil {
			return fmt.Errorf("-baseline: %w", err)
		}
		selected = append(selected, baseline)
	}
	if b.binDir, err = filepath.Abs(binDir); err != nil {
		return err
	}
	if b.toolDir, err = filepath.Abs(toolDir); err != nil {
		return err
	}
	for _, p := range []string{filepath.Join(b.binDir, "oc-mirror-lite"), filepath.Join(b.toolDir, "crane"), filepath.Join(b.toolDir, "regctl"), filepath.Join(b.toolDir, "limit"), filepath.Join(b.toolDir, "measure"),
		filepath.Join(b.toolDir, "toxiproxy-link"), filepath.Join(b.toolDir, "toxiproxy-cli")} {
		if _, err := os.Stat(p); err != nil {
			return fmt.Errorf("%s is missing: run make bench, which builds it", p)
		}
	}
	if slices.Contains(selected, skopeo) {
		if _, err := exec.LookPath("skopeo"); err != nil {
			return errors.New("skopeo is not installed (apt-get install -y skopeo)")
		}
	}
	if runs < 3 {
		fmt.Fprintf(os.Stderr, "bench: %d run(s) of each tool: issue 8's figures are medians of at least 3 (BENCH_RUNS)\n", runs)
	}
	if err := os.MkdirAll(out, 0o755); err != nil {
		return err
	}
	if b.work, err = os.MkdirTemp("", "oc-plugins-bench-"); err != nil {
		return err
	}
	defer os.RemoveAll(b.work)

	rep := &Report{Started: time.Now().UTC(), Scale: orDefault(scale, "small"), Command: strings.Join(os.Args, " "), Machine: machine(), LoadBefore: loadavg(), Link: profile, TokenAuth: *tokenAuth}
	fmt.Fprintf(os.Stderr, "bench: %s; load average %s\n", rep.Machine, rep.LoadBefore)
	if profile != nil {
		if b.link, err = startLink(b.toolDir, *profile); err != nil {
			return err
		}
		defer b.link.close()
		fmt.Fprintf(os.Stderr, "bench: every registry behind an emulated %s link\n", profile)
	}
	setup := time.Now()
	if b.src, err = testenv.NewRegistry(filepath.Join(b.work, "src"), b.registryOptions(&b.srcProxy)...); err != nil {
		return fmt.Errorf("starting the source registry: %w", err)
	}
	defer b.src.Close()
	if opsPayload {
		err = b.pushOperators(context.Background(), rep)
	} else {
		fmt.Fprintf(os.Stderr, "bench: pushing the %s payload (%d components) to the source registry\n", rep.Scale, spec.Components)
		b.payload, err = b.src.PushBenchRelease(context.Background(), spec, b.work)
	}
	if err != nil {
		return err
	}
	if b.link != nil {
		// The payload went in at loopback speed; the tools read it over the link.
		if err := b.link.on(b.srcProxy); err != nil {
			return err
		}
	}
	rep.SetupSecond = time.Since(setup).Seconds()
	if !opsPayload {
		ext := testenv.ArchExt("amd64")
		for _, n := range b.payload.Names {
			b.list = append(b.list, [2]string{b.payload.Components[n], "mirror/ocp:" + b.payload.Version + "-" + ext + "-" + n})
		}
		b.list = append(b.list, [2]string{b.payload.PullSpec, "mirror/ocp:" + b.payload.Version + "-" + ext})
	}
	rep.Images = len(b.list)
	rep.Blobs = len(b.payload.BlobSizes)
	rep.UniqueMB = mb(b.payload.UniqueBytes)
	fmt.Fprintf(os.Stderr, "bench: %d images, %d unique blobs, %.0f MB unique, set up in %.0fs\n", rep.Images, rep.Blobs, rep.UniqueMB, rep.SetupSecond)

	if hold {
		return b.hold(selected)
	}

	diskOK, diskWhy := b.diskAvailable()
	stopProfile := profileRuns()
	for round := range runs {
		order := rotate(selected, round)
		for _, tool := range order {
			if isRerun(tool) {
				continue // runs right after its first run, on its destination
			}
			if tool == oursDisk && !diskOK {
				continue
			}
			ms := b.runTool(tool, round, slices.Contains(selected, rerunOf[tool]))
			for _, m := range ms {
				rep.Runs = append(rep.Runs, m)
				if m.Err != "" {
					fmt.Fprintf(os.Stderr, "bench: round %d %s FAILED: %s\n", round+1, m.Tool, m.Err)
				} else if verbose {
					fmt.Fprintf(os.Stderr, "bench: round %d %-44s %6.1fs wall %6.1fs cpu (registries %.1fs) %5.0f MiB rss %4d uploads %7.1f MB; requests src %d (%d pings, %d conns) dst %d (%d pings, %d conns); load %s\n",
						round+1, m.Tool, m.Wall, m.CPU, m.RegistryCPU, m.RSSMB, m.Uploads, m.UploadedMB, m.SrcRequests, m.SrcPings, m.SrcConns, m.DstRequests, m.DstPings, m.DstConns, m.Load)
				}
			}
		}
	}
	stopProfile()
	rep.LoadAfter = loadavg()
	rep.Summary = summarize(selected, rep.Runs, diskOK, diskWhy)
	rep.Targets = targets(rep.Summary, rep.Runs)
	if profile != nil {
		rep.Targets = append(rep.Targets, linkTargets(*profile, rep)...)
	}

	printTable(os.Stdout, rep)
	kind := rep.Scale
	if profile != nil {
		kind += "-" + profile.Name
	}
	name := filepath.Join(out, fmt.Sprintf("bench-%s-%s.json", kind, rep.Started.Format("20060102T150405Z")))
	data, err := json.MarshalIndent(rep, "", "  ")
	if err != nil {
		return err
	}
	if err := os.WriteFile(name, append(data, '\n'), 0o644); err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "bench: results in %s\n", name)
	for _, m := range rep.Runs {
		if m.Err != "" {
			return errors.New("some runs failed (see above)")
		}
	}
	return nil
}

// profileRuns starts a CPU profile of the runs (-registry-cpuprofile) and
// returns its stop.
var profileRuns = func() func() { return func() {} }

func selectTools(only string) ([]string, error) {
	if only == "" {
		return allTools, nil
	}
	short := map[string]string{"ours": ours, "incr": oursIncr, "disk": oursDisk, "skopeo": skopeo, "crane": crane, "regctl": regctl, "limit": limit,
		"crane-incr": craneIncr, "regctl-incr": regctlIncr, "limit-incr": limitIncr}
	var out []string
	for _, s := range strings.Split(only, ",") {
		t, ok := short[strings.TrimSpace(s)]
		if !ok {
			return nil, fmt.Errorf("-tools: unknown tool %q (want ours, incr, disk, skopeo, crane, regctl, limit, crane-incr, regctl-incr or limit-incr)", s)
		}
		out = append(out, t)
	}
	for first, again := range rerunOf {
		if slices.Contains(out, again) && !slices.Contains(out, first) {
			out = append(out, first) // a re-run needs a full run first
		}
	}
	sort.Slice(out, func(i, j int) bool { return slices.Index(allTools, out[i]) < slices.Index(allTools, out[j]) })
	return out, nil
}

func rotate(tools []string, n int) []string {
	if len(tools) == 0 {
		return nil
	}
	n %= len(tools)
	return append(append([]string(nil), tools[n:]...), tools[:n]...)
}

// runEnv is one run's files: a fresh destination and a home of its own.
type runEnv struct {
	dir      string
	dst      *testenv.Registry
	proxy    string // the destination's on the link
	link     *link
	env      []string
	authFile string
	certDir  string
	list     string // SRC DST lines
}

func (b *bench) newRun(name string) (*runEnv, error) {
	dir, err := os.MkdirTemp(b.work, strings.NewReplacer(" ", "-", "(", "", ")", "", ",", "").Replace(name)+"-")
	if err != nil {
		return nil, err
	}
	r := &runEnv{dir: dir, authFile: filepath.Join(dir, "auth.json"), certDir: filepath.Join(dir, "certs")}
	if r.dst, err = testenv.NewRegistry(filepath.Join(dir, "dest"), b.registryOptions(&r.proxy)...); err != nil {
		return nil, fmt.Errorf("starting a destination registry: %w", err)
	}
	if b.link != nil {
		if err := b.link.on(r.proxy); err != nil {
			return nil, err
		}
	}
	r.link = b.link
	home, tmp, docker := filepath.Join(dir, "home"), filepath.Join(dir, "tmp"), filepath.Join(dir, "home", ".docker")
	for _, d := range []string{home, tmp, docker, r.certDir} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			return nil, err
		}
	}
	auths := map[string]any{}
	var bundle bytes.Buffer
	for i, reg := range []*testenv.Registry{b.src, r.dst} {
		auths[reg.Host] = map[string]string{"auth": base64.StdEncoding.EncodeToString([]byte(reg.Username + ":" + reg.Password))}
		ca, err := os.ReadFile(reg.CACertFile)
		if err != nil {
			return nil, err
		}
		bundle.Write(ca)
		if err := os.WriteFile(filepath.Join(r.certDir, fmt.Sprintf("ca-%d.crt", i)), ca, 0o644); err != nil {
			return nil, err
		}
	}
	cfg, err := json.Marshal(map[string]any{"auths": auths})
	if err != nil {
		return nil, err
	}
	for _, f := range []string{r.authFile, filepath.Join(docker, "config.json")} {
		if err := os.WriteFile(f, cfg, 0o600); err != nil {
			return nil, err
		}
	}
	caBundle := filepath.Join(dir, "ca-bundle.pem")
	if err := os.WriteFile(caBundle, bundle.Bytes(), 0o644); err != nil {
		return nil, err
	}
	var lines strings.Builder
	for _, l := range b.list {
		fmt.Fprintf(&lines, "%s %s\n", l[0], r.dst.Ref(l[1]))
	}
	r.list = filepath.Join(dir, "list.txt")
	if err := os.WriteFile(r.list, []byte(lines.String()), 0o644); err != nil {
		return nil, err
	}
	// A clean environment: no caches, credentials or settings of the host.
	r.env = []string{
		"PATH=" + b.toolDir + string(os.PathListSeparator) + os.Getenv("PATH"),
		"HOME=" + home, "TMPDIR=" + tmp, "DOCKER_CONFIG=" + docker,
		"REGISTRY_AUTH_FILE=" + r.authFile, "SSL_CERT_FILE=" + caBundle,
		"XDG_RUNTIME_DIR=" + tmp, "XDG_DATA_HOME=" + filepath.Join(home, ".local", "share"),
		"XDG_CONFIG_HOME=" + filepath.Join(home, ".config"), "XDG_CACHE_HOME=" + filepath.Join(home, ".cache"),
	}
	return r, nil
}

// registryOptions puts a registry behind the link, if there is one, and
// names its proxy in *proxy.
// tokenAuth makes every registry hand out Bearer tokens, as quay.io and
// registry.redhat.io do: with Basic credentials (the default, as a
// distribution registry with htpasswd), the registry compares them with
// bcrypt on every request, CPU that a re-run's hundreds of checks queue
// behind on this machine's two cores.
var tokenAuth = flag.Bool("token-auth", os.Getenv("BENCH_AUTH") == "token", "registries hand out Bearer tokens, as quay.io and registry.redhat.io do, instead of checking Basic credentials on every request (BENCH_AUTH=token)")

func (b *bench) registryOptions(proxy *string) []testenv.RegistryOption {
	var opts []testenv.RegistryOption
	if *tokenAuth {
		opts = append(opts, testenv.WithTokenAuth())
	}
	if b.link != nil {
		opts = append(opts, testenv.WithFront(b.link.front(proxy)))
	}
	return opts
}

func (r *runEnv) close() {
	if r.link != nil {
		r.link.remove(r.proxy)
	}
	_ = r.dst.Close()
	_ = os.RemoveAll(r.dir)
}

// command is one process to measure.
type command struct {
	args  []string
	stdin string // file
}

func (b *bench) oursArgs(r *runEnv, to string) []string {
	if b.catalog != nil {
		return b.oursCatalogArgs(r, to)
	}
	return []string{filepath.Join(b.binDir, "oc-mirror-lite"), "release", b.payload.Tag, "--to", to,
		"--authfile", r.authFile, "--cert-dir", r.certDir,
		// No release signatures in the benchmark: an empty store, nothing fetched from the internet.
		"--signature-store", "file://" + filepath.Join(r.dir, "no-signatures")}
}

func (b *bench) commands(tool string, r *runEnv) ([]command, error) {
	switch tool {
	case ours, oursIncr:
		return []command{{args: b.oursArgs(r, "docker://"+r.dst.Ref(b.destRoot()))}}, nil
	case baseline:
		args := b.oursArgs(r, "docker://"+r.dst.Ref(b.destRoot()))
		args[0] = filepath.Join(b.baselineDir, "oc-mirror-lite")
		return []command{{args: args}}, nil
	case oursDisk:
		archive := filepath.Join(r.dir, "tmp", "archive")
		return []command{
			{args: b.oursArgs(r, "file://"+archive)},
			{args: []string{filepath.Join(b.binDir, "oc-mirror-lite"), "--from", "file://" + archive,
				"--to", "docker://" + r.dst.Ref(b.destRoot()), "--authfile", r.authFile, "--cert-dir", r.certDir}},
		}, nil
	case skopeo:
		yaml, err := b.skopeoYAML(r)
		if err != nil {
			return nil, err
		}
		return []command{{args: []string{"skopeo", "sync", "--src", "yaml", "--dest", "docker",
			"--policy", filepath.Join(r.dir, "policy.json"),
			"--src-authfile", r.authFile, "--dest-authfile", r.authFile,
			"--src-cert-dir", r.certDir, "--dest-cert-dir", r.certDir,
			yaml, r.dst.Ref("mirror")}}}, nil
	case crane, craneIncr:
		return []command{{args: []string{"xargs", "-P4", "-L1", filepath.Join(b.toolDir, "crane"), "copy"}, stdin: r.list}}, nil
	case regctl, regctlIncr:
		return []command{{args: []string{"xargs", "-P4", "-L1", filepath.Join(b.toolDir, "regctl"), "image", "copy"}, stdin: r.list}}, nil
	case limit:
		return []command{{args: []string{filepath.Join(b.toolDir, "limit"), "-p", fmt.Sprint(b.parallel), r.list}}}, nil
	case limitIncr:
		return []command{{args: []string{filepath.Join(b.toolDir, "limit"), "-p", fmt.Sprint(b.parallel), "-check", r.list}}}, nil
	}
	return nil, fmt.Errorf("unknown tool %s", tool)
}

// diskAvailable tells whether oc-mirror-lite has mirror to disk (issue 7).
func (b *bench) diskAvailable() (bool, string) {
	out, _ := exec.Command(filepath.Join(b.binDir, "oc-mirror-lite"), "release", "--help").CombinedOutput()
	if !bytes.Contains(out, []byte("--from")) || !bytes.Contains(out, []byte("file://")) {
		return false, "this oc-mirror-lite has no --to file:// / --from file:// yet (issue 7)"
	}
	return true, ""
}

// skopeoYAML writes skopeo sync's source list: every image by digest.
func (b *bench) skopeoYAML(r *runEnv) (string, error) {
	repos := map[string][]string{}
	for _, l := range b.list {
		ref := strings.TrimPrefix(l[0], b.src.Host+"/")
		repo, d, _ := strings.Cut(ref, "@")
		repos[repo] = append(repos[repo], d)
	}
	var y strings.Builder
	fmt.Fprintf(&y, "%s:\n  tls-verify: true\n  cert-dir: %s\n  images:\n", b.src.Host, r.certDir)
	for repo, ds := range repos {
		fmt.Fprintf(&y, "    %s:\n", repo)
		for _, d := range ds {
			fmt.Fprintf(&y, "      - %q\n", d)
		}
	}
	name := filepath.Join(r.dir, "sync.yaml")
	if err := os.WriteFile(name, []byte(y.String()), 0o644); err != nil {
		return "", err
	}
	if err := os.WriteFile(filepath.Join(r.dir, "policy.json"), []byte(`{"default":[{"type":"insecureAcceptAnything"}]}`), 0o644); err != nil {
		return "", err
	}
	return name, nil
}

// hold prints, for one fresh destination, the environment and each tool's
// command lines, and waits for an interrupt: for profiling one tool by hand
// (OC_PLUGINS_CPUPROFILE=FILE makes oc-mirror-lite write a CPU profile).
func (b *bench) hold(tools []string) error {
	r, err := b.newRun("hold")
	if err != nil {
		return err
	}
	defer r.close()
	fmt.Printf("cd %s\nexport", r.dir)
	for _, e := range r.env {
		fmt.Printf(" %q", e)
	}
	fmt.Println()
	for _, tool := range tools {
		cmds, err := b.commands(tool, r)
		if err != nil {
			return err
		}
		for _, c := range cmds {
			fmt.Printf("# %s\n%s", tool, strings.Join(c.args, " "))
			if c.stdin != "" {
				fmt.Printf(" <%s", c.stdin)
			}
			fmt.Println()
		}
	}
	fmt.Fprintln(os.Stderr, "bench: holding the registries; Ctrl-C ends")
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	<-ctx.Done()
	return nil
}

// runTool runs tool into a fresh destination and then, with rerun, its
// re-run (rerunOf) onto what it left there.
func (b *bench) runTool(tool string, round int, rerun bool) []Measurement {
	r, err := b.newRun(tool)
	if err != nil {
		return []Measurement{{Tool: tool, Round: round + 1, Err: err.Error()}}
	}
	defer r.close()
	out := []Measurement{b.measure(tool, round, r)}
	if again := rerunOf[tool]; rerun && again != "" && out[0].Err == "" {
		r.dst.Traffic().Reset()
		out = append(out, b.measure(again, round, r))
	}
	return out
}

func (b *bench) measure(tool string, round int, r *runEnv) Measurement {
	m := Measurement{Tool: tool, Round: round + 1, Load: loadavg()}
	cmds, err := b.commands(tool, r)
	if err != nil {
		m.Err = err.Error()
		return m
	}
	b.src.Traffic().Reset()
	cpu0 := selfCPU()
	var peak atomic.Int64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	if tool == oursDisk {
		wg.Add(1)
		go func() { defer wg.Done(); watchSize(filepath.Join(r.dir, "tmp"), &peak, stop) }()
	}
	for i, c := range cmds {
		if tool == oursDisk && i == 1 {
			// The archive is written: what the folders hold from now on
			// beyond it is disk to mirror's own.
			archive := dirSize(filepath.Join(r.dir, "tmp"))
			m.ArchiveMB = mb(archive)
			peak.Store(archive)
		}
		res, err := b.execute(c, r, fmt.Sprintf("%s-%d", tool, i))
		m.Wall += res.wall
		m.CPU += res.cpu
		m.RSSMB = max(m.RSSMB, res.rssMB)
		if err != nil {
			m.Err = err.Error()
			break
		}
	}
	close(stop)
	wg.Wait()
	m.TmpPeakMB = mb(peak.Load())
	if tool == oursDisk {
		m.PushPeakMB = max(m.TmpPeakMB-m.ArchiveMB, 0)
	}
	m.RegistryCPU = selfCPU() - cpu0
	m.SrcRequests, m.SrcPings = b.src.Traffic().Requests()
	m.DstRequests, m.DstPings = r.dst.Traffic().Requests()
	m.SrcConns, m.DstConns = b.src.Traffic().Connections(), r.dst.Traffic().Connections()

	tr := r.dst.Traffic()
	shared := map[digest.Digest]bool{}
	for _, d := range b.payload.SharedBlobs {
		shared[d] = true
	}
	m.SharedOnce = true
	uploads := tr.Uploads()
	for d, n := range uploads {
		m.Uploads += n
		m.UploadedMB += mb(int64(n) * b.payload.BlobSizes[d])
		m.MaxPerBlob = max(m.MaxPerBlob, n)
	}
	for _, d := range b.payload.SharedBlobs {
		if uploads[d] > 1 {
			m.SharedOnce = false
		}
	}
	for _, n := range tr.Mounts() {
		m.Mounts += n
	}
	m.Manifests = tr.ManifestPuts()
	if m.Err == "" && !isRerun(tool) && m.Manifests < len(b.list) {
		m.Err = fmt.Sprintf("the destination stored %d manifests, want at least %d", m.Manifests, len(b.list))
	}
	return m
}

type result struct {
	wall, cpu, rssMB float64
}

// execute runs one command in the run's environment through the measure
// tool (hack/benchtools/measure: wall and CPU seconds and peak RSS from
// wait4's rusage, children included), which forks it from a small process
// so the benchmark's own memory does not count in the tool's peak RSS.
func (b *bench) execute(c command, r *runEnv, logName string) (result, error) {
	base := filepath.Join(r.dir, strings.NewReplacer(" ", "-", "(", "", ")", "", ",", "").Replace(logName))
	cmd := exec.Command(filepath.Join(b.toolDir, "measure"), append([]string{base + ".json"}, c.args...)...)
	cmd.Env = r.env
	cmd.Dir = r.dir
	logFile, err := os.Create(base + ".log")
	if err != nil {
		return result{}, err
	}
	defer logFile.Close()
	cmd.Stdout, cmd.Stderr = io.Discard, logFile
	if c.stdin != "" {
		f, err := os.Open(c.stdin)
		if err != nil {
			return result{}, err
		}
		defer f.Close()
		cmd.Stdin = f
	}
	runErr := cmd.Run()
	var res result
	var m struct {
		Wall   float64 `json:"wallSeconds"`
		CPU    float64 `json:"cpuSeconds"`
		RSSKiB int64   `json:"peakRSSKiB"`
	}
	data, err := os.ReadFile(base + ".json")
	if err == nil {
		err = json.Unmarshal(data, &m)
	}
	if err == nil {
		res = result{wall: m.Wall, cpu: m.CPU, rssMB: float64(m.RSSKiB) / 1024}
	}
	if runErr != nil {
		return res, fmt.Errorf("%s: %v: %s", filepath.Base(c.args[0]), runErr, tail(logFile.Name()))
	}
	if err != nil {
		return res, fmt.Errorf("%s: reading its measurement: %w", filepath.Base(c.args[0]), err)
	}
	return res, nil
}

// selfCPU is the CPU seconds this process has used.
func selfCPU() float64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return tv(ru.Utime) + tv(ru.Stime)
}

func tv(t syscall.Timeval) float64 { return float64(t.Sec) + float64(t.Usec)/1e6 }

func tail(name string) string {
	data, _ := os.ReadFile(name)
	lines := strings.Split(strings.TrimSpace(string(data)), "\n")
	if len(lines) > 3 {
		lines = lines[len(lines)-3:]
	}
	return strings.Join(lines, " | ")
}

// dirSize is the bytes of the files under dir.
func dirSize(dir string) int64 {
	var n int64
	_ = filepath.WalkDir(dir, func(_ string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			if info, err := d.Info(); err == nil {
				n += info.Size()
			}
		}
		return nil
	})
	return n
}

// watchSize records the most bytes dir held, sampled every 100ms.
func watchSize(dir string, peak *atomic.Int64, stop <-chan struct{}) {
	t := time.NewTicker(100 * time.Millisecond)
	defer t.Stop()
	for {
		if n := dirSize(dir); n > peak.Load() {
			peak.Store(n)
		}
		select {
		case <-stop:
			return
		case <-t.C:
		}
	}
}

func summarize(tools []string, runs []Measurement, diskOK bool, diskWhy string) []Summary {
	var out []Summary
	for _, tool := range tools {
		s := Summary{Tool: tool}
		var wall, cpu, rss, up, upMB, tmp, archive, regCPU, reqs []float64
		for _, m := range runs {
			if m.Tool != tool || m.Err != "" {
				continue
			}
			s.Runs++
			wall, cpu, rss = append(wall, m.Wall), append(cpu, m.CPU), append(rss, m.RSSMB)
			up, upMB, tmp = append(up, float64(m.Uploads)), append(upMB, m.UploadedMB), append(tmp, m.TmpPeakMB)
			s.MaxPerBlob = max(s.MaxPerBlob, m.MaxPerBlob)
			archive = append(archive, m.ArchiveMB)
			regCPU, reqs = append(regCPU, m.RegistryCPU), append(reqs, float64(m.SrcRequests+m.DstRequests))
			s.PushPeakMB = max(s.PushPeakMB, m.PushPeakMB)
		}
		s.ArchiveMB, s.RegCPU, s.Requests = median(archive), median(regCPU), median(reqs)
		if tool == oursDisk && !diskOK {
			s.Skipped = diskWhy
		}
		s.Wall, s.CPU, s.RSSMB, s.Uploads, s.UploadedMB, s.TmpPeakMB = median(wall), median(cpu), median(rss), median(up), median(upMB), median(tmp)
		out = append(out, s)
	}
	base := map[string]float64{}
	for _, s := range out {
		base[s.Tool] = s.Wall
	}
	// A re-run is compared with the re-runs of ours and of the limit, a
	// first run with the first runs.
	for i := range out {
		o, l := base[ours], base[limit]
		if isRerun(out[i].Tool) {
			o, l = base[oursIncr], base[limitIncr]
		}
		if o > 0 {
			out[i].VsOurs = out[i].Wall / o
		}
		if l > 0 {
			out[i].VsLimit = out[i].Wall / l
		}
	}
	return out
}

func median(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	s := append([]float64(nil), xs...)
	sort.Float64s(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

func targets(sum []Summary, runs []Measurement) []Target {
	get := func(tool string) (Summary, bool) {
		for _, s := range sum {
			if s.Tool == tool && s.Runs > 0 {
				return s, true
			}
		}
		return Summary{}, false
	}
	o, ok := get(ours)
	if !ok {
		return nil
	}
	var ts []Target
	add := func(name string, met bool, format string, args ...any) {
		ts = append(ts, Target{Name: name, Met: met, Got: fmt.Sprintf(format, args...)})
	}
	if s, ok := get(skopeo); ok {
		add("ours <= 0.5x skopeo sync", o.Wall <= 0.5*s.Wall, "%.2fx", o.Wall/s.Wall)
	}
	c, cok := get(crane)
	g, gok := get(regctl)
	if cok || gok {
		best := c
		if !cok || (gok && g.Wall < c.Wall) {
			best = g
		}
		add("ours <= 0.8x the best of crane and regctl", o.Wall <= 0.8*best.Wall, "%.2fx %s", o.Wall/best.Wall, best.Tool)
	}
	if l, ok := get(limit); ok {
		add("ours >= 0.7x the limit's throughput", l.Wall/o.Wall >= 0.7, "%.2fx", l.Wall/o.Wall)
	}
	if in, ok := get(oursIncr); ok {
		got := fmt.Sprintf("%.1f%%, %.0f uploads", 100*in.Wall/o.Wall, in.Uploads)
		// For scale: the least a re-run can do, against the same first run.
		if l, ok := get(limitIncr); ok {
			got += fmt.Sprintf(" (the limit's re-run: %.1f%%)", 100*l.Wall/o.Wall)
		}
		add("incremental <= 3% of the first run, zero uploads", in.Wall <= 0.03*o.Wall && in.Uploads == 0, "%s", got)
	}
	if d, ok := get(oursDisk); ok {
		add("disk then disk to mirror <= 2.2x direct", d.Wall <= 2.2*o.Wall, "%.2fx", d.Wall/o.Wall)
		// An unpacked copy of the payload would add about its unique size
		// beside the archive; allow a tenth of it for temporary files.
		add("no unpacked copy on disk (disk to mirror's peak beyond the archive)", d.PushPeakMB <= 0.1*d.ArchiveMB,
			"archive %.0f MB, %.1f MB more at most while pushing", d.ArchiveMB, d.PushPeakMB)
	}
	worst := 0.0
	for _, m := range runs {
		if isOurs(m.Tool) && m.Err == "" {
			worst = max(worst, m.RSSMB)
		}
	}
	add("peak RSS <= 150 MB (every run of ours)", worst <= 150, "%.0f MB", worst)
	once := true
	for _, m := range runs {
		if isOurs(m.Tool) && m.Err == "" && (!m.SharedOnce || m.MaxPerBlob > 1) {
			once = false
		}
	}
	add("each shared blob uploaded at most once per run of ours", once, "%v", once)
	return ts
}

func printTable(w io.Writer, rep *Report) {
	fmt.Fprintf(w, "\nMirroring benchmark, scale %s: %d images, %d unique blobs, %.0f MB unique; median of each tool's runs\n", rep.Scale, rep.Images, rep.Blobs, rep.UniqueMB)
	if rep.Link != nil {
		fmt.Fprintf(w, "link: every registry behind an emulated %s link\n", rep.Link)
	}
	if rep.TokenAuth {
		fmt.Fprintln(w, "auth: the registries hand out Bearer tokens")
	}
	fmt.Fprintf(w, "machine: %s; load average before %s, after %s\n\n", rep.Machine, rep.LoadBefore, rep.LoadAfter)
	rows := [][]string{{"tool", "runs", "wall s", "CPU s", "registries CPU s", "requests", "peak RSS MiB", "blobs up", "MB up", "max up/blob", "x ours", "x limit"}}
	for _, s := range rep.Summary {
		if s.Skipped != "" {
			rows = append(rows, []string{s.Tool, "-", "skipped: " + s.Skipped, "", "", "", "", "", "", "", "", ""})
			continue
		}
		rows = append(rows, []string{s.Tool, fmt.Sprint(s.Runs), fmt.Sprintf("%.2f", s.Wall), fmt.Sprintf("%.2f", s.CPU),
			fmt.Sprintf("%.1f", s.RegCPU), fmt.Sprintf("%.0f", s.Requests),
			fmt.Sprintf("%.0f", s.RSSMB), fmt.Sprintf("%.0f", s.Uploads), fmt.Sprintf("%.1f", s.UploadedMB),
			fmt.Sprint(s.MaxPerBlob), fmt.Sprintf("%.2f", s.VsOurs), fmt.Sprintf("%.2f", s.VsLimit)})
	}
	writeMarkdownTable(w, rows)
	fmt.Fprintln(w)
	for _, t := range rep.Targets {
		mark := "MET"
		if !t.Met {
			mark = "NOT MET"
		}
		fmt.Fprintf(w, "target %-70s %-8s %s\n", t.Name, mark, t.Got)
	}
}

// writeMarkdownTable writes rows (the first is the header) as a Markdown
// table with padded columns, the first left-aligned, the others right.
func writeMarkdownTable(w io.Writer, rows [][]string) {
	width := make([]int, len(rows[0]))
	for _, row := range rows {
		for i, c := range row {
			width[i] = max(width[i], len(c), 3)
		}
	}
	line := func(cells []string) {
		var b strings.Builder
		for i, c := range cells {
			if i == 0 {
				fmt.Fprintf(&b, "| %-*s ", width[i], c)
			} else {
				fmt.Fprintf(&b, "| %*s ", width[i], c)
			}
		}
		fmt.Fprintln(w, b.String()+"|")
	}
	line(rows[0])
	sep := make([]string, len(width))
	for i, n := range width {
		if i == 0 {
			sep[i] = strings.Repeat("-", n)
		} else {
			sep[i] = strings.Repeat("-", n-1) + ":"
		}
	}
	line(sep)
	for _, row := range rows[1:] {
		line(row)
	}
}

func machine() string {
	model := ""
	if data, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, l := range strings.Split(string(data), "\n") {
			if strings.HasPrefix(l, "model name") {
				_, model, _ = strings.Cut(l, ":")
				model = strings.TrimSpace(model)
				break
			}
		}
	}
	mem := ""
	if data, err := os.ReadFile("/proc/meminfo"); err == nil {
		var kb int64
		if _, err := fmt.Sscanf(string(data), "MemTotal: %d kB", &kb); err == nil {
			mem = fmt.Sprintf(", %.0f GiB RAM", float64(kb)/(1<<20))
		}
	}
	kernel := ""
	if data, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		kernel = ", kernel " + strings.TrimSpace(string(data))
	}
	return fmt.Sprintf("%s/%s, %d CPUs (%s)%s%s, %s", runtime.GOOS, runtime.GOARCH, runtime.NumCPU(), model, mem, kernel, runtime.Version())
}

func loadavg() string {
	data, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "unknown"
	}
	f := strings.Fields(string(data))
	if len(f) < 3 {
		return "unknown"
	}
	return strings.Join(f[:3], " ")
}

func mb(n int64) float64 { return float64(n) / 1e6 }

func envOr(k, def string) string {
	if v := os.Getenv(k); v != "" {
		return v
	}
	return def
}

func orDefault(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

func atoiOr(s string, def int) int {
	var n int
	if _, err := fmt.Sscan(s, &n); err != nil || n <= 0 {
		return def
	}
	return n
}

// isOurs tells the runs of this build of oc-mirror-lite, the ones the
// targets are about, from the peers' and the baseline's.
func isOurs(tool string) bool { return tool == ours || tool == oursIncr || tool == oursDisk }
