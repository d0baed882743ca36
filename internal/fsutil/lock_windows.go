package fsutil

import (
	"errors"
	"math"
	"os"

	"golang.org/x/sys/windows"
)

func openLockFile(path string, perm os.FileMode) (*os.File, error) {
	return os.OpenFile(path, os.O_RDWR|os.O_CREATE, perm)
}

// TryLock takes a shared or exclusive LockFileEx lock on the open file f
// without waiting: ErrLocked while a conflicting lock is held. Closing f
// releases it.
func TryLock(f *os.File, exclusive bool) error {
	how := uint32(windows.LOCKFILE_FAIL_IMMEDIATELY)
	if exclusive {
		how |= windows.LOCKFILE_EXCLUSIVE_LOCK
	}
	err := windows.LockFileEx(windows.Handle(f.Fd()), how, 0, math.MaxUint32, math.MaxUint32, new(windows.Overlapped))
	if errors.Is(err, windows.ERROR_LOCK_VIOLATION) {
		return ErrLocked
	}
	return err
}
