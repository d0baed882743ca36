package ref

import (
	"context"
	"errors"
	"log/slog"
	"os"
	"sync"

	"github.com/manyarch/manyarch/internal/remote"
	"github.com/manyarch/manyarch/internal/store"
)

// Env is what reading and writing references needs: the local store and the
// registry options. One Env serves one command; Close releases what reads
// left open (temporary directories of unpacked archives).
type Env struct {
	// StoreRoot is the local store's directory.
	StoreRoot string
	// Remote are the options for registry access.
	Remote []remote.Option
	// Logger receives debug logs; nil discards.
	Logger *slog.Logger
	// HoldStore makes Store hold the store (store.Hold) from its opening
	// until Close or ReleaseStore, so no GC removes what the command
	// reads. A command that runs GC itself must not set it.
	HoldStore bool

	mu       sync.Mutex
	st       *store.Store
	release  func()
	cleanups []func() error
}

// Store opens the local store once and returns it.
func (e *Env) Store(ctx context.Context) (*store.Store, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.st != nil {
		return e.st, nil
	}
	root := store.NewLayout(e.StoreRoot).Root()
	st, err := store.Open(ctx, root)
	if err != nil {
		return nil, err // store.Open's errors name the store
	}
	if e.HoldStore {
		release, err := st.Hold(ctx)
		if err != nil {
			return nil, err
		}
		e.release = release
		e.cleanups = append(e.cleanups, func() error { release(); return nil })
	}
	e.st = st
	return st, nil
}

// ReleaseStore ends the hold of HoldStore early, once the command has read
// what it needs (run, once the container's root file system is ready).
func (e *Env) ReleaseStore() {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.release != nil {
		e.release()
	}
}

func (e *Env) logger() *slog.Logger {
	if e.Logger == nil {
		return slog.New(slog.DiscardHandler)
	}
	return e.Logger
}

// onClose registers f to run at Close.
func (e *Env) onClose(f func() error) {
	e.mu.Lock()
	e.cleanups = append(e.cleanups, f)
	e.mu.Unlock()
}

// tempDir makes a directory that Close removes.
func (e *Env) tempDir(pattern string) (string, error) {
	dir, err := os.MkdirTemp("", pattern)
	if err != nil {
		return "", err
	}
	e.onClose(func() error { return os.RemoveAll(dir) })
	return dir, nil
}

// Close releases what reads left open. Artifacts read through e must not be
// used after Close.
func (e *Env) Close() error {
	e.mu.Lock()
	defer e.mu.Unlock()
	var errs []error
	for i := len(e.cleanups) - 1; i >= 0; i-- {
		errs = append(errs, e.cleanups[i]())
	}
	e.cleanups = nil
	return errors.Join(errs...)
}
