package snapshot

import (
	"io/fs"
	"path/filepath"
)

// TreeSize is the size of the regular files under dir (what removing it
// frees, hard links aside); unreadable parts count as nothing.
func TreeSize(dir string) int64 {
	var n int64
	filepath.WalkDir(dir, func(_ string, d fs.DirEntry, err error) error {
		if err == nil && d.Type().IsRegular() {
			if fi, err := d.Info(); err == nil {
				n += fi.Size()
			}
		}
		return nil
	})
	return n
}
