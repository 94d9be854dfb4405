package e2e

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math/rand"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	digest "github.com/opencontainers/go-digest"

	"github.com/airgap-ocp/oc-plugins/internal/testenv"
	"github.com/airgap-ocp/oc-plugins/pkg/archive"
)

// TestAirgapChain runs the air-gapped runbook: on the connected side the
// release goes to disk, with only the source registry's credentials; the
// directory is carried across; on the disconnected side, with the source
// stopped and only the second registry's credentials and CA, it is pushed
// from disk into that registry and the rest is the connected chain: verify
// the signature and apply, check registries.conf, pause the health checks,
// pull the update target from the second registry by digest, resume, gate.
func TestAirgapChain(t *testing.T) {
	connected := newEnv(t, "", "")
	m := newMirrorEnv(t, connected, testenv.ReleaseSpec{Version: "4.17.2", Components: 8, SigstoreSignature: true})
	mirror2 := m.dst // its own host:port, user, password and CA
	if mirror2.Host == m.src.Host || mirror2.Username == m.src.Username {
		t.Fatalf("the second registry is not a different one: %s as %s", mirror2.Host, mirror2.Username)
	}

	// Connected side: to disk, with the source's credentials and CA only.
	toDisk := connected.must(t, fmt.Sprintf("oc-mirror-lite release %s --to file://$PWD/usb/ocp --archive-size 1Mi --authfile %s --cert-dir %s --signature-store %s --keyring %s",
		m.rel.Tag, m.src.AuthFile, m.src.CertDir, m.store, m.keyFile))
	if toDisk.stdout != "" {
		t.Errorf("mirror to disk printed objects on stdout (they belong to the push from disk):\n%s", toDisk.stdout)
	}
	if !strings.Contains(toDisk.stderr, "--from file://"+filepath.Join(connected.dir, "usb", "ocp")+" --to docker://") {
		t.Errorf("mirror to disk does not say how to push the archive on the other side:\n%s", toDisk.stderr)
	}

	// Carried across: the disconnected side has the directory, the release
	// key, and the second registry's credentials and CA; nothing else.
	e, _ := clusterEnv(t)
	e.secrets = append(e.secrets, m.src.Password, mirror2.Password)
	e.write(t, "mirror2-auth.json", readFile(t, mirror2.AuthFile))
	e.write(t, "mirror2-certs/ca.crt", readFile(t, mirror2.CACertFile))
	e.must(t, fmt.Sprintf("cp -r %s usb && cp %s release-key.asc", filepath.Join(connected.dir, "usb"), m.keyFile))
	if err := m.src.Close(); err != nil {
		t.Fatal(err)
	}
	if resp, err := m.src.HTTPClient().Get("https://" + m.src.Host + "/v2/"); err == nil {
		resp.Body.Close()
		t.Fatalf("the source registry %s still answers: %s", m.src.Host, resp.Status)
	}
	to := mirror2.Ref("ocp4/openshift4")

	e.write(t, "mhcs.yaml", []byte(mhcs))
	e.write(t, "image-cluster.yaml", []byte(imageCluster))
	e.must(t, "kubectl apply -f mhcs.yaml -f image-cluster.yaml")
	t.Cleanup(func() {
		// Leave the shared cluster as it was found: the chains that follow
		// check every mirror object and pool of it.
		e.sh(t, "", "kubectl delete --ignore-not-found -f mhcs.yaml; kubectl delete --ignore-not-found -f resources.yaml; [ ! -f mco.yaml ] || kubectl delete --ignore-not-found -f mco.yaml")
	})

	// 1. Push from disk into the second registry.
	push := e.must(t, fmt.Sprintf("oc-mirror-lite --from file://$PWD/usb/ocp --to docker://%s --authfile mirror2-auth.json --cert-dir mirror2-certs | tee resources.yaml", to))
	if !strings.Contains(push.stdout, "kind: ImageDigestMirrorSet") || !strings.Contains(push.stdout, "kind: ConfigMap") {
		t.Fatalf("resources.yaml lacks the IDMS or the signature ConfigMap:\n%s", push.stdout)
	}
	if !strings.Contains(push.stdout, "- "+to+"\n") {
		t.Errorf("the IDMS does not send the release to the second registry %s:\n%s", to, push.stdout)
	}
	if strings.Contains(push.stdout, "oc adm upgrade") {
		t.Error("the upgrade command is in the YAML on stdout")
	}
	if !strings.Contains(push.stderr, "verifying ") || strings.Contains(push.stderr, "refused") {
		t.Errorf("the push did not check the archive, or refused part of it:\n%s", push.stderr)
	}

	// 2. Apply only what verified.
	applied := e.must(t, "oc-release-sig verify -f resources.yaml --keyring release-key.asc | kubectl apply -f -")
	for _, want := range []string{"imagedigestmirrorset.config.openshift.io/release-4.17.2-x86-64", "configmap/sha256-" + m.rel.Digest.Encoded()} {
		if !strings.Contains(applied.stdout, want) {
			t.Errorf("kubectl apply did not apply %s:\n%s", want, applied.stdout)
		}
	}
	e.must(t, "oc-release-sig verify --from-cluster --digest "+m.rel.Digest.String()+" --keyring release-key.asc")

	// 3. The registries.conf the MCO renders, in the worker pool; verified.
	e.must(t, "oc-registries-verify render -f resources.yaml -f image-cluster.yaml > registries.conf")
	conf, err := os.ReadFile(filepath.Join(e.dir, "registries.conf"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(conf), to) {
		t.Fatalf("the rendered registries.conf does not name the second registry %s:\n%s", to, conf)
	}
	e.write(t, "mco.yaml", []byte(mcoState("worker", "rendered-worker-airgap", conf)))
	e.must(t, "kubectl apply -f mco.yaml\n"+poolStatus("worker", "rendered-worker-airgap"))
	e.must(t, "oc-registries-verify -f resources.yaml -f image-cluster.yaml --node-file worker-0=registries.conf")
	e.must(t, "oc-registries-verify --wait --timeout 1m --node-file worker-0=registries.conf")

	// 4. Pause the health checks.
	e.must(t, "oc-mhc-pause --all -o name")
	e.must(t, "oc-mhc-pause status --expect paused")

	// 5. The update target: in the second registry, by digest, pullable.
	match := upgradeLine.FindStringSubmatch(push.stderr)
	if match == nil {
		t.Fatalf("no oc adm upgrade command on stderr:\n%s", push.stderr)
	}
	if match[1] != to || match[2] != m.rel.Digest.String() {
		t.Errorf("upgrade target %s@%s, want %s@%s", match[1], match[2], to, m.rel.Digest)
	}
	skopeoPulls(t, mirror2, match[1]+"@"+match[2], digest.Digest(match[2]))
	cli := m.rel.Components["cli"]
	skopeoPulls(t, mirror2, to+cli[strings.LastIndex(cli, "@"):], digest.Digest(cli[strings.LastIndex(cli, "@")+1:]))
	if missing := danglingManifests(t, mirror2, "ocp4/openshift4"); len(missing) > 0 {
		t.Errorf("the second registry serves manifests with missing content:\n%s", strings.Join(missing, "\n"))
	}

	// 6. Resume (as the README writes it), and gate on it.
	e.must(t, "oc-mhc-resume --all -o name")
	e.must(t, "oc-mhc-pause status --expect resumed")
}

// killSeed is the seed of the kill points: $E2E_KILL_SEED, else the time.
// A failing test logs it.
func killSeed(t *testing.T) int64 {
	t.Helper()
	seed := time.Now().UnixNano()
	if s := os.Getenv("E2E_KILL_SEED"); s != "" {
		var err error
		if seed, err = strconv.ParseInt(s, 10, 64); err != nil {
			t.Fatalf("E2E_KILL_SEED=%q: %v", s, err)
		}
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("kill points from seed %d (E2E_KILL_SEED=%d repeats the delays)", seed, seed)
		}
	})
	return seed
}

// run is one run of oc-mirror-lite started directly (no shell in between,
// so that SIGKILL reaches it).
type run struct {
	result
	killed  bool
	elapsed time.Duration
}

// runPlugin runs oc-mirror-lite with args in e. With a kill point, it
// checks it every millisecond or two and, once it is reached, kills the
// process with SIGKILL unless it has finished by then.
func runPlugin(t *testing.T, e *env, kill func(elapsed time.Duration) bool, args ...string) run {
	t.Helper()
	cmd := exec.Command(filepath.Join(e.pathDir, "oc-mirror-lite"), args...)
	cmd.Dir, cmd.Env = e.dir, e.vars
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	start := time.Now()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	var err error
	if kill == nil {
		err = <-done
	} else {
		tick := time.NewTicker(time.Millisecond)
	wait:
		for {
			select {
			case err = <-done:
				break wait
			case <-tick.C:
				if kill(time.Since(start)) {
					_ = cmd.Process.Signal(syscall.SIGKILL)
					err = <-done
					break wait
				}
			}
		}
		tick.Stop()
	}
	r := run{result: result{stdout: out.String(), stderr: errOut.String()}, elapsed: time.Since(start)}
	if ws, ok := cmd.ProcessState.Sys().(syscall.WaitStatus); ok && ws.Signaled() && ws.Signal() == syscall.SIGKILL {
		r.killed = true
	} else if err != nil {
		ee, ok := err.(*exec.ExitError)
		if !ok {
			t.Fatal(err)
		}
		r.code = ee.ExitCode()
	}
	for _, s := range e.secrets {
		if strings.Contains(r.stdout, s) || strings.Contains(r.stderr, s) {
			t.Errorf("a secret appears in the output of oc-mirror-lite %s", strings.Join(args, " "))
		}
	}
	return r
}

// resumable is a step that is killed and run again: args is the command
// for the current destination, fresh starts a new, empty destination,
// progress is the bytes it has written there, killed checks what a kill
// left, complete what a finished run made.
type resumable struct {
	args     func() []string
	fresh    func()
	progress func() int64
	killed   func(t *testing.T, r run)
	complete func(t *testing.T, r run, final bool)
}

// killAndResume kills step with SIGKILL at kills random points drawn from
// rng, taking turns: a delay within d, the duration of an unkilled run
// (which can fall while it plans, copies or finishes), and a number of
// bytes written within what is left of total, the bytes an unkilled run
// writes (which falls while it copies). Each run resumes what the killed
// one before it left; a run that finishes before its kill point is checked
// as complete and the next starts on a fresh destination. Then the step
// runs to the end and is checked.
func killAndResume(t *testing.T, e *env, rng *rand.Rand, d time.Duration, total int64, kills int, step resumable) {
	t.Helper()
	killed, chained := 0, 0
	for attempt := 0; killed < kills; attempt++ {
		if attempt == 4*kills {
			t.Fatalf("only %d of %d runs were killed before they finished on their own", killed, attempt)
		}
		var kill func(time.Duration) bool
		var point string
		if base := step.progress(); attempt%2 == 1 && base < total {
			target := base + 1 + rng.Int63n(total-base)
			kill = func(time.Duration) bool { return step.progress() >= target }
			point = fmt.Sprintf("once %d of %d bytes were written (%d before it started)", target, total, base)
		} else {
			delay := time.Duration(1 + rng.Int63n(int64(d)))
			kill = func(elapsed time.Duration) bool { return elapsed >= delay }
			point = fmt.Sprintf("after %v of %v", delay.Round(time.Millisecond), d.Round(time.Millisecond))
		}
		r := runPlugin(t, e, kill, step.args()...)
		if !r.killed {
			if r.code != 0 {
				t.Fatalf("a run after %d kills failed on its own: exit %d\n%s", chained, r.code, r.stderr)
			}
			t.Logf("the run finished (%v) before its kill point, %s; checking it, and starting afresh", r.elapsed.Round(time.Millisecond), point)
			step.complete(t, r, false)
			step.fresh()
			chained = 0
			continue
		}
		killed++
		chained++
		t.Logf("kill %d %s (%d in a row on this destination)", killed, point, chained)
		step.killed(t, r)
	}
	r := runPlugin(t, e, nil, step.args()...)
	if r.code != 0 {
		t.Fatalf("the run after %d kills: exit %d\n%s", chained, r.code, r.stderr)
	}
	step.complete(t, r, true)
}

// killSpec is the release the kill tests mirror: small, a few chunks.
var killSpec = testenv.ReleaseSpec{Version: "4.17.3", Components: 10, BaseLayerSize: 512 << 10, OwnLayerSize: 32 << 10, SigstoreSignature: true}

// TestKill9 kills oc-mirror-lite with SIGKILL at random points of mirror to
// disk and of disk to mirror, several times each, and runs it again: the
// rerun completes, the archive verifies (as --from checks it) and pushes
// whole; a destination registry never serves a manifest whose blobs are
// missing, not even right after a kill, and skopeo pulls the result by
// digest.
func TestKill9(t *testing.T) {
	e := newEnv(t, "", "")
	m := newMirrorEnv(t, e, killSpec)
	rng := rand.New(rand.NewSource(killSeed(t)))
	const kills = 4
	toDiskArgs := func(dir string) []string {
		return []string{"release", m.rel.Tag, "--to", "file://" + dir, "--archive-size", "1Mi",
			"--authfile", m.src.AuthFile, "--cert-dir", m.src.CertDir, "--signature-store", m.store, "--keyring", m.keyFile}
	}
	fromDiskArgs := func(dir string, r *testenv.Registry, repo string) []string {
		return []string{"--from", "file://" + dir, "--to", "docker://" + r.Ref(repo), "--authfile", r.AuthFile, "--cert-dir", r.CertDir}
	}

	// An unkilled run: how long the kill points may be, and the archive
	// every resumed one must equal.
	ref := filepath.Join(e.dir, "ref")
	r := runPlugin(t, e, nil, toDiskArgs(ref)...)
	if r.code != 0 {
		t.Fatalf("mirror to disk: exit %d\n%s", r.code, r.stderr)
	}
	toDiskTime := r.elapsed
	refIdx, err := archive.ReadIndexFile(ref)
	if err != nil {
		t.Fatal(err)
	}
	if len(refIdx.Chunks) < 3 {
		t.Fatalf("the archive has %d chunks; the kill tests want several", len(refIdx.Chunks))
	}

	t.Run("mirror to disk", func(t *testing.T) {
		n := 0
		dir := ""
		kept := false // the last kill left finished chunks to keep
		fresh := func() {
			n++
			dir = filepath.Join(e.dir, fmt.Sprintf("usb-%d", n))
			kept = false
		}
		fresh()
		killAndResume(t, e, rng, toDiskTime, dirBytes(ref), kills, resumable{
			args:     func() []string { return toDiskArgs(dir) },
			fresh:    fresh,
			progress: func() int64 { return dirBytes(dir) },
			killed: func(t *testing.T, r run) {
				if _, err := os.Stat(filepath.Join(dir, archive.IndexFile)); err == nil {
					t.Logf("killed after the index was written: a whole archive")
					return
				}
				_, err := os.Stat(filepath.Join(dir, archive.ChunksFile))
				kept = err == nil
				t.Logf("it left %d bytes on disk, finished chunks: %v", dirBytes(dir), kept)
				// A half-written archive is never pushed.
				p := runPlugin(t, e, nil, fromDiskArgs(dir, m.dst, "half")...)
				if p.code != 2 || p.stdout != "" || !strings.Contains(p.stderr, "not complete") {
					t.Errorf("pushing a killed archive: exit %d, want 2 saying it is not complete; stdout %q\n%s", p.code, p.stdout, p.stderr)
				}
			},
			complete: func(t *testing.T, r run, final bool) {
				if kept && !strings.Contains(r.stderr, "resuming "+dir) {
					t.Errorf("the run after a kill did not keep the finished chunks:\n%s", r.stderr)
				}
				checkArchive(t, dir, refIdx)
				if !final {
					return
				}
				// The command's own check, then the push and what it made.
				const repo = "kill/to-disk"
				p := runPlugin(t, e, nil, fromDiskArgs(dir, m.dst, repo)...)
				if p.code != 0 || strings.Contains(p.stderr, "refused") || !strings.Contains(p.stderr, "verifying ") {
					t.Fatalf("pushing the resumed archive: exit %d\n%s", p.code, p.stderr)
				}
				if missing := danglingManifests(t, m.dst, repo); len(missing) > 0 {
					t.Errorf("pushed from the resumed archive, the registry serves manifests with missing content:\n%s", strings.Join(missing, "\n"))
				}
				skopeoPulls(t, m.dst, m.dst.Ref(repo)+"@"+m.rel.Digest.String(), m.rel.Digest)
			},
		})
	})

	t.Run("disk to mirror", func(t *testing.T) {
		const repo = "ocp4/openshift4"
		// An unkilled push: its duration, and the objects and tags every
		// resumed push must give.
		first := testenv.StartRegistry(t)
		e.secrets = append(e.secrets, first.Password)
		r := runPlugin(t, e, nil, fromDiskArgs(ref, first, repo)...)
		if r.code != 0 {
			t.Fatalf("disk to mirror: exit %d\n%s", r.code, r.stderr)
		}
		pushTime := r.elapsed
		wantTags := listTags(t, first, repo)
		wantObjects := strings.ReplaceAll(r.stdout, first.Host, "MIRROR")
		// As the README says: the same objects as a direct run to that --to.
		auth := testenv.CombinedSystemContext(t, m.src, first).AuthFilePath
		e.write(t, "certs/first.crt", readFile(t, first.CACertFile))
		direct := e.must(t, fmt.Sprintf("oc-mirror-lite release %s --to docker://%s --authfile %s --cert-dir %s --signature-store %s --keyring %s",
			m.rel.Tag, first.Ref(repo), auth, m.certDir, m.store, m.keyFile))
		if direct.stdout != r.stdout {
			t.Errorf("disk to mirror printed\n%s\na direct mirror to the same --to prints\n%s", r.stdout, direct.stdout)
		}

		var dst *testenv.Registry
		fresh := func() {
			dst = testenv.StartRegistry(t)
			e.secrets = append(e.secrets, dst.Password)
		}
		fresh()
		storage := func(r *testenv.Registry) string { return filepath.Join(r.Dir, "storage") }
		killAndResume(t, e, rng, pushTime, dirBytes(storage(first)), kills, resumable{
			args:     func() []string { return fromDiskArgs(ref, dst, repo) },
			fresh:    fresh,
			progress: func() int64 { return dirBytes(storage(dst)) },
			killed: func(t *testing.T, r run) {
				dst.Traffic().WaitIdle(500 * time.Millisecond)
				t.Logf("it left %d of %d tags pushed", len(listTags(t, dst, repo)), len(wantTags))
				if missing := danglingManifests(t, dst, repo); len(missing) > 0 {
					t.Errorf("killed mid-push, the registry serves manifests with missing content:\n%s", strings.Join(missing, "\n"))
				}
			},
			complete: func(t *testing.T, r run, final bool) {
				if missing := danglingManifests(t, dst, repo); len(missing) > 0 {
					t.Errorf("the registry serves manifests with missing content:\n%s", strings.Join(missing, "\n"))
				}
				if got := listTags(t, dst, repo); !slices.Equal(got, wantTags) {
					t.Errorf("tags after the resumed push:\n%v\nwant (an unkilled push):\n%v", got, wantTags)
				}
				if got := strings.ReplaceAll(r.stdout, dst.Host, "MIRROR"); got != wantObjects {
					t.Errorf("the resumed push printed:\n%s\nwant (an unkilled push):\n%s", got, wantObjects)
				}
				if !final {
					return
				}
				skopeoPulls(t, dst, dst.Ref(repo)+"@"+m.rel.Digest.String(), m.rel.Digest)
				cli := m.rel.Components["cli"]
				skopeoPulls(t, dst, dst.Ref(repo)+cli[strings.LastIndex(cli, "@"):], digest.Digest(cli[strings.LastIndex(cli, "@")+1:]))
			},
		})
		// Pushes, killed or not, only read the disk.
		checkArchive(t, ref, refIdx)
	})
}

// checkArchive checks the archive at dir as --from does (every chunk
// against the checksum manifest), that it carries what the unkilled run's
// want carries, and that nothing but the archive is left in dir.
func checkArchive(t *testing.T, dir string, want *archive.Index) {
	t.Helper()
	ar, err := archive.Open(dir)
	if err != nil {
		t.Fatalf("opening the resumed archive: %v", err)
	}
	for _, err := range ar.Verify(2) {
		t.Errorf("the resumed archive does not verify: %v", err)
	}
	idx := ar.Index()
	images := func(idx *archive.Index) []string {
		var out []string
		for _, im := range idx.Images {
			out = append(out, im.Digest.String()+" "+im.Path+":"+im.Tag)
		}
		slices.Sort(out)
		return out
	}
	if got, w := images(idx), images(want); !slices.Equal(got, w) {
		t.Errorf("the resumed archive holds images\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(w, "\n"))
	}
	if got, w := idx.Blobs(), want.Blobs(); !sameDigests(got, w) {
		t.Errorf("the resumed archive holds %d blobs, an unkilled run %d", len(got), len(w))
	}
	if len(idx.Releases) != 1 || len(idx.Releases[0].Signatures) == 0 {
		t.Errorf("the resumed archive carries no verified release signature: %+v", idx.Releases)
	}
	for _, f := range files(t, dir) {
		if f != archive.IndexFile && f != archive.ChunksFile && !(strings.HasPrefix(f, "chunk-") && strings.HasSuffix(f, ".tar")) {
			t.Errorf("the finished archive directory holds %s", f)
		}
	}
}

func readFile(t *testing.T, name string) []byte {
	t.Helper()
	data, err := os.ReadFile(name)
	if err != nil {
		t.Fatal(err)
	}
	return data
}

// dirBytes is the size of the regular files under dir (none: 0), read
// while something writes there.
func dirBytes(dir string) int64 {
	var n int64
	_ = filepath.WalkDir(dir, func(_ string, d os.DirEntry, err error) error {
		if err == nil && d.Type().IsRegular() {
			if fi, err := d.Info(); err == nil {
				n += fi.Size()
			}
		}
		return nil
	})
	return n
}

func sameDigests(a, b []digest.Digest) bool {
	a, b = slices.Clone(a), slices.Clone(b)
	slices.Sort(a)
	slices.Sort(b)
	return slices.Equal(slices.Compact(a), slices.Compact(b))
}

// listTags is skopeo list-tags of repo in r, sorted.
func listTags(t *testing.T, r *testenv.Registry, repo string) []string {
	t.Helper()
	var errOut bytes.Buffer
	cmd := exec.Command("skopeo", "list-tags", "--authfile", r.AuthFile, "--cert-dir", r.CertDir, "docker://"+r.Ref(repo))
	cmd.Stderr = &errOut
	out, err := cmd.Output()
	if err != nil && (strings.Contains(errOut.String(), "404 (Not Found)") || strings.Contains(strings.ToLower(errOut.String()), "name unknown")) {
		return nil // nothing pushed yet
	}
	if err != nil {
		t.Fatalf("skopeo list-tags %s: %v\n%s", r.Ref(repo), err, errOut.String())
	}
	var list struct{ Tags []string }
	if err := json.Unmarshal(out, &list); err != nil {
		t.Fatalf("skopeo list-tags %s: %v: %s", r.Ref(repo), err, out)
	}
	tags := list.Tags
	slices.Sort(tags)
	return tags
}
