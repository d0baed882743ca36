//go:build !linux

package store

import "os"

// writebackWriter is the file itself where sync_file_range is missing: the
// fsync at the end of the blob writes it all.
type writebackWriter struct{ *os.File }

func newWriteback(f *os.File) writebackWriter { return writebackWriter{f} }
