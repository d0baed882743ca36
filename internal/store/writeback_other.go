//go:build !linux

package store

import (
	"io"
	"os"
)

// overlapWrites is false: the file's writes go to the page cache.
func overlapWrites(w io.Writer) bool { return false }

// newBlobFile is the file itself where O_DIRECT and sync_file_range are
// missing: the fsync at the end of the blob writes it all.
func newBlobFile(f *os.File, size int64) *os.File { return f }

// openRead opens a file of the store for reading (see the Linux version).
func openRead(name string) (*os.File, error) { return os.Open(name) }
