package engine

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/manyarch/manyarch/internal/snapshot"
	"github.com/manyarch/manyarch/internal/store"
)

// PruneStats says what PruneCache removed.
type PruneStats struct {
	Records     int   // step cache records
	RecordBytes int64 // the layers only those records used (GC frees them)
	Mounts      int   // RUN --mount=type=cache directories
	MountBytes  int64 // their files
	Kept        int64 // what the records and mounts left take
}

// orphanRootAge is how old a build cache root set without its record must
// be for PruneCache to take it for a killed build's.
var orphanRootAge = time.Minute

// PruneCache removes build cache, least recently used first, until what
// is left takes at most keep bytes (keep <= 0: all of it): the step cache
// records (their layers become garbage for the store's GC unless a name or
// another record uses them) and the directories of RUN --mount=type=cache.
// A cache mount that a running build uses is left alone.
func PruneCache(ctx context.Context, st *store.Store, keep int64) (PruneStats, error) {
	type entry struct {
		used  time.Time
		key   string      // a record's key, or "" for a mount
		rec   cacheRecord // a record
		mount string      // a mount's directory
		size  int64       // a mount's files
	}
	var (
		stats   PruneStats
		entries []entry
		total   int64
	)
	refs := map[v1.Hash]int{} // records naming each layer
	dir := st.Layout().BuildCache()
	ents, err := os.ReadDir(dir)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return stats, err
	}
	for _, e := range ents {
		name := e.Name()
		if filepath.Ext(name) != ".json" {
			continue
		}
		r := entry{key: strings.TrimSuffix(name, ".json")}
		if fi, err := e.Info(); err == nil {
			r.used = fi.ModTime()
		}
		if b, err := os.ReadFile(filepath.Join(dir, name)); err == nil {
			_ = json.Unmarshal(b, &r.rec) // an unreadable record is pruned first
		}
		if refs[r.rec.Digest] == 0 {
			total += r.rec.Size
		}
		refs[r.rec.Digest]++
		entries = append(entries, r)
	}
	// The root sets of records that were never written (a build killed
	// between the two): nothing else ever removes them, and they keep
	// their layers from GC. A minute old at least: a running build writes
	// its record just after.
	sets, err := st.RootSets(ctx)
	if err != nil {
		return stats, err
	}
	for _, set := range sets {
		key, ok := store.BuildCacheKey(set.Name)
		if !ok || time.Since(set.Modified) < orphanRootAge {
			continue
		}
		if _, err := os.Lstat(filepath.Join(dir, key+".json")); !errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err := st.RemoveRoots(ctx, set.Name); err != nil {
			return stats, err
		}
		stats.Records++
	}
	mdir := st.Layout().BuildCacheMounts()
	ments, err := os.ReadDir(mdir)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return stats, err
	}
	for _, e := range ments {
		if !e.IsDir() {
			continue
		}
		r := entry{mount: filepath.Join(mdir, e.Name())}
		if strings.HasPrefix(e.Name(), ".") {
			// .new-* of a build that was killed while making it; .trash-*
			// of a prune that was.
			if fi, err := e.Info(); err != nil || time.Since(fi.ModTime()) < time.Hour {
				continue
			}
		} else if fi, err := e.Info(); err == nil {
			r.used = fi.ModTime()
		}
		r.size = snapshot.TreeSize(r.mount)
		total += r.size
		entries = append(entries, r)
	}
	slices.SortStableFunc(entries, func(a, b entry) int { return a.used.Compare(b.used) })
	for _, r := range entries {
		if keep > 0 && total <= keep {
			break
		}
		if err := ctx.Err(); err != nil {
			return stats, err
		}
		if r.mount != "" {
			release, err := lockDir(r.mount)
			if err != nil {
				continue // a running build uses it
			}
			// Renamed first: a build that starts now makes a new one.
			trash := filepath.Join(mdir, fmt.Sprintf(".trash-%s-%d", filepath.Base(r.mount), time.Now().UnixNano()))
			err = os.Rename(r.mount, trash)
			release()
			if err != nil {
				return stats, err
			}
			if err := os.RemoveAll(trash); err != nil {
				return stats, err
			}
			stats.Mounts++
			stats.MountBytes += r.size
			total -= r.size
			continue
		}
		if err := st.RemoveRoots(ctx, store.BuildCacheRoots(r.key)); err != nil {
			return stats, err
		}
		if err := os.Remove(filepath.Join(dir, r.key+".json")); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return stats, err
		}
		stats.Records++
		if refs[r.rec.Digest]--; refs[r.rec.Digest] == 0 {
			total -= r.rec.Size
			stats.RecordBytes += r.rec.Size
		}
	}
	stats.Kept = total
	if keep <= 0 {
		// All of the cache: the remembered sums of context files too.
		if err := os.RemoveAll(st.Layout().ContextHash()); err != nil {
			return stats, err
		}
	}
	return stats, nil
}
