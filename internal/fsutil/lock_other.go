//go:build !unix && !windows

package fsutil

import "os"

func openLockFile(path string, perm os.FileMode) (*os.File, error) {
	return os.OpenFile(path, os.O_RDWR|os.O_CREATE, perm)
}

// TryLock fails: this OS has neither flock nor LockFileEx.
func TryLock(f *os.File, exclusive bool) error { return ErrNotSupported }
