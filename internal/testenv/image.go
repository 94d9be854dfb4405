package testenv

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/containers/image/v5/copy"
	"github.com/containers/image/v5/docker"
	"github.com/containers/image/v5/manifest"
	"github.com/containers/image/v5/oci/layout"
	"github.com/containers/image/v5/signature"
	"github.com/containers/image/v5/types"
	digest "github.com/opencontainers/go-digest"
	specs "github.com/opencontainers/image-spec/specs-go"
	imgspecv1 "github.com/opencontainers/image-spec/specs-go/v1"
)

// ManifestFormat is the manifest type an Image is built with.
type ManifestFormat string

const (
	// FormatOCI builds an OCI image manifest (the default).
	FormatOCI ManifestFormat = "oci"
	// FormatDockerSchema2 builds a Docker image manifest v2, schema 2.
	FormatDockerSchema2 ManifestFormat = "docker-schema2"
)

// File is a regular file in a layer.
type File struct {
	// Name is the slash-separated path in the image, e.g. "release-manifests/image-references".
	Name string
	Data []byte
	// Mode holds the permission bits; zero means 0644.
	Mode fs.FileMode
}

// Layer is one layer of an image: its files, written (with their parent
// folders) into a gzip-compressed tar. The same files always give the same
// blob, so images built from equal layers share them in a registry.
type Layer struct {
	Files []File
}

// Image describes a real container image to build. Building is
// deterministic: the same Image always gives the same manifest digest.
type Image struct {
	Layers     []Layer
	Labels     map[string]string
	Env        []string
	Entrypoint []string
	Cmd        []string
	// Architecture and OS default to amd64 and linux.
	Architecture, OS string
	// Format defaults to FormatOCI.
	Format ManifestFormat
}

// BuiltImage is an Image turned into blobs.
type BuiltImage struct {
	Manifest          []byte
	ManifestMediaType string
	Digest            digest.Digest // of Manifest
	Config            []byte
	ConfigDigest      digest.Digest
	// Layers are the compressed layer blobs, in order, and LayerDigests their digests.
	Layers       [][]byte
	LayerDigests []digest.Digest
}

// created is the fixed creation time of every built image, for reproducible digests.
var created = time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)

// Build builds the image's layers, config and manifest.
func (img Image) Build() (*BuiltImage, error) {
	var (
		configType, layerType, manifestType string
	)
	switch img.Format {
	case FormatOCI, "":
		configType, layerType, manifestType = imgspecv1.MediaTypeImageConfig, imgspecv1.MediaTypeImageLayerGzip, imgspecv1.MediaTypeImageManifest
	case FormatDockerSchema2:
		configType, layerType, manifestType = manifest.DockerV2Schema2ConfigMediaType, manifest.DockerV2Schema2LayerMediaType, manifest.DockerV2Schema2MediaType
	default:
		return nil, fmt.Errorf("unknown manifest format %q", img.Format)
	}

	b := &BuiltImage{ManifestMediaType: manifestType}
	cfg := imgspecv1.Image{
		Created: &created,
		Platform: imgspecv1.Platform{
			Architecture: orDefault(img.Architecture, "amd64"),
			OS:           orDefault(img.OS, "linux"),
		},
		Config: imgspecv1.ImageConfig{Env: img.Env, Entrypoint: img.Entrypoint, Cmd: img.Cmd, Labels: img.Labels},
		RootFS: imgspecv1.RootFS{Type: "layers", DiffIDs: []digest.Digest{}},
	}
	m := imgspecv1.Manifest{
		Versioned: specs.Versioned{SchemaVersion: 2},
		MediaType: manifestType,
		Layers:    []imgspecv1.Descriptor{},
	}
	for i, l := range img.Layers {
		tarball, err := l.tar()
		if err != nil {
			return nil, fmt.Errorf("building layer %d: %w", i, err)
		}
		blob, err := gzipBytes(tarball)
		if err != nil {
			return nil, fmt.Errorf("compressing layer %d: %w", i, err)
		}
		d := digest.FromBytes(blob)
		b.Layers = append(b.Layers, blob)
		b.LayerDigests = append(b.LayerDigests, d)
		cfg.RootFS.DiffIDs = append(cfg.RootFS.DiffIDs, digest.FromBytes(tarball))
		cfg.History = append(cfg.History, imgspecv1.History{Created: &created, CreatedBy: fmt.Sprintf("testenv layer %d", i)})
		m.Layers = append(m.Layers, imgspecv1.Descriptor{MediaType: layerType, Digest: d, Size: int64(len(blob))})
	}

	var err error
	if b.Config, err = json.Marshal(cfg); err != nil {
		return nil, err
	}
	b.ConfigDigest = digest.FromBytes(b.Config)
	m.Config = imgspecv1.Descriptor{MediaType: configType, Digest: b.ConfigDigest, Size: int64(len(b.Config))}
	if b.Manifest, err = json.Marshal(m); err != nil {
		return nil, err
	}
	b.Digest = digest.FromBytes(b.Manifest)
	return b, nil
}

func orDefault(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

// tar writes the layer as a reproducible tar: sorted entries, parent
// folders first, fixed owner and times.
func (l Layer) tar() ([]byte, error) {
	files := map[string]File{}
	dirs := map[string]bool{}
	for _, f := range l.Files {
		name := path.Clean(strings.TrimPrefix(f.Name, "/"))
		if name == "." || name == ".." || strings.HasPrefix(name, "../") {
			return nil, fmt.Errorf("bad file name %q", f.Name)
		}
		if _, dup := files[name]; dup {
			return nil, fmt.Errorf("file %q twice", name)
		}
		files[name] = f
		for d := path.Dir(name); d != "."; d = path.Dir(d) {
			dirs[d] = true
		}
	}
	var names []string
	for d := range dirs {
		if _, clash := files[d]; clash {
			return nil, fmt.Errorf("%q is both a file and a folder", d)
		}
		names = append(names, d)
	}
	for n := range files {
		names = append(names, n)
	}
	sort.Strings(names)

	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, n := range names {
		hdr := &tar.Header{Name: n, ModTime: created, Format: tar.FormatPAX}
		if dirs[n] {
			hdr.Typeflag, hdr.Name, hdr.Mode = tar.TypeDir, n+"/", 0o755
			if err := tw.WriteHeader(hdr); err != nil {
				return nil, err
			}
			continue
		}
		f := files[n]
		mode := f.Mode.Perm()
		if mode == 0 {
			mode = 0o644
		}
		hdr.Typeflag, hdr.Mode, hdr.Size = tar.TypeReg, int64(mode), int64(len(f.Data))
		if err := tw.WriteHeader(hdr); err != nil {
			return nil, err
		}
		if _, err := tw.Write(f.Data); err != nil {
			return nil, err
		}
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

func gzipBytes(data []byte) ([]byte, error) {
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf) // no name and no time in the header: reproducible
	if _, err := zw.Write(data); err != nil {
		return nil, err
	}
	if err := zw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// WriteOCILayout writes the image into the OCI image layout at dir (created
// if missing, extended if it exists) under the name tag, replacing an image
// of the same name. The layout is then readable as "oci:<dir>:<tag>".
func (b *BuiltImage) WriteOCILayout(dir, tag string) error {
	blobs := filepath.Join(dir, "blobs", "sha256")
	if err := os.MkdirAll(blobs, 0o755); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, imgspecv1.ImageLayoutFile),
		[]byte(`{"imageLayoutVersion":"`+imgspecv1.ImageLayoutVersion+`"}`), 0o644); err != nil {
		return err
	}
	write := func(d digest.Digest, data []byte) error {
		return os.WriteFile(filepath.Join(blobs, d.Encoded()), data, 0o644)
	}
	for i, l := range b.Layers {
		if err := write(b.LayerDigests[i], l); err != nil {
			return err
		}
	}
	if err := write(b.ConfigDigest, b.Config); err != nil {
		return err
	}
	if err := write(b.Digest, b.Manifest); err != nil {
		return err
	}

	indexPath := filepath.Join(dir, imgspecv1.ImageIndexFile)
	index := imgspecv1.Index{Versioned: specs.Versioned{SchemaVersion: 2}, MediaType: imgspecv1.MediaTypeImageIndex}
	if data, err := os.ReadFile(indexPath); err == nil {
		if err := json.Unmarshal(data, &index); err != nil {
			return fmt.Errorf("reading %s: %w", indexPath, err)
		}
	} else if !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	kept := index.Manifests[:0]
	for _, d := range index.Manifests {
		if d.Annotations[imgspecv1.AnnotationRefName] != tag {
			kept = append(kept, d)
		}
	}
	index.Manifests = append(kept, imgspecv1.Descriptor{
		MediaType:   b.ManifestMediaType,
		Digest:      b.Digest,
		Size:        int64(len(b.Manifest)),
		Annotations: map[string]string{imgspecv1.AnnotationRefName: tag},
	})
	data, err := json.Marshal(index)
	if err != nil {
		return err
	}
	return os.WriteFile(indexPath, data, 0o644)
}

// PushImage builds img and pushes it with containers/image, from an OCI
// layout in a temporary folder, to name ("repo/path:tag") in the registry.
// It returns the digest of the manifest the registry holds.
func (r *Registry) PushImage(ctx context.Context, name string, img Image) (digest.Digest, error) {
	built, err := img.Build()
	if err != nil {
		return "", err
	}
	dir, err := os.MkdirTemp("", "testenv-image-")
	if err != nil {
		return "", err
	}
	defer os.RemoveAll(dir)
	if err := built.WriteOCILayout(dir, "image"); err != nil {
		return "", fmt.Errorf("writing OCI layout: %w", err)
	}
	src, err := layout.NewReference(dir, "image")
	if err != nil {
		return "", err
	}
	dest, err := docker.ParseReference("//" + r.Ref(name))
	if err != nil {
		return "", fmt.Errorf("parsing %s: %w", r.Ref(name), err)
	}
	copied, err := CopyImage(ctx, dest, src, &copy.Options{DestinationCtx: r.SystemContext()})
	if err != nil {
		return "", fmt.Errorf("pushing %s: %w", r.Ref(name), err)
	}
	d, err := manifest.Digest(copied)
	if err != nil {
		return "", err
	}
	if d != built.Digest {
		return "", fmt.Errorf("pushing %s: the registry holds manifest %s, not the built %s", r.Ref(name), d, built.Digest)
	}
	return d, nil
}

// MustPushImage is PushImage for tests: it fails the test on error.
func (r *Registry) MustPushImage(t testing.TB, name string, img Image) digest.Digest {
	t.Helper()
	d, err := r.PushImage(context.Background(), name, img)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// CopyImage copies an image with containers/image under a policy that
// accepts anything (tests check signatures themselves), and returns the
// manifest written.
func CopyImage(ctx context.Context, dest, src types.ImageReference, opts *copy.Options) ([]byte, error) {
	policy, err := signature.NewPolicyContext(&signature.Policy{
		Default: signature.PolicyRequirements{signature.NewPRInsecureAcceptAnything()},
	})
	if err != nil {
		return nil, err
	}
	defer func() { _ = policy.Destroy() }()
	return copy.Image(ctx, policy, dest, src, opts)
}
