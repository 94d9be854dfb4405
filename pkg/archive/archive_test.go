package archive

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"

	digest "github.com/opencontainers/go-digest"

	"github.com/airgap-ocp/oc-plugins/pkg/plan"
)

func blob(seed string, n int) ([]byte, digest.Digest) {
	data := make([]byte, n)
	h := sha256.Sum256([]byte(seed))
	for i := range data {
		if i%32 == 0 && i > 0 {
			h = sha256.Sum256(h[:])
		}
		data[i] = h[i%32]
	}
	return data, digest.FromBytes(data)
}

func put(t *testing.T, w *Writer, data []byte) digest.Digest {
	t.Helper()
	d := digest.FromBytes(data)
	if err := w.Put(context.Background(), d, int64(len(data)), bytes.NewReader(data)); err != nil {
		t.Fatal(err)
	}
	return d
}

// writeArchive writes blobs of the given sizes and an index listing the
// first as an image.
func writeArchive(t *testing.T, dir string, opts WriterOptions, sizes ...int) ([]digest.Digest, map[digest.Digest][]byte) {
	t.Helper()
	w, err := Create(dir, opts)
	if err != nil {
		t.Fatal(err)
	}
	all := map[digest.Digest][]byte{}
	var ds []digest.Digest
	for i, n := range sizes {
		data, _ := blob(fmt.Sprint(dir, i), n)
		d := put(t, w, data)
		ds = append(ds, d)
		all[d] = data
	}
	idx := &Index{Tool: "test", Images: []plan.Item{{Source: "example.com/a@" + ds[0].String(), Digest: ds[0]}}}
	if err := w.Finish(idx); err != nil {
		t.Fatal(err)
	}
	return ds, all
}

func TestWriteThenReadEveryBlobInPlace(t *testing.T) {
	dir := t.TempDir()
	ds, all := writeArchive(t, dir, WriterOptions{ChunkSize: 64 << 10, Lanes: 1}, 1000, 30<<10, 30<<10, 100<<10, 5)
	r, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	if errs := r.Verify(2); len(errs) != 0 {
		t.Fatalf("a fresh archive does not verify: %v", errs)
	}
	if n := len(r.Index().Chunks); n < 3 {
		t.Errorf("%d chunks for 160 KiB at 64 KiB a chunk", n)
	}
	for _, c := range r.Index().Chunks {
		if c.Size > 64<<10 && len(c.Blobs) > 1 {
			t.Errorf("chunk %s has %d bytes and %d blobs: over the chunk size", c.Name, c.Size, len(c.Blobs))
		}
	}
	for _, d := range ds {
		got, err := r.ReadBlob(d, 1<<20)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, all[d]) {
			t.Errorf("blob %s read back differs", d)
		}
	}
	// Each chunk is a plain tar file other tools can list.
	f, err := os.Open(filepath.Join(dir, r.Index().Chunks[0].Name))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	h, err := tar.NewReader(f).Next()
	if err != nil || !strings.HasPrefix(h.Name, "blobs/sha256/") {
		t.Errorf("first member %v, %v", h, err)
	}
}

func TestBlobLargerThanChunkGetsItsOwnChunkWithWarning(t *testing.T) {
	dir := t.TempDir()
	var warn bytes.Buffer
	ds, _ := writeArchive(t, dir, WriterOptions{ChunkSize: 16 << 10, Lanes: 1, Warn: &warn}, 1000, 40<<10, 1000)
	idx, err := ReadIndexFile(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range idx.Chunks {
		for _, m := range c.Blobs {
			if m.Digest == ds[1] && len(c.Blobs) != 1 {
				t.Errorf("the large blob shares chunk %s", c.Name)
			}
		}
	}
	if !strings.Contains(warn.String(), ds[1].String()) {
		t.Errorf("no warning naming the large blob: %q", warn.String())
	}
}

func TestFlippedByteRefusesThatChunkOnly(t *testing.T) {
	dir := t.TempDir()
	ds, _ := writeArchive(t, dir, WriterOptions{ChunkSize: 40 << 10, Lanes: 1}, 30<<10, 30<<10)
	r, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	bad := r.Index().Chunks[1]
	path := filepath.Join(dir, bad.Name)
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	data[bad.Blobs[0].Offset+100] ^= 0x01
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
	errs := r.Verify(1)
	if len(errs) != 1 || errs[0].Chunk != bad.Name {
		t.Fatalf("Verify: %v, want one error for %s", errs, bad.Name)
	}
	if err := r.Check(bad.Blobs[0].Digest); err == nil || !strings.Contains(err.Error(), bad.Name) || !strings.Contains(err.Error(), bad.Blobs[0].Digest.String()) {
		t.Errorf("reading the corrupt blob: %v, want an error naming chunk and blob", err)
	}
	other := ds[0]
	if other == bad.Blobs[0].Digest {
		other = ds[1]
	}
	if _, err := r.ReadBlob(other, 1<<20); err != nil {
		t.Errorf("a blob of a good chunk: %v", err)
	}
}

func TestCorruptBlobFailsWhileStreamingEvenUnverified(t *testing.T) {
	dir := t.TempDir()
	ds, _ := writeArchive(t, dir, WriterOptions{}, 10<<10)
	r, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	c := r.Index().Chunks[0]
	path := filepath.Join(dir, c.Name)
	data, _ := os.ReadFile(path)
	data[c.Blobs[0].Offset] ^= 0xff
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
	rc, _, err := r.OpenBlob(ds[0])
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	if _, err := io.ReadAll(rc); err == nil || !strings.Contains(err.Error(), "does not match") {
		t.Errorf("streaming a corrupt blob: %v", err)
	}
}

func TestMissingChunkIsNamed(t *testing.T) {
	dir := t.TempDir()
	_, _ = writeArchive(t, dir, WriterOptions{ChunkSize: 40 << 10, Lanes: 1}, 30<<10, 30<<10)
	r, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	gone := r.Index().Chunks[0]
	if err := os.Remove(filepath.Join(dir, gone.Name)); err != nil {
		t.Fatal(err)
	}
	errs := r.Verify(2)
	if len(errs) != 1 || errs[0].Chunk != gone.Name || !strings.Contains(errs[0].Error(), "missing") {
		t.Fatalf("Verify: %v", errs)
	}
	if err := r.Check(gone.Blobs[0].Digest); err == nil || !strings.Contains(err.Error(), gone.Name) {
		t.Errorf("Check: %v", err)
	}
}

func TestIncompleteArchiveIsRefusedWithHowToFinish(t *testing.T) {
	dir := t.TempDir()
	w, err := Create(dir, WriterOptions{})
	if err != nil {
		t.Fatal(err)
	}
	data, _ := blob("x", 100)
	put(t, w, data)
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := Open(dir); err == nil || !strings.Contains(err.Error(), "not complete") {
		t.Errorf("Open of an unfinished archive: %v", err)
	}
}

// TestResumeKeepsIntactMembersAndCutsTheTorn simulates a kill in the middle
// of a member: the intact members before it are kept, not written again,
// and the archive that results verifies.
func TestResumeKeepsIntactMembersAndCutsTheTorn(t *testing.T) {
	dir := t.TempDir()
	w, err := Create(dir, WriterOptions{ChunkSize: 1 << 20, Lanes: 1})
	if err != nil {
		t.Fatal(err)
	}
	a, _ := blob("a", 5000)
	b, _ := blob("b", 7000)
	c, _ := blob("c", 9000)
	da, db := put(t, w, a), put(t, w, b)
	// A writer killed while streaming c: its header and part of its data
	// are in the file.
	l := w.free[0]
	pos := l.pos
	tw := tar.NewWriter(laneWriter{l})
	if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: memberName(digest.FromBytes(c)), Size: int64(len(c)), Mode: 0o644}); err != nil {
		t.Fatal(err)
	}
	if _, err := (laneWriter{l}).Write(c[:3000]); err != nil {
		t.Fatal(err)
	}
	l.f.Close()      // no Finish, no Close: as after kill -9
	w.lock.release() // which also drops the process's lock
	if pos == 0 {
		t.Fatal("nothing written")
	}

	w2, err := Create(dir, WriterOptions{ChunkSize: 1 << 20, Lanes: 1})
	if err != nil {
		t.Fatal(err)
	}
	if !w2.Stored(da) || !w2.Stored(db) {
		t.Error("intact members written before the interruption were not kept")
	}
	dc := digest.FromBytes(c)
	if w2.Stored(dc) {
		t.Error("a torn member is recorded as stored")
	}
	put(t, w2, c)
	idx := &Index{Tool: "test", Images: []plan.Item{{Source: "x@" + da.String(), Digest: da}}}
	if err := w2.Finish(idx); err != nil {
		t.Fatal(err)
	}
	r, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	if errs := r.Verify(1); len(errs) != 0 {
		t.Fatalf("resumed archive: %v", errs)
	}
	if len(r.Index().Chunks) != 1 || len(r.Index().Chunks[0].Blobs) != 3 {
		t.Errorf("chunks %+v, want one chunk of 3 blobs", r.Index().Chunks)
	}
	for d, data := range map[digest.Digest][]byte{da: a, db: b, dc: c} {
		got, err := r.ReadBlob(d, 1<<20)
		if err != nil || !bytes.Equal(got, data) {
			t.Errorf("blob %s: %v", d, err)
		}
	}
}

func TestSinceLeavesOutWhatTheFarSideHas(t *testing.T) {
	first := t.TempDir()
	ds, _ := writeArchive(t, first, WriterOptions{}, 1000, 2000)
	prev, err := ReadIndexFile(first)
	if err != nil {
		t.Fatal(err)
	}
	since := map[digest.Digest]bool{}
	for _, d := range prev.Blobs() {
		since[d] = true
	}
	second := t.TempDir()
	w, err := Create(second, WriterOptions{Since: since, SinceID: prev.ID})
	if err != nil {
		t.Fatal(err)
	}
	if !w.Has(ds[1]) {
		t.Fatal("a blob of the earlier archive is not taken as present")
	}
	newData, _ := blob("new", 3000)
	dn := put(t, w, newData)
	idx := &Index{Tool: "test", Images: []plan.Item{{Source: "x@" + ds[1].String(), Digest: ds[1]}, {Source: "y@" + dn.String(), Digest: dn}}}
	if err := w.Finish(idx); err != nil {
		t.Fatal(err)
	}
	r, err := Open(second)
	if err != nil {
		t.Fatal(err)
	}
	if got := r.Index().Blobs(); len(got) != 1 || got[0] != dn {
		t.Errorf("the incremental archive holds %v, want only %s", got, dn)
	}
	s := r.Index().Since
	if s == nil || s.Archive != prev.ID || len(s.Blobs) != 1 || s.Blobs[0] != ds[1] {
		t.Errorf("since = %+v, want archive %s and blob %s", s, prev.ID, ds[1])
	}
	var left *LeftOutError
	if err := r.Check(ds[1]); !errors.As(err, &left) || !strings.Contains(err.Error(), prev.ID) {
		t.Errorf("reading a left-out blob: %v", err)
	}
}

// forge writes idx as index.json and a checksum manifest that binds it, as
// an attacker who knows the format would.
func forge(t *testing.T, dir string, idx *Index) {
	t.Helper()
	cs := checksums{Format: FormatVersion, Chunks: idx.Chunks}
	id, err := cs.id()
	if err != nil {
		t.Fatal(err)
	}
	idx.ID = id
	raw, _ := json.Marshal(idx)
	cs.Index = digest.FromBytes(raw).String()
	sums, _ := cs.marshal()
	if err := os.WriteFile(filepath.Join(dir, IndexFile), raw, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, ChunksFile), sums, 0o644); err != nil {
		t.Fatal(err)
	}
}

// hostileChunk replaces the archive's only chunk by a tar holding member
// hdr (and fixes up the checksum manifest, as an attacker would).
func hostileChunk(t *testing.T, hdr *tar.Header, body []byte) error {
	t.Helper()
	dir := t.TempDir()
	writeArchive(t, dir, WriterOptions{}, 10)
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	if err := tw.WriteHeader(hdr); err != nil {
		t.Fatal(err)
	}
	if _, err := tw.Write(body); err != nil {
		t.Fatal(err)
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	idxPath := filepath.Join(dir, IndexFile)
	raw, _ := os.ReadFile(idxPath)
	var idx Index
	if err := json.Unmarshal(raw, &idx); err != nil {
		t.Fatal(err)
	}
	c := &idx.Chunks[0]
	c.Size, c.SHA256 = int64(buf.Len()), fmt.Sprintf("%x", sha256.Sum256(buf.Bytes()))
	if err := os.WriteFile(filepath.Join(dir, c.Name), buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	forge(t, dir, &idx)
	r, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	errs := r.Verify(1)
	if len(errs) == 0 {
		return nil
	}
	return errs[0]
}

func TestHostileTarMembersAreRefused(t *testing.T) {
	body := []byte("0123456789")
	d := digest.FromBytes(body)
	for _, tc := range []struct {
		name string
		hdr  tar.Header
		want string
	}{
		{"a path with .. escapes", tar.Header{Typeflag: tar.TypeReg, Name: "blobs/../../etc/passwd", Size: 10}, ".."},
		{"an absolute path", tar.Header{Typeflag: tar.TypeReg, Name: "/etc/passwd", Size: 10}, "absolute"},
		{"a symlink", tar.Header{Typeflag: tar.TypeSymlink, Name: memberName(d), Linkname: "/etc/passwd"}, "link"},
		{"a hard link", tar.Header{Typeflag: tar.TypeLink, Name: memberName(d), Linkname: "../outside"}, "link"},
		{"a device", tar.Header{Typeflag: tar.TypeChar, Name: memberName(d)}, "not a regular file"},
		{"a name that is not a blob", tar.Header{Typeflag: tar.TypeReg, Name: "index.json", Size: 10}, "not a blob"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var b []byte
			if tc.hdr.Size > 0 {
				b = body
			}
			tc.hdr.Mode = 0o644
			err := hostileChunk(t, &tc.hdr, b)
			if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), "refused") {
				t.Errorf("Verify: %v, want a refusal mentioning %q", err, tc.want)
			}
		})
	}
}

func TestReadIndexNamesTheBadField(t *testing.T) {
	good := `{"format":1,"tool":"t","id":"x","images":[{"source":"a","digest":"sha256:` + strings.Repeat("a", 64) + `"}],"chunks":[{"name":"chunk-00001.tar","size":2048,"sha256":"` + strings.Repeat("b", 64) + `","blobs":[{"digest":"sha256:` + strings.Repeat("a", 64) + `","offset":512,"size":10}]}]}`
	if _, err := ReadIndex(strings.NewReader(good), "index.json"); err != nil {
		t.Fatalf("a good index: %v", err)
	}
	for _, tc := range []struct{ name, from, to, field string }{
		{"format", `"format":1`, `"format":7`, "format"},
		{"chunk name with a path", `chunk-00001.tar`, `../chunk-00001.tar`, "chunks[0].name"},
		{"offset outside the chunk", `"offset":512`, `"offset":4096`, "chunks[0].blobs[0]"},
		{"image not in any chunk", `"source":"a","digest":"sha256:a`, `"source":"a","digest":"sha256:c`, "images[0].digest"},
		{"bad sha256", `"sha256":"b`, `"sha256":"z`, "chunks[0].sha256"},
		{"no images", `"images":[{"source":"a","digest":"sha256:` + strings.Repeat("a", 64) + `"}]`, `"images":[]`, "images"},
		{"a release that is not an image", `"chunks":`, `"releases":[{"version":"4.16.3","archExt":"","digest":"sha256:` + strings.Repeat("c", 64) + `","source":"x","tag":""}],"chunks":`, "releases[0].digest"},
		{"a release whose image has another tag", `"chunks":`, `"releases":[{"version":"4.16.3","archExt":"","digest":"sha256:` + strings.Repeat("a", 64) + `","source":"x","tag":"4.16.3-x86_64"}],"chunks":`, "releases[0].digest"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ReadIndex(strings.NewReader(strings.Replace(good, tc.from, tc.to, 1)), "index.json")
			var fe *FieldError
			if !errors.As(err, &fe) || fe.Field != tc.field {
				t.Errorf("error %v, want one naming %s", err, tc.field)
			}
		})
	}
}

func FuzzArchiveIndex(f *testing.F) {
	f.Add([]byte(`{"format":1,"images":[],"chunks":[]}`))
	f.Add([]byte(`{"format":1,"tool":"t","id":"x","images":[{"source":"a","digest":"sha256:` + strings.Repeat("a", 64) + `"}],"chunks":[{"name":"chunk-00001.tar","size":2048,"sha256":"` + strings.Repeat("b", 64) + `","blobs":[{"digest":"sha256:` + strings.Repeat("a", 64) + `","offset":512,"size":10}]}]}`))
	f.Add([]byte(`{"format":1,"since":{"archive":"x","blobs":["sha256:1"]},"chunks":[{"name":"chunk-1.tar"}]}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		idx, err := ReadIndex(bytes.NewReader(data), "index.json")
		if err != nil {
			return
		}
		// What the reader accepts is safe to act on.
		for _, c := range idx.Chunks {
			if filepath.Base(c.Name) != c.Name || !chunkName.MatchString(c.Name) {
				t.Fatalf("accepted chunk name %q", c.Name)
			}
			for _, m := range c.Blobs {
				if m.Offset < 0 || m.Size < 0 || m.Offset+m.Size > c.Size {
					t.Fatalf("accepted member %+v of chunk size %d", m, c.Size)
				}
			}
		}
		for _, im := range idx.Images {
			if err := im.Digest.Validate(); err != nil {
				t.Fatalf("accepted image digest %q", im.Digest)
			}
		}
	})
}

// TestResumeAfterKillBetweenRenameAndRecord: a chunk renamed to its final
// name but missing from chunks.json is resumed, not lost or overwritten.
func TestResumeAfterKillBetweenRenameAndRecord(t *testing.T) {
	dir := t.TempDir()
	w, err := Create(dir, WriterOptions{Lanes: 1})
	if err != nil {
		t.Fatal(err)
	}
	a, _ := blob("a", 5000)
	da := put(t, w, a)
	l := w.free[0]
	if _, err := (laneWriter{l}).Write(make([]byte, 2*blockSize)); err != nil {
		t.Fatal(err)
	}
	l.f.Close()
	w.lock.release() // killed: the kernel drops the lock
	if err := os.Rename(filepath.Join(dir, "chunk-00001.tar.part"), filepath.Join(dir, "chunk-00001.tar")); err != nil {
		t.Fatal(err)
	}
	w2, err := Create(dir, WriterOptions{Lanes: 1})
	if err != nil {
		t.Fatal(err)
	}
	if !w2.Stored(da) {
		t.Fatal("the blob of an unrecorded finished chunk was lost")
	}
	idx := &Index{Tool: "test", Images: []plan.Item{{Source: "x@" + da.String(), Digest: da}}}
	if err := w2.Finish(idx); err != nil {
		t.Fatal(err)
	}
	r, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	if errs := r.Verify(1); len(errs) != 0 {
		t.Fatal(errs)
	}
}

func TestResumeRemovesTheTempFilesOfCutWrites(t *testing.T) {
	dir := t.TempDir()
	w, err := Create(dir, WriterOptions{Lanes: 1})
	if err != nil {
		t.Fatal(err)
	}
	a, _ := blob("a", 5000)
	da := put(t, w, a)
	w.free[0].f.Close()
	w.lock.release() // killed: the kernel drops the lock
	// Killed while writing chunks.json and index.json: their temporary
	// files stay, with part of the data.
	for _, name := range []string{"." + ChunksFile + ".tmp-123", "." + IndexFile + ".tmp-456"} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(`{"form`), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	w2, err := Create(dir, WriterOptions{Lanes: 1})
	if err != nil {
		t.Fatal(err)
	}
	if err := w2.Finish(&Index{Tool: "test", Images: []plan.Item{{Source: "x@" + da.String(), Digest: da}}}); err != nil {
		t.Fatal(err)
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	if want := []string{"chunk-00001.tar", ChunksFile, IndexFile}; !slices.Equal(names, want) {
		t.Errorf("the finished archive holds %v, want %v", names, want)
	}
}

func TestChecksumManifestFromAnotherArchiveIsRefused(t *testing.T) {
	a, b := t.TempDir(), t.TempDir()
	writeArchive(t, a, WriterOptions{}, 100)
	writeArchive(t, b, WriterOptions{}, 200)
	data, err := os.ReadFile(filepath.Join(b, ChunksFile))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(a, ChunksFile), data, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := Open(a); err == nil || !strings.Contains(err.Error(), "does not match") {
		t.Errorf("Open with a foreign chunks.json: %v", err)
	}
}

// fullDisk is a temporary file on a disk that has room for only so many
// more bytes: a write past that stores what fits and fails with ENOSPC.
type fullDisk struct {
	*os.File
	room *int
}

func (f fullDisk) Write(p []byte) (int, error) {
	if len(p) <= *f.room {
		*f.room -= len(p)
		return f.File.Write(p)
	}
	n, _ := f.File.Write(p[:*f.room])
	*f.room = 0
	return n, syscall.ENOSPC
}

// TestAFullDiskFailsTheFinishAndTheRerunCompletes fills the disk while the
// checksum manifest is written at Finish: Finish fails, the previous
// chunks.json is left as it was, no index.json says the archive is
// complete, and a rerun once there is room again finishes it.
func TestAFullDiskFailsTheFinishAndTheRerunCompletes(t *testing.T) {
	dir := t.TempDir()
	w, err := Create(dir, WriterOptions{ChunkSize: 16 << 10, Lanes: 1})
	if err != nil {
		t.Fatal(err)
	}
	first, _ := blob("first", 12<<10)
	d1 := put(t, w, first)
	second, _ := blob("second", 12<<10)
	put(t, w, second) // finishes the first chunk: chunks.json records it
	before, err := os.ReadFile(filepath.Join(dir, ChunksFile))
	if err != nil {
		t.Fatal(err)
	}

	room := 100
	createTemp = func(dir, pattern string) (tempFile, error) {
		f, err := os.CreateTemp(dir, pattern)
		return fullDisk{f, &room}, err
	}
	err = w.Finish(&Index{Tool: "test", Images: []plan.Item{{Source: "example.com/a@" + d1.String(), Digest: d1}}})
	createTemp = func(dir, pattern string) (tempFile, error) { return os.CreateTemp(dir, pattern) }
	if !errors.Is(err, syscall.ENOSPC) {
		t.Fatalf("Finish on a full disk: %v, want ENOSPC", err)
	}
	if after, err := os.ReadFile(filepath.Join(dir, ChunksFile)); err != nil || !bytes.Equal(after, before) {
		t.Errorf("chunks.json changed by the failed write (err %v):\n%s", err, after)
	}
	if _, err := os.Lstat(filepath.Join(dir, IndexFile)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("index.json after a failed Finish: %v", err)
	}
	w.Close()

	w, err = Create(dir, WriterOptions{ChunkSize: 16 << 10, Lanes: 1})
	if err != nil {
		t.Fatal(err)
	}
	if w.Count() != 2 {
		t.Errorf("rerun kept %d blobs, want 2", w.Count())
	}
	if err := w.Finish(&Index{Tool: "test", Images: []plan.Item{{Source: "example.com/a@" + d1.String(), Digest: d1}}}); err != nil {
		t.Fatal(err)
	}
	r, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	if errs := r.Verify(1); len(errs) != 0 {
		t.Errorf("the rerun's archive does not verify: %v", errs)
	}
}

func TestParseSize(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want int64
		err  string
	}{
		{"", 0, ""},
		{"4", 4 << 30, ""},
		{"0.5", 512 << 20, ""},
		{"500Mi", 500 << 20, ""},
		{"1Mi", 1 << 20, ""},
		{"1Pi", 1 << 50, ""},
		{"NaN", 0, "not a number of GiB"},
		{"Inf", 0, "not a number of GiB"},
		{"-Inf", 0, "not a number of GiB"},
		{"1e30", 0, "must be between 1Mi and 1Pi"},
		{"1e-30", 0, "must be between 1Mi and 1Pi"},
		{"0", 0, "must be between 1Mi and 1Pi"},
		{"-1", 0, "must be between 1Mi and 1Pi"},
		{"1023Ki", 0, "must be between 1Mi and 1Pi"},
		{"2Pi", 0, "must be between 1Mi and 1Pi"},
		{"big", 0, "want GiB"},
	} {
		got, err := ParseSize(tc.in)
		if tc.err == "" && (err != nil || got != tc.want) || tc.err != "" && (err == nil || !strings.Contains(err.Error(), tc.err)) {
			t.Errorf("ParseSize(%q) = %d, %v; want %d, %q", tc.in, got, err, tc.want, tc.err)
		}
	}
}

func TestCheckDirRefusesAnExistingFile(t *testing.T) {
	dir := t.TempDir()
	f := filepath.Join(dir, "file")
	if err := os.WriteFile(f, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := CheckDir(f); err == nil || !strings.Contains(err.Error(), "is not a directory") {
		t.Errorf("CheckDir(file) = %v", err)
	}
	for _, ok := range []string{"", dir, filepath.Join(dir, "new")} {
		if err := CheckDir(ok); err != nil {
			t.Errorf("CheckDir(%q) = %v", ok, err)
		}
	}
}

// TestOnlyRegularFilesInsideTheDirectoryAreOpened plants what hostile media
// could hold: a symbolic link as the chunk being written (the writer must
// not truncate the file outside it points to) and as chunks.json, and a
// FIFO in place of a finished chunk and of index.json (a reader must not
// wait on it forever). Each is refused, named.
func TestOnlyRegularFilesInsideTheDirectoryAreOpened(t *testing.T) {
	t.Run("a symlinked chunk being written", func(t *testing.T) {
		dir, outside := t.TempDir(), filepath.Join(t.TempDir(), "precious")
		if err := os.WriteFile(outside, []byte("keep me\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.Symlink(outside, filepath.Join(dir, "chunk-00001.tar.part")); err != nil {
			t.Fatal(err)
		}
		_, err := Create(dir, WriterOptions{})
		var refused *RefusedError
		if !errors.As(err, &refused) || !strings.Contains(err.Error(), "chunk-00001.tar.part: a symbolic link, not a regular file: refused") {
			t.Errorf("Create = %v", err)
		}
		if data, _ := os.ReadFile(outside); string(data) != "keep me\n" {
			t.Errorf("the file the link points to was changed: %q", data)
		}
	})
	t.Run("a symlinked finished chunk", func(t *testing.T) {
		dir := t.TempDir()
		writeArchive(t, dir, WriterOptions{ChunkSize: 64 << 10}, 1000)
		chunk := filepath.Join(dir, "chunk-00001.tar")
		if err := os.Rename(chunk, filepath.Join(dir, "elsewhere")); err != nil {
			t.Fatal(err)
		}
		if err := os.Symlink("elsewhere", chunk); err != nil {
			t.Fatal(err)
		}
		r, err := Open(dir)
		if err != nil {
			t.Fatal(err)
		}
		errs := r.Verify(1)
		if len(errs) != 1 || !strings.Contains(errs[0].Error(), "chunk-00001.tar: a symbolic link") {
			t.Errorf("Verify = %v", errs)
		}
		r.Close()
		if _, err := Create(dir, WriterOptions{}); err == nil || !strings.Contains(err.Error(), "chunk-00001.tar: a symbolic link") {
			t.Errorf("resuming: %v", err)
		}
	})
	t.Run("a FIFO in place of a chunk", func(t *testing.T) {
		dir := t.TempDir()
		writeArchive(t, dir, WriterOptions{ChunkSize: 64 << 10}, 1000)
		chunk := filepath.Join(dir, "chunk-00001.tar")
		if err := os.Remove(chunk); err != nil {
			t.Fatal(err)
		}
		if err := syscall.Mkfifo(chunk, 0o644); err != nil {
			t.Fatal(err)
		}
		r, err := Open(dir)
		if err != nil {
			t.Fatal(err)
		}
		errs := r.Verify(1)
		if len(errs) != 1 || !strings.Contains(errs[0].Error(), "chunk-00001.tar: a FIFO, not a regular file: refused") {
			t.Errorf("Verify = %v", errs)
		}
		if _, _, err := r.OpenBlob(r.Index().Images[0].Digest); err == nil {
			t.Error("a blob of the FIFO chunk was opened")
		}
	})
	t.Run("a FIFO as index.json, a link as chunks.json", func(t *testing.T) {
		dir := t.TempDir()
		writeArchive(t, dir, WriterOptions{ChunkSize: 64 << 10}, 1000)
		if err := os.Rename(filepath.Join(dir, ChunksFile), filepath.Join(dir, "sums")); err != nil {
			t.Fatal(err)
		}
		if err := os.Symlink("sums", filepath.Join(dir, ChunksFile)); err != nil {
			t.Fatal(err)
		}
		if _, err := Open(dir); err == nil || !strings.Contains(err.Error(), "chunks.json: a symbolic link") {
			t.Errorf("Open with a linked chunks.json = %v", err)
		}
		if err := os.Remove(filepath.Join(dir, IndexFile)); err != nil {
			t.Fatal(err)
		}
		if err := syscall.Mkfifo(filepath.Join(dir, IndexFile), 0o644); err != nil {
			t.Fatal(err)
		}
		if _, err := Open(dir); err == nil || !strings.Contains(err.Error(), "index.json: a FIFO") {
			t.Errorf("Open with a FIFO index.json = %v", err)
		}
	})
}

// TestOneWriterAtATime: while a Writer holds a directory, a second Writer
// and a Reader are refused naming the process; while a Reader holds it, a
// Writer is refused and other Readers are not; once released, it can be
// taken again.
func TestOneWriterAtATime(t *testing.T) {
	dir := t.TempDir()
	w, err := Create(dir, WriterOptions{})
	if err != nil {
		t.Fatal(err)
	}
	d := put(t, w, []byte("one"))
	held := fmt.Sprintf("being written by process %d (%s)", os.Getpid(), filepath.Base(os.Args[0]))
	var refused *RefusedError
	if _, err := Create(dir, WriterOptions{}); !errors.As(err, &refused) || !strings.Contains(err.Error(), held) {
		t.Errorf("a second writer: %v; want %q", err, held)
	}
	if _, err := Open(dir); !errors.As(err, &refused) || !strings.Contains(err.Error(), held) {
		t.Errorf("a reader while writing: %v", err)
	}
	if err := w.Finish(&Index{Tool: "test", Images: []plan.Item{{Source: "x@" + d.String(), Digest: d}}}); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Lstat(filepath.Join(dir, lockFile)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the lock file is left in the finished archive: %v", err)
	}
	r1, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	r2, err := Open(dir)
	if err != nil {
		t.Fatalf("a second reader: %v", err)
	}
	if _, err := Create(dir, WriterOptions{}); !errors.As(err, &refused) || !strings.Contains(err.Error(), "being read by another process") {
		t.Errorf("a writer while reading: %v", err)
	}
	r1.Close()
	r2.Close()
	w, err = Create(dir, WriterOptions{})
	if err != nil {
		t.Fatalf("a writer once the readers are done: %v", err)
	}
	w.Close()
}

// releaseArchive writes an archive of a release image and one component
// and returns its index as written.
func releaseArchive(t *testing.T, dir string) *Index {
	t.Helper()
	w, err := Create(dir, WriterOptions{})
	if err != nil {
		t.Fatal(err)
	}
	rel := put(t, w, []byte("release manifest"))
	comp := put(t, w, []byte("component manifest"))
	idx := &Index{Tool: "test", Images: []plan.Item{
		{Source: "example.com/r@" + rel.String(), Digest: rel, Tag: "4.16.3-x86_64"},
		{Source: "example.com/r@" + comp.String(), Digest: comp, Tag: "4.16.3-x86_64-etcd"},
	}, Releases: []plan.Release{{Version: "4.16.3", Digest: rel, Source: "example.com/r@" + rel.String(), Tag: "4.16.3-x86_64"}}}
	if err := w.Finish(idx); err != nil {
		t.Fatal(err)
	}
	got, err := ReadIndexFile(dir)
	if err != nil {
		t.Fatal(err)
	}
	return got
}

// TestTheIndexIsBoundToTheChecksumManifest changes index.json as someone
// could on the way across: alone, it no longer matches chunks.json; with
// chunks.json forged to match, a release that is not its image or an
// index with no images is still refused.
func TestTheIndexIsBoundToTheChecksumManifest(t *testing.T) {
	edit := func(t *testing.T, dir string, change func(*Index)) {
		t.Helper()
		idx, err := ReadIndexFile(dir)
		if err != nil {
			t.Fatal(err)
		}
		change(idx)
		raw, _ := json.MarshalIndent(idx, "", "  ")
		if err := os.WriteFile(filepath.Join(dir, IndexFile), raw, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	t.Run("a retargeted tag", func(t *testing.T) {
		dir := t.TempDir()
		releaseArchive(t, dir)
		edit(t, dir, func(idx *Index) { idx.Images[1].Tag = "4.16.3-x86_64" })
		if _, err := Open(dir); err == nil || !strings.Contains(err.Error(), "index.json: does not match the digest chunks.json records") {
			t.Errorf("Open = %v", err)
		}
	})
	t.Run("an index left unbound", func(t *testing.T) {
		dir := t.TempDir()
		idx := releaseArchive(t, dir)
		sums, _ := checksums{Format: FormatVersion, Chunks: idx.Chunks}.marshal()
		if err := os.WriteFile(filepath.Join(dir, ChunksFile), sums, 0o644); err != nil {
			t.Fatal(err)
		}
		if _, err := Open(dir); err == nil || !strings.Contains(err.Error(), "records no digest of index.json") {
			t.Errorf("Open = %v", err)
		}
	})
	for _, tc := range []struct {
		name, want string
		change     func(*Index)
	}{
		{"the release pointed at a component", "releases[0].digest", func(idx *Index) { idx.Releases[0].Digest = idx.Images[1].Digest }},
		{"a release never pushed", "releases[0].digest", func(idx *Index) { idx.Releases[0].Digest = digest.FromString("elsewhere") }},
		{"images emptied", "images: no images", func(idx *Index) { idx.Images = nil }},
	} {
		t.Run(tc.name+", both files forged", func(t *testing.T) {
			dir := t.TempDir()
			idx := releaseArchive(t, dir)
			tc.change(idx)
			forge(t, dir, idx)
			if _, err := Open(dir); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("Open = %v, want %q", err, tc.want)
			}
		})
	}
}

// TestARerunThatAddsNothingKeepsTheArchive: mirror to disk again into a
// finished archive, with the same content, leaves index.json and
// chunks.json byte for byte (an archive already carried across is still
// the same archive).
func TestARerunThatAddsNothingKeepsTheArchive(t *testing.T) {
	dir := t.TempDir()
	idx := releaseArchive(t, dir)
	before := map[string][]byte{}
	for _, f := range []string{IndexFile, ChunksFile} {
		before[f], _ = os.ReadFile(filepath.Join(dir, f))
	}
	w, err := Create(dir, WriterOptions{})
	if err != nil {
		t.Fatal(err)
	}
	again := &Index{Tool: idx.Tool, Images: idx.Images, Releases: idx.Releases}
	if err := w.Finish(again); err != nil {
		t.Fatal(err)
	}
	for f, b := range before {
		if after, _ := os.ReadFile(filepath.Join(dir, f)); !bytes.Equal(after, b) {
			t.Errorf("%s changed:\n%s\n->\n%s", f, b, after)
		}
	}
	if _, err := Open(dir); err != nil {
		t.Error(err)
	}
}

// TestResumeRewritesADamagedFinishedChunk: a finished chunk damaged (a
// flipped byte) or lost after it was recorded is found when mirror to
// disk runs again into the directory, and its blobs are written again,
// so the archive finishes whole; the others are kept.
func TestResumeRewritesADamagedFinishedChunk(t *testing.T) {
	for _, damage := range []string{"flipped", "missing"} {
		t.Run(damage, func(t *testing.T) {
			dir := t.TempDir()
			opts := WriterOptions{ChunkSize: 16 << 10, Lanes: 1}
			ds, all := writeArchive(t, dir, opts, 12<<10, 12<<10, 12<<10)
			idx, err := ReadIndexFile(dir)
			if err != nil {
				t.Fatal(err)
			}
			bad := idx.Chunks[1]
			path := filepath.Join(dir, bad.Name)
			if damage == "flipped" {
				data, _ := os.ReadFile(path)
				data[len(data)/2] ^= 0xff
				if err := os.WriteFile(path, data, 0o644); err != nil {
					t.Fatal(err)
				}
			} else if err := os.Remove(path); err != nil {
				t.Fatal(err)
			}
			var warn bytes.Buffer
			opts.Warn = &warn
			w, err := Create(dir, opts)
			if err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(warn.String(), bad.Name) || !strings.Contains(warn.String(), "written again") {
				t.Errorf("no warning naming %s: %q", bad.Name, warn.String())
			}
			lost := bad.Blobs[0].Digest
			if w.Has(lost) {
				t.Fatalf("the blob of the damaged chunk counts as stored")
			}
			for _, d := range ds {
				if !w.Has(d) {
					put(t, w, all[d]) // what the mirror engine does for a blob the archive lacks
				}
			}
			if err := w.Finish(&Index{Tool: "test", Images: idx.Images}); err != nil {
				t.Fatal(err)
			}
			r, err := Open(dir)
			if err != nil {
				t.Fatal(err)
			}
			defer r.Close()
			if errs := r.Verify(1); len(errs) != 0 {
				t.Errorf("the repaired archive does not verify: %v", errs)
			}
			for _, d := range ds {
				got, err := r.ReadBlob(d, 1<<20)
				if err != nil || !bytes.Equal(got, all[d]) {
					t.Errorf("blob %s after the repair: %v", d, err)
				}
			}
		})
	}
}
