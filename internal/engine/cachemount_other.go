//go:build !linux

package engine

import (
	"fmt"
	"io/fs"
	"os"
)

// renameNoReplace renames oldpath to newpath unless newpath exists. RUN
// steps, the only users, need Linux; elsewhere the check and the rename
// are two steps.
func renameNoReplace(oldpath, newpath string) error {
	if _, err := os.Lstat(newpath); err == nil {
		return fmt.Errorf("rename %s %s: %w", oldpath, newpath, fs.ErrExist)
	}
	return os.Rename(oldpath, newpath)
}
