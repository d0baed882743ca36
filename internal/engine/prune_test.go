//go:build unix

package engine

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/manyarch/manyarch/internal/store"
)

func TestPruneCacheLeastRecentlyUsedFirst(t *testing.T) {
	ctx := context.Background()
	st, err := store.Open(ctx, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	// Three records of 1000, 2000 and 3000 bytes, used in that order; a
	// fourth record shares the oldest one's layer.
	base := time.Now().Add(-time.Hour)
	var keys []string
	for i, size := range []int{1000, 2000, 3000} {
		d, err := st.WriteBlob(ctx, bytes.NewReader(bytes.Repeat([]byte{byte(i)}, size)), v1.Hash{}, -1)
		if err != nil {
			t.Fatal(err)
		}
		rec := cacheRecord{Digest: d.Digest, DiffID: d.Digest, Size: d.Size, MediaType: types.OCILayer}
		for _, key := range []string{string(rune('a' + i)), string(rune('a'+i)) + "2"} {
			if i > 0 && len(key) == 2 {
				continue
			}
			if err := writeRecord(ctx, st, key, rec); err != nil {
				t.Fatal(err)
			}
			used := base.Add(time.Duration(i) * time.Minute)
			if err := os.Chtimes(cachePath(st, key), used, used); err != nil {
				t.Fatal(err)
			}
			keys = append(keys, key)
		}
	}
	// Keeping 5000 bytes drops "a" and "a2" (1000 bytes, the oldest use).
	ps, err := PruneCache(ctx, st, 5000)
	if err != nil || ps.Records != 2 || ps.RecordBytes != 1000 {
		t.Fatalf("PruneCache(keep 5000) = %+v, %v; want 2 records, 1000 bytes", ps, err)
	}
	for key, want := range map[string]bool{"a": false, "a2": false, "b": true, "c": true} {
		if _, ok := readRecord(ctx, st, key); ok != want {
			t.Errorf("record %q present = %v after prune, want %v", key, ok, want)
		}
	}
	// GC now frees the layer no record or name keeps.
	stats, err := st.GC(ctx)
	if err != nil || stats.BlobsRemoved != 1 {
		t.Errorf("GC after prune = %+v, %v; want 1 blob removed", stats, err)
	}
	// No limit removes everything.
	if ps, err := PruneCache(ctx, st, 0); err != nil || ps.Records != 2 || ps.RecordBytes != 5000 {
		t.Errorf("PruneCache(all) = %+v, %v; want 2 records, 5000 bytes", ps, err)
	}
}

// TestPruneCacheMounts: cache mount directories count in the storage and
// go least recently used first, except one that a running build holds;
// with no limit all go but that one.
func TestPruneCacheMounts(t *testing.T) {
	ctx := context.Background()
	st, err := store.Open(ctx, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	base := time.Now().Add(-time.Hour)
	mount := func(name string, size int, age time.Duration) string {
		d := filepath.Join(st.Layout().BuildCacheMounts(), name)
		if err := os.MkdirAll(filepath.Join(d, "sub"), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(d, "sub", "f"), bytes.Repeat([]byte{1}, size), 0o644); err != nil {
			t.Fatal(err)
		}
		used := base.Add(age)
		if err := os.Chtimes(d, used, used); err != nil {
			t.Fatal(err)
		}
		return d
	}
	oldest := mount("oldest", 1000, 0)
	busy := mount("busy", 2000, time.Minute)
	newest := mount("newest", 3000, 2*time.Minute)
	release, err := lockShared(busy)
	if err != nil {
		t.Fatal(err)
	}
	defer release()
	exists := func(d string) bool { _, err := os.Stat(d); return err == nil }
	// 6000 bytes, keep 5000: the oldest goes.
	ps, err := PruneCache(ctx, st, 5000)
	if err != nil || ps.Mounts != 1 || ps.MountBytes != 1000 {
		t.Fatalf("PruneCache(keep 5000) = %+v, %v; want 1 mount, 1000 bytes", ps, err)
	}
	if exists(oldest) || !exists(busy) || !exists(newest) {
		t.Errorf("after PruneCache(keep 5000): oldest %v busy %v newest %v; want false true true", exists(oldest), exists(busy), exists(newest))
	}
	ps, err = PruneCache(ctx, st, 0)
	if err != nil || ps.Mounts != 1 || ps.MountBytes != 3000 {
		t.Fatalf("PruneCache(all) = %+v, %v; want 1 mount (the busy one stays), 3000 bytes", ps, err)
	}
	if !exists(busy) || exists(newest) {
		t.Errorf("after PruneCache(all): busy %v newest %v; want true false", exists(busy), exists(newest))
	}
	if left, _ := os.ReadDir(st.Layout().BuildCacheMounts()); len(left) != 1 {
		t.Errorf("%d entries left in %s, want only the busy mount", len(left), st.Layout().BuildCacheMounts())
	}
}

// A build killed between a record's root set and the record leaves the
// root set alone, keeping its layer from GC for ever: prune removes it once
// it is older than a running build's could be, and GC frees the layer.
func TestPruneCacheOrphanRoots(t *testing.T) {
	ctx := context.Background()
	st, err := store.Open(ctx, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	var layers []v1.Hash
	for i := range 3 {
		d, err := st.WriteBlob(ctx, bytes.NewReader(bytes.Repeat([]byte{byte(i)}, 500)), v1.Hash{}, -1)
		if err != nil {
			t.Fatal(err)
		}
		layers = append(layers, d.Digest)
	}
	// "kept" has its record; "orphan" and "fresh" lost theirs, "fresh" a
	// moment ago (a build writing its record now).
	if err := writeRecord(ctx, st, "kept", cacheRecord{Digest: layers[0], DiffID: layers[0], Size: 500, MediaType: types.OCILayer}); err != nil {
		t.Fatal(err)
	}
	for i, key := range []string{"orphan", "fresh"} {
		if err := st.SetRoots(ctx, store.BuildCacheRoots(key), []v1.Hash{layers[i+1]}); err != nil {
			t.Fatal(err)
		}
	}
	old := time.Now().Add(-time.Hour)
	if err := os.Chtimes(filepath.Join(st.Root(), "roots", store.BuildCacheRoots("orphan")), old, old); err != nil {
		t.Fatal(err)
	}
	ps, err := PruneCache(ctx, st, 1<<30) // a limit nothing reaches: only the orphan goes
	if err != nil || ps.Records != 1 {
		t.Fatalf("PruneCache = %+v, %v; want the orphan root set removed", ps, err)
	}
	stats, err := st.GC(ctx)
	if err != nil || stats.BlobsRemoved != 1 {
		t.Fatalf("GC after prune = %+v, %v; want the orphan's layer removed", stats, err)
	}
	for i, want := range []bool{true, false, true} {
		if _, ok, _ := st.HasBlob(ctx, layers[i]); ok != want {
			t.Errorf("layer %d present = %v, want %v", i, ok, want)
		}
	}
}
