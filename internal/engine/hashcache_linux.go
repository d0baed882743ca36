package engine

import (
	"io/fs"
	"syscall"
)

// fileSumKey returns what the sum cache compares for the file whose Lstat
// is fi (size, mtime, ctime, inode), false when fi carries no Stat_t.
func fileSumKey(fi fs.FileInfo) (fileSum, bool) {
	st, _ := fi.Sys().(*syscall.Stat_t)
	if st == nil {
		return fileSum{}, false
	}
	return fileSum{Size: fi.Size(), Mtime: st.Mtim.Nano(), Ctime: st.Ctim.Nano(), Ino: st.Ino}, true
}
