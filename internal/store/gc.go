package store

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/manyarch/manyarch/internal/fsutil"
)

// GCStats says what GC did.
type GCStats struct {
	BlobsKept    int
	BlobsRemoved int
	BytesFreed   int64
	TempsRemoved int
	// Missing lists referenced blobs that were already absent (a damaged store;
	// re-pull the images that need them).
	Missing []v1.Hash
}

// gcMaxSniff bounds the blobs GC reads to see whether a root digest is a
// manifest or index with children to keep.
const gcMaxSniff = 4 << 20

var rootNameRE = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^[A-Za-z0-9_][A-Za-z0-9._-]{0,200}$`) })

func (s *Store) rootPath(name string) (string, error) {
	if !rootNameRE().MatchString(name) {
		return "", fmt.Errorf("GC root name %q: use letters, digits, '.', '_' and '-' only", name)
	}
	return s.path(rootsDir, name), nil
}

// SetRoots records digests under name in ROOT/roots/NAME (one digest a line),
// so GC keeps those blobs, and all they reference when they are manifests or
// indexes, until RemoveRoots(name). This is how build cache records keep their
// layers. Atomic (temp+rename) and idempotent: it replaces the previous list of
// that name. It refuses digests whose blobs are absent, so call it after the
// blobs are written, in the same Transaction.
func (s *Store) SetRoots(ctx context.Context, name string, digests []v1.Hash) error {
	p, err := s.rootPath(name)
	if err != nil {
		return fmt.Errorf("setting GC roots: %w", err)
	}
	unlock, err := s.shared(ctx)
	if err != nil {
		return fmt.Errorf("setting GC roots %s: %w", name, err)
	}
	defer unlock()
	var b bytes.Buffer
	for _, h := range digests {
		if err := checkHash(h); err != nil {
			return fmt.Errorf("setting GC roots %s: %w", name, err)
		}
		if _, ok, err := s.hasBlob(h); err != nil {
			return fmt.Errorf("setting GC roots %s: %w", name, err)
		} else if !ok {
			return fmt.Errorf("setting GC roots %s: %w", name, &MissingBlobError{Digest: h, Path: s.blobPath(h)})
		}
		b.WriteString(h.String())
		b.WriteByte('\n')
	}
	if err := os.MkdirAll(s.path(rootsDir), 0o755); err != nil {
		return fmt.Errorf("setting GC roots %s: %w", name, err)
	}
	if err := s.writeFileAtomic(p, b.Bytes()); err != nil {
		return fmt.Errorf("setting GC roots %s: %w", name, err)
	}
	return nil
}

// RemoveRoots deletes the GC roots recorded under name; their blobs go at the
// next GC unless something else references them. Removing an absent name is
// not an error (idempotent).
func (s *Store) RemoveRoots(ctx context.Context, name string) error {
	p, err := s.rootPath(name)
	if err != nil {
		return fmt.Errorf("removing GC roots: %w", err)
	}
	if err := os.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("removing GC roots %s: %w", name, err)
	}
	return nil
}

// RootSet is one named set of GC roots (SetRoots), as RootSets lists it.
type RootSet struct {
	Name     string
	Modified time.Time // when SetRoots last wrote it
}

// RootSets lists the named root sets of the store, in name order.
func (s *Store) RootSets(ctx context.Context) ([]RootSet, error) {
	ents, err := os.ReadDir(s.path(rootsDir))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("listing GC roots: %w", err)
	}
	var out []RootSet
	for _, e := range ents {
		if !rootNameRE().MatchString(e.Name()) || !e.Type().IsRegular() {
			continue
		}
		fi, err := e.Info()
		if err != nil {
			continue // removed since the listing
		}
		out = append(out, RootSet{Name: e.Name(), Modified: fi.ModTime()})
	}
	return out, nil
}

// readingRoot is a test hook: it runs in readRoots before it opens the
// roots file p.
var readingRoot = func(p string) {}

func (s *Store) readRoots() ([]v1.Hash, error) {
	ents, err := os.ReadDir(s.path(rootsDir))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var out []v1.Hash
	for _, e := range ents {
		if !rootNameRE().MatchString(e.Name()) || !e.Type().IsRegular() {
			continue // not ours (or a temp file)
		}
		p := s.path(rootsDir, e.Name())
		readingRoot(p)
		f, err := os.Open(p)
		if errors.Is(err, fs.ErrNotExist) {
			continue // removed since the listing (RemoveRoots takes no lock): its blobs may go
		}
		if err != nil {
			return nil, err
		}
		sc := bufio.NewScanner(f)
		line := 0
		for sc.Scan() {
			line++
			t := strings.TrimSpace(sc.Text())
			if t == "" || strings.HasPrefix(t, "#") {
				continue
			}
			h, err := v1.NewHash(t)
			if err != nil {
				f.Close()
				return nil, fmt.Errorf("%s:%d: %w; fix or delete the file", p, line, err)
			}
			out = append(out, h)
		}
		err = sc.Err()
		f.Close()
		if err != nil {
			return nil, fmt.Errorf("reading %s: %w", p, err)
		}
	}
	return out, nil
}

// GC removes every blob not reachable from index.json, from ROOT/roots/ or
// from WithGCRoots hooks, and every temp file under ROOT/ingest. It holds
// ROOT/gc.lock exclusively, waiting for running writers and Transactions (of
// any process) to finish and keeping new ones out until it is done, so it never
// removes a blob a live writer is about to tag. Calling GC with the ctx of a
// Transaction is ErrGCInTransaction.
//
// GC refuses to run on a root set it cannot fully read, before it removes
// anything: a damaged index.json (*DamagedIndexError), a roots/ file it cannot
// parse, or a root it cannot follow (*DamagedRootError wrapping the
// *MissingBlobError of a missing tagged or child manifest, or the
// *CorruptBlobError of a damaged manifest or small root blob), since the
// blobs they reference cannot be known. A nil error promises every name
// still resolves to a tree as complete as before.
func (s *Store) GC(ctx context.Context) (GCStats, error) {
	var st GCStats
	if ctx.Value(txKey{s.root}) != nil {
		return st, fmt.Errorf("collecting garbage in %s: %w", s.root, ErrGCInTransaction)
	}
	if s.held() {
		return st, fmt.Errorf("collecting garbage in %s: %w", s.root, ErrGCWhileHeld)
	}
	l, err := fsutil.LockFile(ctx, s.path(gcLockFile), 0o644, true)
	if err != nil {
		return st, fmt.Errorf("collecting garbage in %s: %w", s.root, err)
	}
	defer l.Unlock()

	marked := map[v1.Hash]bool{}
	missing := map[v1.Hash]bool{}
	idx, err := s.readIndexJSON()
	if err != nil {
		return st, fmt.Errorf("collecting garbage: %w", err)
	}
	for _, d := range idx.Manifests {
		if err := s.mark(ctx, d.Digest, true, marked, missing); err != nil {
			return st, fmt.Errorf("collecting garbage: %w", &DamagedRootError{Digest: d.Digest, Name: d.Annotations[RefNameAnnotation], Err: err})
		}
	}
	roots, err := s.readRoots()
	if err != nil {
		return st, fmt.Errorf("collecting garbage: reading roots: %w", err)
	}
	for _, f := range s.opts.gcRoots {
		hs, err := f(ctx)
		if err != nil {
			return st, fmt.Errorf("collecting garbage: GC roots hook: %w", err)
		}
		roots = append(roots, hs...)
	}
	for _, h := range roots {
		if err := s.mark(ctx, h, false, marked, missing); err != nil {
			return st, fmt.Errorf("collecting garbage: %w", &DamagedRootError{Digest: h, Name: "a GC root under " + s.path(rootsDir), Err: err})
		}
	}
	for h := range missing {
		st.Missing = append(st.Missing, h)
	}
	slices.SortFunc(st.Missing, func(a, b v1.Hash) int { return strings.Compare(a.String(), b.String()) })

	// Sweep blobs.
	algs, err := os.ReadDir(s.path(blobsDir))
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return st, fmt.Errorf("collecting garbage: %w", err)
	}
	for _, a := range algs {
		if !a.IsDir() {
			continue
		}
		dir := s.path(blobsDir, a.Name())
		ents, err := os.ReadDir(dir)
		if err != nil {
			return st, fmt.Errorf("collecting garbage: %w", err)
		}
		removed := false
		for _, e := range ents {
			if err := ctx.Err(); err != nil {
				return st, fmt.Errorf("collecting garbage: %w", err)
			}
			h := v1.Hash{Algorithm: a.Name(), Hex: e.Name()}
			if marked[h] {
				st.BlobsKept++
				continue
			}
			p := filepath.Join(dir, e.Name())
			fi, err := e.Info()
			if err != nil {
				continue // gone meanwhile
			}
			if err := os.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
				return st, fmt.Errorf("collecting garbage: removing %s: %w", p, err)
			}
			removed = true
			st.BlobsRemoved++
			st.BytesFreed += fi.Size()
			s.opts.logger.DebugContext(ctx, "removed blob", "digest", h.String(), "size", fi.Size())
		}
		if removed {
			if err := s.syncDir(dir); err != nil {
				return st, fmt.Errorf("collecting garbage: %w", err)
			}
		}
	}

	// Source records (SetSource) of images that are gone.
	srcs, err := os.ReadDir(s.path(sourcesDir))
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return st, fmt.Errorf("collecting garbage: %w", err)
	}
	for _, e := range srcs {
		if h := (v1.Hash{Algorithm: "sha256", Hex: e.Name()}); checkHash(h) == nil && !marked[h] {
			if err := os.Remove(s.path(sourcesDir, e.Name())); err != nil && !errors.Is(err, fs.ErrNotExist) {
				return st, fmt.Errorf("collecting garbage: %w", err)
			}
		}
	}

	// Temp files: no writer runs while we hold the lock exclusively, so every
	// file in ingest/ is left over from a crash.
	ents, err := os.ReadDir(s.path(ingestDir))
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return st, fmt.Errorf("collecting garbage: %w", err)
	}
	for _, e := range ents {
		p := s.path(ingestDir, e.Name())
		if err := os.RemoveAll(p); err != nil {
			return st, fmt.Errorf("collecting garbage: removing %s: %w", p, err)
		}
		st.TempsRemoved++
	}
	return st, nil
}

// mark marks h and, when it is a manifest or index, everything it references.
// strict: h is known to be a manifest (an index.json entry or a child), so a
// damaged one is an error.
func (s *Store) mark(ctx context.Context, h v1.Hash, strict bool, marked, missing map[v1.Hash]bool) error {
	if marked[h] || missing[h] {
		return nil
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	n, ok, err := s.hasBlob(h)
	if err != nil {
		return err
	}
	if !ok {
		if strict {
			// The blobs a missing manifest references cannot be known.
			return &MissingBlobError{Digest: h, Path: s.blobPath(h)}
		}
		missing[h] = true
		return nil
	}
	marked[h] = true
	if !strict && n > gcMaxSniff {
		return nil
	}
	raw, err := s.readManifest(ctx, h, -1)
	if err != nil {
		// A damaged root blob may be a manifest whose references we can no
		// longer know: refuse rather than guess.
		return err
	}
	m, err := parseManifestish(raw)
	if err != nil {
		if strict {
			return fmt.Errorf("manifest %s: %w", h, err)
		}
		return nil
	}
	if m.Config != nil {
		marked[m.Config.Digest] = true
	}
	for _, d := range append(append([]v1.Descriptor{}, m.Layers...), m.Blobs...) {
		marked[d.Digest] = true
	}
	for _, d := range m.Manifests {
		if err := s.mark(ctx, d.Digest, true, marked, missing); err != nil {
			return err
		}
	}
	return nil
}
