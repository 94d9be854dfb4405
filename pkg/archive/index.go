// Package archive is the on-disk format of mirror to disk and disk to
// mirror: content-addressed blobs and manifests, each stored once, in tar
// chunks of bounded size; a checksum manifest (chunks.json: the sha256 of
// every finished chunk and where each blob sits in it); and an index
// (index.json: the images, the plan, the release metadata and signatures,
// what an incremental archive leaves out, and the versions of the tool and
// the format).
//
// A directory holds:
//
//	chunk-00001.tar ...   finished chunks, never rewritten
//	chunk-00004.tar.part  a chunk being written; resumed after an interruption
//	chunks.json           the checksum manifest of the finished chunks
//	index.json            written last: its presence means the archive is complete
//
// Every member of a chunk is a regular file named blobs/sha256/<hex>; a
// reader refuses anything else (absolute paths, "..", links). Blobs are
// read in place (seek to the member), never unpacked.
package archive

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"time"

	digest "github.com/opencontainers/go-digest"

	"github.com/airgap-ocp/oc-plugins/pkg/plan"
)

// FormatVersion is the version of the format this package writes and reads.
const FormatVersion = 1

// File names in an archive directory.
const (
	IndexFile  = "index.json"
	ChunksFile = "chunks.json"
)

// maxIndexSize bounds what is read of an index or checksum manifest.
const maxIndexSize = 256 << 20

var chunkName = regexp.MustCompile(`^chunk-[0-9]{5,}\.tar$`)

// Index is index.json.
type Index struct {
	// Format is FormatVersion; Tool names the program and its version.
	Format int    `json:"format"`
	Tool   string `json:"tool"`
	// ID identifies the archive (the digest of its checksum manifest); an
	// incremental archive names the archive it builds on by it.
	ID      string    `json:"id"`
	Created time.Time `json:"created"`
	// Name is the name of the mirror objects.
	Name string `json:"name,omitempty"`
	// Images are every image of the archive with where it goes, relative
	// to the destination given at disk to mirror.
	Images []plan.Item `json:"images"`
	// Releases are the release payloads among the images.
	Releases []plan.Release `json:"releases,omitempty"`
	// Since, for an incremental archive, is what it leaves out.
	Since *Since `json:"since,omitempty"`
	// Chunks is the checksum manifest (as chunks.json holds it).
	Chunks []Chunk `json:"chunks"`
}

// Since records what an incremental archive leaves out.
type Since struct {
	// Archive is the ID of the archive it builds on; Base says what that
	// archive holds and where it was written, for people.
	Archive string `json:"archive"`
	Base    string `json:"base,omitempty"`
	// Blobs are the blobs and manifests left out: the destination must
	// already hold them.
	Blobs []digest.Digest `json:"blobs"`
}

// Chunk is one finished tar file.
type Chunk struct {
	Name   string   `json:"name"`
	Size   int64    `json:"size"`
	SHA256 string   `json:"sha256"`
	Blobs  []Member `json:"blobs"`
}

// Member is where a blob sits in a chunk: its data starts at Offset.
type Member struct {
	Digest digest.Digest `json:"digest"`
	Offset int64         `json:"offset"`
	Size   int64         `json:"size"`
}

// checksums is chunks.json. The archive's ID is the digest of its chunk
// list (Format and Chunks, as marshalChunks writes them); once the index is
// written, Index binds it: the digest of index.json, so that neither file
// can be changed or swapped without the other.
type checksums struct {
	Format int     `json:"format"`
	Chunks []Chunk `json:"chunks"`
	Index  string  `json:"index,omitempty"`
}

// marshal is chunks.json as written.
func (cs checksums) marshal() ([]byte, error) {
	data, err := json.MarshalIndent(cs, "", "  ")
	return append(data, '\n'), err
}

// id is the archive ID of a chunk list: the digest of chunks.json as it is
// written before the index binds it.
func (cs checksums) id() (string, error) {
	data, err := checksums{Format: cs.Format, Chunks: cs.Chunks}.marshal()
	if err != nil {
		return "", err
	}
	return digest.FromBytes(data).String(), nil
}

// FieldError names the field of index.json or chunks.json that is wrong.
type FieldError struct {
	File, Field string
	Err         error
}

func (e *FieldError) Error() string {
	return fmt.Sprintf("%s: %s: %v", e.File, e.Field, e.Err)
}

func (e *FieldError) Unwrap() error { return e.Err }

// ReadIndex reads and checks an index: every digest valid, chunk names
// plain file names, offsets on tar block boundaries, every image's
// manifest in a chunk or among the blobs left out.
func ReadIndex(r io.Reader, name string) (*Index, error) {
	data, err := io.ReadAll(io.LimitReader(r, maxIndexSize+1))
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", name, err)
	}
	if len(data) > maxIndexSize {
		return nil, fmt.Errorf("%s: larger than %d MiB: not an archive index", name, maxIndexSize>>20)
	}
	var idx Index
	if err := json.Unmarshal(data, &idx); err != nil {
		return nil, fmt.Errorf("%s: not an archive index: %w", name, err)
	}
	if err := idx.check(name); err != nil {
		return nil, err
	}
	return &idx, nil
}

// ReadIndexFile reads path, or path/index.json when path is a directory.
func ReadIndexFile(path string) (*Index, error) {
	_, idx, err := readIndexFile(path)
	return idx, err
}

// readIndexFile is ReadIndexFile that also returns the bytes read.
func readIndexFile(path string) ([]byte, *Index, error) {
	if st, err := os.Stat(path); err == nil && st.IsDir() {
		path = filepath.Join(path, IndexFile)
	}
	data, err := readRegular(path, maxIndexSize)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) && filepath.Base(path) == IndexFile {
			return nil, nil, fmt.Errorf("%s: no index: the archive is not complete (re-run the mirror to disk command to finish it)", path)
		}
		return nil, nil, err
	}
	idx, err := ReadIndex(bytes.NewReader(data), path)
	return data, idx, err
}

func (idx *Index) check(name string) error {
	bad := func(field string, format string, args ...any) error {
		return &FieldError{File: name, Field: field, Err: fmt.Errorf(format, args...)}
	}
	if idx.Format != FormatVersion {
		return bad("format", "version %d; this tool reads version %d", idx.Format, FormatVersion)
	}
	if err := checkChunks(idx.Chunks, name, "chunks"); err != nil {
		return err
	}
	have := map[digest.Digest]bool{}
	for _, c := range idx.Chunks {
		for _, m := range c.Blobs {
			have[m.Digest] = true
		}
	}
	if idx.Since != nil {
		for i, d := range idx.Since.Blobs {
			if err := d.Validate(); err != nil {
				return bad(fmt.Sprintf("since.blobs[%d]", i), "%v", err)
			}
			have[d] = true
		}
	}
	for i, im := range idx.Images {
		field := fmt.Sprintf("images[%d]", i)
		if im.Source == "" {
			return bad(field+".source", "empty")
		}
		if err := im.Digest.Validate(); err != nil {
			return bad(field+".digest", "%v", err)
		}
		if !have[im.Digest] {
			return bad(field+".digest", "%s is in no chunk and not among the blobs left out", im.Digest)
		}
		if filepath.IsAbs(im.Path) || (im.Path != "" && !filepath.IsLocal(im.Path)) {
			return bad(field+".path", "%q is not a relative repository path", im.Path)
		}
	}
	if len(idx.Images) == 0 {
		return bad("images", "no images: an archive carries at least one")
	}
	for i, r := range idx.Releases {
		field := fmt.Sprintf("releases[%d]", i)
		if err := r.Digest.Validate(); err != nil {
			return bad(field+".digest", "%v", err)
		}
		// The release must be one of the images pushed, and the one its
		// tag names, or the upgrade command printed would point at an
		// image that is not a release or was never pushed.
		found := false
		for _, im := range idx.Images {
			if im.Digest == r.Digest && (r.Tag == "" || im.Tag == r.Tag) {
				found = true
				break
			}
		}
		if !found {
			return bad(field+".digest", "%s (tag %q) is not among the archive's images", r.Digest, r.Tag)
		}
	}
	return nil
}

func checkChunks(chunks []Chunk, name, field string) error {
	seen := map[string]bool{}
	for i, c := range chunks {
		f := fmt.Sprintf("%s[%d]", field, i)
		if !chunkName.MatchString(c.Name) {
			return &FieldError{name, f + ".name", fmt.Errorf("%q is not a chunk file name (chunk-NNNNN.tar)", c.Name)}
		}
		if seen[c.Name] {
			return &FieldError{name, f + ".name", fmt.Errorf("%q appears twice", c.Name)}
		}
		seen[c.Name] = true
		if c.Size < 0 {
			return &FieldError{name, f + ".size", fmt.Errorf("negative")}
		}
		if len(c.SHA256) != 64 || digest.NewDigestFromEncoded(digest.SHA256, c.SHA256).Validate() != nil {
			return &FieldError{name, f + ".sha256", fmt.Errorf("%q is not a sha256 in hex", c.SHA256)}
		}
		end := int64(0)
		for j, m := range c.Blobs {
			mf := fmt.Sprintf("%s.blobs[%d]", f, j)
			if err := m.Digest.Validate(); err != nil {
				return &FieldError{name, mf + ".digest", err}
			}
			if m.Digest.Algorithm() != digest.SHA256 {
				return &FieldError{name, mf + ".digest", fmt.Errorf("%s: only sha256 blobs are stored", m.Digest)}
			}
			if m.Offset < end+blockSize || m.Offset%blockSize != 0 || m.Size < 0 || m.Offset > c.Size-m.Size {
				return &FieldError{name, mf, fmt.Errorf("offset %d and size %d do not fit the chunk", m.Offset, m.Size)}
			}
			end = m.Offset + m.Size
		}
	}
	return nil
}

// Blobs are the digests of every blob and manifest the archive holds,
// sorted; with the blobs it leaves out, they are what the far side has
// once it is pushed (what --since leaves out of the next archive).
func (idx *Index) Blobs() []digest.Digest {
	seen := map[digest.Digest]bool{}
	var out []digest.Digest
	for _, c := range idx.Chunks {
		for _, m := range c.Blobs {
			if !seen[m.Digest] {
				seen[m.Digest] = true
				out = append(out, m.Digest)
			}
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i] < out[j] })
	return out
}
