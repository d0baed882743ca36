package store

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
)

func ingestCount(t *testing.T, s *Store) int {
	t.Helper()
	ents, err := os.ReadDir(filepath.Join(s.Root(), "ingest"))
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		t.Fatal(err)
	}
	return len(ents)
}

func TestBlobBatch(t *testing.T) {
	s := newStore(t)
	a, b := []byte("first blob"), []byte("second blob, longer")
	batch, err := s.NewBlobBatch(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	defer batch.Abort()
	for _, c := range [][]byte{a, b} {
		d, err := batch.Write(t.Context(), bytes.NewReader(c), sha(c), int64(len(c)))
		if err != nil {
			t.Fatalf("Write(%q) = %v", c, err)
		}
		if d.Digest != sha(c) || d.Size != int64(len(c)) {
			t.Errorf("Write(%q) = %v/%d, want %v/%d", c, d.Digest, d.Size, sha(c), len(c))
		}
		if _, ok, _ := s.HasBlob(t.Context(), sha(c)); ok {
			t.Errorf("blob %q present before Commit", c)
		}
	}
	// A mismatch fails that write alone and leaves no file behind.
	if _, err := batch.Write(t.Context(), bytes.NewReader(a), sha(b), -1); !errors.As(err, new(*MismatchError)) {
		t.Fatalf("Write(wrong digest) = %v, want *MismatchError", err)
	}
	if n := ingestCount(t, s); n != 2 {
		t.Errorf("%d files in ingest/ before Commit, want 2 (the good writes)", n)
	}
	if err := batch.Commit(t.Context()); err != nil {
		t.Fatalf("Commit: %v", err)
	}
	for _, c := range [][]byte{a, b} {
		got, err := s.ReadBlob(t.Context(), sha(c))
		if err != nil || !bytes.Equal(got, c) {
			t.Errorf("ReadBlob after Commit = %q, %v; want %q", got, err, c)
		}
	}
	if n := ingestCount(t, s); n != 0 {
		t.Errorf("%d files left in ingest/ after Commit", n)
	}
	if err := batch.Commit(t.Context()); err == nil {
		t.Errorf("a second Commit = nil, want an error")
	}
	if _, err := batch.Write(t.Context(), bytes.NewReader(a), v1.Hash{}, -1); err == nil {
		t.Errorf("Write after Commit = nil, want an error")
	}
}

func TestBlobBatchAbort(t *testing.T) {
	s := newStore(t)
	c := []byte("never committed")
	batch, err := s.NewBlobBatch(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := batch.Write(t.Context(), bytes.NewReader(c), v1.Hash{}, -1); err != nil {
		t.Fatal(err)
	}
	batch.Abort()
	batch.Abort() // twice is harmless
	if _, ok, _ := s.HasBlob(t.Context(), sha(c)); ok {
		t.Errorf("blob present after Abort")
	}
	if n := ingestCount(t, s); n != 0 {
		t.Errorf("%d files left in ingest/ after Abort", n)
	}
	// The batch released gc.lock: GC runs.
	if _, err := s.GC(t.Context()); err != nil {
		t.Errorf("GC after Abort: %v", err)
	}
}

// Each blob's fsync starts when Write has written it, not in Commit, and
// Commit does not sync it again; a failed fsync fails Commit, which then
// leaves neither the blob nor its file.
func TestBlobBatchSyncsAtWrite(t *testing.T) {
	var mu sync.Mutex
	synced := map[string]int{}
	var injected error
	orig := syncFile
	syncFile = func(name string) error {
		mu.Lock()
		synced[name]++
		err := injected
		mu.Unlock()
		if err != nil {
			return err
		}
		return orig(name)
	}
	t.Cleanup(func() { syncFile = orig })

	s := newStore(t)
	a, b := []byte("first blob"), []byte("second blob")
	batch, err := s.NewBlobBatch(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	defer batch.Abort()
	for _, c := range [][]byte{a, b} {
		if _, err := batch.Write(t.Context(), bytes.NewReader(c), sha(c), int64(len(c))); err != nil {
			t.Fatal(err)
		}
	}
	batch.syncs.Wait()
	mu.Lock()
	if len(synced) != 2 {
		t.Errorf("before Commit, %d blob files synced (%v), want both", len(synced), synced)
	}
	mu.Unlock()
	if err := batch.Commit(t.Context()); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	for name, n := range synced {
		if n != 1 {
			t.Errorf("%s synced %d times, want once", name, n)
		}
	}
	injected = errors.New("injected fsync failure")
	mu.Unlock()

	c := []byte("its fsync fails")
	batch, err = s.NewBlobBatch(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	defer batch.Abort()
	if _, err := batch.Write(t.Context(), bytes.NewReader(c), sha(c), int64(len(c))); err != nil {
		t.Fatal(err)
	}
	if err := batch.Commit(t.Context()); err == nil || !strings.Contains(err.Error(), "injected fsync failure") {
		t.Fatalf("Commit with a failed fsync = %v, want that failure", err)
	}
	if _, ok, _ := s.HasBlob(t.Context(), sha(c)); ok {
		t.Errorf("a blob whose fsync failed is in the store")
	}
	if n := ingestCount(t, s); n != 0 {
		t.Errorf("%d files left in ingest/ after a failed Commit", n)
	}
}
