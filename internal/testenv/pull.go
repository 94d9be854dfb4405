package testenv

import (
	"context"
	"fmt"
	"io"

	"github.com/containers/image/v5/docker"
	"github.com/containers/image/v5/docker/reference"
	"github.com/containers/image/v5/manifest"
	"github.com/containers/image/v5/pkg/blobinfocache/none"
	"github.com/containers/image/v5/types"
	digest "github.com/opencontainers/go-digest"
)

// PullsByDigest reads ref (REPO@DIGEST) back with containers/image as a
// pull would: the manifest, and every blob of it (and of its images, for a
// list), whole. A registry whose garbage collector took a blob still
// referenced fails here, where reading the manifest alone would not.
func PullsByDigest(ctx context.Context, sys *types.SystemContext, ref string) error {
	named, err := reference.ParseNormalizedNamed(ref)
	if err != nil {
		return err
	}
	r, err := docker.NewReference(named)
	if err != nil {
		return err
	}
	src, err := r.NewImageSource(ctx, sys)
	if err != nil {
		return err
	}
	defer src.Close()
	var read func(d *digest.Digest) error
	read = func(d *digest.Digest) error {
		raw, mt, err := src.GetManifest(ctx, d)
		if err != nil {
			return err
		}
		if manifest.MIMETypeIsMultiImage(mt) {
			list, err := manifest.ListFromBlob(raw, mt)
			if err != nil {
				return err
			}
			for _, c := range list.Instances() {
				if err := read(&c); err != nil {
					return err
				}
			}
			return nil
		}
		m, err := manifest.FromBlob(raw, mt)
		if err != nil {
			return err
		}
		blobs := []types.BlobInfo{m.ConfigInfo()}
		for _, l := range m.LayerInfos() {
			blobs = append(blobs, l.BlobInfo)
		}
		for _, b := range blobs {
			rc, _, err := src.GetBlob(ctx, b, none.NoCache)
			if err != nil {
				return err
			}
			n, err := io.Copy(io.Discard, rc)
			rc.Close()
			if err != nil {
				return err
			}
			if n != b.Size {
				return fmt.Errorf("short blob %s", b.Digest)
			}
		}
		return nil
	}
	return read(nil)
}
