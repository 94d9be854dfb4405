package testenv

import (
	"context"
	"encoding/base64"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"

	digest "github.com/opencontainers/go-digest"
	imgspecv1 "github.com/opencontainers/image-spec/specs-go/v1"
)

// BenchCatalogSpec describes the operator benchmark's catalog (hack/bench
// -payload operators): a file-based catalog of which a user selects the
// stable channel of some packages, every bundle of it. Each selected bundle
// names its bundle image, its operator image, its operand images and one
// image every bundle shares (kube-rbac-proxy, as real operators do); the
// operator and operand images are built on a few base images, as Red Hat's
// are on UBI, so their bytes are mostly shared base layers.
type BenchCatalogSpec struct {
	// Selected packages have Bundles bundles in stable (their default
	// channel), and Newer more in fast only; Others packages nobody
	// selects fill the rest of the catalog.
	Selected, Others, Bundles, Newer int
	// Operands is the operand images of each bundle.
	Operands int
	// BaseLayerSizes are the two layers of each of three base images.
	BaseLayerSizes [2]int64
	// Operator and operand images have 1-2 layers of their own, of sizes
	// spread log-uniformly from OwnMin to OwnMax bytes.
	OwnMin, OwnMax int64
	// Bundle images hold one layer: the CSV (its icon BundleMin to
	// BundleMax bytes) and metadata/annotations.yaml.
	BundleMin, BundleMax int64
	// CatalogBase is the size of the catalog image's base layer (the
	// operator-registry image it is built on).
	CatalogBase int64
}

// BenchOperators is the operator benchmark's catalog: 25 of 40 packages
// selected, 5 bundles each, so 125 bundles naming 501 images (125 bundle,
// 125 operator and 250 operand images, and the shared one), with the
// small release payload's layer sizes.
func BenchOperators() BenchCatalogSpec {
	return BenchCatalogSpec{Selected: 25, Others: 15, Bundles: 5, Newer: 2, Operands: 2,
		BaseLayerSizes: [2]int64{12 << 20, 6 << 20}, OwnMin: 100 << 10, OwnMax: 2 << 20,
		BundleMin: 8 << 10, BundleMax: 64 << 10, CatalogBase: 12 << 20}
}

// BenchCatalog is the operator benchmark's catalog pushed to a registry.
type BenchCatalog struct {
	// Catalog is the catalog image by tag (IndexRepo), CatalogDigest its
	// manifest's digest.
	Catalog       string
	CatalogDigest digest.Digest
	// Packages are the selected packages, Channel the channel selected in
	// each, Bundles the bundles it holds.
	Packages []string
	Channel  string
	Bundles  []string
	// Images are every image the selected bundles name (bundle images
	// and related images), by digest, sorted, once each.
	Images []string
	// BlobSizes holds every blob pushed (the selection's images and the
	// catalog image), SharedBlobs the base layers, UniqueBytes the sum.
	BlobSizes   map[digest.Digest]int64
	SharedBlobs []digest.Digest
	UniqueBytes int64
}

// benchOperatorRepo is where the benchmark's operator images live.
const benchOperatorRepo = "operators"

// PushBenchCatalog builds the catalog spec describes and its images, and
// pushes them: the selected bundles' images, built in an OCI layout under
// workDir (each layer streamed once) and pushed to operators/<name>, and
// the catalog image built with the real opm (its cache included) to
// IndexRepo. The bundles of the fast channel and of the packages nobody
// selects name images that are not pushed: no tool is asked to copy them.
func (r *Registry) PushBenchCatalog(ctx context.Context, spec BenchCatalogSpec, opm, workDir string) (*BenchCatalog, error) {
	dir, err := os.MkdirTemp(workDir, "bench-catalog-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	l := &benchLayout{dir: filepath.Join(dir, "layout"), sizes: map[digest.Digest]int64{}}
	if err := l.init(); err != nil {
		return nil, err
	}
	out := &BenchCatalog{Channel: "stable"}

	var bases [3][]imgspecv1.Descriptor
	var baseDiffs [3][]digest.Digest
	for i := range 3 {
		for j, size := range spec.BaseLayerSizes {
			d, diff, err := l.layer(fmt.Sprintf("operator-base-%d-%d", i, j), size)
			if err != nil {
				return nil, err
			}
			bases[i] = append(bases[i], d)
			baseDiffs[i] = append(baseDiffs[i], diff)
			out.SharedBlobs = append(out.SharedBlobs, d.Digest)
		}
	}
	sort.Slice(out.SharedBlobs, func(i, j int) bool { return out.SharedBlobs[i] < out.SharedBlobs[j] })

	rng := rand.New(rand.NewPCG(3, 4))
	logUniform := func(lo, hi int64) int64 {
		a, b := math.Log(float64(lo)), math.Log(float64(hi))
		return int64(math.Exp(a + rng.Float64()*(b-a)))
	}
	var pushes []layoutPush
	n := 0
	// image builds an operator or operand image on base n%3 and queues its
	// push; it returns its pull spec by digest.
	image := func(repo, tag string) (string, error) {
		base := n % 3
		n++
		layers := append([]imgspecv1.Descriptor(nil), bases[base]...)
		diffs := append([]digest.Digest(nil), baseDiffs[base]...)
		for j := range 1 + rng.IntN(2) {
			d, diff, err := l.layer(fmt.Sprintf("%s-%s-%d", repo, tag, j), logUniform(spec.OwnMin, spec.OwnMax))
			if err != nil {
				return "", err
			}
			layers, diffs = append(layers, d), append(diffs, diff)
		}
		md, err := l.image(layers, diffs, map[string]string{"name": repo, "version": tag})
		if err != nil {
			return "", err
		}
		return out.queue(l, &pushes, r, repo, tag, md)
	}
	shared, err := image("kube-rbac-proxy", "v4.17")
	if err != nil {
		return nil, err
	}

	var pkgs []CatalogPackage
	for i := range spec.Selected + spec.Others {
		name := fmt.Sprintf("bench-%02d-operator", i)
		selected := i < spec.Selected
		p := CatalogPackage{Name: name, DefaultChannel: "stable"}
		newer := 0
		if selected {
			newer = spec.Newer
			out.Packages = append(out.Packages, name)
		}
		for v := range spec.Bundles + newer {
			b := CatalogBundle{
				Name: fmt.Sprintf("%s.v1.%d.0", name, v), Version: fmt.Sprintf("1.%d.0", v),
				Channels: []string{"fast"},
			}
			if v < spec.Bundles {
				b.Channels = []string{"fast", "stable"}
			}
			if v > 0 {
				b.Replaces = fmt.Sprintf("%s.v1.%d.0", name, v-1)
				b.SkipRange = fmt.Sprintf(">=1.0.0 <1.%d.0", v)
			}
			tag := "v" + b.Version
			if !selected || v >= spec.Bundles {
				// Named by the catalog, copied by no one.
				b.Image = fmt.Sprintf("%s/%s-bundle@%s", r.Ref(benchOperatorRepo), name, digest.FromString(b.Name))
				b.Related = []string{fmt.Sprintf("%s/%s-rhel9-operator@%s", r.Ref(benchOperatorRepo), name, digest.FromString(b.Name+"/operator"))}
				p.Bundles = append(p.Bundles, b)
				continue
			}
			op, err := image(name+"-rhel9-operator", tag)
			if err != nil {
				return nil, err
			}
			b.Related = append(b.Related, op)
			for k := range spec.Operands {
				ref, err := image(fmt.Sprintf("%s-operand-%d", name, k), tag)
				if err != nil {
					return nil, err
				}
				b.Related = append(b.Related, ref)
			}
			b.Related = append(b.Related, shared)
			if b.Image, err = out.bundleImage(l, &pushes, r, name, b, logUniform(spec.BundleMin, spec.BundleMax)); err != nil {
				return nil, err
			}
			p.Bundles = append(p.Bundles, b)
			out.Bundles = append(out.Bundles, b.Name)
			for _, img := range append([]string{b.Image}, b.Related...) {
				if !slices.Contains(out.Images, img) {
					out.Images = append(out.Images, img)
				}
			}
		}
		pkgs = append(pkgs, p)
	}
	sort.Strings(out.Images)
	if err := l.writeIndex(); err != nil {
		return nil, err
	}
	// The operator images first, one of each base alone.
	if err := r.pushLayout(ctx, l.dir, pushes, 3); err != nil {
		return nil, err
	}

	img, err := BuildCatalogImage(opm, filepath.Join(dir, "catalog"), Catalog(pkgs...), "amd64")
	if err != nil {
		return nil, err
	}
	img.Layers = append([]Layer{{Files: []File{{Name: "usr/lib/operator-registry-base", Data: PseudoRandom("catalog-base", int(spec.CatalogBase))}}}}, img.Layers...)
	built, err := img.Build()
	if err != nil {
		return nil, err
	}
	for i, d := range built.LayerDigests {
		l.sizes[d] = int64(len(built.Layers[i]))
	}
	l.sizes[built.ConfigDigest] = int64(len(built.Config))
	if out.CatalogDigest, err = r.PushImage(ctx, IndexRepo, img); err != nil {
		return nil, err
	}
	out.Catalog = r.Ref(IndexRepo)
	out.BlobSizes = l.sizes
	for _, s := range l.sizes {
		out.UniqueBytes += s
	}
	return out, nil
}

// queue names md in the layout and queues its push to
// operators/<repo>:<tag>; it returns its pull spec by digest.
func (c *BenchCatalog) queue(l *benchLayout, pushes *[]layoutPush, r *Registry, repo, tag string, md imgspecv1.Descriptor) (string, error) {
	ref := repo + "-" + tag
	if err := l.ref(ref, md); err != nil {
		return "", err
	}
	*pushes = append(*pushes, layoutPush{ref, benchOperatorRepo + "/" + repo + ":" + tag})
	return r.Ref(benchOperatorRepo+"/"+repo) + "@" + md.Digest.String(), nil
}

// bundleImage builds b's bundle image as operator-sdk lays one out (from
// scratch: the CSV under manifests/, metadata/annotations.yaml, the bundle
// labels), with an icon of iconSize bytes in the CSV, and queues its push.
func (c *BenchCatalog) bundleImage(l *benchLayout, pushes *[]layoutPush, r *Registry, pkg string, b CatalogBundle, iconSize int64) (string, error) {
	icon := base64.StdEncoding.EncodeToString(PseudoRandom(b.Name+"-icon", int(iconSize)))
	var related strings.Builder
	for _, img := range b.Related {
		fmt.Fprintf(&related, "  - image: %s\n", img)
	}
	csv := fmt.Sprintf("apiVersion: operators.coreos.com/v1alpha1\nkind: ClusterServiceVersion\nmetadata:\n  name: %s\nspec:\n  version: %s\n  replaces: %s\n  icon:\n  - base64data: %s\n    mediatype: image/png\n  relatedImages:\n%s",
		b.Name, b.Version, b.Replaces, icon, related.String())
	annotations := fmt.Sprintf("annotations:\n  operators.operatorframework.io.bundle.mediatype.v1: registry+v1\n  operators.operatorframework.io.bundle.manifests.v1: manifests/\n  operators.operatorframework.io.bundle.metadata.v1: metadata/\n  operators.operatorframework.io.bundle.package.v1: %s\n  operators.operatorframework.io.bundle.channels.v1: %s\n  operators.operatorframework.io.bundle.channel.default.v1: stable\n",
		pkg, strings.Join(b.Channels, ","))
	tarball, err := Layer{Files: []File{
		{Name: "manifests/" + pkg + ".clusterserviceversion.yaml", Data: []byte(csv)},
		{Name: "metadata/annotations.yaml", Data: []byte(annotations)},
	}}.tar()
	if err != nil {
		return "", err
	}
	gz, err := gzipBytes(tarball)
	if err != nil {
		return "", err
	}
	layer, err := l.blob(imgspecv1.MediaTypeImageLayerGzip, gz)
	if err != nil {
		return "", err
	}
	md, err := l.image([]imgspecv1.Descriptor{layer}, []digest.Digest{digest.FromBytes(tarball)}, map[string]string{
		"operators.operatorframework.io.bundle.mediatype.v1": "registry+v1",
		"operators.operatorframework.io.bundle.manifests.v1": "manifests/",
		"operators.operatorframework.io.bundle.metadata.v1":  "metadata/",
		"operators.operatorframework.io.bundle.package.v1":   pkg,
		"operators.operatorframework.io.bundle.channels.v1":  strings.Join(b.Channels, ","),
	})
	if err != nil {
		return "", err
	}
	return c.queue(l, pushes, r, pkg+"-bundle", "v"+b.Version, md)
}
