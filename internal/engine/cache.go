package engine

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/manyarch/manyarch/internal/fsutil"
	"github.com/manyarch/manyarch/internal/plan"
	"github.com/manyarch/manyarch/internal/store"
)

// The build cache: one record per step result, ROOT/buildcache/KEY.json,
// naming the layer blob the step produced. KEY chains, stage by stage, the
// planner's content-free Step.Key with the content the step read (the files
// a COPY or ADD reads, the results of the stages it copies or mounts from)
// and, for a RUN, the emulator; the chain starts at the base image's digest.
// Equal keys mean equal results, so a hit reuses the layer without running
// the step. Each record's layer is a GC root (ROOT/roots/buildcache-KEY),
// so `manyarch gc` keeps it until the record is removed.
//
// --cache-to type=local,dest=DIR writes the records and layers a build used
// into DIR, which is a store of the same form (an OCI image layout with a
// buildcache directory); --cache-from type=local,src=DIR reads records from
// such a directory when the store has none, copying the layer in. Records are
// per platform (the platform is part of every key), so a cache written by a
// multi-platform build serves each platform. The records live in the
// store's BuildCache area (store.Layout).

type cacheRecord struct {
	Digest    v1.Hash         `json:"digest"`
	DiffID    v1.Hash         `json:"diffID"`
	Size      int64           `json:"size"`
	MediaType types.MediaType `json:"mediaType"`
	// Created is when the step first made the layer: the created time of
	// its history entry whenever it is reused (as BuildKit does), so an
	// unchanged rebuild gives the same image. Older records have none.
	Created time.Time `json:"created,omitzero"`
}

func cachePath(st *store.Store, key string) string {
	return filepath.Join(st.Layout().BuildCache(), key+".json")
}

// cacheKey extends the stage's chain with a step and what it read.
// Under SOURCE_DATE_EPOCH the epoch is part of it: a layer made without
// one (real file times) or with another is not the one this build makes.
func (x *executor) cacheKey(sr *stageRun, step *plan.Step, content ...string) string {
	parts := []string{"cache-step", sr.key, step.Key, x.comp.compressorID()}
	if x.epoch != nil {
		parts = append(parts, "source-date-epoch="+strconv.FormatInt(x.epoch.Unix(), 10))
	}
	return plan.HashKey(append(parts, content...)...)
}

// useCache reports whether lookups are allowed for the stage.
func (x *executor) useCache(s *plan.Stage) bool {
	if x.noCache {
		return false
	}
	return !slices.Contains(x.req.NoCacheFilter, s.Name)
}

// readRecord reads key's record in st when its blob is there too.
func readRecord(ctx context.Context, st *store.Store, key string) (cacheRecord, bool) {
	var rec cacheRecord
	b, err := os.ReadFile(cachePath(st, key))
	if err != nil {
		return rec, false
	}
	if err := json.Unmarshal(b, &rec); err != nil || rec.Digest.Hex == "" {
		return rec, false
	}
	if n, ok, err := st.HasBlob(ctx, rec.Digest); err != nil || !ok || n != rec.Size {
		return rec, false
	}
	return rec, true
}

// cacheGet returns the layer recorded for key: from the store, else from a
// --cache-from directory (copied into the store).
func (x *executor) cacheGet(ctx context.Context, s *plan.Stage, key string) (v1.Layer, bool) {
	if !x.useCache(s) {
		return nil, false
	}
	rec, ok := readRecord(ctx, x.st, key)
	if !ok {
		for _, from := range x.cacheFrom {
			r, found := readRecord(ctx, from, key)
			if !found {
				continue
			}
			if err := copyBlob(ctx, from, x.st, r); err != nil {
				x.n.log.Warn("importing build cache", "key", key, "from", from.Root(), "err", err)
				continue
			}
			if err := writeRecord(ctx, x.st, key, r); err != nil {
				x.n.log.Warn("recording build cache", "key", key, "err", err)
			}
			rec, ok = r, true
			break
		}
	}
	if !ok {
		rec, ok = x.registryGet(ctx, key)
	}
	if !ok {
		return nil, false
	}
	// The record's time is its last use: prune --keep-storage drops the
	// least recently used first.
	now := time.Now()
	_ = os.Chtimes(cachePath(x.st, key), now, now)
	x.used(key, rec)
	return &storeLayer{st: x.st, digest: rec.Digest, diffID: rec.DiffID, size: rec.Size, mt: rec.MediaType}, true
}

// createdOf is the created time of the history entry of the step whose
// cache key is key: SOURCE_DATE_EPOCH when set, else when the step's layer
// was first made (its cache record), else the start of this build.
func (x *executor) createdOf(key string) time.Time {
	if x.epoch != nil {
		return *x.epoch
	}
	x.mu.Lock()
	rec, ok := x.usedRecords[key]
	x.mu.Unlock()
	if ok && !rec.Created.IsZero() {
		return rec.Created.UTC()
	}
	return x.started
}

// used notes a record the build used, for --cache-to.
func (x *executor) used(key string, rec cacheRecord) {
	x.mu.Lock()
	if x.usedRecords == nil {
		x.usedRecords = map[string]cacheRecord{}
	}
	x.usedRecords[key] = rec
	x.mu.Unlock()
}

// cachePut records l as the result of key. Failing to record is not a
// build error; it is logged.
func (x *executor) cachePut(ctx context.Context, key string, l v1.Layer) {
	rec, err := recordOf(l)
	rec.Created = x.started
	if err == nil {
		err = writeRecord(ctx, x.st, key, rec)
	}
	if err != nil {
		x.n.log.Warn("recording build cache", "key", key, "err", err)
		return
	}
	x.used(key, rec)
}

func recordOf(l v1.Layer) (cacheRecord, error) {
	var rec cacheRecord
	var err error
	if rec.Digest, err = l.Digest(); err != nil {
		return rec, err
	}
	if rec.DiffID, err = l.DiffID(); err != nil {
		return rec, err
	}
	if rec.Size, err = l.Size(); err != nil {
		return rec, err
	}
	if rec.MediaType, err = l.MediaType(); err != nil {
		return rec, err
	}
	return rec, nil
}

// writeRecord writes key's record into st (atomically: fsutil) after
// making its layer a GC root there.
func writeRecord(ctx context.Context, st *store.Store, key string, rec cacheRecord) error {
	if err := st.SetRoots(ctx, store.BuildCacheRoots(key), []v1.Hash{rec.Digest}); err != nil {
		return err
	}
	b, err := json.Marshal(rec)
	if err != nil {
		return err
	}
	dir := st.Layout().BuildCache()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	// A record may be lost in a crash (the step runs again), so no fsync.
	if err := fsutil.WriteFileBytes(cachePath(st, key), 0o600, b, fsutil.NoSync()); err != nil {
		return fmt.Errorf("writing cache record: %w", err)
	}
	return nil
}

// copyBlob copies a record's layer from one store to another (verified on
// both sides).
func copyBlob(ctx context.Context, from, to *store.Store, rec cacheRecord) error {
	if n, ok, err := to.HasBlob(ctx, rec.Digest); err == nil && ok && n == rec.Size {
		return nil
	}
	rc, err := from.OpenBlob(ctx, rec.Digest)
	if err != nil {
		return err
	}
	defer rc.Close()
	_, err = to.WriteBlob(ctx, rc, rec.Digest, rec.Size)
	return err
}

// openCaches opens the --cache-from and --cache-to directories.
func openCaches(ctx context.Context, req *Request) (from, to []*store.Store, err error) {
	for _, o := range req.CacheFrom {
		if o.Type == "registry" {
			continue // openRegistryCaches
		}
		if o.Type != "local" {
			return nil, nil, fmt.Errorf("%w: --cache-from type=%s: the native engine reads type=local,src=DIR and type=registry,ref=REF caches", ErrBadOutput, o.Type)
		}
		dir := firstOf(o.Attrs["src"], o.Dest)
		if dir == "" {
			return nil, nil, fmt.Errorf("%w: --cache-from type=local needs src=DIR", ErrBadOutput)
		}
		if _, err := os.Stat(filepath.Join(dir, "index.json")); err != nil {
			continue // no cache there yet: a first build, as BuildKit
		}
		st, err := store.Open(ctx, dir)
		if err != nil {
			return nil, nil, fmt.Errorf("--cache-from %s: %w", dir, err)
		}
		from = append(from, st)
	}
	for _, o := range req.CacheTo {
		if o.Type == "registry" {
			continue // openRegistryCaches
		}
		if o.Type != "local" {
			return nil, nil, fmt.Errorf("%w: --cache-to type=%s: the native engine writes type=local,dest=DIR and type=registry,ref=REF caches", ErrBadOutput, o.Type)
		}
		if o.Dest == "" {
			return nil, nil, fmt.Errorf("%w: --cache-to type=local needs dest=DIR", ErrBadOutput)
		}
		st, err := store.Open(ctx, o.Dest)
		if err != nil {
			return nil, nil, fmt.Errorf("--cache-to %s: %w", o.Dest, err)
		}
		to = append(to, st)
	}
	return from, to, nil
}

// exportCache writes the records and layers the build used into each
// --cache-to directory.
func (x *executor) exportCache(ctx context.Context) error {
	for _, to := range x.cacheTo {
		err := to.Transaction(ctx, func(ctx context.Context) error {
			for key, rec := range x.usedRecords {
				if err := copyBlob(ctx, x.st, to, rec); err != nil {
					return err
				}
				if err := writeRecord(ctx, to, key, rec); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			return fmt.Errorf("--cache-to %s: %w", to.Root(), err)
		}
	}
	return nil
}
