// Package imagebuild makes an image out of another and one layer more, as
// the suite builds its two images (a filtered catalog, the update graph
// data): the layer is streamed to a file as a gzipped tar with fixed times,
// so the same input always gives the same digest, and the new image keeps
// every field of its base's config it was not asked to change.
package imagebuild

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path"
	"strings"
	"time"

	"github.com/containers/image/v5/manifest"
	"github.com/containers/image/v5/pkg/blobinfocache/none"
	"github.com/containers/image/v5/types"
	digest "github.com/opencontainers/go-digest"
	imgspecv1 "github.com/opencontainers/image-spec/specs-go/v1"
)

// Layer is a layer being written: a tar, gzipped into a file, whose
// entries all carry one modification time.
type Layer struct {
	f     *os.File
	zw    *gzip.Writer
	tw    *tar.Writer
	blob  digest.Digester
	diff  digest.Digester
	size  *countingWriter
	mtime time.Time
	dirs  map[string]bool
}

// Blob is a finished layer: its file, the digest and size of the file, and
// the digest of the tar inside (the image config's diff ID).
type Blob struct {
	Path           string
	Digest, DiffID digest.Digest
	Size           int64
}

// NewLayer starts a layer in the file at path.
func NewLayer(path string, mtime time.Time) (*Layer, error) {
	f, err := os.Create(path)
	if err != nil {
		return nil, err
	}
	l := &Layer{f: f, blob: digest.Canonical.Digester(), diff: digest.Canonical.Digester(), mtime: mtime, dirs: map[string]bool{}}
	l.size = &countingWriter{w: io.MultiWriter(f, l.blob.Hash())}
	l.zw = gzip.NewWriter(l.size)
	l.tw = tar.NewWriter(io.MultiWriter(l.zw, l.diff.Hash()))
	return l, nil
}

func (l *Layer) header(name string, typ byte, mode, size int64) *tar.Header {
	return &tar.Header{Name: name, Typeflag: typ, Mode: mode, Size: size, ModTime: l.mtime, Format: tar.FormatPAX}
}

// Dir adds the directory name (a path in the image, without a leading
// slash) and those it is in, each once, mode 0755.
func (l *Layer) Dir(name string) error {
	name = strings.Trim(path.Clean(name), "/")
	if name == "." || name == "" || l.dirs[name] {
		return nil
	}
	if err := l.Dir(path.Dir(name)); err != nil {
		return err
	}
	l.dirs[name] = true
	return l.tw.WriteHeader(l.header(name+"/", tar.TypeDir, 0o755, 0))
}

// File adds the regular file name, its size bytes read from r, after the
// directories it is in.
func (l *Layer) File(name string, mode, size int64, r io.Reader) error {
	name = strings.Trim(path.Clean(name), "/")
	if err := l.Dir(path.Dir(name)); err != nil {
		return err
	}
	if err := l.tw.WriteHeader(l.header(name, tar.TypeReg, mode, size)); err != nil {
		return err
	}
	_, err := io.CopyN(l.tw, r, size)
	return err
}

// Marker adds an empty file without adding the directories it is in: an
// overlay whiteout (.wh.NAME) or opaque marker (.wh..wh..opq), which must
// not change the directories of the layers below.
func (l *Layer) Marker(name string) error {
	return l.tw.WriteHeader(l.header(strings.Trim(path.Clean(name), "/"), tar.TypeReg, 0o644, 0))
}

// Close finishes the layer's file; on an error the file is removed.
func (l *Layer) Close() (Blob, error) {
	err := l.tw.Close()
	if err == nil {
		err = l.zw.Close()
	}
	if cerr := l.f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(l.f.Name())
		return Blob{}, err
	}
	return Blob{Path: l.f.Name(), Digest: l.blob.Digest(), DiffID: l.diff.Digest(), Size: l.size.n}, nil
}

// Discard stops the layer and removes its file.
func (l *Layer) Discard() {
	l.f.Close()
	os.Remove(l.f.Name())
}

type countingWriter struct {
	w io.Writer
	n int64
}

func (c *countingWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}

// Base is the image a layer goes onto: its manifest (a Docker schema 2 or
// OCI image manifest) and config.
type Base struct {
	Manifest []byte
	MIMEType string
	Config   []byte
}

// RunConfig is an image config's "config" object (command, labels, ...),
// field by field as the base has it.
type RunConfig map[string]json.RawMessage

// Strings reads a list of strings, such as Cmd; nil when absent.
func (r RunConfig) Strings(key string) ([]string, error) {
	var v []string
	if raw, ok := r[key]; ok {
		if err := json.Unmarshal(raw, &v); err != nil {
			return nil, fmt.Errorf("config.%s: %w", key, err)
		}
	}
	return v, nil
}

// SetStrings sets a list of strings; nil removes the field.
func (r RunConfig) SetStrings(key string, v []string) {
	if v == nil {
		delete(r, key)
		return
	}
	r[key], _ = json.Marshal(v)
}

// Append puts into dest the layer blob, and the config and manifest of
// base with blob as its top layer: the diff ID and history entry are added,
// and edit may change the run config. It returns the new manifest, which
// the caller puts (alone or in a list).
func Append(ctx context.Context, dest types.ImageDestination, base Base, blob Blob, history imgspecv1.History, edit func(RunConfig) error) ([]byte, error) {
	var cfg map[string]json.RawMessage
	if err := json.Unmarshal(base.Config, &cfg); err != nil {
		return nil, fmt.Errorf("image config: %w", err)
	}
	var fields struct {
		RootFS  imgspecv1.RootFS    `json:"rootfs"`
		History []imgspecv1.History `json:"history"`
		Config  RunConfig           `json:"config"`
	}
	if err := json.Unmarshal(base.Config, &fields); err != nil {
		return nil, fmt.Errorf("image config: %w", err)
	}
	fields.RootFS.Type = "layers"
	fields.RootFS.DiffIDs = append(fields.RootFS.DiffIDs, blob.DiffID)
	fields.History = append(fields.History, history)
	if fields.Config == nil {
		fields.Config = RunConfig{}
	}
	if edit != nil {
		if err := edit(fields.Config); err != nil {
			return nil, err
		}
	}
	for key, v := range map[string]any{"rootfs": fields.RootFS, "history": fields.History, "config": fields.Config} {
		var err error
		if cfg[key], err = json.Marshal(v); err != nil {
			return nil, err
		}
	}
	config, err := json.Marshal(cfg)
	if err != nil {
		return nil, err
	}
	configDigest := digest.FromBytes(config)

	layer, err := os.Open(blob.Path)
	if err != nil {
		return nil, err
	}
	defer layer.Close()
	if _, err := dest.PutBlob(ctx, layer, types.BlobInfo{Digest: blob.Digest, Size: blob.Size}, none.NoCache, false); err != nil {
		return nil, err
	}
	if _, err := dest.PutBlob(ctx, bytes.NewReader(config), types.BlobInfo{Digest: configDigest, Size: int64(len(config))}, none.NoCache, true); err != nil {
		return nil, err
	}

	switch base.MIMEType {
	case manifest.DockerV2Schema2MediaType:
		m, err := manifest.Schema2FromManifest(base.Manifest)
		if err != nil {
			return nil, err
		}
		m.ConfigDescriptor.Digest, m.ConfigDescriptor.Size = configDigest, int64(len(config))
		m.LayersDescriptors = append(m.LayersDescriptors, manifest.Schema2Descriptor{MediaType: manifest.DockerV2Schema2LayerMediaType, Digest: blob.Digest, Size: blob.Size})
		return m.Serialize()
	case imgspecv1.MediaTypeImageManifest:
		m, err := manifest.OCI1FromManifest(base.Manifest)
		if err != nil {
			return nil, err
		}
		m.Config.Digest, m.Config.Size = configDigest, int64(len(config))
		m.Layers = append(m.Layers, imgspecv1.Descriptor{MediaType: imgspecv1.MediaTypeImageLayerGzip, Digest: blob.Digest, Size: blob.Size})
		return m.Serialize()
	}
	return nil, fmt.Errorf("manifest type %s cannot take a layer; want a Docker schema 2 or OCI image manifest", base.MIMEType)
}
