package archive

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	digest "github.com/opencontainers/go-digest"
)

// DefaultChunkSize is the largest chunk when WriterOptions does not say:
// 4 GiB, oc-mirror's default archiveSize.
const DefaultChunkSize = 4 << 30

// DefaultLanes is how many chunks are written at once: blobs arrive from
// several downloads at a time, and one chunk would make them wait on each
// other.
const DefaultLanes = 4

const partSuffix = ".part"

// WriterOptions tune a Writer. The zero value works.
type WriterOptions struct {
	// ChunkSize is the largest chunk in bytes; a blob larger than that
	// gets a chunk of its own (and a warning on Warn).
	ChunkSize int64
	// Lanes is how many chunks may be open for writing at once.
	Lanes int
	// Since are the blobs and manifests the far side already has (from
	// the archive SinceID): they are left out and recorded as such.
	Since   map[digest.Digest]bool
	SinceID string
	// SinceBase describes that archive for people (its releases, where it
	// was written), recorded with its ID.
	SinceBase string
	// Warn receives warnings; nil discards them.
	Warn io.Writer
}

// Writer writes an archive directory. Blobs are appended to chunks as they
// arrive, several chunks at a time; a chunk is finished (fsynced, renamed
// to its final name and recorded in chunks.json) when full or at Finish.
// Create on a directory a previous Writer left unfinished resumes it:
// finished chunks are kept, and every intact member of a chunk being
// written is kept; what follows the last one is cut off.
type Writer struct {
	dir  string
	opts WriterOptions
	lock *dirLock

	mu       sync.Mutex
	cond     *sync.Cond
	stored   map[digest.Digest]bool
	left     map[digest.Digest]bool // left out: in Since and asked for
	finished []Chunk
	prev     *Index // the index of the finished archive being rerun
	prevData []byte
	free     []*lane
	open     int
	next     int
	err      error
}

type lane struct {
	name    string // final name; the file is name+".part"
	f       *os.File
	pos     int64
	sum     hash.Hash
	members []Member
}

// Create opens dir for writing, creating it, or resuming what an
// interrupted Writer left there.
func Create(dir string, opts WriterOptions) (*Writer, error) {
	if opts.ChunkSize <= 0 {
		opts.ChunkSize = DefaultChunkSize
	}
	if opts.Lanes <= 0 {
		opts.Lanes = DefaultLanes
	}
	if opts.Warn == nil {
		opts.Warn = io.Discard
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	lock, err := lockDir(dir, true)
	if err != nil {
		return nil, err
	}
	w := &Writer{dir: dir, opts: opts, lock: lock, stored: map[digest.Digest]bool{}, left: map[digest.Digest]bool{}, next: 1}
	w.cond = sync.NewCond(&w.mu)
	if err := w.resume(); err != nil {
		lock.release()
		return nil, err
	}
	return w, nil
}

// resume loads the finished chunks and salvages the unfinished ones.
func (w *Writer) resume() error {
	// A write of chunks.json or index.json that a kill cut short leaves
	// its temporary file (writeFileAtomic); it never is the record.
	for _, name := range []string{ChunksFile, IndexFile} {
		tmps, err := filepath.Glob(filepath.Join(w.dir, "."+name+".tmp-*"))
		if err != nil {
			return err
		}
		for _, p := range tmps {
			if err := os.Remove(p); err != nil {
				return err
			}
		}
	}
	if data, idx, err := readIndexFile(filepath.Join(w.dir, IndexFile)); err == nil {
		w.prev, w.prevData = idx, data
	}
	path := filepath.Join(w.dir, ChunksFile)
	data, err := readRegular(path, maxIndexSize)
	switch {
	case errors.Is(err, os.ErrNotExist):
	case err != nil:
		return err
	default:
		var cs checksums
		if err := json.Unmarshal(data, &cs); err != nil {
			return fmt.Errorf("%s: %w", path, err)
		}
		if cs.Format != FormatVersion {
			return &FieldError{path, "format", fmt.Errorf("version %d; this tool writes version %d", cs.Format, FormatVersion)}
		}
		if err := checkChunks(cs.Chunks, path, "chunks"); err != nil {
			return err
		}
		damaged := false
		for _, c := range cs.Chunks {
			w.bump(c.Name)
			// This is the connected side, where a damaged chunk can still
			// be written again: check each against its sha256 rather than
			// let the far side find out.
			why, err := w.checkFinished(c)
			if err != nil {
				return fmt.Errorf("resuming %s: %w", w.dir, err)
			}
			if why != "" {
				fmt.Fprintf(w.opts.Warn, "warning: %s %s: its %d blobs are written again\n", c.Name, why, len(c.Blobs))
				if err := os.Remove(filepath.Join(w.dir, c.Name)); err != nil && !errors.Is(err, os.ErrNotExist) {
					return err
				}
				damaged = true
				continue
			}
			w.finished = append(w.finished, c)
			for _, m := range c.Blobs {
				w.stored[m.Digest] = true
			}
		}
		if damaged {
			// Until it is finished again, the archive records only the
			// chunks that are good.
			if _, err := w.writeChecksums(""); err != nil {
				return err
			}
		}
	}
	// A chunk renamed to its final name but not yet recorded (killed in
	// between) is resumed like one being written.
	recorded := map[string]bool{}
	for _, c := range w.finished {
		recorded[c.Name] = true
	}
	done, err := filepath.Glob(filepath.Join(w.dir, "chunk-*.tar"))
	if err != nil {
		return err
	}
	for _, p := range done {
		if !recorded[filepath.Base(p)] && chunkName.MatchString(filepath.Base(p)) {
			if _, err := checkRegular(p); err != nil {
				return err
			}
			if err := os.Rename(p, p+partSuffix); err != nil {
				return err
			}
		}
	}
	parts, err := filepath.Glob(filepath.Join(w.dir, "chunk-*.tar"+partSuffix))
	if err != nil {
		return err
	}
	sort.Strings(parts)
	for _, p := range parts {
		name := strings.TrimSuffix(filepath.Base(p), partSuffix)
		if !chunkName.MatchString(name) {
			continue
		}
		l, err := w.salvage(p, name)
		if err != nil {
			return fmt.Errorf("resuming %s: %w", p, err)
		}
		w.bump(name)
		w.free = append(w.free, l)
		w.open++
	}
	return nil
}

// checkFinished says why finished chunk c cannot be kept ("" when it can):
// missing, of another size, or of another sha256. A chunk that is not a
// regular file is an error: it is not this package's to remove.
func (w *Writer) checkFinished(c Chunk) (string, error) {
	path := filepath.Join(w.dir, c.Name)
	f, err := openRegular(path, os.O_RDONLY, 0)
	if errors.Is(err, os.ErrNotExist) {
		return "is missing", nil
	}
	if err != nil {
		return "", err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return "", err
	}
	if st.Size() != c.Size {
		return fmt.Sprintf("has %d bytes, the checksum manifest says %d", st.Size(), c.Size), nil
	}
	sum, err := hashFile(f, c.Size)
	if err != nil {
		return "", fmt.Errorf("reading %s: %w", path, err)
	}
	if sum != c.SHA256 {
		return "is damaged (its sha256 differs from the checksum manifest's)", nil
	}
	return "", nil
}

func (w *Writer) bump(name string) {
	n, _ := strconv.Atoi(strings.TrimSuffix(strings.TrimPrefix(name, "chunk-"), ".tar"))
	if n >= w.next {
		w.next = n + 1
	}
}

// salvage keeps the intact members of an unfinished chunk and cuts off the
// rest.
func (w *Writer) salvage(path, name string) (*lane, error) {
	f, err := openRegular(path, os.O_RDWR, 0)
	if err != nil {
		return nil, err
	}
	members, end, _ := scanTar(f, nil) // stops at the first damaged member
	if err := f.Truncate(end); err != nil {
		f.Close()
		return nil, err
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		f.Close()
		return nil, err
	}
	sum := sha256.New()
	if _, err := io.CopyN(sum, f, end); err != nil {
		f.Close()
		return nil, err
	}
	l := &lane{name: name, f: f, pos: end, sum: sum}
	for _, m := range members {
		if w.stored[m.Digest] {
			continue // kept in its member, but indexed where it already is
		}
		w.stored[m.Digest] = true
		l.members = append(l.members, m.Member)
	}
	return l, nil
}

// Has reports whether the archive holds d, or leaves it out as the far
// side has it (which is then recorded in the index).
func (w *Writer) Has(d digest.Digest) bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.stored[d] {
		return true
	}
	if w.opts.Since[d] {
		w.left[d] = true
		return true
	}
	return false
}

// Count is the number of blobs the archive holds so far (after Create on
// an interrupted archive: those kept from before).
func (w *Writer) Count() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return len(w.stored)
}

// Stored reports whether the archive itself holds d.
func (w *Writer) Stored(d digest.Digest) bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.stored[d]
}

// Put stores the blob d of size bytes read from r, verifying it as it
// streams. A blob already stored is not written again. On error nothing
// of it is kept.
func (w *Writer) Put(ctx context.Context, d digest.Digest, size int64, r io.Reader) error {
	if err := d.Validate(); err != nil {
		return err
	}
	if d.Algorithm() != digest.SHA256 {
		return fmt.Errorf("blob %s: only sha256 blobs are stored", d)
	}
	if size < 0 {
		return fmt.Errorf("blob %s: size unknown", d)
	}
	if w.Stored(d) {
		return nil
	}
	l, err := w.take(ctx, size)
	if err != nil {
		return err
	}
	err = w.write(l, d, size, r)
	w.give(l, d, err)
	if err != nil {
		return fmt.Errorf("writing blob %s to %s: %w", d, l.name+partSuffix, err)
	}
	return nil
}

// take gives a lane with room for size bytes, waiting for one when all
// are busy.
func (w *Writer) take(ctx context.Context, size int64) (*lane, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	for {
		if w.err != nil {
			return nil, w.err
		}
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		if len(w.free) > 0 {
			l := w.free[len(w.free)-1]
			w.free = w.free[:len(w.free)-1]
			if len(l.members) > 0 && l.pos+size+3*blockSize > w.opts.ChunkSize {
				if err := w.finishLane(l); err != nil {
					w.open--
					return nil, err
				}
				w.open--
				continue
			}
			return l, nil
		}
		if w.open < w.opts.Lanes {
			l, err := w.newLane()
			if err != nil {
				return nil, err
			}
			w.open++
			return l, nil
		}
		w.cond.Wait()
	}
}

func (w *Writer) give(l *lane, d digest.Digest, err error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if err == nil && !w.stored[d] {
		w.stored[d] = true
	}
	w.free = append(w.free, l)
	w.cond.Signal()
}

func (w *Writer) newLane() (*lane, error) {
	name := fmt.Sprintf("chunk-%05d.tar", w.next)
	w.next++
	f, err := openRegular(filepath.Join(w.dir, name+partSuffix), os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return nil, err
	}
	return &lane{name: name, f: f, sum: sha256.New()}, nil
}

type laneWriter struct{ l *lane }

func (lw laneWriter) Write(p []byte) (int, error) {
	n, err := lw.l.f.WriteAt(p, lw.l.pos)
	lw.l.sum.Write(p[:n])
	lw.l.pos += int64(n)
	return n, err
}

// write appends one member to l; on error it cuts the file back.
func (w *Writer) write(l *lane, d digest.Digest, size int64, r io.Reader) (err error) {
	if size > w.opts.ChunkSize && l.pos == 0 {
		fmt.Fprintf(w.opts.Warn, "warning: blob %s (%d MiB) is larger than the archive size: it gets a chunk of its own\n", d, size>>20)
	}
	start := l.pos
	defer func() {
		if err != nil {
			err = errors.Join(err, l.rewind(start))
		}
	}()
	tw := tar.NewWriter(laneWriter{l})
	hdr := &tar.Header{Typeflag: tar.TypeReg, Name: memberName(d), Size: size, Mode: 0o644, ModTime: time.Unix(0, 0), Format: tar.FormatPAX}
	if size < 8<<30 {
		hdr.Format = tar.FormatUSTAR
	}
	if err := tw.WriteHeader(hdr); err != nil {
		return err
	}
	off := l.pos
	v := d.Verifier()
	n, err := io.Copy(tw, io.TeeReader(io.LimitReader(r, size), v))
	if err != nil {
		return err
	}
	if n != size {
		return fmt.Errorf("got %d bytes, want %d", n, size)
	}
	if !v.Verified() {
		return fmt.Errorf("the content does not match its digest")
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	l.members = append(l.members, Member{Digest: d, Offset: off, Size: size})
	return nil
}

// rewind cuts l back to pos and recomputes its running sum.
func (l *lane) rewind(pos int64) error {
	if err := l.f.Truncate(pos); err != nil {
		return err
	}
	l.pos = pos
	l.sum = sha256.New()
	_, err := io.Copy(l.sum, io.NewSectionReader(l.f, 0, pos))
	return err
}

// finishLane ends l's tar stream, syncs it, gives it its final name and
// records it in chunks.json. Called with w.mu held.
func (w *Writer) finishLane(l *lane) error {
	if len(l.members) == 0 {
		name := l.f.Name()
		l.f.Close()
		return os.Remove(name)
	}
	tw := tar.NewWriter(laneWriter{l})
	if err := tw.Close(); err != nil { // the two end blocks
		return err
	}
	if err := l.f.Sync(); err != nil {
		return err
	}
	if err := l.f.Close(); err != nil {
		return err
	}
	if err := os.Rename(l.f.Name(), filepath.Join(w.dir, l.name)); err != nil {
		return err
	}
	if err := syncDir(w.dir); err != nil {
		return err
	}
	w.finished = append(w.finished, Chunk{Name: l.name, Size: l.pos, SHA256: fmt.Sprintf("%x", l.sum.Sum(nil)), Blobs: l.members})
	_, err := w.writeChecksums("")
	return err
}

// writeChecksums writes chunks.json, binding index.json's digest when
// given, and returns the archive ID of the chunks.
func (w *Writer) writeChecksums(index digest.Digest) (string, error) {
	sort.Slice(w.finished, func(i, j int) bool { return w.finished[i].Name < w.finished[j].Name })
	cs := checksums{Format: FormatVersion, Chunks: w.finished, Index: index.String()}
	data, err := cs.marshal()
	if err != nil {
		return "", err
	}
	if err := writeFileAtomic(filepath.Join(w.dir, ChunksFile), data); err != nil {
		return "", err
	}
	return cs.id()
}

// Finish finishes every open chunk and writes the index: idx with its
// format, ID, chunks and what it leaves out filled in.
func (w *Writer) Finish(idx *Index) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	defer w.lock.release()
	if w.open != len(w.free) {
		return errors.New("finishing an archive while blobs are being written")
	}
	for _, l := range w.free {
		if err := w.finishLane(l); err != nil {
			return err
		}
	}
	w.free, w.open = nil, 0
	id, err := w.writeChecksums("")
	if err != nil {
		return err
	}
	idx.Format = FormatVersion
	idx.ID = id
	idx.Chunks = w.finished
	idx.Since = nil
	if len(w.left) > 0 {
		s := &Since{Archive: w.opts.SinceID, Base: w.opts.SinceBase}
		for d := range w.left {
			s.Blobs = append(s.Blobs, d)
		}
		sort.Slice(s.Blobs, func(i, j int) bool { return s.Blobs[i] < s.Blobs[j] })
		idx.Since = s
	}
	out, err := w.marshalIndex(idx)
	if err != nil {
		return err
	}
	if err := writeFileAtomic(filepath.Join(w.dir, IndexFile), out); err != nil {
		return err
	}
	// Written last: until chunks.json binds the index, a reader takes the
	// archive as unfinished.
	_, err = w.writeChecksums(digest.FromBytes(out))
	return err
}

// marshalIndex checks and renders idx. A rerun that adds nothing to a
// finished archive keeps its creation time, so the archive stays the same
// bytes.
func (w *Writer) marshalIndex(idx *Index) ([]byte, error) {
	now := idx.Created.IsZero()
	if now && w.prev != nil {
		idx.Created = w.prev.Created
	}
	if now && idx.Created.IsZero() {
		idx.Created = time.Now().UTC().Truncate(time.Second)
	}
	if err := idx.check(IndexFile); err != nil {
		return nil, err
	}
	out, err := json.MarshalIndent(idx, "", "  ")
	if err != nil {
		return nil, err
	}
	out = append(out, '\n')
	if now && w.prev != nil && !bytes.Equal(out, w.prevData) {
		idx.Created = time.Now().UTC().Truncate(time.Second)
		return w.marshalIndex(idx)
	}
	return out, nil
}

// Close releases open chunks, leaving them to be resumed, and the
// directory; after Finish it does nothing.
func (w *Writer) Close() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	var errs []error
	for _, l := range w.free {
		errs = append(errs, l.f.Sync(), l.f.Close())
	}
	w.free = nil
	w.err = errors.New("archive writer closed")
	w.lock.release()
	return errors.Join(errs...)
}

// Dir is the archive directory.
func (w *Writer) Dir() string { return w.dir }

// tempFile is what writeFileAtomic needs of the file it writes.
type tempFile interface {
	io.Writer
	Sync() error
	Close() error
	Name() string
}

// createTemp makes writeFileAtomic's temporary file; tests give one that
// fails as a full disk does.
var createTemp = func(dir, pattern string) (tempFile, error) { return os.CreateTemp(dir, pattern) }

// writeFileAtomic replaces path with data, or leaves it as it was: a write
// or sync that fails (a full disk) is returned and nothing is renamed.
func writeFileAtomic(path string, data []byte) error {
	tmp, err := createTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	_, err = tmp.Write(data)
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	if err := os.Chmod(tmp.Name(), 0o644); err != nil {
		return err
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return err
	}
	return syncDir(filepath.Dir(path))
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	if err := d.Sync(); err != nil && !errors.Is(err, os.ErrInvalid) {
		return err
	}
	return nil
}

// CheckDir refuses, before anything is fetched, a mirror to disk
// destination that cannot become an archive directory: a path that exists
// and is not a directory. "" (no directory given) is accepted.
func CheckDir(dir string) error {
	if dir == "" {
		return nil
	}
	st, err := os.Stat(dir)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil
		}
		return err
	}
	if !st.IsDir() {
		return fmt.Errorf("%s exists and is not a directory: name a directory for the archive", dir)
	}
	return nil
}
