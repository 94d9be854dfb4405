package mirror

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"sync"

	"github.com/containers/image/v5/docker/reference"
	"github.com/containers/image/v5/manifest"
	"github.com/containers/image/v5/types"
	digest "github.com/opencontainers/go-digest"

	"github.com/airgap-ocp/oc-plugins/pkg/archive"
	"github.com/airgap-ocp/oc-plugins/pkg/plan"
)

// The disk endpoints: an archive (pkg/archive) as the destination of
// mirror to disk and as the source of disk to mirror, offered to the engine
// as a containers/image transport, so the same scheduler, single-flight,
// retries and incremental skip apply. Every image of a run shares the one
// archive: the engine sees it as one destination repository, so each blob
// is written once.

// maxManifest bounds a manifest read from an archive.
const maxManifest = 16 << 20

type diskTransport struct{}

func (diskTransport) Name() string { return "mirror-lite-archive" }
func (diskTransport) ParseReference(string) (types.ImageReference, error) {
	return nil, errors.New("archive references are made by the mirror-lite engine, not parsed")
}
func (diskTransport) ValidatePolicyConfigurationScope(string) error { return nil }

// DiskWriter is the destination of mirror to disk.
type DiskWriter struct {
	w   *archive.Writer
	dir string
	mu  sync.Mutex
	n   int
	// tops are the committed top-level manifests, by reference id.
	tops map[string][]byte
}

// NewDiskWriter makes w a destination for the engine.
func NewDiskWriter(w *archive.Writer) *DiskWriter {
	return &DiskWriter{w: w, dir: w.Dir(), tops: map[string][]byte{}}
}

// NewDiskPlan is the destination of a dry run to disk at dir: it names
// where images would go and writes nothing (a dry run opens no
// destination).
func NewDiskPlan(dir string) *DiskWriter {
	return &DiskWriter{dir: dir, tops: map[string][]byte{}}
}

// Ref is a new destination reference into the archive, one per image.
func (dw *DiskWriter) Ref() types.ImageReference {
	dw.mu.Lock()
	defer dw.mu.Unlock()
	dw.n++
	return &diskRef{dir: dw.dir, id: fmt.Sprintf("image-%d", dw.n), writer: dw}
}

// DestRef is a new destination in the archive for it: the archive keeps
// what goes where in its index, not in the reference.
func (dw *DiskWriter) DestRef(plan.Item) (types.ImageReference, error) { return dw.Ref(), nil }

// DiskReader is the source of disk to mirror.
type DiskReader struct {
	r *archive.Reader
}

// NewDiskReader makes r a source for the engine. Verify r first: images
// that depend on a refused chunk fail before anything of them is pushed.
func NewDiskReader(r *archive.Reader) *DiskReader { return &DiskReader{r: r} }

// Ref is the image of the archive whose manifest is d.
func (dr *DiskReader) Ref(d digest.Digest) types.ImageReference {
	return &diskRef{dir: dr.r.Dir(), id: d.Encoded(), reader: dr, digest: d}
}

// SourceRef is the image of the archive that it names by digest.
func (dr *DiskReader) SourceRef(it plan.Item) (types.ImageReference, error) {
	if err := it.Digest.Validate(); err != nil {
		return nil, fmt.Errorf("an archived image needs its digest: %w", err)
	}
	return dr.Ref(it.Digest), nil
}

type diskRef struct {
	dir, id string
	writer  *DiskWriter
	reader  *DiskReader
	digest  digest.Digest
}

// WithTag is the archive destination of an attachment (a sigstore
// signature tag) of this image: another image of the archive.
func (r *diskRef) WithTag(string) types.ImageReference {
	if r.writer == nil {
		return r
	}
	return r.writer.Ref()
}

func (r *diskRef) Transport() types.ImageTransport { return diskTransport{} }

// StringWithinTransport is DIR:ID; the engine keys the archive's one
// "repository" on DIR.
func (r *diskRef) StringWithinTransport() string       { return r.dir + ":" + r.id }
func (r *diskRef) DockerReference() reference.Named    { return nil }
func (r *diskRef) PolicyConfigurationIdentity() string { return r.dir }
func (r *diskRef) PolicyConfigurationNamespaces() []string {
	return nil
}
func (r *diskRef) NewImage(context.Context, *types.SystemContext) (types.ImageCloser, error) {
	return nil, errors.New("not supported by archive references")
}
func (r *diskRef) DeleteImage(context.Context, *types.SystemContext) error {
	return errors.New("archives are never modified in place")
}

func (r *diskRef) NewImageSource(context.Context, *types.SystemContext) (types.ImageSource, error) {
	if r.reader != nil {
		return &diskSource{ref: r}, nil
	}
	// The destination read back: the manifest committed for this image.
	r.writer.mu.Lock()
	top := r.writer.tops[r.id]
	r.writer.mu.Unlock()
	if top == nil {
		return nil, fmt.Errorf("%s: not written yet", r.StringWithinTransport())
	}
	return &committedSource{ref: r, top: top}, nil
}

func (r *diskRef) NewImageDestination(context.Context, *types.SystemContext) (types.ImageDestination, error) {
	if r.writer == nil {
		return nil, errors.New("an archive being read is not a destination")
	}
	return &diskDest{ref: r}, nil
}

type committedSource struct {
	ref *diskRef
	top []byte
}

func (s *committedSource) Reference() types.ImageReference { return s.ref }
func (s *committedSource) Close() error                    { return nil }
func (s *committedSource) GetManifest(_ context.Context, d *digest.Digest) ([]byte, string, error) {
	if d != nil {
		return nil, "", errors.New("reading instances back from an archive being written is not supported")
	}
	return s.top, manifest.GuessMIMEType(s.top), nil
}
func (s *committedSource) GetBlob(context.Context, types.BlobInfo, types.BlobInfoCache) (io.ReadCloser, int64, error) {
	return nil, -1, errors.New("reading blobs back from an archive being written is not supported")
}
func (s *committedSource) HasThreadSafeGetBlob() bool { return false }
func (s *committedSource) GetSignatures(context.Context, *digest.Digest) ([][]byte, error) {
	return nil, nil
}
func (s *committedSource) LayerInfosForCopy(context.Context, *digest.Digest) ([]types.BlobInfo, error) {
	return nil, nil
}

type diskDest struct {
	ref *diskRef
	top []byte
}

func (d *diskDest) Reference() types.ImageReference { return d.ref }
func (d *diskDest) Close() error                    { return nil }
func (d *diskDest) SupportedManifestMIMETypes() []string {
	return nil // any: manifests are stored byte for byte
}
func (d *diskDest) SupportsSignatures(context.Context) error {
	return errors.New("archives do not store image signatures")
}
func (d *diskDest) DesiredLayerCompression() types.LayerCompression { return types.PreserveOriginal }
func (d *diskDest) AcceptsForeignLayerURLs() bool                   { return true }
func (d *diskDest) MustMatchRuntimeOS() bool                        { return false }
func (d *diskDest) IgnoresEmbeddedDockerReference() bool            { return true }
func (d *diskDest) HasThreadSafePutBlob() bool                      { return true }

func (d *diskDest) PutBlob(ctx context.Context, stream io.Reader, info types.BlobInfo, _ types.BlobInfoCache, _ bool) (types.BlobInfo, error) {
	if err := d.ref.writer.w.Put(ctx, info.Digest, info.Size, stream); err != nil {
		return types.BlobInfo{}, err
	}
	return info, nil
}

// TryReusingBlob: the archive holds the blob, or leaves it out because the
// far side has it (--since).
func (d *diskDest) TryReusingBlob(_ context.Context, info types.BlobInfo, _ types.BlobInfoCache, _ bool) (bool, types.BlobInfo, error) {
	if info.Digest != "" && d.ref.writer.w.Has(info.Digest) {
		return true, info, nil
	}
	return false, types.BlobInfo{}, nil
}

// PutManifest stores the manifest as a blob. Manifests are always stored,
// even those --since could leave out, so that every image of an archive
// can be checked and pushed on its own.
func (d *diskDest) PutManifest(ctx context.Context, raw []byte, instance *digest.Digest) error {
	md, err := manifest.Digest(raw)
	if err != nil {
		return err
	}
	if instance != nil && *instance != md {
		return fmt.Errorf("manifest is %s, not %s", md, *instance)
	}
	if !d.ref.writer.w.Stored(md) {
		if err := d.ref.writer.w.Put(ctx, md, int64(len(raw)), bytes.NewReader(raw)); err != nil {
			return err
		}
	}
	if instance == nil {
		d.top = raw
	}
	return nil
}

func (d *diskDest) PutSignatures(_ context.Context, sigs [][]byte, _ *digest.Digest) error {
	if len(sigs) > 0 {
		return errors.New("archives do not store image signatures")
	}
	return nil
}

func (d *diskDest) Commit(context.Context, types.UnparsedImage) error {
	if d.top == nil {
		return errors.New("commit before the manifest was written")
	}
	d.ref.writer.mu.Lock()
	d.ref.writer.tops[d.ref.id] = d.top
	d.ref.writer.mu.Unlock()
	return nil
}

type diskSource struct {
	ref *diskRef
}

func (s *diskSource) Reference() types.ImageReference { return s.ref }
func (s *diskSource) Close() error                    { return nil }
func (s *diskSource) HasThreadSafeGetBlob() bool      { return true }
func (s *diskSource) GetSignatures(context.Context, *digest.Digest) ([][]byte, error) {
	return nil, nil
}
func (s *diskSource) LayerInfosForCopy(context.Context, *digest.Digest) ([]types.BlobInfo, error) {
	return nil, nil
}

// GetManifest reads the image's manifest (or one instance of its list)
// and, for the image itself, checks that every blob it depends on can be
// read: an image that depends on a refused chunk fails here, before the
// engine pushes anything of it.
func (s *diskSource) GetManifest(_ context.Context, instance *digest.Digest) ([]byte, string, error) {
	ar := s.ref.reader.r
	d := s.ref.digest
	if instance != nil {
		d = *instance
	}
	raw, mime, err := readManifest(ar, d)
	if err != nil {
		return nil, "", err
	}
	if instance == nil {
		if err := checkImage(ar, raw, mime); err != nil {
			return nil, "", err
		}
	}
	return raw, mime, nil
}

func readManifest(ar *archive.Reader, d digest.Digest) ([]byte, string, error) {
	raw, err := ar.ReadBlob(d, maxManifest)
	if err != nil {
		return nil, "", err
	}
	return raw, manifest.GuessMIMEType(raw), nil
}

// checkImage refuses an image any of whose manifests or blobs sits in a
// refused chunk, or whose manifests give a blob a size other than the one
// the archive records for it. The engine moves each blob once, with the
// size the first image that needs it gives: a manifest that lied about a
// shared layer would fail the upload for every image sharing it, and leave
// the blobs of the others pushed with no manifest. Blobs left out by
// --since are the destination's business: the engine finds them there or
// fails naming them.
func checkImage(ar *archive.Reader, raw []byte, mime string) error {
	check := func(in digest.Digest, info types.BlobInfo) error {
		err := ar.Check(info.Digest)
		var left *archive.LeftOutError
		if errors.As(err, &left) {
			return nil
		}
		if err != nil {
			return err
		}
		// -1 is a manifest that gives no size (schema 1).
		if size := ar.Size(info.Digest); info.Size != -1 && info.Size != size {
			return fmt.Errorf("manifest %s gives blob %s a size of %d bytes, the archive holds %d: the image is refused", in, info.Digest, info.Size, size)
		}
		return nil
	}
	blobs := func(raw []byte, mime string) error {
		m, err := manifest.FromBlob(raw, mime)
		if err != nil {
			return err
		}
		md, err := manifest.Digest(raw)
		if err != nil {
			return err
		}
		if c := m.ConfigInfo(); c.Digest != "" {
			if err := check(md, c); err != nil {
				return err
			}
		}
		for _, l := range m.LayerInfos() {
			if len(l.URLs) > 0 {
				continue
			}
			if err := check(md, l.BlobInfo); err != nil {
				return err
			}
		}
		return nil
	}
	if !manifest.MIMETypeIsMultiImage(mime) {
		return blobs(raw, mime)
	}
	list, err := manifest.ListFromBlob(raw, mime)
	if err != nil {
		return err
	}
	ld, err := manifest.Digest(raw)
	if err != nil {
		return err
	}
	for _, cd := range list.Instances() {
		inst, err := list.Instance(cd)
		if err != nil {
			return err
		}
		if err := check(ld, types.BlobInfo{Digest: cd, Size: inst.Size}); err != nil {
			return err
		}
		craw, cmime, err := readManifest(ar, cd)
		if err != nil {
			return err
		}
		if err := blobs(craw, cmime); err != nil {
			return err
		}
	}
	return nil
}

// CanServe says whether the archive holds blob d, readable.
func (s *diskSource) CanServe(d digest.Digest) error { return s.ref.reader.r.Check(d) }

func (s *diskSource) GetBlob(_ context.Context, info types.BlobInfo, _ types.BlobInfoCache) (io.ReadCloser, int64, error) {
	return s.ref.reader.r.OpenBlob(info.Digest)
}
