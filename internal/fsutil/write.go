package fsutil

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
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
	f, err := os.CreateTemp(tmpDir, prefix+"*")
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			// Name the directory, not the hidden temporary file.
			return fmt.Errorf("writing %s: %w", path, missingDirError(tmpDir))
		}
		return fmt.Errorf("writing %s: %w", path, err)
	}
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(f.Name())
		}
	}()
	if err = TryLock(f, true); err != nil && err != ErrNotSupported {
		return fmt.Errorf("locking %s: %w", f.Name(), err)
	}
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
	if err = f.Close(); err != nil {
		return fmt.Errorf("closing %s: %w", f.Name(), err)
	}
	if err = os.Rename(f.Name(), path); err != nil {
		return err
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
