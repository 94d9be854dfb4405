package archive

import (
	"archive/tar"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"path"
	"strings"

	digest "github.com/opencontainers/go-digest"
)

const blockSize = 512

const blobPrefix = "blobs/sha256/"

// memberName is the tar member name of blob d.
func memberName(d digest.Digest) string { return blobPrefix + d.Encoded() }

// CheckMember refuses a tar member that is not a plain blob: anything
// that would land outside the directory it is read into (an absolute
// path, a ".." element), any link or special file, and any name other
// than blobs/sha256/<hex>. It returns the blob's digest.
func CheckMember(h *tar.Header) (digest.Digest, error) {
	name := h.Name
	switch {
	case strings.HasPrefix(name, "/") || strings.HasPrefix(name, `\`):
		return "", fmt.Errorf("member %q: absolute path refused", name)
	case hasDotDot(name):
		return "", fmt.Errorf("member %q: a path with .. escapes the archive: refused", name)
	}
	switch h.Typeflag {
	case tar.TypeReg:
	case tar.TypeSymlink, tar.TypeLink:
		return "", fmt.Errorf("member %q: a link (to %q) refused", name, h.Linkname)
	default:
		return "", fmt.Errorf("member %q: type %q is not a regular file: refused", name, string(h.Typeflag))
	}
	if path.Clean(name) != name || !strings.HasPrefix(name, blobPrefix) {
		return "", fmt.Errorf("member %q: not a blob (want %s<hex>): refused", name, blobPrefix)
	}
	d := digest.NewDigestFromEncoded(digest.SHA256, strings.TrimPrefix(name, blobPrefix))
	if err := d.Validate(); err != nil {
		return "", fmt.Errorf("member %q: %w", name, err)
	}
	if h.Size < 0 {
		return "", fmt.Errorf("member %q: negative size", name)
	}
	return d, nil
}

func hasDotDot(name string) bool {
	for _, part := range strings.FieldsFunc(name, func(r rune) bool { return r == '/' || r == '\\' }) {
		if part == ".." {
			return true
		}
	}
	return false
}

// countingReader counts what it reads.
type countingReader struct {
	r io.Reader
	n int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}

// scanned is one member a scan found.
type scanned struct {
	Member
	end int64 // where the member's padding ends
}

// scanTar reads a chunk from r member by member, checking every member with
// CheckMember and its data against its digest. It returns the members read
// whole and intact, the offset where the last of them ends, and the first
// problem met (nil at a clean end of the tar stream, io.ErrUnexpectedEOF
// for a stream that stops mid-member or without its end blocks). The
// sha256 of everything up to the end of the tar stream goes into sum.
func scanTar(r io.Reader, sum io.Writer) (members []scanned, end int64, err error) {
	cr := &countingReader{r: r}
	var src io.Reader = cr
	if sum != nil {
		src = io.TeeReader(cr, sum)
	}
	tr := tar.NewReader(src)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return members, end, nil
		}
		if err != nil {
			return members, end, err
		}
		d, err := CheckMember(h)
		if err != nil {
			return members, end, err
		}
		off := cr.n
		v := d.Verifier()
		n, err := io.Copy(v, tr)
		if err != nil {
			return members, end, err
		}
		if n != h.Size {
			return members, end, io.ErrUnexpectedEOF
		}
		if !v.Verified() {
			return members, end, fmt.Errorf("member %s: content does not match its digest", h.Name)
		}
		e := off + roundBlock(h.Size)
		members = append(members, scanned{Member: Member{Digest: d, Offset: off, Size: h.Size}, end: e})
		end = e
	}
}

func roundBlock(n int64) int64 { return (n + blockSize - 1) / blockSize * blockSize }

// errChunkSum is returned when a chunk's sha256 differs from the checksum
// manifest's.
var errChunkSum = errors.New("sha256 differs from the checksum manifest: the chunk is corrupt")

// hashFile is the sha256 (hex) of the first n bytes of r.
func hashFile(r io.Reader, n int64) (string, error) {
	h := sha256.New()
	if _, err := io.CopyN(h, r, n); err != nil {
		return "", err
	}
	return fmt.Sprintf("%x", h.Sum(nil)), nil
}
