package graph

import (
	"archive/tar"
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/airgap-ocp/oc-plugins/pkg/imagebuild"
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

	blob, err := dataLayer(filepath.Join(o.Dir, "graph-data-layer.tar.gz"), o.Data)
	if err != nil {
		return nil, err
	}
	defer os.Remove(blob.Path)

	ref, err := layout.NewReference(o.Dir, "graph-image")
	if err != nil {
		return nil, err
	}
	dest, err := ref.NewImageDestination(ctx, nil)
	if err != nil {
		return nil, err
	}
	defer dest.Close()
	history := imgspecv1.History{Created: &created, CreatedBy: "oc-mirror-lite: graph data in " + DataDir, Comment: "OpenShift Update Service graph data"}
	mraw, err := imagebuild.Append(ctx, dest, imagebuild.Base{Manifest: raw, MIMEType: mime, Config: cfgRaw}, blob, history,
		func(run imagebuild.RunConfig) error {
			run.SetStrings("Entrypoint", nil)
			run.SetStrings("Cmd", Command)
			return nil
		})
	if err != nil {
		return nil, fmt.Errorf("the graph image's base %s: %w", transportsString(o.Base), err)
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

// dataLayer writes to file the layer holding the graph data under DataDir.
func dataLayer(file string, tgz []byte) (imagebuild.Blob, error) {
	fs, err := files(tgz)
	if err != nil {
		return imagebuild.Blob{}, err
	}
	l, err := imagebuild.NewLayer(file, created)
	if err != nil {
		return imagebuild.Blob{}, err
	}
	root := strings.TrimPrefix(DataDir, "/")
	err = l.Dir(root)
	sort.SliceStable(fs, func(i, j int) bool { return fs[i].hdr.Name < fs[j].hdr.Name })
	for _, f := range fs {
		if err != nil {
			break
		}
		name := path.Join(root, strings.TrimSuffix(f.hdr.Name, "/"))
		if f.hdr.Typeflag == tar.TypeDir {
			err = l.Dir(name)
			continue
		}
		mode := f.hdr.Mode
		if mode == 0 {
			mode = 0o644
		}
		err = l.File(name, mode, int64(len(f.data)), bytes.NewReader(f.data))
	}
	if err != nil {
		l.Discard()
		return imagebuild.Blob{}, err
	}
	return l.Close()
}
