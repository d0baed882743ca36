//go:build unix

package fsutil

import (
	"errors"
	"io/fs"
	"os"

	"golang.org/x/sys/unix"
)

// openLockFile opens (creating) the lock file path. One that exists but
// this process may not write (another user's store it can read) is opened
// read-only: flock needs no write access.
func openLockFile(path string, perm os.FileMode) (*os.File, error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|unix.O_CLOEXEC, perm)
	if err != nil && (errors.Is(err, fs.ErrPermission) || errors.Is(err, unix.EROFS)) {
		if rf, rerr := os.OpenFile(path, os.O_RDONLY|unix.O_CLOEXEC, 0); rerr == nil {
			return rf, nil
		}
	}
	return f, err
}

// TryLock takes a shared or exclusive flock on the open file f without
// waiting: ErrLocked while a conflicting lock is held. Closing f releases it.
func TryLock(f *os.File, exclusive bool) error {
	how := unix.LOCK_SH
	if exclusive {
		how = unix.LOCK_EX
	}
	for {
		err := unix.Flock(int(f.Fd()), how|unix.LOCK_NB)
		switch {
		case err == nil:
			return nil
		case errors.Is(err, unix.EINTR):
			continue
		case errors.Is(err, unix.EWOULDBLOCK):
			return ErrLocked
		}
		return err
	}
}
