package main

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"

	"github.com/airgap-ocp/oc-plugins/internal/testenv"
)

// The operator payload (-payload operators, BENCH_PAYLOAD=operators, issue
// 16): instead of a release, a synthetic file-based catalog in the source
// registry (internal/testenv/benchcatalog.go), of which every tool mirrors
// the stable channel of 25 packages, every bundle of it: 125 bundles
// naming 501 images. Ours is `oc-mirror-lite catalog` (it filters the
// catalog, copies the bundles and their related images, rebuilds the
// catalog and pushes it). The peers cannot filter a catalog: they are given
// the list an oc-mirror-lite user gets from --dry-run (every image the
// kept bundles name, by digest, to the same destinations), plus the source
// catalog image itself, copied unchanged.

var payloadName = flag.String("payload", envOr("BENCH_PAYLOAD", "release"), "what to mirror: release, or operators: 501 images of a synthetic operator catalog's selection, and the catalog (BENCH_PAYLOAD)")

// operatorsRoot is where every tool puts the operator payload below the
// destination registry.
const operatorsRoot = "mirror/operators"

func operatorsPayload() (bool, error) {
	switch *payloadName {
	case "", "release":
		return false, nil
	case "operators":
		return true, nil
	}
	return false, fmt.Errorf("-payload %q: want release or operators", *payloadName)
}

// destRoot is the repository every tool mirrors below.
func (b *bench) destRoot() string {
	if b.catalog != nil {
		return operatorsRoot
	}
	return "mirror/ocp"
}

// oursCatalogArgs is ours on the operator payload: the catalog, the
// stable channel of each selected package, every bundle of it (--full
// with packages named keeps every bundle of the channels named).
func (b *bench) oursCatalogArgs(r *runEnv, to string) []string {
	args := []string{filepath.Join(b.binDir, "oc-mirror-lite"), "catalog", b.catalog.Catalog, "--full"}
	for _, p := range b.catalog.Packages {
		args = append(args, "--package", p+":"+b.catalog.Channel)
	}
	return append(args, "--to", to, "--authfile", r.authFile, "--cert-dir", r.certDir)
}

// pushOperators builds the operator payload in the source registry and
// the list the peers copy: ours' --dry-run mapping, checked against the
// images the selected bundles name, and the source catalog by digest to
// the place ours pushes the rebuilt one.
func (b *bench) pushOperators(ctx context.Context, rep *Report) error {
	dir, err := testenv.TestbinDir()
	if err != nil {
		return fmt.Errorf("the operator payload needs opm: %w", err)
	}
	spec := testenv.BenchOperators()
	fmt.Fprintf(os.Stderr, "bench: pushing the operator payload (%d packages, %d selected, %d bundles each) to the source registry\n",
		spec.Selected+spec.Others, spec.Selected, spec.Bundles)
	c, err := b.src.PushBenchCatalog(ctx, spec, filepath.Join(dir, "opm"), b.work)
	if err != nil {
		return err
	}
	b.catalog = c
	b.payload = &testenv.BenchPayload{Release: &testenv.Release{SharedBlobs: c.SharedBlobs}, BlobSizes: c.BlobSizes, UniqueBytes: c.UniqueBytes}
	rep.Scale = "operators"

	r, err := b.newRun("dry-run")
	if err != nil {
		return err
	}
	defer r.close()
	args := append(b.oursCatalogArgs(r, "docker://"+r.dst.Ref(operatorsRoot)), "--dry-run")
	cmd := exec.CommandContext(ctx, args[0], args[1:]...)
	cmd.Env, cmd.Dir = r.env, r.dir
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("oc-mirror-lite catalog --dry-run: %w: %s", err, lastLines(stderr.String(), 5))
	}
	var srcs []string
	for _, line := range strings.Split(strings.TrimSpace(stdout.String()), "\n") {
		src, dst, ok := strings.Cut(line, "=")
		dst, inDest := strings.CutPrefix(dst, "docker://"+r.dst.Host+"/")
		if !ok || !inDest || !strings.HasPrefix(src, "docker://") {
			return fmt.Errorf("oc-mirror-lite catalog --dry-run: a mapping line %q, want docker://SRC=docker://%s/...", line, r.dst.Host)
		}
		src = strings.TrimPrefix(src, "docker://")
		srcs = append(srcs, src)
		b.list = append(b.list, [2]string{src, dst})
	}
	slices.Sort(srcs)
	if !slices.Equal(srcs, c.Images) {
		return fmt.Errorf("oc-mirror-lite catalog --dry-run maps %d images and the selected bundles name %d: not the same images", len(srcs), len(c.Images))
	}
	// The source catalog by digest (without its tag: skopeo sync's list
	// takes a repository and digests), to the tag ours pushes to.
	repo, _, _ := strings.Cut(testenv.IndexRepo, ":")
	b.list = append(b.list, [2]string{b.src.Ref(repo) + "@" + c.CatalogDigest.String(), operatorsRoot + "/" + testenv.IndexRepo})
	return nil
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, " | ")
}
