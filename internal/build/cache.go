package build

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/types"

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
const cacheDir = "buildcache"

type cacheRecord struct {
	Digest    v1.Hash         `json:"digest"`
	DiffID    v1.Hash         `json:"diffID"`
	Size      int64           `json:"size"`
	MediaType types.MediaType `json:"mediaType"`
}

func (x *executor) cachePath(key string) string {
	return filepath.Join(x.st.Root(), cacheDir, key+".json")
}

// cacheKey extends the stage's chain with a step and what it read.
func (x *executor) cacheKey(sr *stageRun, step *Step, content ...string) string {
	return hashKey(append([]string{"cache-step", sr.key, step.Key, string(x.comp)}, content...)...)
}

// useCache reports whether lookups are allowed for the stage.
func (x *executor) useCache(s *Stage) bool {
	if x.noCache {
		return false
	}
	return !slices.Contains(x.req.NoCacheFilter, s.Name)
}

// cacheGet returns the layer recorded for key when its blob is still there.
func (x *executor) cacheGet(ctx context.Context, s *Stage, key string) (v1.Layer, bool) {
	if !x.useCache(s) {
		return nil, false
	}
	b, err := os.ReadFile(x.cachePath(key))
	if err != nil {
		return nil, false
	}
	var rec cacheRecord
	if err := json.Unmarshal(b, &rec); err != nil || rec.Digest.Hex == "" {
		return nil, false
	}
	if n, ok, err := x.st.HasBlob(ctx, rec.Digest); err != nil || !ok || n != rec.Size {
		return nil, false
	}
	return &storeLayer{st: x.st, digest: rec.Digest, diffID: rec.DiffID, size: rec.Size, mt: rec.MediaType}, true
}

// cachePut records l as the result of key. Failing to record is not a
// build error; it is logged.
func (x *executor) cachePut(ctx context.Context, key string, l v1.Layer) {
	if err := x.cacheWrite(ctx, key, l); err != nil {
		x.n.log.Warn("recording build cache", "key", key, "err", err)
	}
}

func (x *executor) cacheWrite(ctx context.Context, key string, l v1.Layer) error {
	var rec cacheRecord
	var err error
	if rec.Digest, err = l.Digest(); err != nil {
		return err
	}
	if rec.DiffID, err = l.DiffID(); err != nil {
		return err
	}
	if rec.Size, err = l.Size(); err != nil {
		return err
	}
	if rec.MediaType, err = l.MediaType(); err != nil {
		return err
	}
	if err := x.st.SetRoots(ctx, "buildcache-"+key, []v1.Hash{rec.Digest}); err != nil {
		return err
	}
	b, err := json.Marshal(rec)
	if err != nil {
		return err
	}
	dir := filepath.Join(x.st.Root(), cacheDir)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	f, err := os.CreateTemp(dir, ".tmp-*")
	if err != nil {
		return err
	}
	if _, err := f.Write(b); err != nil {
		f.Close()
		os.Remove(f.Name())
		return err
	}
	if err := f.Close(); err != nil {
		os.Remove(f.Name())
		return err
	}
	if err := os.Rename(f.Name(), x.cachePath(key)); err != nil {
		os.Remove(f.Name())
		return fmt.Errorf("writing cache record: %w", err)
	}
	return nil
}

// PruneCache removes every build cache record of st and its GC roots; the
// layers go at the next `manyarch gc` unless an image uses them.
func PruneCache(ctx context.Context, st *store.Store) (int, error) {
	dir := filepath.Join(st.Root(), cacheDir)
	ents, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	n := 0
	for _, e := range ents {
		name := e.Name()
		if filepath.Ext(name) != ".json" {
			continue
		}
		key := name[:len(name)-len(".json")]
		if err := st.RemoveRoots(ctx, "buildcache-"+key); err != nil {
			return n, err
		}
		if err := os.Remove(filepath.Join(dir, name)); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return n, err
		}
		n++
	}
	return n, nil
}
