package catalog

import (
	"context"
	"encoding/json"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"
	"time"

	"github.com/airgap-ocp/oc-plugins/pkg/imagebuild"
	"github.com/containers/image/v5/manifest"
	"github.com/containers/image/v5/oci/layout"
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
	var c imgspecv1.Image
	if err := json.Unmarshal(in.config, &c); err != nil {
		return nil, "", err
	}
	cacheDir := cacheDirOf(append(append([]string{}, c.Config.Entrypoint...), c.Config.Cmd...))
	blob, err := writeLayer(filepath.Join(img.dir, "rebuilt-layer.tar.gz"), configs, img.ConfigsDir, cacheDir)
	if err != nil {
		return nil, "", err
	}
	defer os.Remove(blob.Path)
	history := imgspecv1.History{Created: c.Created, CreatedBy: "oc mirror lite: filtered catalog in " + img.ConfigsDir + ", cache removed", Comment: "filtered from " + img.Source}
	raw, err := imagebuild.Append(ctx, dest, imagebuild.Base{Manifest: in.raw, MIMEType: in.mimeType, Config: in.config}, blob, history,
		func(run imagebuild.RunConfig) error {
			for _, key := range []string{"Entrypoint", "Cmd"} {
				args, err := run.Strings(key)
				if err != nil {
					return err
				}
				run.SetStrings(key, dropCacheFlags(args))
			}
			return nil
		})
	if err != nil {
		return nil, "", err
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

// writeLayer writes the new layer to file: an opaque configs directory
// holding the files below src, and a whiteout for the cache directory, if
// any.
func writeLayer(file, src, configsDir, cacheDir string) (imagebuild.Blob, error) {
	l, err := imagebuild.NewLayer(file, epoch)
	if err != nil {
		return imagebuild.Blob{}, err
	}
	root := strings.TrimPrefix(path.Clean(configsDir), "/")
	if err := writeConfigs(l, src, root, cacheDir); err != nil {
		l.Discard()
		return imagebuild.Blob{}, err
	}
	return l.Close()
}

func writeConfigs(l *imagebuild.Layer, src, root, cacheDir string) error {
	// The opaque marker hides what lower layers put in the directory.
	if err := l.Dir(root); err != nil {
		return err
	}
	if err := l.Marker(root + "/.wh..wh..opq"); err != nil {
		return err
	}
	err := filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(src, p)
		if err != nil || rel == "." {
			return err
		}
		name := root + "/" + filepath.ToSlash(rel)
		switch {
		case d.IsDir():
			return l.Dir(name)
		case !d.Type().IsRegular():
			return fmt.Errorf("%s: not a regular file", p)
		}
		f, err := os.Open(p)
		if err != nil {
			return err
		}
		defer f.Close()
		fi, err := f.Stat()
		if err != nil {
			return err
		}
		return l.File(name, 0o644, fi.Size(), f)
	})
	if err != nil {
		return err
	}
	if cacheDir != "" {
		c := strings.TrimPrefix(path.Clean(cacheDir), "/")
		if c != "" && c != "." && c != root {
			return l.Marker(path.Join(path.Dir(c), ".wh."+path.Base(c)))
		}
	}
	return nil
}
