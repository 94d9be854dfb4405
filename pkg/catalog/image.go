package catalog

import (
	"archive/tar"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"strings"

	"github.com/containers/image/v5/copy"
	"github.com/containers/image/v5/docker"
	"github.com/containers/image/v5/docker/reference"
	"github.com/containers/image/v5/image"
	"github.com/containers/image/v5/manifest"
	"github.com/containers/image/v5/oci/layout"
	"github.com/containers/image/v5/pkg/blobinfocache/none"
	"github.com/containers/image/v5/pkg/compression"
	"github.com/containers/image/v5/signature"
	"github.com/containers/image/v5/types"
	digest "github.com/opencontainers/go-digest"
	imgspecv1 "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/airgap-ocp/oc-plugins/pkg/retry"
)

// The labels a catalog image carries: ConfigsLabel names the configs
// directory of a file-based catalog (OpenShift 4.11 and later);
// DatabaseLabel the SQLite database of the older format.
const (
	ConfigsLabel  = "operators.operatorframework.io.index.configs.v1"
	DatabaseLabel = "operators.operatorframework.io.index.database.v1"
)

// ErrNotCatalog marks an image that is not a file-based catalog.
var ErrNotCatalog = errors.New("not a file-based catalog")

// Image is a catalog image copied into a local OCI layout, every platform
// of it, so that it is read once from its registry and rebuilt from there.
type Image struct {
	// Source is the catalog as named by the user; Digest its manifest (or
	// manifest list) digest there.
	Source string
	Digest digest.Digest
	// ConfigsDir is the configs directory its label names ("/configs").
	ConfigsDir string

	dir       string // the OCI layout
	top       []byte // the manifest or list, as copied
	topType   string
	instances []instance
}

type instance struct {
	digest   digest.Digest
	raw      []byte
	mimeType string
	config   []byte
	platform string
}

// sourceTag is the layout's name for the copied original.
const sourceTag = "source"

// SourceReference parses a catalog name: a pull spec, with or without
// docker://, or oci://DIR (oci:DIR[:TAG] as containers/image spells it).
func SourceReference(name string) (types.ImageReference, error) {
	switch {
	case strings.HasPrefix(name, "oci://"):
		return layout.ParseReference(strings.TrimPrefix(name, "oci://"))
	case strings.HasPrefix(name, "oci:"):
		return layout.ParseReference(strings.TrimPrefix(name, "oci:"))
	}
	named, err := reference.ParseNormalizedNamed(strings.TrimPrefix(name, "docker://"))
	if err != nil {
		return nil, fmt.Errorf("catalog %q: %w", name, err)
	}
	return docker.NewReference(reference.TagNameOnly(named))
}

// Fetch copies the catalog src names into an OCI layout in dir (which it
// creates), all platforms, digests preserved, each request retried, and
// reads its manifests and configs. An image without the configs label is
// ErrNotCatalog; a SQLite catalog says so.
func Fetch(ctx context.Context, name string, sys *types.SystemContext, dir string, policy retry.Policy) (*Image, error) {
	src, err := SourceReference(name)
	if err != nil {
		return nil, err
	}
	return FetchFrom(ctx, name, src, sys, dir, policy)
}

// FetchFrom is Fetch of the catalog name from src, a copy of it held
// elsewhere (an archive).
func FetchFrom(ctx context.Context, name string, src types.ImageReference, sys *types.SystemContext, dir string, policy retry.Policy) (*Image, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	dst, err := layout.NewReference(dir, sourceTag)
	if err != nil {
		return nil, err
	}
	pc, err := signature.NewPolicyContext(&signature.Policy{Default: []signature.PolicyRequirement{signature.NewPRInsecureAcceptAnything()}})
	if err != nil {
		return nil, err
	}
	defer pc.Destroy()
	var top []byte
	err = retry.Do(ctx, policy, func(ctx context.Context) (err error) {
		top, err = copy.Image(ctx, pc, dst, src, &copy.Options{
			SourceCtx: sys, ImageListSelection: copy.CopyAllImages, PreserveDigests: true,
			ReportWriter: io.Discard,
		})
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("reading catalog %s: %w", name, err)
	}
	img := &Image{Source: name, dir: dir, top: top}
	if img.Digest, err = manifest.Digest(top); err != nil {
		return nil, err
	}
	if err := img.read(ctx); err != nil {
		return nil, fmt.Errorf("catalog %s: %w", name, err)
	}
	return img, nil
}

// read loads the manifests and configs of the layout's source image.
func (img *Image) read(ctx context.Context) error {
	ref, err := layout.NewReference(img.dir, sourceTag)
	if err != nil {
		return err
	}
	src, err := ref.NewImageSource(ctx, nil)
	if err != nil {
		return err
	}
	defer src.Close()
	raw, mime, err := src.GetManifest(ctx, nil)
	if err != nil {
		return err
	}
	img.top, img.topType = raw, manifest.NormalizedMIMEType(mime)
	var digests []digest.Digest
	if manifest.MIMETypeIsMultiImage(img.topType) {
		list, err := manifest.ListFromBlob(raw, img.topType)
		if err != nil {
			return err
		}
		digests = list.Instances()
	} else {
		digests = []digest.Digest{img.Digest}
	}
	for _, d := range digests {
		in := instance{digest: d}
		var inst *digest.Digest
		if d != img.Digest {
			inst = &d
		}
		if in.raw, in.mimeType, err = src.GetManifest(ctx, inst); err != nil {
			return fmt.Errorf("manifest %s: %w", d, err)
		}
		in.mimeType = manifest.NormalizedMIMEType(in.mimeType)
		parsed, err := image.FromUnparsedImage(ctx, nil, image.UnparsedInstance(src, inst))
		if err != nil {
			return fmt.Errorf("manifest %s: %w", d, err)
		}
		if in.config, err = parsed.ConfigBlob(ctx); err != nil {
			return fmt.Errorf("config of %s: %w", d, err)
		}
		var c imgspecv1.Image
		if err := json.Unmarshal(in.config, &c); err != nil {
			return fmt.Errorf("config of %s: %w", d, err)
		}
		in.platform = c.OS + "/" + c.Architecture
		dir, ok := c.Config.Labels[ConfigsLabel]
		switch {
		case !ok && c.Config.Labels[DatabaseLabel] != "":
			return fmt.Errorf("%w: it is a SQLite catalog (label %s), the format of OpenShift 4.10 and older; mirror it with oc-mirror, or use a catalog of 4.11 or later", ErrNotCatalog, DatabaseLabel)
		case !ok || dir == "":
			return fmt.Errorf("%w: image %s has no %s label", ErrNotCatalog, d, ConfigsLabel)
		case img.ConfigsDir == "":
			img.ConfigsDir = path.Clean("/" + dir)
		case img.ConfigsDir != path.Clean("/"+dir):
			return fmt.Errorf("its platforms keep their configs in different directories (%s, %s)", img.ConfigsDir, dir)
		}
		img.instances = append(img.instances, in)
	}
	return nil
}

// SourceRef is the copied catalog in its layout, unchanged.
func (img *Image) SourceRef() (types.ImageReference, error) {
	return layout.NewReference(img.dir, sourceTag)
}

// Platforms lists the platforms of the catalog, os/arch, in its order.
func (img *Image) Platforms() []string {
	var out []string
	for _, in := range img.instances {
		out = append(out, in.platform)
	}
	return out
}

// ExtractConfigs writes the catalog's configs directory, as its first
// platform's layers leave it, into dir. Whiteouts are applied; links,
// devices and paths leaving the directory are refused, so a hostile
// catalog cannot write outside dir. Every platform of a catalog carries
// the same catalog; the first is read.
func (img *Image) ExtractConfigs(ctx context.Context, dir string) error {
	n, err := img.extract(ctx, sourceTag, strings.TrimPrefix(img.ConfigsDir, "/")+"/", dir)
	if err == nil && n == 0 {
		err = fmt.Errorf("%w: no file below %s in any layer", ErrNotCatalog, img.ConfigsDir)
	}
	return err
}

// extract applies the layers of the layout's image tag (its first
// platform) below prefix to dir, and returns how many entries it applied.
func (img *Image) extract(ctx context.Context, tag, prefix, dir string) (int, error) {
	ref, err := layout.NewReference(img.dir, tag)
	if err != nil {
		return 0, err
	}
	src, err := ref.NewImageSource(ctx, nil)
	if err != nil {
		return 0, err
	}
	defer src.Close()
	raw, mime, err := src.GetManifest(ctx, nil)
	if err != nil {
		return 0, err
	}
	if manifest.MIMETypeIsMultiImage(manifest.NormalizedMIMEType(mime)) {
		list, err := manifest.ListFromBlob(raw, manifest.NormalizedMIMEType(mime))
		if err != nil {
			return 0, err
		}
		first := list.Instances()[0]
		if raw, mime, err = src.GetManifest(ctx, &first); err != nil {
			return 0, err
		}
	}
	m, err := manifest.FromBlob(raw, manifest.NormalizedMIMEType(mime))
	if err != nil {
		return 0, err
	}
	total := 0
	for _, l := range m.LayerInfos() {
		n, err := extractLayer(ctx, src, l.BlobInfo, prefix, dir)
		if err != nil {
			return total, fmt.Errorf("layer %s: %w", l.Digest, err)
		}
		total += n
	}
	return total, nil
}

// extractLayer applies the entries of one layer below prefix to dir and
// returns how many it applied.
func extractLayer(ctx context.Context, src types.ImageSource, info types.BlobInfo, prefix, dir string) (int, error) {
	rc, _, err := src.GetBlob(ctx, info, none.NoCache)
	if err != nil {
		return 0, err
	}
	defer rc.Close()
	plain, _, err := compression.AutoDecompress(rc)
	if err != nil {
		return 0, err
	}
	defer plain.Close()
	tr := tar.NewReader(plain)
	n := 0
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			return n, nil
		}
		if err != nil {
			return n, err
		}
		name := path.Clean(strings.TrimPrefix(path.Clean("/"+hdr.Name), "/"))
		// A whiteout of the configs directory itself (or of a parent)
		// empties it.
		base, parent := path.Base(name), path.Dir(name)
		if strings.HasPrefix(base, ".wh.") && prefix != "" && strings.HasPrefix(prefix, path.Join(parent, strings.TrimPrefix(base, ".wh."))+"/") {
			if err := emptyDir(dir); err != nil {
				return n, err
			}
			n++
			continue
		}
		if !strings.HasPrefix(name+"/", prefix) {
			continue
		}
		rel := strings.TrimPrefix(name+"/", prefix)
		rel = strings.TrimSuffix(rel, "/")
		target := filepath.Join(dir, filepath.FromSlash(rel))
		n++
		switch {
		case base == ".wh..wh..opq":
			if err := emptyDir(filepath.Dir(target)); err != nil {
				return n, err
			}
		case strings.HasPrefix(base, ".wh."):
			if err := os.RemoveAll(filepath.Join(filepath.Dir(target), strings.TrimPrefix(base, ".wh."))); err != nil {
				return n, err
			}
		case hdr.Typeflag == tar.TypeDir:
			if err := os.MkdirAll(target, 0o755); err != nil {
				return n, err
			}
		case hdr.Typeflag == tar.TypeReg:
			if err := os.MkdirAll(filepath.Dir(target), 0o755); err != nil {
				return n, err
			}
			if err := writeFile(target, tr); err != nil {
				return n, err
			}
		default:
			return n, fmt.Errorf("%s: a catalog's configs hold files and directories only, not type %q", hdr.Name, hdr.Typeflag)
		}
	}
}

func writeFile(name string, r io.Reader) error {
	if err := os.RemoveAll(name); err != nil {
		return err
	}
	f, err := os.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return err
	}
	if _, err := io.Copy(f, r); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// emptyDir removes what dir holds, keeping dir.
func emptyDir(dir string) error {
	entries, err := os.ReadDir(dir)
	if err != nil && !os.IsNotExist(err) {
		return err
	}
	for _, e := range entries {
		if err := os.RemoveAll(filepath.Join(dir, e.Name())); err != nil {
			return err
		}
	}
	return os.MkdirAll(dir, 0o755)
}
