package dist

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"debug/elf"
	"debug/macho"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"sigs.k8s.io/yaml"
)

const releaseURL = "https://github.com/airgap-ocp/oc-plugins/releases/download/"

// testPlatforms are the platforms the test cross-builds unless DIST_PLATFORMS
// says otherwise: a cold build of all four took over six minutes on a
// two-core machine, and these two cover both operating systems and both
// architectures the release ships.
const testPlatforms = "linux/amd64 darwin/arm64"

// repoRoot is the module root, two levels above this package.
func repoRoot(t *testing.T) string {
	t.Helper()
	root, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(root, "hack", "dist.sh")); err != nil {
		t.Fatalf("hack/dist.sh not found under %s: %v", root, err)
	}
	return root
}

// testContext ends a little before the test binary's deadline, so a hung
// build is reported with its output instead of a panic.
func testContext(t *testing.T) context.Context {
	ctx := context.Background()
	if d, ok := t.Deadline(); ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithDeadline(ctx, d.Add(-30*time.Second))
		t.Cleanup(cancel)
	}
	return ctx
}

// run runs name args in dir with extra environment variables and returns its
// combined output.
func run(ctx context.Context, dir string, env []string, name string, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), env...)
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// makeVars returns what the Makefile passes to hack/dist.sh.
func makeVars(t *testing.T, ctx context.Context, root string) map[string]string {
	t.Helper()
	snippet := filepath.Join(t.TempDir(), "vars.mk")
	rule := "_dist_test_vars:\n" +
		"\t@echo 'VERSION=$(VERSION)'\n" +
		"\t@echo 'PLUGINS=$(PLUGINS)'\n" +
		"\t@echo 'ALIASES=$(ALIASES)'\n"
	if err := os.WriteFile(snippet, []byte(rule), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := run(ctx, root, nil, "make", "-s", "--no-print-directory", "-f", "Makefile", "-f", snippet, "_dist_test_vars")
	if err != nil {
		t.Fatalf("reading the Makefile's variables: %v\n%s", err, out)
	}
	vars := map[string]string{}
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		k, v, _ := strings.Cut(line, "=")
		vars[k] = strings.TrimSpace(v)
	}
	return vars
}

// checksums reads a sha256sum file into archive name -> sum.
func checksums(t *testing.T, file string) map[string]string {
	t.Helper()
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	sums := map[string]string{}
	var names []string
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		sum, name, ok := strings.Cut(sc.Text(), "  ")
		if !ok || !krewSHA256.MatchString(sum) || name == "" {
			t.Fatalf("%s: %q is not a sha256sum line", file, sc.Text())
		}
		sums[name] = sum
		names = append(names, name)
	}
	if !sort.StringsAreSorted(names) {
		t.Errorf("%s is not sorted by name: %v", file, names)
	}
	return sums
}

func sha256Hex(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

// TestDist runs `make dist` for the plugins under cmd/ and checks every
// archive and krew manifest it writes, as krew would.
func TestDist(t *testing.T) {
	ctx := testContext(t)
	root := repoRoot(t)
	vars := makeVars(t, ctx, root)
	version, plugins := vars["VERSION"], strings.Fields(vars["PLUGINS"])

	dirs, err := filepath.Glob(filepath.Join(root, "cmd", "oc-*"))
	if err != nil {
		t.Fatal(err)
	}
	var onDisk []string
	for _, d := range dirs {
		if fi, err := os.Stat(d); err == nil && fi.IsDir() {
			onDisk = append(onDisk, filepath.Base(d))
		}
	}
	if !slices.Equal(plugins, onDisk) {
		t.Fatalf("the Makefile ships %v, cmd/ holds %v", plugins, onDisk)
	}
	aliases := map[string][]string{} // binary -> alias names
	for _, a := range strings.Fields(vars["ALIASES"]) {
		name, bin, ok := strings.Cut(a, "=")
		if !ok {
			t.Fatalf("ALIASES entry %q is not name=binary", a)
		}
		aliases[bin] = append(aliases[bin], name)
	}

	platforms := strings.Fields(testPlatforms)
	if p := os.Getenv("DIST_PLATFORMS"); p != "" {
		platforms = strings.Fields(p)
	}
	distDir := t.TempDir()
	// VERSION as the Makefile computed it, so that a file changing under a
	// shared checkout cannot add -dirty between here and the builds.
	// SOURCE_DATE_EPOCH likewise, as HEAD's commit time now: a commit made
	// between the two builds below must not change the archives' mtime.
	epoch, err := exec.CommandContext(ctx, "git", "-C", root, "log", "-1", "--format=%ct").Output()
	if err != nil {
		t.Fatalf("git log: %v", err)
	}
	sde := "SOURCE_DATE_EPOCH=" + strings.TrimSpace(string(epoch))
	env := []string{"VERSION=" + version, "DIST_DIR=" + distDir, "DIST_PLATFORMS=" + strings.Join(platforms, " "), sde}

	start := time.Now()
	out, err := run(ctx, root, env, "make", "--no-print-directory", "dist")
	if len(plugins) == 0 {
		// Nothing to ship yet: dist must say so and write nothing.
		if err == nil {
			t.Fatalf("make dist with no plugin under cmd/ succeeded:\n%s", out)
		}
		assertNoOutput(t, distDir)
		return
	}
	if err != nil {
		t.Fatalf("make dist: %v\n%s", err, out)
	}
	t.Logf("make dist built %d plugins for %v in %s", len(plugins), platforms, time.Since(start).Round(time.Second))

	sums := checksums(t, filepath.Join(distDir, "checksums.txt"))
	license, err := os.ReadFile(filepath.Join(root, "LICENSE"))
	if err != nil {
		t.Fatal(err)
	}
	var wantArchives, wantManifests []string
	for _, p := range plugins {
		wantManifests = append(wantManifests, strings.TrimPrefix(p, "oc-")+".yaml")
		for _, pl := range platforms {
			goos, goarch, _ := strings.Cut(pl, "/")
			wantArchives = append(wantArchives, fmt.Sprintf("%s_%s_%s_%s.tar.gz", p, version, goos, goarch))
		}
	}
	for _, pl := range platforms {
		goos, goarch, _ := strings.Cut(pl, "/")
		wantArchives = append(wantArchives, bundleName(version, goos, goarch))
	}
	sort.Strings(wantArchives)
	if got := sortedKeys(sums); !slices.Equal(got, wantArchives) {
		t.Errorf("checksums.txt lists %v, want %v", got, wantArchives)
	}
	if got := listDir(t, distDir, "*.tar.gz"); !slices.Equal(got, wantArchives) {
		t.Errorf("dist holds archives %v, want %v", got, wantArchives)
	}
	sort.Strings(wantManifests)
	if got := listDir(t, filepath.Join(distDir, "krew"), "*"); !slices.Equal(got, wantManifests) {
		t.Errorf("dist/krew holds %v, want %v", got, wantManifests)
	}
	if got := listDir(t, distDir, ".*"); len(got) != 0 {
		t.Errorf("dist holds leftovers %v", got)
	}

	for _, p := range plugins {
		name := strings.TrimPrefix(p, "oc-")
		t.Run(name, func(t *testing.T) {
			checkManifest(t, distDir, name, p, version, platforms, aliases[p], sums, license)
		})
	}

	for _, pl := range platforms {
		goos, goarch, _ := strings.Cut(pl, "/")
		t.Run("bundle "+pl, func(t *testing.T) {
			checkBundle(t, filepath.Join(distDir, bundleName(version, goos, goarch)), goos, goarch, license)
		})
	}

	// Reproducible: a second build of one archive gives the same bytes. One
	// plugin on one platform, so this costs a link, not another cross-build.
	again := t.TempDir()
	start = time.Now()
	out, err = run(ctx, root, []string{"VERSION=" + version, "DIST_DIR=" + again, "DIST_PLATFORMS=" + platforms[0], sde, "DIST_NO_BUNDLE=1"},
		"make", "--no-print-directory", "dist", "PLUGINS="+plugins[0])
	if err != nil {
		t.Fatalf("second make dist: %v\n%s", err, out)
	}
	goos, goarch, _ := strings.Cut(platforms[0], "/")
	archive := fmt.Sprintf("%s_%s_%s_%s.tar.gz", plugins[0], version, goos, goarch)
	if got := checksums(t, filepath.Join(again, "checksums.txt"))[archive]; got != sums[archive] {
		t.Errorf("%s is not reproducible: sha256 %s, then %s", archive, sums[archive], got)
	}
	t.Logf("rebuilt %s in %s", archive, time.Since(start).Round(time.Second))
}

// checkManifest validates dist/krew/<name>.yaml with krew's rules and checks
// each platform against its archive in distDir.
func checkManifest(t *testing.T, distDir, name, binary, version string, platforms, aliases []string,
	sums map[string]string, license []byte) {
	file := filepath.Join(distDir, "krew", name+".yaml")
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(b, []byte("{{")) {
		t.Errorf("%s has an unfilled placeholder", file)
	}
	var p krewPlugin
	if err := yaml.UnmarshalStrict(b, &p); err != nil {
		t.Fatalf("%s: %v", file, err)
	}
	if err := validatePlugin(name, p); err != nil {
		t.Fatalf("%s is not a valid krew manifest: %v", file, err)
	}
	if p.Spec.Version != version {
		t.Errorf("spec.version is %q, want %q", p.Spec.Version, version)
	}
	if p.Spec.Homepage != "https://github.com/airgap-ocp/oc-plugins" {
		t.Errorf("spec.homepage is %q", p.Spec.Homepage)
	}

	var got []string
	for i, pl := range p.Spec.Platforms {
		goos, goarch := pl.Selector.MatchLabels["os"], pl.Selector.MatchLabels["arch"]
		if goos == "" || goarch == "" || len(pl.Selector.MatchLabels) != 2 || len(pl.Selector.MatchExpressions) != 0 {
			t.Errorf("platforms[%d].selector %v: want matchLabels os and arch", i, pl.Selector)
			continue
		}
		got = append(got, goos+"/"+goarch)
		archive := fmt.Sprintf("%s_%s_%s_%s.tar.gz", binary, version, goos, goarch)
		if want := releaseURL + version + "/" + archive; pl.URI != want {
			t.Errorf("%s/%s uri is %s, want %s", goos, goarch, pl.URI, want)
		}
		data, err := os.ReadFile(filepath.Join(distDir, archive))
		if err != nil {
			t.Errorf("%s/%s: %v", goos, goarch, err)
			continue
		}
		if sum := sha256Hex(data); pl.Sha256 != sum || sums[archive] != sum {
			t.Errorf("%s: sha256 is %s, the manifest says %s, checksums.txt %s", archive, sum, pl.Sha256, sums[archive])
		}
		if err := checkArchive(data, pl, binary, goos, goarch, aliases, license); err != nil {
			t.Errorf("%s: %v", archive, err)
		}
	}
	sort.Strings(got)
	want := slices.Clone(platforms)
	sort.Strings(want)
	if !slices.Equal(got, want) {
		t.Errorf("manifest platforms are %v, want the built %v", got, want)
	}
}

// checkArchive opens an archive as krew would and checks it holds exactly the
// binary for os/arch, its aliases as identical copies, and LICENSE, packed
// reproducibly, and that the platform's files and bin install them.
func checkArchive(data []byte, pl krewPlatform, binary, goos, goarch string, aliases []string, license []byte) error {
	names, files, gz, err := readArchive(data)
	if err != nil {
		return err
	}
	if gz.Name != "" || !gz.ModTime.IsZero() {
		return fmt.Errorf("gzip header keeps name %q and time %v (want gzip -n)", gz.Name, gz.ModTime)
	}
	want := append([]string{binary, "LICENSE"}, aliases...)
	sort.Strings(want)
	if !slices.Equal(names, want) {
		return fmt.Errorf("holds %v in this order, want %v", names, want)
	}
	mtime := files[names[0]].hdr.ModTime
	for _, n := range names {
		h := files[n].hdr
		if h.Uid != 0 || h.Gid != 0 || !h.ModTime.Equal(mtime) {
			return fmt.Errorf("%s: owner %d:%d, mtime %v: want 0:0 and one mtime for all", n, h.Uid, h.Gid, h.ModTime)
		}
	}
	if !bytes.Equal(files["LICENSE"].data, license) {
		return errors.New("LICENSE differs from the repository's")
	}
	bin := files[binary]
	if bin.hdr.Mode&0o111 == 0 {
		return fmt.Errorf("%s is not executable (mode %o)", binary, bin.hdr.Mode)
	}
	if err := checkExecutable(bin.data, goos, goarch); err != nil {
		return fmt.Errorf("%s: %w", binary, err)
	}
	for _, a := range aliases {
		if f := files[a]; !bytes.Equal(f.data, bin.data) || f.hdr.Mode != bin.hdr.Mode {
			return fmt.Errorf("alias %s is not a copy of %s", a, binary)
		}
	}

	installed, err := installedFiles(names, pl.Files)
	if err != nil {
		return err
	}
	if from, ok := installed[filepathClean(pl.Bin)]; !ok || from != binary {
		return fmt.Errorf("bin %q is not installed from %s (installed: %v)", pl.Bin, binary, installed)
	}
	for to := range installed {
		if krewLicenseFiles[strings.ToLower(filepath.Base(to))] {
			return nil
		}
	}
	return fmt.Errorf("no license file is installed (installed: %v)", installed)
}

// checkExecutable checks that b is an executable for goos/goarch.
func checkExecutable(b []byte, goos, goarch string) error {
	switch goos {
	case "linux":
		f, err := elf.NewFile(bytes.NewReader(b))
		if err != nil {
			return fmt.Errorf("not an ELF executable: %w", err)
		}
		want := map[string]elf.Machine{"amd64": elf.EM_X86_64, "arm64": elf.EM_AARCH64}[goarch]
		if f.Type != elf.ET_EXEC || f.Machine != want {
			return fmt.Errorf("ELF %v for %v, want an executable for %s", f.Type, f.Machine, goarch)
		}
	case "darwin":
		f, err := macho.NewFile(bytes.NewReader(b))
		if err != nil {
			return fmt.Errorf("not a Mach-O executable: %w", err)
		}
		want := map[string]macho.Cpu{"amd64": macho.CpuAmd64, "arm64": macho.CpuArm64}[goarch]
		if f.Type != macho.TypeExec || f.Cpu != want {
			return fmt.Errorf("Mach-O %v for %v, want an executable for %s", f.Type, f.Cpu, goarch)
		}
	default:
		return fmt.Errorf("no check for %s executables", goos)
	}
	return nil
}

func filepathClean(p string) string { return filepath.ToSlash(filepath.Clean(p)) }

func sortedKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// listDir returns the sorted base names in dir matching pattern.
func listDir(t *testing.T, dir, pattern string) []string {
	t.Helper()
	m, err := filepath.Glob(filepath.Join(dir, pattern))
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, f := range m {
		names = append(names, filepath.Base(f))
	}
	sort.Strings(names)
	return names
}

// assertNoOutput checks that a failed dist run left nothing in dir.
func assertNoOutput(t *testing.T, dir string) {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	var left []string
	for _, e := range entries {
		if e.Name() != "stale.tar.gz" && e.Name() != "checksums.txt" {
			left = append(left, e.Name())
		}
	}
	if len(left) != 0 {
		t.Errorf("a failed dist left %v in %s", left, dir)
	}
}

// TestDistRefuses runs hack/dist.sh with bad settings: each must fail before
// writing anything, and leave a previous dist as it was.
func TestDistRefuses(t *testing.T) {
	ctx := testContext(t)
	root := repoRoot(t)
	vars := makeVars(t, ctx, root)
	good := []string{"VERSION=v0.1.0", "ALIASES=", "LDFLAGS=", "DIST_PLATFORMS=linux/amd64"}
	plugins := strings.Fields(vars["PLUGINS"])

	type refusal struct {
		name string
		env  []string
		want string
	}
	tests := []refusal{
		{name: "a version without v", env: []string{"VERSION=0.1.0", "PLUGINS=oc-x"}, want: "not a semantic version"},
		{name: "a version that is not semver", env: []string{"VERSION=v0.1", "PLUGINS=oc-x"}, want: "not a semantic version"},
		{name: "a windows platform", env: []string{"PLUGINS=oc-x", "DIST_PLATFORMS=windows/amd64"}, want: "platform windows/amd64"},
		{name: "no plugins", env: []string{"PLUGINS="}, want: "no plugins to package"},
		{name: "a plugin without cmd/", env: []string{"PLUGINS=oc-no-such-plugin"}, want: "cmd/oc-no-such-plugin does not exist"},
	}
	if len(plugins) > 0 {
		tests = append(tests,
			refusal{name: "an alias of a binary not shipped", env: []string{"PLUGINS=" + plugins[0], "ALIASES=oc-x=oc-not-shipped"}, want: "is not in PLUGINS"},
			refusal{name: "a failing build", env: []string{"PLUGINS=" + plugins[0], "GO=false"}, want: "building " + plugins[0]},
		)
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			// A previous dist that must survive untouched.
			stale := map[string]string{"checksums.txt": "old sums\n", "stale.tar.gz": "old archive\n"}
			for n, c := range stale {
				if err := os.WriteFile(filepath.Join(dir, n), []byte(c), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			env := append(append([]string{"DIST_DIR=" + dir}, good...), tt.env...)
			out, err := run(ctx, root, env, filepath.Join(root, "hack", "dist.sh"))
			var exit *exec.ExitError
			if !errors.As(err, &exit) || exit.ExitCode() == 0 {
				t.Fatalf("want a non-zero exit, got %v\n%s", err, out)
			}
			if !strings.Contains(out, tt.want) {
				t.Errorf("want a message with %q, got:\n%s", tt.want, out)
			}
			assertNoOutput(t, dir)
			for n, c := range stale {
				if b, err := os.ReadFile(filepath.Join(dir, n)); err != nil || string(b) != c {
					t.Errorf("%s was changed: %q, %v", n, b, err)
				}
			}
		})
	}
}
