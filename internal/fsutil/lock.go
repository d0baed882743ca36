package fsutil

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"
)

// Lock is an advisory lock on a lock file: flock(2) on unix, LockFileEx on
// Windows. Locks belong to the open file, so two Locks of one path conflict
// even inside one process. The zero value is not a lock; Unlock releases it
// by closing the file.
type Lock struct {
	f    *os.File
	path string
}

// LockFile takes a shared or exclusive lock on path, creating the file
// (mode perm) when missing, and waits until it is granted or ctx is done.
func LockFile(ctx context.Context, path string, perm os.FileMode, exclusive bool) (*Lock, error) {
	return waitLock(ctx, path, func() (*Lock, error) { return TryLockFile(path, perm, exclusive) })
}

// LockDir takes a shared or exclusive lock on the directory dir itself (a
// directory that holds work in progress: removers of stale work skip it
// while it is locked) and waits until it is granted or ctx is done. Unix
// only: Windows cannot lock a directory (an error).
func LockDir(ctx context.Context, dir string, exclusive bool) (*Lock, error) {
	return waitLock(ctx, dir, func() (*Lock, error) { return TryLockDir(dir, exclusive) })
}

// waitLock calls try until it returns something other than ErrLocked,
// sleeping from 1ms up to 50ms between calls, or ctx is done.
func waitLock(ctx context.Context, path string, try func() (*Lock, error)) (*Lock, error) {
	wait := time.Millisecond
	for {
		l, err := try()
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

// TryLockDir is LockDir without waiting: ErrLocked (unwrapped) while a
// conflicting lock is held.
func TryLockDir(dir string, exclusive bool) (*Lock, error) {
	f, err := os.Open(dir)
	if err != nil {
		return nil, fmt.Errorf("opening lock %s: %w", dir, err)
	}
	if fi, err := f.Stat(); err != nil || !fi.IsDir() {
		f.Close()
		if err == nil {
			err = errors.New("not a directory")
		}
		return nil, fmt.Errorf("opening lock %s: %w", dir, err)
	}
	return tryLock(f, dir, exclusive)
}

// TryLockFile is LockFile without waiting: ErrLocked (unwrapped) while a
// conflicting lock is held.
func TryLockFile(path string, perm os.FileMode, exclusive bool) (*Lock, error) {
	f, err := openLockFile(path, perm)
	if err != nil {
		return nil, fmt.Errorf("opening lock %s: %w", path, err)
	}
	return tryLock(f, path, exclusive)
}

func tryLock(f *os.File, path string, exclusive bool) (*Lock, error) {
	if err := TryLock(f, exclusive); err != nil {
		f.Close()
		if err == ErrLocked {
			return nil, err
		}
		return nil, fmt.Errorf("locking %s: %w", path, err)
	}
	return &Lock{f: f, path: path}, nil
}

// File is the locked file.
func (l *Lock) File() *os.File { return l.f }

// AtPath reports whether the locked file is still the one its path names.
// A lock file or directory its owner removed (or replaced) between another
// process's open and lock is no longer the one others lock: such a lock is
// worth nothing, and its taker unlocks and tries again.
func (l *Lock) AtPath() bool {
	held, err := l.f.Stat()
	if err != nil {
		return false
	}
	now, err := os.Stat(l.path)
	return err == nil && os.SameFile(held, now)
}

// Unlock releases the lock (closing its file).
func (l *Lock) Unlock() error { return l.f.Close() }

// RemoveStaleDirs removes the directories matching the glob pattern that are
// at least minAge old (one just made is not locked yet) and that nobody
// holds locked (TryLockDir): what killed processes left of their work
// directories, each of which holds its own directory's lock while it lives.
// Errors are ignored: the next sweep tries again.
func RemoveStaleDirs(pattern string, minAge time.Duration) {
	dirs, _ := filepath.Glob(pattern)
	for _, d := range dirs {
		fi, err := os.Lstat(d)
		if err != nil || !fi.IsDir() || time.Since(fi.ModTime()) < minAge {
			continue
		}
		l, err := TryLockDir(d, true)
		if err != nil {
			continue // in use
		}
		os.RemoveAll(d)
		l.Unlock()
	}
}
