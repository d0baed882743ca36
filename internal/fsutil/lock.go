package fsutil

import (
	"context"
	"fmt"
	"os"
	"time"
)

// Lock is an advisory lock on a lock file: flock(2) on unix, LockFileEx on
// Windows. Locks belong to the open file, so two Locks of one path conflict
// even inside one process. The zero value is not a lock; Unlock releases it
// by closing the file.
type Lock struct {
	f *os.File
}

// LockFile takes a shared or exclusive lock on path, creating the file
// (mode perm) when missing, and waits until it is granted or ctx is done.
func LockFile(ctx context.Context, path string, perm os.FileMode, exclusive bool) (*Lock, error) {
	wait := time.Millisecond
	for {
		l, err := TryLockFile(path, perm, exclusive)
		if err != ErrLocked {
			return l, err
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil, fmt.Errorf("waiting for lock %s: %w", path, ctx.Err())
		case <-t.C:
		}
		if wait < 50*time.Millisecond {
			wait *= 2
		}
	}
}

// TryLockFile is LockFile without waiting: ErrLocked (unwrapped) while a
// conflicting lock is held.
func TryLockFile(path string, perm os.FileMode, exclusive bool) (*Lock, error) {
	f, err := openLockFile(path, perm)
	if err != nil {
		return nil, fmt.Errorf("opening lock %s: %w", path, err)
	}
	if err := TryLock(f, exclusive); err != nil {
		f.Close()
		if err == ErrLocked {
			return nil, err
		}
		return nil, fmt.Errorf("locking %s: %w", path, err)
	}
	return &Lock{f: f}, nil
}

// File is the locked file.
func (l *Lock) File() *os.File { return l.f }

// Unlock releases the lock (closing its file).
func (l *Lock) Unlock() error { return l.f.Close() }
