package store

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"slices"

	"github.com/manyarch/manyarch/internal/fsutil"
)

// locksDir holds the lock files of LockNames, one per name ever locked.
const locksDir = "locks"

// LockNames holds an exclusive lock on each of names until the returned
// function is called, waiting (as long as ctx allows) while another process
// or goroutine holds one of them. It is for a read-modify-write of what a
// name points at (index append: read the index NAME names, add to it, tag
// the result as NAME): Tag alone is atomic, but two such edits that both
// read before either tags would lose one's change. Only editors that lock
// exclude each other; readers and Tag do not wait.
//
// The locks are files ROOT/locks/name-HASH.lock, taken in one order, so two
// callers locking overlapping names cannot deadlock.
func (s *Store) LockNames(ctx context.Context, names ...string) (func(), error) {
	paths := make([]string, 0, len(names))
	for _, n := range names {
		if err := checkName(n); err != nil {
			return nil, fmt.Errorf("locking %q: %w", n, err)
		}
		sum := sha256.Sum256([]byte(n))
		paths = append(paths, s.path(locksDir, "name-"+hex.EncodeToString(sum[:16])+".lock"))
	}
	slices.Sort(paths)
	paths = slices.Compact(paths)
	if err := os.MkdirAll(s.path(locksDir), 0o755); err != nil {
		return nil, fmt.Errorf("creating %s: %w", s.path(locksDir), err)
	}
	var held []*fsutil.Lock
	unlock := func() {
		for i := len(held) - 1; i >= 0; i-- {
			held[i].Unlock()
		}
	}
	for _, p := range paths {
		l, err := fsutil.LockFile(ctx, p, 0o644, true)
		if err != nil {
			unlock()
			return nil, fmt.Errorf("locking a name in %s (%s): %w", s.root, filepath.Base(p), err)
		}
		held = append(held, l)
	}
	return unlock, nil
}
