package store

import (
	"os"

	"golang.org/x/sys/unix"
)

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
