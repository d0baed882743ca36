package store

import (
	"bytes"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"
	"time"
	"unsafe"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"golang.org/x/sys/unix"
)

// cachedPages reports how many of the file's pages are in the page cache.
func cachedPages(t *testing.T, name string) (cached, total int) {
	t.Helper()
	f, err := os.Open(name)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		t.Fatal(err)
	}
	m, err := unix.Mmap(int(f.Fd()), 0, int(fi.Size()), unix.PROT_READ, unix.MAP_SHARED)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Munmap(m)
	page := os.Getpagesize()
	vec := make([]byte, (len(m)+page-1)/page)
	if _, _, errno := unix.Syscall(unix.SYS_MINCORE, uintptr(unsafe.Pointer(&m[0])), uintptr(len(m)), uintptr(unsafe.Pointer(&vec[0]))); errno != 0 {
		t.Fatal(errno)
	}
	for _, v := range vec {
		if v&1 != 0 {
			cached++
		}
	}
	return cached, len(vec)
}

// directSupported skips when the test directory's file system refuses O_DIRECT.
func directSupported(t *testing.T, dir string) {
	t.Helper()
	f, err := os.CreateTemp(dir, "direct-")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if inMemoryFS(int(f.Fd())) {
		t.Skipf("%s is on tmpfs or ramfs: its files are the page cache, so blobs are written through it", dir)
	}
	if err := (&directWriter{f: f, fd: int(f.Fd())}).setDirect(true); err != nil {
		t.Skipf("the file system of %s refuses O_DIRECT (%v): blobs go through the page cache there", dir, err)
	}
}

// A large blob is written past the page cache (O_DIRECT) and still arrives
// whole and verified, its unaligned tail included; a small one is cached.
func TestLargeBlobBypassesPageCache(t *testing.T) {
	s := newStore(t)
	directSupported(t, s.path(ingestDir))
	rng := rand.New(rand.NewPCG(1, 2))
	for _, tc := range []struct {
		size   int
		direct bool
	}{
		{9<<20 + 123, true},
		{8 << 20, true},
		{3200 << 10, false}, // bench/registry.sh's 50 MiB image has layers of this size
		{8<<20 - 1, false},
		{64 << 10, false},
	} {
		data := make([]byte, tc.size)
		for i := range data {
			data[i] = byte(rng.Uint32())
		}
		h := sha(data)
		// A reader that hands out odd-sized pieces, as a socket does.
		r := &oddReader{r: bytes.NewReader(data), rng: rng}
		if _, err := s.WriteBlob(t.Context(), r, h, int64(len(data))); err != nil {
			t.Fatalf("WriteBlob(%d bytes) = %v", tc.size, err)
		}
		cached, total := cachedPages(t, s.blobPath(h))
		if tc.direct && cached > total/4 {
			t.Errorf("blob of %d bytes: %d of %d pages in the page cache after writing, want it written past the cache", tc.size, cached, total)
		}
		if !tc.direct && cached != total {
			t.Errorf("blob of %d bytes: %d of %d pages in the page cache, want all (small blobs are written through the cache)", tc.size, cached, total)
		}
		got, err := io.ReadAll(mustOpen(t, s, h))
		if err != nil {
			t.Fatalf("reading back %d bytes: %v", tc.size, err)
		}
		if !bytes.Equal(got, data) {
			t.Fatalf("blob of %d bytes read back differs", tc.size)
		}
	}
}

// An unaligned write in the middle (a short read before the end) moves the
// rest of the blob to the page cache; the bytes stay in order.
func TestDirectWriterFallsBack(t *testing.T) {
	dir := t.TempDir()
	directSupported(t, dir)
	f, err := os.Create(filepath.Join(dir, "blob"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	w := newBlobFile(f, -1)
	d, ok := w.(*directWriter)
	if !ok || !d.direct {
		t.Fatalf("newBlobFile(size -1) = %T, want a directWriter in O_DIRECT mode", w)
	}
	bp := copyBufs.Get().(*[]byte)
	defer copyBufs.Put(bp)
	buf := *bp
	var want []byte
	for i, n := range []int{len(buf), 100, len(buf), 4096} {
		chunk := buf[:n]
		for j := range chunk {
			chunk[j] = byte(i + j)
		}
		if _, err := w.Write(chunk); err != nil {
			t.Fatalf("write %d (%d bytes): %v", i, n, err)
		}
		want = append(want, chunk...)
		if i == 0 && d.wb != nil {
			t.Fatalf("an aligned first chunk left O_DIRECT")
		}
	}
	if d.direct || d.wb == nil {
		t.Errorf("after an unaligned chunk: direct %v, want the page cache", d.direct)
	}
	got, err := os.ReadFile(f.Name())
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("file holds %d bytes, want %d in the order written", len(got), len(want))
	}
}

type oddReader struct {
	r   io.Reader
	rng *rand.Rand
}

func (o *oddReader) Read(p []byte) (int, error) {
	if n := 1 + o.rng.IntN(100<<10); n < len(p) {
		p = p[:n]
	}
	return o.r.Read(p)
}

func mustOpen(t *testing.T, s *Store, h v1.Hash) io.Reader {
	t.Helper()
	rc, err := s.OpenBlob(t.Context(), h)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { rc.Close() })
	return rc
}

// Reading a blob does not touch its access time, so a blob made durable
// stays clean (relatime would update an atime older than the mtime).
func TestBlobReadLeavesAtime(t *testing.T) {
	s := newStore(t)
	data := []byte("a blob read right after it is written")
	h := sha(data)
	if _, err := s.WriteBlob(t.Context(), bytes.NewReader(data), h, int64(len(data))); err != nil {
		t.Fatal(err)
	}
	p := s.blobPath(h)
	old := time.Now().Add(-48 * time.Hour)
	if err := os.Chtimes(p, old, time.Now()); err != nil {
		t.Fatal(err)
	}
	if _, err := s.ReadBlob(t.Context(), h); err != nil {
		t.Fatal(err)
	}
	var st unix.Stat_t
	if err := unix.Stat(p, &st); err != nil {
		t.Fatal(err)
	}
	if got := time.Unix(st.Atim.Unix()); got.After(old.Add(time.Second)) {
		t.Errorf("atime after ReadBlob = %v, want it left at %v", got, old)
	}
}

// On tmpfs a blob is written through the page cache: O_DIRECT is accepted
// there (Linux 6.6 on) but saves nothing, as tmpfs's files are page cache.
func TestTmpfsBlobIsBuffered(t *testing.T) {
	dir, err := os.MkdirTemp("/dev/shm", "manyarch-store-test-")
	if err != nil {
		t.Skipf("no /dev/shm: %v", err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	f, err := os.Create(filepath.Join(dir, "blob"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if !inMemoryFS(int(f.Fd())) {
		t.Skip("/dev/shm is not tmpfs here")
	}
	if w, ok := newBlobFile(f, 64<<20).(*directWriter); ok {
		t.Fatalf("newBlobFile on tmpfs = %T (direct %v), want the page-cache writer", w, w.direct)
	}
}
