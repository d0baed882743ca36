package store

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"sync"
	"syscall"

	"github.com/manyarch/manyarch/internal/fsutil"
)

// ErrGCWhileHeld is returned by GC in a process that holds the store
// (Hold): GC would wait for that hold forever.
var ErrGCWhileHeld = errors.New("gc cannot run while this process holds the store for reading")

// holds counts the live Holds of this process, by store root.
var holds = struct {
	sync.Mutex
	n map[string]int
}{n: map[string]int{}}

// Hold keeps GC (of any process) from removing blobs while the caller reads
// them: it holds ROOT/gc.lock shared, as writers do, until the returned
// function is called (which is safe to call more than once). A command that
// reads images out of the store (push, copy, export, run until its root
// file system is ready) holds it, so that `rmi` and `gc` in another
// process wait for the read to end rather than pull its layers from under
// it. GC in a process that holds the store is ErrGCWhileHeld.
func (s *Store) Hold(ctx context.Context) (func(), error) {
	l, err := fsutil.LockFile(ctx, s.path(gcLockFile), 0o644, false)
	if errors.Is(err, fs.ErrPermission) || errors.Is(err, syscall.EROFS) {
		// A store this process may only read, without a gc.lock to open
		// (one another tool made): the read goes on without the hold.
		return func() {}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("holding %s for reading: %w", s.root, err)
	}
	holds.Lock()
	holds.n[s.root]++
	holds.Unlock()
	var once sync.Once
	return func() {
		once.Do(func() {
			holds.Lock()
			if holds.n[s.root]--; holds.n[s.root] == 0 {
				delete(holds.n, s.root)
			}
			holds.Unlock()
			l.Unlock()
		})
	}, nil
}

// held reports whether this process holds the store at s.root.
func (s *Store) held() bool {
	holds.Lock()
	defer holds.Unlock()
	return holds.n[s.root] > 0
}

// InUse reports whether another process (or another Hold, Transaction or
// write of this one) holds the store now, so that GC would wait for it.
func (s *Store) InUse() (bool, error) {
	l, err := fsutil.TryLockFile(s.path(gcLockFile), 0o644, true)
	if err == fsutil.ErrLocked {
		return true, nil
	}
	if err != nil {
		return false, err
	}
	l.Unlock()
	return false, nil
}
