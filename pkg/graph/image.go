package graph

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"path"
	"sort"
	"strings"
	"time"

	"github.com/containers/image/v5/copy"
	"github.com/containers/image/v5/manifest"
	"github.com/containers/image/v5/oci/layout"
	"github.com/containers/image/v5/pkg/blobinfocache/none"
	"github.com/containers/image/v5/signature"
	"github.com/containers/image/v5/types"
	digest "github.com/opencontainers/go-digest"
	imgspecv1 "github.com/opencontainers/image-spec/specs-go/v1"
)

// created is the time recorded in the layer and the history, fixed so the
// same data on the same base always gives the same image.
var created = time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC)

// BuildOptions say what to build the graph-data image from.
type BuildOptions struct {
	// Base is the image the data goes onto (BaseImage); of a manifest
	// list, the image for SystemContext's platform (linux/amd64 by default).
	Base          types.ImageReference
	SystemContext *types.SystemContext
	// Data is the graph-data tarball (FetchData).
	Data []byte
	// Dir is an OCI layout folder the image is written to.
	Dir string
}

// Built is a graph-data image written to an OCI layout.
type Built struct {
	// Ref is the image in the layout.
	Ref    types.ImageReference
	Digest digest.Digest
}

// Build writes the graph-data image into o.Dir: the base image, one layer
// more holding the data under DataDir, and Command as its command.
func Build(ctx context.Context, o BuildOptions) (*Built, error) {
	baseRef, err := layout.NewReference(o.Dir, "base")
	if err != nil {
		return nil, err
	}
	policy, err := signature.NewPolicyContext(&signature.Policy{Default: signature.PolicyRequirements{signature.NewPRInsecureAcceptAnything()}})
	if err != nil {
		return nil, err
	}
	defer policy.Destroy()
	sys := o.SystemContext
	if sys == nil {
		sys = &types.SystemContext{}
	}
	// The base image, one platform of it, in the layout (as OCI).
	if _, err := copy.Image(ctx, policy, baseRef, o.Base, &copy.Options{
		SourceCtx: sys, ImageListSelection: copy.CopySystemImage, ReportWriter: io.Discard,
	}); err != nil {
		return nil, fmt.Errorf("reading the graph image's base %s: %w", transportsString(o.Base), err)
	}
	src, err := baseRef.NewImageSource(ctx, nil)
	if err != nil {
		return nil, err
	}
	defer src.Close()
	raw, mime, err := src.GetManifest(ctx, nil)
	if err != nil {
		return nil, err
	}
	if mime != imgspecv1.MediaTypeImageManifest {
		return nil, fmt.Errorf("the graph image's base %s: a %s, not an image", transportsString(o.Base), mime)
	}
	base, err := manifest.OCI1FromManifest(raw)
	if err != nil {
		return nil, err
	}
	cfgRC, _, err := src.GetBlob(ctx, types.BlobInfo{Digest: base.Config.Digest, Size: base.Config.Size}, none.NoCache)
	if err != nil {
		return nil, err
	}
	cfgRaw, err := io.ReadAll(io.LimitReader(cfgRC, 16<<20))
	cfgRC.Close()
	if err != nil {
		return nil, err
	}

	layerBlob, diffID, err := dataLayer(o.Data)
	if err != nil {
		return nil, err
	}
	cfg, err := withData(cfgRaw, diffID)
	if err != nil {
		return nil, fmt.Errorf("the graph image's base %s: config: %w", transportsString(o.Base), err)
	}

	ref, err := layout.NewReference(o.Dir, "graph-image")
	if err != nil {
		return nil, err
	}
	dest, err := ref.NewImageDestination(ctx, nil)
	if err != nil {
		return nil, err
	}
	defer dest.Close()
	layerInfo, err := dest.PutBlob(ctx, bytes.NewReader(layerBlob), types.BlobInfo{Digest: digest.FromBytes(layerBlob), Size: int64(len(layerBlob))}, none.NoCache, false)
	if err != nil {
		return nil, err
	}
	cfgInfo, err := dest.PutBlob(ctx, bytes.NewReader(cfg), types.BlobInfo{Digest: digest.FromBytes(cfg), Size: int64(len(cfg))}, none.NoCache, true)
	if err != nil {
		return nil, err
	}
	layers := append([]imgspecv1.Descriptor{}, base.Layers...)
	layers = append(layers, imgspecv1.Descriptor{MediaType: imgspecv1.MediaTypeImageLayerGzip, Digest: layerInfo.Digest, Size: layerInfo.Size})
	m := manifest.OCI1FromComponents(imgspecv1.Descriptor{MediaType: imgspecv1.MediaTypeImageConfig, Digest: cfgInfo.Digest, Size: cfgInfo.Size}, layers)
	m.Annotations = map[string]string{imgspecv1.AnnotationTitle: "OpenShift Update Service graph data"}
	mraw, err := m.Serialize()
	if err != nil {
		return nil, err
	}
	if err := dest.PutManifest(ctx, mraw, nil); err != nil {
		return nil, err
	}
	if err := dest.Commit(ctx, nil); err != nil {
		return nil, err
	}
	return &Built{Ref: ref, Digest: digest.FromBytes(mraw)}, nil
}

func transportsString(ref types.ImageReference) string {
	if ref.Transport().Name() == "docker" {
		return strings.TrimPrefix(ref.StringWithinTransport(), "//")
	}
	return ref.Transport().Name() + ":" + ref.StringWithinTransport()
}

// dataLayer is the layer holding the graph data under DataDir, gzipped, and
// the digest of its uncompressed tar.
func dataLayer(tgz []byte) (blob []byte, diffID digest.Digest, err error) {
	fs, err := files(tgz)
	if err != nil {
		return nil, "", err
	}
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	dirs := map[string]bool{}
	mkdir := func(name string) error {
		if dirs[name] {
			return nil
		}
		dirs[name] = true
		return tw.WriteHeader(&tar.Header{Name: name + "/", Typeflag: tar.TypeDir, Mode: 0o755, ModTime: created, Format: tar.FormatPAX})
	}
	root := strings.TrimPrefix(DataDir, "/")
	for _, d := range parents(root) {
		if err := mkdir(d); err != nil {
			return nil, "", err
		}
	}
	sort.SliceStable(fs, func(i, j int) bool { return fs[i].hdr.Name < fs[j].hdr.Name })
	for _, f := range fs {
		name := path.Join(root, strings.TrimSuffix(f.hdr.Name, "/"))
		for _, d := range parents(path.Dir(name)) {
			if err := mkdir(d); err != nil {
				return nil, "", err
			}
		}
		if f.hdr.Typeflag == tar.TypeDir {
			if err := mkdir(name); err != nil {
				return nil, "", err
			}
			continue
		}
		mode := f.hdr.Mode
		if mode == 0 {
			mode = 0o644
		}
		if err := tw.WriteHeader(&tar.Header{Name: name, Typeflag: tar.TypeReg, Mode: mode, Size: int64(len(f.data)), ModTime: created, Format: tar.FormatPAX}); err != nil {
			return nil, "", err
		}
		if _, err := tw.Write(f.data); err != nil {
			return nil, "", err
		}
	}
	if err := tw.Close(); err != nil {
		return nil, "", err
	}
	diffID = digest.FromBytes(buf.Bytes())
	var gz bytes.Buffer
	zw, _ := gzip.NewWriterLevel(&gz, gzip.BestCompression)
	if _, err := zw.Write(buf.Bytes()); err != nil {
		return nil, "", err
	}
	if err := zw.Close(); err != nil {
		return nil, "", err
	}
	return gz.Bytes(), diffID, nil
}

// parents lists a/b/c as a, a/b, a/b/c.
func parents(p string) []string {
	if p == "." || p == "" {
		return nil
	}
	parts := strings.Split(p, "/")
	out := make([]string, len(parts))
	for i := range parts {
		out[i] = strings.Join(parts[:i+1], "/")
	}
	return out
}

// withData is the base's config with the data layer added and Command as
// the command, every other field kept as it is.
func withData(raw []byte, diffID digest.Digest) ([]byte, error) {
	var cfg map[string]json.RawMessage
	if err := json.Unmarshal(raw, &cfg); err != nil {
		return nil, err
	}
	var rootfs struct {
		Type    string          `json:"type"`
		DiffIDs []digest.Digest `json:"diff_ids"`
	}
	if r, ok := cfg["rootfs"]; ok {
		if err := json.Unmarshal(r, &rootfs); err != nil {
			return nil, fmt.Errorf("rootfs: %w", err)
		}
	}
	rootfs.Type = "layers"
	rootfs.DiffIDs = append(rootfs.DiffIDs, diffID)
	var run map[string]json.RawMessage
	if c, ok := cfg["config"]; ok && string(c) != "null" {
		if err := json.Unmarshal(c, &run); err != nil {
			return nil, fmt.Errorf("config: %w", err)
		}
	}
	if run == nil {
		run = map[string]json.RawMessage{}
	}
	cmd, _ := json.Marshal(Command)
	run["Cmd"] = cmd
	delete(run, "Entrypoint")
	var history []json.RawMessage
	if h, ok := cfg["history"]; ok {
		if err := json.Unmarshal(h, &history); err != nil {
			return nil, fmt.Errorf("history: %w", err)
		}
	}
	entry, _ := json.Marshal(imgspecv1.History{Created: &created, CreatedBy: "oc-mirror-lite: graph data in " + DataDir, Comment: "OpenShift Update Service graph data"})
	history = append(history, entry)
	for k, v := range map[string]any{"rootfs": rootfs, "config": run, "history": history, "created": created} {
		b, err := json.Marshal(v)
		if err != nil {
			return nil, err
		}
		cfg[k] = b
	}
	return json.Marshal(cfg)
}
