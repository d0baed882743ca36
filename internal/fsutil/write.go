package fsutil

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"strings"
)

// WriteOption changes how WriteFile writes.
type WriteOption func(*writeOptions)

type writeOptions struct {
	noSync  bool
	tempDir string
}

// NoSync skips the fsyncs of the file and its directory: the rename is still
// atomic, but a power loss may leave an empty or old file. For caches that
// may be lost. Default: sync.
func NoSync() WriteOption { return func(o *writeOptions) { o.noSync = true } }

// TempDir makes the temporary file in dir, which must be on path's file
// system (a store's own tmp directory). Default: path's directory.
func TempDir(dir string) WriteOption { return func(o *writeOptions) { o.tempDir = dir } }

// WriteFile writes path through fill: into a temporary file (beside path
// unless TempDir), locked while it is written, then fsynced, made mode perm,
// renamed over path, and path's directory fsynced. Path is either its old
// content or the whole new one, whatever happens; on error the temporary
// file is removed and path is untouched. The unlocked temporary files of
// path that a killed writer left are removed first.
func WriteFile(path string, perm os.FileMode, fill func(io.Writer) error, opts ...WriteOption) (err error) {
	var o writeOptions
	for _, opt := range opts {
		opt(&o)
	}
	dir := filepath.Dir(path)
	tmpDir := dir
	if o.tempDir != "" {
		tmpDir = o.tempDir
	}
	prefix := "." + filepath.Base(path) + ".tmp-"
	removeStaleTemps(tmpDir, prefix)
	f, err := createLockedTemp(tmpDir, prefix)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			// Name the directory, not the hidden temporary file.
			return fmt.Errorf("writing %s: %w", path, missingDirError(tmpDir))
		}
		return fmt.Errorf("writing %s: %w", path, err)
	}
	closed := false
	defer func() {
		if err != nil {
			if !closed {
				f.Close()
			}
			os.Remove(f.Name())
		}
	}()
	if err = fill(f); err != nil {
		return err
	}
	if !o.noSync {
		if err = f.Sync(); err != nil {
			return fmt.Errorf("syncing %s: %w", f.Name(), err)
		}
	}
	if err = f.Chmod(perm); err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	// Renamed while still open and locked: once closed, another writer's
	// removeStaleTemps would take it for a killed writer's. Windows
	// cannot rename an open file (and has no such locks to lose).
	if runtime.GOOS == "windows" {
		closed = true
		if err = f.Close(); err != nil {
			return fmt.Errorf("closing %s: %w", f.Name(), err)
		}
	}
	if err = os.Rename(f.Name(), path); err != nil {
		return err
	}
	if !closed {
		closed = true
		if err = f.Close(); err != nil {
			// Renamed already: path is the new content, unless the close
			// reports a write lost (NFS), which is an error as before.
			return fmt.Errorf("closing %s: %w", path, err)
		}
	}
	if !o.noSync {
		return SyncDir(dir)
	}
	return nil
}

// WriteFileBytes is WriteFile of b.
func WriteFileBytes(path string, perm os.FileMode, b []byte, opts ...WriteOption) error {
	return WriteFile(path, perm, func(w io.Writer) error {
		_, err := w.Write(b)
		return err
	}, opts...)
}

// SyncDir fsyncs directory dir, so a rename or a new entry in it survives a
// crash. Systems that cannot sync a directory (Windows) are not an error.
func SyncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	if err := d.Sync(); err != nil && !syncDirUnsupported(err) {
		return fmt.Errorf("syncing %s: %w", dir, err)
	}
	return nil
}

// createLockedTemp creates a temporary file in dir named prefix and a random
// suffix, and locks it. Another writer's removeStaleTemps may take the new
// file for a killed writer's between its creation and the lock (and then
// holds it, or has removed it): then it makes another.
func createLockedTemp(dir, prefix string) (*os.File, error) {
	for range 10 {
		f, err := os.CreateTemp(dir, prefix+"*")
		if err != nil {
			return nil, err
		}
		beforeTempLock(f.Name())
		err = TryLock(f, true)
		if err == ErrNotSupported {
			return f, nil
		}
		if err == nil {
			held, err1 := f.Stat()
			now, err2 := os.Stat(f.Name())
			if err1 == nil && err2 == nil && os.SameFile(held, now) {
				return f, nil
			}
		}
		f.Close() // the sweeper that has it removes it
		if err != nil && err != ErrLocked {
			os.Remove(f.Name())
			return nil, fmt.Errorf("locking %s: %w", f.Name(), err)
		}
	}
	return nil, fmt.Errorf("creating a temporary file in %s: other writers kept removing it", dir)
}

// beforeTempLock is a test hook: it runs between the creation of a
// temporary file and its lock.
var beforeTempLock = func(string) {}

// removeStaleTemps removes the files in dir whose names start with prefix
// and that no live writer holds locked: what a killed writer left.
func removeStaleTemps(dir, prefix string) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return
	}
	for _, e := range ents {
		if !e.Type().IsRegular() || !strings.HasPrefix(e.Name(), prefix) {
			continue
		}
		p := filepath.Join(dir, e.Name())
		f, err := os.Open(p)
		if err != nil {
			continue
		}
		if TryLock(f, true) == nil {
			os.Remove(p)
		}
		f.Close()
	}
}

// missingDirError is a directory that does not exist, as WriteFile found
// it; errors.Is(err, fs.ErrNotExist) holds.
type missingDirError string

func (e missingDirError) Error() string { return "directory " + string(e) + " does not exist" }

func (e missingDirError) Is(target error) bool { return target == fs.ErrNotExist }
