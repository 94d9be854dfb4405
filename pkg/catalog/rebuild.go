package catalog

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/containers/image/v5/manifest"
	"github.com/containers/image/v5/oci/layout"
	"github.com/containers/image/v5/pkg/blobinfocache/none"
	"github.com/containers/image/v5/types"
	digest "github.com/opencontainers/go-digest"
	imgspecv1 "github.com/opencontainers/image-spec/specs-go/v1"
)

// RebuiltTag is the layout's name for the rebuilt catalog.
const RebuiltTag = "rebuilt"

// cacheFlags are opm serve's flags about its pre-built cache.
var cacheFlags = []string{"--cache-dir", "--cache-only", "--cache-enforce-integrity"}

// Rebuild makes the filtered catalog image: every platform keeps its
// layers and gets one more that replaces the configs directory with the
// catalog in configs (a directory Write filled) and deletes the cache the
// original shipped; the image's command loses its cache flags, so opm
// builds its cache from the filtered configs when it starts instead of
// refusing a cache that no longer matches them. Labels and everything
// else of the config are kept. The result, deterministic for the same
// input, is written into the layout under RebuiltTag; Rebuild returns its
// digest and a reference to it.
func (img *Image) Rebuild(ctx context.Context, configs string) (digest.Digest, types.ImageReference, error) {
	ref, err := layout.NewReference(img.dir, RebuiltTag)
	if err != nil {
		return "", nil, err
	}
	dest, err := ref.NewImageDestination(ctx, nil)
	if err != nil {
		return "", nil, err
	}
	defer dest.Close()

	var updates []manifest.ListUpdate
	var single []byte
	for _, in := range img.instances {
		raw, d, err := img.rebuildInstance(ctx, dest, in, configs)
		if err != nil {
			return "", nil, fmt.Errorf("rebuilding %s (%s): %w", in.digest, in.platform, err)
		}
		if !manifest.MIMETypeIsMultiImage(img.topType) {
			single = raw
			break
		}
		if err := dest.PutManifest(ctx, raw, &d); err != nil {
			return "", nil, err
		}
		updates = append(updates, manifest.ListUpdate{Digest: d, Size: int64(len(raw)), MediaType: in.mimeType})
	}
	top := single
	if top == nil {
		list, err := manifest.ListFromBlob(img.top, img.topType)
		if err != nil {
			return "", nil, err
		}
		if err := list.UpdateInstances(updates); err != nil {
			return "", nil, err
		}
		if top, err = list.Serialize(); err != nil {
			return "", nil, err
		}
	}
	if err := dest.PutManifest(ctx, top, nil); err != nil {
		return "", nil, err
	}
	if err := dest.Commit(ctx, nil); err != nil {
		return "", nil, err
	}
	d, err := manifest.Digest(top)
	return d, ref, err
}

// rebuildInstance writes one platform's new layer, config and manifest.
func (img *Image) rebuildInstance(ctx context.Context, dest types.ImageDestination, in instance, configs string) ([]byte, digest.Digest, error) {
	var cfg map[string]json.RawMessage
	if err := json.Unmarshal(in.config, &cfg); err != nil {
		return nil, "", err
	}
	var c imgspecv1.Image
	if err := json.Unmarshal(in.config, &c); err != nil {
		return nil, "", err
	}
	cacheDir := cacheDirOf(append(append([]string{}, c.Config.Entrypoint...), c.Config.Cmd...))
	layerPath := filepath.Join(img.dir, "rebuilt-layer.tar.gz")
	diffID, layerDigest, layerSize, err := writeLayer(layerPath, configs, img.ConfigsDir, cacheDir)
	if err != nil {
		return nil, "", err
	}
	defer os.Remove(layerPath)
	layer, err := os.Open(layerPath)
	if err != nil {
		return nil, "", err
	}
	defer layer.Close()
	if _, err := dest.PutBlob(ctx, layer, types.BlobInfo{Digest: layerDigest, Size: layerSize}, none.NoCache, false); err != nil {
		return nil, "", err
	}

	c.RootFS.DiffIDs = append(c.RootFS.DiffIDs, diffID)
	c.History = append(c.History, imgspecv1.History{Created: c.Created, CreatedBy: "oc mirror lite: filtered catalog in " + img.ConfigsDir + ", cache removed", Comment: "filtered from " + img.Source})
	c.Config.Entrypoint = dropCacheFlags(c.Config.Entrypoint)
	c.Config.Cmd = dropCacheFlags(c.Config.Cmd)
	for key, v := range map[string]any{"rootfs": c.RootFS, "history": c.History, "config": c.Config} {
		if cfg[key], err = json.Marshal(v); err != nil {
			return nil, "", err
		}
	}
	config, err := json.Marshal(cfg)
	if err != nil {
		return nil, "", err
	}
	configDigest := digest.FromBytes(config)
	if _, err := dest.PutBlob(ctx, bytes.NewReader(config), types.BlobInfo{Digest: configDigest, Size: int64(len(config))}, none.NoCache, true); err != nil {
		return nil, "", err
	}

	var raw []byte
	switch in.mimeType {
	case manifest.DockerV2Schema2MediaType:
		m, err := manifest.Schema2FromManifest(in.raw)
		if err != nil {
			return nil, "", err
		}
		m.ConfigDescriptor.Digest, m.ConfigDescriptor.Size = configDigest, int64(len(config))
		m.LayersDescriptors = append(m.LayersDescriptors, manifest.Schema2Descriptor{MediaType: manifest.DockerV2Schema2LayerMediaType, Digest: layerDigest, Size: layerSize})
		raw, err = m.Serialize()
		if err != nil {
			return nil, "", err
		}
	case imgspecv1.MediaTypeImageManifest:
		m, err := manifest.OCI1FromManifest(in.raw)
		if err != nil {
			return nil, "", err
		}
		m.Config.Digest, m.Config.Size = configDigest, int64(len(config))
		m.Layers = append(m.Layers, imgspecv1.Descriptor{MediaType: imgspecv1.MediaTypeImageLayerGzip, Digest: layerDigest, Size: layerSize})
		raw, err = m.Serialize()
		if err != nil {
			return nil, "", err
		}
	default:
		return nil, "", fmt.Errorf("manifest type %s is not rebuilt; want a Docker schema 2 or OCI image manifest", in.mimeType)
	}
	return raw, digest.FromBytes(raw), nil
}

// cacheDirOf finds opm serve's --cache-dir in a command line.
func cacheDirOf(args []string) string {
	for i, a := range args {
		if v, ok := strings.CutPrefix(a, "--cache-dir="); ok {
			return v
		}
		if a == "--cache-dir" && i+1 < len(args) {
			return args[i+1]
		}
	}
	return ""
}

// dropCacheFlags removes opm serve's cache flags (and a separate value of
// --cache-dir) from a command line.
func dropCacheFlags(args []string) []string {
	if args == nil {
		return nil
	}
	out := []string{}
	for i := 0; i < len(args); i++ {
		a := args[i]
		name, _, hasValue := strings.Cut(a, "=")
		drop := false
		for _, f := range cacheFlags {
			drop = drop || name == f
		}
		if !drop {
			out = append(out, a)
			continue
		}
		if name == "--cache-dir" && !hasValue {
			i++
		}
	}
	return out
}

// epoch is the time of every entry of the new layer, so that the same
// catalog always gives the same layer.
var epoch = time.Unix(0, 0).UTC()

// writeLayer writes the new layer, gzip-compressed, to path, streaming:
// it returns the digests of the tar (the diff ID) and of the file, and the
// file's size.
func writeLayer(path, src, configsDir, cacheDir string) (diffID, blob digest.Digest, size int64, err error) {
	f, err := os.Create(path)
	if err != nil {
		return "", "", 0, err
	}
	defer f.Close()
	blobHash, diffHash := digest.Canonical.Digester(), digest.Canonical.Digester()
	counted := &countingWriter{w: io.MultiWriter(f, blobHash.Hash())}
	zw := gzip.NewWriter(counted)
	if err := layerTar(io.MultiWriter(zw, diffHash.Hash()), src, configsDir, cacheDir); err != nil {
		return "", "", 0, err
	}
	if err := zw.Close(); err != nil {
		return "", "", 0, err
	}
	if err := f.Close(); err != nil {
		return "", "", 0, err
	}
	return diffHash.Digest(), blobHash.Digest(), counted.n, nil
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

// layerTar writes the new layer's tar to w: an opaque configs directory
// holding the files below src, and a whiteout for the cache directory, if
// any.
func layerTar(w io.Writer, src, configsDir, cacheDir string) error {
	var files []string
	dirs := map[string]bool{}
	err := filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(src, p)
		if err != nil || rel == "." {
			return err
		}
		if d.IsDir() {
			dirs[filepath.ToSlash(rel)] = true
			return nil
		}
		if !d.Type().IsRegular() {
			return fmt.Errorf("%s: not a regular file", p)
		}
		files = append(files, filepath.ToSlash(rel))
		return nil
	})
	if err != nil {
		return err
	}
	root := strings.TrimPrefix(path.Clean(configsDir), "/")
	tw := tar.NewWriter(w)
	hdr := func(name string, typ byte, mode int64, size int64) *tar.Header {
		return &tar.Header{Name: name, Typeflag: typ, Mode: mode, Size: size, ModTime: epoch, Format: tar.FormatPAX}
	}
	// Parents of the configs directory, the directory, and its opaque
	// marker, which hides what lower layers put there.
	var parents []string
	for p := path.Dir(root); p != "." && p != "/"; p = path.Dir(p) {
		parents = append([]string{p}, parents...)
	}
	for _, p := range parents {
		if err := tw.WriteHeader(hdr(p+"/", tar.TypeDir, 0o755, 0)); err != nil {
			return err
		}
	}
	if err := tw.WriteHeader(hdr(root+"/", tar.TypeDir, 0o755, 0)); err != nil {
		return err
	}
	if err := tw.WriteHeader(hdr(root+"/.wh..wh..opq", tar.TypeReg, 0o644, 0)); err != nil {
		return err
	}
	var all []string
	for d := range dirs {
		all = append(all, d+"/")
	}
	all = append(all, files...)
	sort.Strings(all)
	for _, rel := range all {
		name := root + "/" + rel
		if strings.HasSuffix(rel, "/") {
			if err := tw.WriteHeader(hdr(name, tar.TypeDir, 0o755, 0)); err != nil {
				return err
			}
			continue
		}
		if err := copyFile(tw, hdr(name, tar.TypeReg, 0o644, 0), filepath.Join(src, filepath.FromSlash(rel))); err != nil {
			return err
		}
	}
	if cacheDir != "" {
		c := strings.TrimPrefix(path.Clean(cacheDir), "/")
		if c != "" && c != "." && c != root {
			if err := tw.WriteHeader(hdr(path.Join(path.Dir(c), ".wh."+path.Base(c)), tar.TypeReg, 0o644, 0)); err != nil {
				return err
			}
		}
	}
	return tw.Close()
}

// copyFile writes the file at p into tw under h, its size filled in.
func copyFile(tw *tar.Writer, h *tar.Header, p string) error {
	f, err := os.Open(p)
	if err != nil {
		return err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return err
	}
	h.Size = fi.Size()
	if err := tw.WriteHeader(h); err != nil {
		return err
	}
	_, err = io.Copy(tw, f)
	return err
}
