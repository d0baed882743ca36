package store

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/manyarch/manyarch/internal/fsutil"
)

const (
	layoutFile    = "oci-layout"
	indexFile     = "index.json"
	blobsDir      = "blobs"
	ingestDir     = "ingest"
	rootsDir      = "roots"
	sourcesDir    = "sources"
	indexLockFile = "index.lock"
	gcLockFile    = "gc.lock"

	layoutVersion = "1.0.0"
)

// Store is an OCI image layout on disk. A *Store is safe for concurrent use
// by many goroutines, and any number of processes may use the same root at
// once: blob writes use unique temp names and atomic renames, index.json
// updates are serialized by an flock, and GC excludes writers through a
// second flock (see Transaction).
type Store struct {
	root string
	opts options
}

// Open opens the OCI image layout at root, creating it (oci-layout, index.json,
// blobs/sha256/) when root is missing or empty. An existing layout written by
// another tool (skopeo, umoci, ggcr) is used as it is; its index.json entries
// are kept. A directory that exists, is not empty and is not a layout is a
// *NotLayoutError; it is never written to.
//
// A nil error promises that root holds a readable layout with an index.json.
func Open(ctx context.Context, root string, opts ...Option) (*Store, error) {
	o := defaultOptions()
	for _, opt := range opts {
		if opt == nil {
			return nil, fmt.Errorf("opening store %s: nil option", root)
		}
		if err := opt(&o); err != nil {
			return nil, fmt.Errorf("opening store %s: %w", root, err)
		}
	}
	if root == "" {
		return nil, errors.New("opening store: empty root path")
	}
	abs, err := filepath.Abs(root)
	if err != nil {
		return nil, fmt.Errorf("opening store %s: %w", root, err)
	}
	s := &Store{root: abs, opts: o}
	if err := s.init(ctx); err != nil {
		return nil, fmt.Errorf("opening store %s: %w", abs, err)
	}
	return s, nil
}

// Root returns the absolute path of the layout.
func (s *Store) Root() string { return s.root }

func (s *Store) path(elem ...string) string {
	return filepath.Join(append([]string{s.root}, elem...)...)
}

func (s *Store) blobPath(h v1.Hash) string {
	return s.path(blobsDir, h.Algorithm, h.Hex)
}

// ours lists the entries a layout directory may hold while another process is
// in the middle of creating it.
var ours = map[string]bool{
	layoutFile: true, indexFile: true, blobsDir: true, ingestDir: true,
	rootsDir: true, sourcesDir: true, indexLockFile: true, gcLockFile: true,
}

// initListing is a test hook: it runs in init between the look for
// oci-layout and the listing of the directory.
var initListing = func() {}

func (s *Store) init(ctx context.Context) error {
	fi, err := os.Stat(s.root)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		if err := os.MkdirAll(s.root, 0o755); err != nil {
			return err
		}
	case err != nil:
		return err
	case !fi.IsDir():
		return &NotLayoutError{Path: s.root, Reason: "it is a file"}
	}

	if _, err := os.Stat(s.path(layoutFile)); err == nil {
		if err := s.checkLayoutFile(); err != nil {
			return err
		}
		if _, err := os.Stat(s.path(indexFile)); err == nil {
			return nil // an existing layout: use it as it is
		}
	} else if !errors.Is(err, fs.ErrNotExist) {
		return err
	} else {
		initListing()
		ents, err := os.ReadDir(s.root)
		if err != nil {
			return err
		}
		for _, e := range ents {
			if ours[e.Name()] {
				continue
			}
			// Another process may have finished the layout since we
			// looked for oci-layout, and used it (snapshots/, locks/):
			// look again before calling the entry foreign.
			if _, err := os.Stat(s.path(layoutFile)); err == nil {
				if err := s.checkLayoutFile(); err != nil {
					return err
				}
				break
			}
			return &NotLayoutError{Path: s.root, Reason: fmt.Sprintf("it has no %s file but holds %q", layoutFile, e.Name())}
		}
	}

	// Create what is missing, under the index lock so racing processes agree,
	// and the GC lock shared so no GC removes our temp files.
	if err := os.MkdirAll(s.root, 0o755); err != nil {
		return err
	}
	unlock, err := s.shared(ctx)
	if err != nil {
		return err
	}
	defer unlock()
	l, err := fsutil.LockFile(ctx, s.path(indexLockFile), 0o644, true)
	if err != nil {
		return err
	}
	defer l.Unlock()
	if err := os.MkdirAll(s.path(blobsDir, "sha256"), 0o755); err != nil {
		return err
	}
	if _, err := os.Stat(s.path(indexFile)); errors.Is(err, fs.ErrNotExist) {
		empty := v1.IndexManifest{SchemaVersion: 2, MediaType: types.OCIImageIndex, Manifests: []v1.Descriptor{}}
		b, err := json.Marshal(empty)
		if err != nil {
			return err
		}
		if err := s.writeFileAtomic(s.path(indexFile), b); err != nil {
			return err
		}
	} else if err != nil {
		return err
	}
	if _, err := os.Stat(s.path(layoutFile)); errors.Is(err, fs.ErrNotExist) {
		// Written last: its presence marks a complete layout.
		if err := s.writeFileAtomic(s.path(layoutFile), []byte(`{"imageLayoutVersion":"`+layoutVersion+`"}`)); err != nil {
			return err
		}
	} else if err != nil {
		return err
	}
	return nil
}

func (s *Store) checkLayoutFile() error {
	b, err := os.ReadFile(s.path(layoutFile))
	if err != nil {
		return err
	}
	var l struct {
		ImageLayoutVersion string `json:"imageLayoutVersion"`
	}
	if err := json.Unmarshal(b, &l); err != nil || l.ImageLayoutVersion == "" {
		return &NotLayoutError{Path: s.root, Reason: fmt.Sprintf("%s is not valid JSON with an imageLayoutVersion", layoutFile)}
	}
	return nil
}

// tempFile creates a uniquely named file under ROOT/ingest.
func (s *Store) tempFile(prefix string) (*os.File, error) {
	dir := s.path(ingestDir)
	for i := 0; ; i++ {
		var r [8]byte
		_, _ = rand.Read(r[:])
		name := filepath.Join(dir, prefix+strconv.Itoa(os.Getpid())+"-"+hex.EncodeToString(r[:]))
		f, err := os.OpenFile(name, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o644)
		if errors.Is(err, fs.ErrNotExist) && i == 0 {
			if err := os.MkdirAll(dir, 0o755); err != nil {
				return nil, err
			}
			continue
		}
		if errors.Is(err, fs.ErrExist) && i < 3 {
			continue
		}
		return f, err
	}
}

// writeFileAtomic writes b to path atomically (fsutil.WriteFile): a temp
// file in ROOT/ingest (GC removes what a crash left there), fsync, rename
// and directory fsync, unless WithFsync(false).
func (s *Store) writeFileAtomic(path string, b []byte) error {
	dir := s.path(ingestDir)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	opts := []fsutil.WriteOption{fsutil.TempDir(dir)}
	if !s.opts.fsync {
		opts = append(opts, fsutil.NoSync())
	}
	return fsutil.WriteFileBytes(path, 0o644, b, opts...)
}

func (s *Store) syncDir(dir string) error {
	if !s.opts.fsync {
		return nil
	}
	return fsutil.SyncDir(dir)
}

// txKey marks a ctx inside a Transaction on the store at root.
type txKey struct{ root string }

// Transaction runs fn holding a shared lock on ROOT/gc.lock, so no GC (in any
// process) runs while fn writes blobs and tags them. Store methods called with
// fn's ctx do not take the lock again. Transaction does not make fn's writes
// atomic as a whole: each write is atomic by itself, and what fn wrote before
// an error stays (unreferenced blobs are removed by a later GC).
func (s *Store) Transaction(ctx context.Context, fn func(ctx context.Context) error) error {
	if ctx.Value(txKey{s.root}) != nil {
		return fn(ctx)
	}
	l, err := fsutil.LockFile(ctx, s.path(gcLockFile), 0o644, false)
	if err != nil {
		return fmt.Errorf("starting transaction on %s: %w", s.root, err)
	}
	defer l.Unlock()
	return fn(context.WithValue(ctx, txKey{s.root}, true))
}

// shared holds the GC lock shared for one operation unless ctx already is in a
// Transaction of s.
func (s *Store) shared(ctx context.Context) (func(), error) {
	if ctx.Value(txKey{s.root}) != nil {
		return func() {}, nil
	}
	l, err := fsutil.LockFile(ctx, s.path(gcLockFile), 0o644, false)
	if err != nil {
		return nil, err
	}
	return func() { _ = l.Unlock() }, nil
}
