package build

import (
	"bytes"
	"context"
	"os"
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
	n, freed, err := PruneCache(ctx, st, 5000)
	if err != nil || n != 2 || freed != 1000 {
		t.Fatalf("PruneCache(keep 5000) = %d, %d, %v; want 2 records, 1000 bytes", n, freed, err)
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
	if n, freed, err := PruneCache(ctx, st, 0); err != nil || n != 2 || freed != 5000 {
		t.Errorf("PruneCache(all) = %d, %d, %v; want 2 records, 5000 bytes", n, freed, err)
	}
}
