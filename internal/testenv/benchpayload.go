package testenv

import (
	"archive/tar"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"hash"
	"io"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sort"
	"sync"

	"github.com/containers/image/v5/copy"
	"github.com/containers/image/v5/docker"
	"github.com/containers/image/v5/manifest"
	"github.com/containers/image/v5/oci/layout"
	digest "github.com/opencontainers/go-digest"
	specs "github.com/opencontainers/image-spec/specs-go"
	imgspecv1 "github.com/opencontainers/image-spec/specs-go/v1"
)

// BenchSpec describes the mirroring benchmark's payload (hack/bench): a
// release of release-sized scale, whose bytes are mostly a few shared base
// layers, as a real OpenShift release's are.
type BenchSpec struct {
	// Version is image-references' metadata.name; default "4.16.3".
	Version string
	// Components is the number of component images (default 190), each on
	// one of three base images of two layers, BaseLayerSizes bytes each.
	Components     int
	BaseLayerSizes [2]int64
	// Each component has 1-3 layers of its own, of sizes spread
	// log-uniformly from OwnMin to OwnMax bytes.
	OwnMin, OwnMax int64
	// Large components have, instead, one layer of LargeSize bytes.
	Large     int
	LargeSize int64
}

// BenchScale returns the payload of a named scale: "small" (about 350 MB
// unique, a few minutes of benchmark here) or "full" (several GB unique,
// the sizes of a real release).
func BenchScale(name string) (BenchSpec, error) {
	switch name {
	case "", "small":
		return BenchSpec{Components: 190, BaseLayerSizes: [2]int64{12 << 20, 6 << 20},
			OwnMin: 100 << 10, OwnMax: 2 << 20, Large: 2, LargeSize: 24 << 20}, nil
	case "full":
		return BenchSpec{Components: 190, BaseLayerSizes: [2]int64{60 << 20, 30 << 20},
			OwnMin: 100 << 10, OwnMax: 30 << 20, Large: 3, LargeSize: 400 << 20}, nil
	}
	return BenchSpec{}, fmt.Errorf("unknown benchmark scale %q: want small or full", name)
}

// BenchPayload is a benchmark payload pushed to a registry.
type BenchPayload struct {
	*Release
	// Names are the components in image-references' order.
	Names []string
	// BlobSizes holds every blob of the payload (layers and configs).
	BlobSizes map[digest.Digest]int64
	// UniqueBytes is the sum of BlobSizes, what a mirror must move at least.
	UniqueBytes int64
}

// BenchComponentNames returns n component names: the real ones of
// ComponentNames first, then numbered ones.
func BenchComponentNames(n int) []string {
	names := append([]string(nil), ComponentNames...)
	for i := len(names); i < n; i++ {
		names = append(names, fmt.Sprintf("component-%03d", i))
	}
	return names[:n]
}

// PushBenchRelease builds the payload spec describes in an OCI layout under
// workDir (each blob written once, streamed, never held in memory whole)
// and pushes it to the registry: the components to
// openshift-release-dev/ocp-v4.0-art-dev, the release image (its layer
// holds release-manifests/image-references and release-metadata) to
// openshift-release-dev/ocp-release:<version>-x86_64. Layers are gzip
// streams of pseudo-random data stored without compression (it would gain
// nothing on such data and only slow the set-up).
func (r *Registry) PushBenchRelease(ctx context.Context, spec BenchSpec, workDir string) (*BenchPayload, error) {
	if spec.Version == "" {
		spec.Version = "4.16.3"
	}
	if spec.Components <= 0 {
		spec.Components = 190
	}
	dir, err := os.MkdirTemp(workDir, "bench-payload-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	l := &benchLayout{dir: dir, sizes: map[digest.Digest]int64{}}
	if err := l.init(); err != nil {
		return nil, err
	}
	const releaseRepo, componentRepo = "openshift-release-dev/ocp-release", "openshift-release-dev/ocp-v4.0-art-dev"
	p := &BenchPayload{
		Release: &Release{
			Version:       spec.Version,
			Repo:          r.Host + "/" + releaseRepo,
			ComponentRepo: r.Host + "/" + componentRepo,
			Components:    map[string]string{},
		},
		Names: BenchComponentNames(spec.Components),
	}

	var bases [3][]imgspecv1.Descriptor
	var baseDiffs [3][]digest.Digest
	for i := range 3 {
		for j, size := range spec.BaseLayerSizes {
			d, diff, err := l.layer(fmt.Sprintf("base-%d-%d", i, j), size)
			if err != nil {
				return nil, err
			}
			bases[i] = append(bases[i], d)
			baseDiffs[i] = append(baseDiffs[i], diff)
			p.SharedBlobs = append(p.SharedBlobs, d.Digest)
		}
	}
	sort.Slice(p.SharedBlobs, func(i, j int) bool { return p.SharedBlobs[i] < p.SharedBlobs[j] })

	rng := rand.New(rand.NewPCG(1, 2))
	large := map[int]bool{}
	for k := range spec.Large {
		large[(k*spec.Components)/max(spec.Large, 1)+spec.Components/(2*max(spec.Large, 1))] = true
	}
	var pushes []layoutPush
	for i, name := range p.Names {
		layers := append([]imgspecv1.Descriptor(nil), bases[i%3]...)
		diffs := append([]digest.Digest(nil), baseDiffs[i%3]...)
		sizes := []int64{spec.LargeSize}
		if !large[i] {
			sizes = sizes[:0]
			for range 1 + rng.IntN(3) {
				lo, hi := math.Log(float64(spec.OwnMin)), math.Log(float64(spec.OwnMax))
				sizes = append(sizes, int64(math.Exp(lo+rng.Float64()*(hi-lo))))
			}
		}
		for j, size := range sizes {
			d, diff, err := l.layer(fmt.Sprintf("%s-%s-%d", spec.Version, name, j), size)
			if err != nil {
				return nil, err
			}
			layers, diffs = append(layers, d), append(diffs, diff)
		}
		md, err := l.image(layers, diffs, map[string]string{"io.openshift.build.source-location": "https://github.com/openshift/" + name})
		if err != nil {
			return nil, err
		}
		ref := "c-" + name
		if err := l.ref(ref, md); err != nil {
			return nil, err
		}
		pushes = append(pushes, layoutPush{ref, componentRepo + ":" + name + "-" + spec.Version})
		p.Components[name] = p.ComponentRepo + "@" + md.Digest.String()
	}

	if p.ImageReferences, err = imageReferences(spec.Version, p.Names, p.Components); err != nil {
		return nil, err
	}
	if p.ReleaseMetadata, err = json.Marshal(map[string]any{
		"kind": "cincinnati-metadata-v0", "version": spec.Version, "previous": []string{},
		"metadata": map[string]string{"url": "https://access.redhat.com/errata/RHBA-0000:0000"},
	}); err != nil {
		return nil, err
	}
	tarball, err := Layer{Files: []File{
		{Name: "release-manifests/image-references", Data: p.ImageReferences},
		{Name: "release-manifests/release-metadata", Data: p.ReleaseMetadata},
	}}.tar()
	if err != nil {
		return nil, err
	}
	gz, err := gzipBytes(tarball)
	if err != nil {
		return nil, err
	}
	own, err := l.blob(imgspecv1.MediaTypeImageLayerGzip, gz)
	if err != nil {
		return nil, err
	}
	relDesc, err := l.image(append(append([]imgspecv1.Descriptor(nil), bases[0]...), own),
		append(append([]digest.Digest(nil), baseDiffs[0]...), digest.FromBytes(tarball)),
		map[string]string{"io.openshift.release": spec.Version, "io.openshift.release.base": "true"})
	if err != nil {
		return nil, err
	}
	if err := l.ref("release", relDesc); err != nil {
		return nil, err
	}
	if err := l.writeIndex(); err != nil {
		return nil, err
	}
	p.BlobSizes = l.sizes
	for _, s := range l.sizes {
		p.UniqueBytes += s
	}

	if err := r.pushLayout(ctx, dir, pushes, 3); err != nil {
		return nil, err
	}
	tag := spec.Version + "-" + ArchExt("amd64")
	if err := r.pushLayout(ctx, dir, []layoutPush{{"release", releaseRepo + ":" + tag}}, 1); err != nil {
		return nil, err
	}
	p.Tag = p.Repo + ":" + tag
	p.Digest = relDesc.Digest
	p.PullSpec = p.Repo + "@" + relDesc.Digest.String()
	return p, nil
}

// layoutPush is one image of a layout (its ref name there) and where it
// goes in the registry (path:tag).
type layoutPush struct{ ref, name string }

// pushLayout pushes images of the layout in dir to the registry, digests
// preserved: the first alone of them one by one, so that the base layers
// they carry are uploaded once, then the rest four at a time.
func (r *Registry) pushLayout(ctx context.Context, dir string, pushes []layoutPush, alone int) error {
	pushOne := func(p layoutPush) error {
		src, err := layout.NewReference(dir, p.ref)
		if err != nil {
			return err
		}
		dest, err := docker.ParseReference("//" + r.Ref(p.name))
		if err != nil {
			return err
		}
		if _, err := CopyImage(ctx, dest, src, &copy.Options{DestinationCtx: r.SystemContext(), PreserveDigests: true}); err != nil {
			return fmt.Errorf("pushing %s: %w", r.Ref(p.name), err)
		}
		return nil
	}
	alone = min(alone, len(pushes))
	for _, p := range pushes[:alone] {
		if err := pushOne(p); err != nil {
			return err
		}
	}
	var mu sync.Mutex
	var firstErr error
	sem := make(chan struct{}, 4)
	var wg sync.WaitGroup
	for _, p := range pushes[alone:] {
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer func() { <-sem; wg.Done() }()
			if err := pushOne(p); err != nil {
				mu.Lock()
				if firstErr == nil {
					firstErr = err
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	return firstErr
}

// benchLayout writes an OCI image layout blob by blob.
type benchLayout struct {
	dir   string
	sizes map[digest.Digest]int64
	index imgspecv1.Index
}

func (l *benchLayout) init() error {
	if err := os.MkdirAll(filepath.Join(l.dir, "blobs", "sha256"), 0o755); err != nil {
		return err
	}
	l.index = imgspecv1.Index{Versioned: specs.Versioned{SchemaVersion: 2}, MediaType: imgspecv1.MediaTypeImageIndex}
	return os.WriteFile(filepath.Join(l.dir, imgspecv1.ImageLayoutFile),
		[]byte(`{"imageLayoutVersion":"`+imgspecv1.ImageLayoutVersion+`"}`), 0o644)
}

func (l *benchLayout) blob(mediaType string, data []byte) (imgspecv1.Descriptor, error) {
	d := digest.FromBytes(data)
	if err := os.WriteFile(filepath.Join(l.dir, "blobs", "sha256", d.Encoded()), data, 0o644); err != nil {
		return imgspecv1.Descriptor{}, err
	}
	if mediaType != imgspecv1.MediaTypeImageManifest {
		l.sizes[d] = int64(len(data))
	}
	return imgspecv1.Descriptor{MediaType: mediaType, Digest: d, Size: int64(len(data))}, nil
}

// layer streams a gzip-compressed tar holding one file of size
// pseudo-random bytes (from seed) into the layout; it returns the blob's
// descriptor and the tar's digest (the diff ID).
func (l *benchLayout) layer(seed string, size int64) (imgspecv1.Descriptor, digest.Digest, error) {
	f, err := os.CreateTemp(l.dir, "layer-")
	if err != nil {
		return imgspecv1.Descriptor{}, "", err
	}
	defer os.Remove(f.Name())
	defer f.Close()
	blobHash, diffHash := sha256.New(), sha256.New()
	counter := &countWriter{}
	zw, err := gzip.NewWriterLevel(io.MultiWriter(f, blobHash, counter), gzip.NoCompression)
	if err != nil {
		return imgspecv1.Descriptor{}, "", err
	}
	tw := tar.NewWriter(io.MultiWriter(zw, diffHash))
	hdr := &tar.Header{Typeflag: tar.TypeReg, Name: "usr/lib/" + seed, Mode: 0o644, Size: size, ModTime: created, Format: tar.FormatPAX}
	if err := tw.WriteHeader(hdr); err != nil {
		return imgspecv1.Descriptor{}, "", err
	}
	sum := sha256.Sum256([]byte(seed))
	if _, err := io.CopyN(tw, rand.NewChaCha8(sum), size); err != nil {
		return imgspecv1.Descriptor{}, "", err
	}
	if err := tw.Close(); err != nil {
		return imgspecv1.Descriptor{}, "", err
	}
	if err := zw.Close(); err != nil {
		return imgspecv1.Descriptor{}, "", err
	}
	if err := f.Close(); err != nil {
		return imgspecv1.Descriptor{}, "", err
	}
	d := sumDigest(blobHash)
	if err := os.Rename(f.Name(), filepath.Join(l.dir, "blobs", "sha256", d.Encoded())); err != nil {
		return imgspecv1.Descriptor{}, "", err
	}
	l.sizes[d] = counter.n
	return imgspecv1.Descriptor{MediaType: imgspecv1.MediaTypeImageLayerGzip, Digest: d, Size: counter.n}, sumDigest(diffHash), nil
}

func sumDigest(h hash.Hash) digest.Digest {
	return digest.NewDigestFromBytes(digest.SHA256, h.Sum(nil))
}

type countWriter struct{ n int64 }

func (c *countWriter) Write(p []byte) (int, error) {
	c.n += int64(len(p))
	return len(p), nil
}

// image writes an amd64 image's config and manifest.
func (l *benchLayout) image(layers []imgspecv1.Descriptor, diffs []digest.Digest, labels map[string]string) (imgspecv1.Descriptor, error) {
	cfg := imgspecv1.Image{
		Created:  &created,
		Platform: imgspecv1.Platform{Architecture: "amd64", OS: "linux"},
		Config:   imgspecv1.ImageConfig{Labels: labels},
		RootFS:   imgspecv1.RootFS{Type: "layers", DiffIDs: diffs},
	}
	raw, err := json.Marshal(cfg)
	if err != nil {
		return imgspecv1.Descriptor{}, err
	}
	cd, err := l.blob(imgspecv1.MediaTypeImageConfig, raw)
	if err != nil {
		return imgspecv1.Descriptor{}, err
	}
	m := imgspecv1.Manifest{Versioned: specs.Versioned{SchemaVersion: 2}, MediaType: imgspecv1.MediaTypeImageManifest, Config: cd, Layers: layers}
	if raw, err = json.Marshal(m); err != nil {
		return imgspecv1.Descriptor{}, err
	}
	if _, err := manifest.OCI1FromManifest(raw); err != nil {
		return imgspecv1.Descriptor{}, err
	}
	return l.blob(imgspecv1.MediaTypeImageManifest, raw)
}

func (l *benchLayout) ref(name string, d imgspecv1.Descriptor) error {
	d.Annotations = map[string]string{imgspecv1.AnnotationRefName: name}
	l.index.Manifests = append(l.index.Manifests, d)
	return nil
}

func (l *benchLayout) writeIndex() error {
	data, err := json.Marshal(l.index)
	if err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(l.dir, imgspecv1.ImageIndexFile), data, 0o644)
}
