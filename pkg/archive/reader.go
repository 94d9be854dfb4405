package archive

import (
	"bytes"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"sync"

	digest "github.com/opencontainers/go-digest"
)

// Reader reads a finished archive in place.
type Reader struct {
	lock  *dirLock
	dir   string
	index *Index
	where map[digest.Digest]location
	left  map[digest.Digest]bool

	mu  sync.Mutex
	bad map[string]error // chunk name -> why it cannot be used
}

type location struct {
	chunk string
	Member
}

// Open reads dir's index. Chunks are checked by Verify, blobs as they are
// read. The directory is held for reading (no Writer can take it) until
// Close.
func Open(dir string) (r *Reader, err error) {
	lock, err := lockDir(dir, false)
	if err != nil {
		return nil, err
	}
	defer func() {
		if err != nil {
			lock.release()
		}
	}()
	indexData, idx, err := readIndexFile(filepath.Join(dir, IndexFile))
	if err != nil {
		return nil, err
	}
	if err := checkBinding(dir, indexData, idx); err != nil {
		return nil, err
	}
	r = &Reader{lock: lock, dir: dir, index: idx, where: map[digest.Digest]location{}, left: map[digest.Digest]bool{}, bad: map[string]error{}}
	for _, c := range idx.Chunks {
		for _, m := range c.Blobs {
			if _, ok := r.where[m.Digest]; !ok {
				r.where[m.Digest] = location{chunk: c.Name, Member: m}
			}
		}
	}
	if idx.Since != nil {
		for _, d := range idx.Since.Blobs {
			if _, ok := r.where[d]; !ok {
				r.left[d] = true
			}
		}
	}
	return r, nil
}

// checkBinding checks that chunks.json and index.json belong together: the
// digest of the index is the one the checksum manifest records, and the
// checksum manifest's chunk list is the archive's ID and the index's copy.
func checkBinding(dir string, indexData []byte, idx *Index) error {
	path := filepath.Join(dir, ChunksFile)
	data, err := readRegular(path, maxIndexSize)
	if errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("%s: missing: %s cannot be checked without it", path, IndexFile)
	}
	if err != nil {
		return err
	}
	var cs checksums
	if err := json.Unmarshal(data, &cs); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	if cs.Index == "" {
		return fmt.Errorf("%s records no digest of %s: the archive is not complete (re-run the mirror to disk command to finish it)", path, IndexFile)
	}
	if digest.FromBytes(indexData).String() != cs.Index {
		return fmt.Errorf("%s: does not match the digest %s records: it was changed, or the files come from different archives",
			filepath.Join(dir, IndexFile), ChunksFile)
	}
	id, err := cs.id()
	if err != nil {
		return err
	}
	mine, _ := json.Marshal(cs.Chunks)
	copied, _ := json.Marshal(idx.Chunks)
	if id != idx.ID || !bytes.Equal(mine, copied) {
		return fmt.Errorf("%s: does not match %s (archive %s): the files come from different archives or one was changed", path, IndexFile, idx.ID)
	}
	return nil
}

// Close lets the directory be written again.
func (r *Reader) Close() { r.lock.release() }

// Index is the archive's index.
func (r *Reader) Index() *Index { return r.index }

// Dir is the archive directory.
func (r *Reader) Dir() string { return r.dir }

// ChunkError says why a chunk cannot be used.
type ChunkError struct {
	Chunk string
	Err   error
}

func (e *ChunkError) Error() string { return fmt.Sprintf("chunk %s: %v", e.Chunk, e.Err) }
func (e *ChunkError) Unwrap() error { return e.Err }

// Verify checks every chunk against the checksum manifest: present, of its
// size and sha256, a tar stream of safe members (see CheckMember) at the
// offsets recorded, each member matching its digest. It reads parallel
// chunks at a time and returns the problems found, by chunk; blobs of a
// bad chunk are refused from then on.
func (r *Reader) Verify(parallel int) []*ChunkError {
	if parallel < 1 {
		parallel = 1
	}
	var mu sync.Mutex
	var errs []*ChunkError
	sem := make(chan struct{}, parallel)
	var wg sync.WaitGroup
	for _, c := range r.index.Chunks {
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer func() { <-sem; wg.Done() }()
			if err := r.verifyChunk(c); err != nil {
				mu.Lock()
				errs = append(errs, &ChunkError{Chunk: c.Name, Err: err})
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	sort.Slice(errs, func(i, j int) bool { return errs[i].Chunk < errs[j].Chunk })
	r.mu.Lock()
	for _, e := range errs {
		r.bad[e.Chunk] = e.Err
	}
	r.mu.Unlock()
	return errs
}

func (r *Reader) verifyChunk(c Chunk) error {
	f, err := openRegular(filepath.Join(r.dir, c.Name), os.O_RDONLY, 0)
	if errors.Is(err, os.ErrNotExist) {
		return errors.New("missing")
	}
	if err != nil {
		return err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return err
	}
	if st.Size() != c.Size {
		return fmt.Errorf("has %d bytes, the checksum manifest says %d: the chunk is damaged or incomplete", st.Size(), c.Size)
	}
	sum := sha256.New()
	tee := io.TeeReader(f, sum)
	members, _, scanErr := scanTar(tee, nil)
	if _, err := io.Copy(sum, f); err != nil { // what follows the end blocks
		return err
	}
	if fmt.Sprintf("%x", sum.Sum(nil)) != c.SHA256 {
		if scanErr != nil {
			return fmt.Errorf("%w (%v)", errChunkSum, scanErr)
		}
		return errChunkSum
	}
	if scanErr != nil {
		return scanErr
	}
	if len(members) != len(c.Blobs) {
		return fmt.Errorf("holds %d members, the checksum manifest lists %d", len(members), len(c.Blobs))
	}
	for i, m := range members {
		if m.Member != c.Blobs[i] {
			return fmt.Errorf("member %d is %s at %d (%d bytes), the checksum manifest says %s at %d (%d bytes)",
				i, m.Digest, m.Offset, m.Size, c.Blobs[i].Digest, c.Blobs[i].Offset, c.Blobs[i].Size)
		}
	}
	return nil
}

// LeftOutError is returned for a blob an incremental archive leaves out.
type LeftOutError struct {
	Digest digest.Digest
	// Since is the ID of the archive this one builds on; Base says what
	// that archive holds and where it was written, when recorded.
	Since, Base string
}

func (e *LeftOutError) Error() string {
	base := "archive " + e.Since
	if e.Base != "" {
		base += ", " + e.Base
	}
	return fmt.Sprintf("blob %s was left out of this archive (it builds on %s) and the destination does not have it: push that archive first", e.Digest, base)
}

// Check says whether blob d can be read: nil, a *LeftOutError, or an error
// naming the bad chunk that holds it.
func (r *Reader) Check(d digest.Digest) error {
	loc, ok := r.where[d]
	if !ok {
		if r.left[d] {
			return &LeftOutError{Digest: d, Since: r.index.Since.Archive, Base: r.index.Since.Base}
		}
		return fmt.Errorf("blob %s is not in the archive", d)
	}
	r.mu.Lock()
	bad := r.bad[loc.chunk]
	r.mu.Unlock()
	if bad != nil {
		return fmt.Errorf("blob %s is in chunk %s, which is refused: %w", d, loc.chunk, bad)
	}
	return nil
}

// Size is the size of blob d, or -1 when the archive does not hold it.
func (r *Reader) Size(d digest.Digest) int64 {
	if loc, ok := r.where[d]; ok {
		return loc.Size
	}
	return -1
}

// OpenBlob reads blob d in place from its chunk; the reader fails at the
// end if the data does not match d.
func (r *Reader) OpenBlob(d digest.Digest) (io.ReadCloser, int64, error) {
	if err := r.Check(d); err != nil {
		return nil, -1, err
	}
	loc := r.where[d]
	f, err := openRegular(filepath.Join(r.dir, loc.chunk), os.O_RDONLY, 0)
	if err != nil {
		return nil, -1, fmt.Errorf("blob %s in chunk %s: %w", d, loc.chunk, err)
	}
	return &verifying{f: f, r: io.NewSectionReader(f, loc.Offset, loc.Size), v: d.Verifier(), d: d, chunk: loc.chunk}, loc.Size, nil
}

// ReadBlob reads a whole blob of at most limit bytes (a manifest).
func (r *Reader) ReadBlob(d digest.Digest, limit int64) ([]byte, error) {
	rc, size, err := r.OpenBlob(d)
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	if size > limit {
		return nil, fmt.Errorf("blob %s: %d bytes, more than %d", d, size, limit)
	}
	return io.ReadAll(rc)
}

type verifying struct {
	f     *os.File
	r     io.Reader
	v     digest.Verifier
	d     digest.Digest
	chunk string
}

func (v *verifying) Read(p []byte) (int, error) {
	n, err := v.r.Read(p)
	v.v.Write(p[:n])
	if err == io.EOF && !v.v.Verified() {
		return n, fmt.Errorf("blob %s in chunk %s does not match its digest: the chunk is corrupt", v.d, v.chunk)
	}
	return n, err
}

func (v *verifying) Close() error { return v.f.Close() }
