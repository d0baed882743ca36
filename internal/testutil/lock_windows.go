package testutil

import (
	"math"
	"os"

	"golang.org/x/sys/windows"
)

// lockExclusive waits for an exclusive LockFileEx lock on f.
func lockExclusive(f *os.File) error {
	return windows.LockFileEx(windows.Handle(f.Fd()), windows.LOCKFILE_EXCLUSIVE_LOCK, 0, math.MaxUint32, math.MaxUint32, new(windows.Overlapped))
}

// unlock releases the lock on f (closing f does too).
func unlock(f *os.File) error {
	return windows.UnlockFileEx(windows.Handle(f.Fd()), 0, math.MaxUint32, math.MaxUint32, new(windows.Overlapped))
}
