package store

import (
	"errors"
	"io"
	"os"
	"unsafe"

	"golang.org/x/sys/unix"
)

// newBlobFile returns the writer stageBlob streams a blob of size bytes (-1:
// unknown) into f, when the blob is to be fsync'd. Both kinds below end in
// the same fsync (publishBlobs); they differ in how the bytes get there.
//
// A blob of at least directMinSize (or of unknown size) goes to the disk directly (O_DIRECT): it
// is written once, by the device from our buffer, instead of being copied
// into the page cache and written back from there. Copying into newly
// allocated page-cache pages was the largest cost of a pull (56% of its CPU
// in a `perf record` of a 500 MiB pull on the benchmark machine, more than
// the sha256), and the store forces every blob to the disk anyway. The
// price is that the blob is not in the page cache afterwards. Where the file
// system refuses O_DIRECT, the writer falls back to the page cache.
func newBlobFile(f *os.File, size int64) blobFile {
	if size >= 0 && size < directMinSize || inMemoryFS(int(f.Fd())) {
		return newWriteback(f)
	}
	d := &directWriter{f: f, fd: int(f.Fd())}
	if err := d.setDirect(true); err != nil {
		return newWriteback(f)
	}
	return d
}

// inMemoryFS reports whether fd is on a file system whose files live in the
// page cache (tmpfs, ramfs). There, O_DIRECT saves nothing: since Linux 6.6
// tmpfs accepts it and still caches every page, and its fsync is a no-op.
func inMemoryFS(fd int) bool {
	var st unix.Statfs_t
	if unix.Fstatfs(fd, &st) != nil {
		return false
	}
	t := uint32(st.Type) // int32 on 32-bit Linux, where RAMFS_MAGIC is negative
	return t == unix.TMPFS_MAGIC || t == unix.RAMFS_MAGIC
}

type blobFile interface{ Write(p []byte) (int, error) }

// overlapWrites reports whether w's writes wait for the device (O_DIRECT),
// so that stageBlob overlaps them with the download (copyOverlapped).
func overlapWrites(w io.Writer) bool {
	_, ok := w.(*directWriter)
	return ok
}

// directMinSize: a blob under 8 MiB is written through the page cache,
// where the next reader finds it. A direct write waits for the device, so a
// small blob's download stalls on each of its chunks while the page cache
// would take them at once; at this size the copy is cheap. Pulls of
// bench/registry.sh's images, 5 interleaved runs each on a quiet 2-core
// machine, wall time up to a `sync` of the store, median, with O_DIRECT from
// 1 MiB against 8 MiB: 16 layers of 3.2 MiB 0.298 s against 0.274 s (CPU
// 183 against 170 ms); 4 layers of 48 MiB (direct either way) 0.522 s.
// At 48 MiB the page cache was still ~4% faster in wall time on the quiet
// machine but used ~20 ms more CPU, which a loaded machine pays for
// (bench/README.md, "Registry: pull CPU, page cache and O_DIRECT").
const directMinSize = 8 << 20

// directAlign is the alignment O_DIRECT needs of the buffer's address, the
// file offset and the length (the logical block size of every common disk
// is 512 or 4096 bytes).
const directAlign = bufAlign

// directWriter writes aligned chunks with O_DIRECT and the rest (the tail of
// the blob, or everything once a direct write is refused) through the page
// cache, with the writeback of writebackWriter.
type directWriter struct {
	f      *os.File
	fd     int
	direct bool
	wb     *writebackWriter
}

func (d *directWriter) setDirect(on bool) error {
	fl, err := unix.FcntlInt(uintptr(d.fd), unix.F_GETFL, 0)
	if err != nil {
		return err
	}
	if on {
		fl |= unix.O_DIRECT
	} else {
		fl &^= unix.O_DIRECT
	}
	if _, err := unix.FcntlInt(uintptr(d.fd), unix.F_SETFL, fl); err != nil {
		return err
	}
	d.direct = on
	return nil
}

// buffered leaves O_DIRECT for good: the page cache from the current offset.
func (d *directWriter) buffered() error {
	if err := d.setDirect(false); err != nil {
		return err
	}
	off, err := d.f.Seek(0, 1)
	if err != nil {
		return err
	}
	d.wb = newWriteback(d.f)
	d.wb.off, d.wb.started = off, off
	return nil
}

func (d *directWriter) Write(p []byte) (int, error) {
	if d.direct && len(p)%directAlign == 0 && uintptr(unsafe.Pointer(unsafe.SliceData(p)))%directAlign == 0 {
		n, err := d.f.Write(p)
		if err == nil || n > 0 || !errors.Is(err, unix.EINVAL) {
			return n, err
		}
		// EINVAL before anything was written: this file system (or
		// device) wants another alignment, or no O_DIRECT at all.
	}
	if d.wb == nil {
		if err := d.buffered(); err != nil {
			return 0, err
		}
	}
	return d.wb.Write(p)
}

// writebackChunk is how much of a blob is written before the kernel is asked
// to start writing it back.
const writebackChunk = 8 << 20

// writebackWriter writes to f and, every writebackChunk bytes, starts the
// kernel's writeback of what it wrote (sync_file_range SYNC_FILE_RANGE_WRITE:
// asynchronous, no wait, no metadata). The fsync that makes the blob durable
// still follows; it then finds most pages already on their way to the disk
// instead of writing the whole blob while the download waits. A failure here
// is ignored: fsync reports what matters.
type writebackWriter struct {
	f       *os.File
	fd      int
	off     int64 // bytes written
	started int64 // bytes handed to writeback
}

func newWriteback(f *os.File) *writebackWriter { return &writebackWriter{f: f, fd: int(f.Fd())} }

func (w *writebackWriter) Write(p []byte) (int, error) {
	n, err := w.f.Write(p)
	w.off += int64(n)
	if w.off-w.started >= writebackChunk {
		_ = unix.SyncFileRange(w.fd, w.started, w.off-w.started, unix.SYNC_FILE_RANGE_WRITE)
		w.started = w.off
	}
	return n, err
}

// openRead opens a file of the store for reading without updating its
// access time (O_NOATIME; plain open where it is refused: a file of another
// owner). A blob is read right after it is written (its manifest by
// WriteIndex, index.json by the next Tag); with relatime that first read
// changes the inode's atime, which made the inode dirty again after the
// store had made it durable, so the next fsync of it (a user's `sync`, a
// backup) had to commit a journal transaction for nothing.
func openRead(name string) (*os.File, error) {
	f, err := os.OpenFile(name, os.O_RDONLY|unix.O_NOATIME, 0)
	if errors.Is(err, unix.EPERM) {
		return os.Open(name)
	}
	return f, err
}
