package engine

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"sort"
	"sync"
	"time"

	securejoin "github.com/cyphar/filepath-securejoin"

	"github.com/manyarch/manyarch/internal/plan"
)

// cacheMounts opens the cache mounts among mounts (--mount=type=cache): a
// persistent directory under the store root for each, keyed by its id,
// shared by every build, and returns what each mounts, by index in mounts,
// and the function that releases them all (safe to call on error too).
// With from=, a cache is keyed by the id and what it is seeded with
// (BuildKit: id:ref), and a new one starts as a copy of source= in that
// stage or image. A cache mounted twice by the step is opened once, as
// BuildKit's exec op shares it, and the caches are taken in the order of
// their directories, so that two steps waiting for each other's locked
// caches cannot each hold what the other waits for.
func (x *executor) cacheMounts(ctx context.Context, mounts []plan.Mount, scratch func() (string, error)) (map[int]string, func(), error) {
	type cache struct {
		idx       []int // of the mounts that mount it
		dir, seed string
	}
	var releases []func()
	release := func() {
		for _, r := range releases {
			r()
		}
	}
	byDir := map[string]*cache{}
	var order []*cache
	for i, m := range mounts {
		if m.Type != "cache" {
			continue
		}
		seed, seedKey, err := x.cacheSeed(ctx, m)
		if err != nil {
			return nil, release, err
		}
		key := m.CacheID
		if seedKey != "" {
			key += "\x00" + seedKey
		}
		sum := sha256.Sum256([]byte(key))
		dir := filepath.Join(x.st.Layout().BuildCacheMounts(), hex.EncodeToString(sum[:16])) // one per id (and seed)
		if c, ok := byDir[dir]; ok {
			c.idx = append(c.idx, i)
			continue
		}
		byDir[dir] = &cache{idx: []int{i}, dir: dir, seed: seed}
		order = append(order, byDir[dir])
	}
	sort.Slice(order, func(a, b int) bool { return order[a].dir < order[b].dir })
	at := map[int]string{}
	for _, c := range order {
		m := mounts[c.idx[0]]
		d, r, err := x.openCache(ctx, m, c.dir, c.seed, scratch)
		if err != nil {
			return nil, release, fmt.Errorf("cache mount %s: %w", m.CacheID, err)
		}
		releases = append(releases, r)
		for _, i := range c.idx {
			at[i] = d
		}
	}
	return at, release, nil
}

// openCache makes the cache directory dir when it is new, and waits until
// the step may use it as the mount's sharing says. It returns the
// directory to mount (with sharing=private, one of the step's own when
// another step has dir) and the function that releases it.
func (x *executor) openCache(ctx context.Context, m plan.Mount, dir, seed string, scratch func() (string, error)) (string, func(), error) {
	// The shared lock keeps prune away while the step runs (prune may
	// remove the directory between its creation and the lock: make it
	// again then); the mtime is the last use, for prune --keep-storage.
	var unlockDir func()
	for attempt := 0; unlockDir == nil; attempt++ {
		if err := makeCacheMount(ctx, dir, m, seed); err != nil {
			return "", nil, err
		}
		u, err := lockShared(dir)
		if err != nil && (!errors.Is(err, fs.ErrNotExist) || attempt == 3) {
			return "", nil, err
		}
		unlockDir = u
	}
	now := time.Now()
	_ = os.Chtimes(dir, now, now)
	v, _ := x.n.cacheUses.LoadOrStore(dir, &cacheUse{})
	release, ok, err := v.(*cacheUse).acquire(ctx, m.Sharing)
	if err != nil {
		unlockDir()
		return "", nil, fmt.Errorf("waiting for the steps using it: %w", err)
	}
	if ok {
		return dir, func() { release(); unlockDir() }, nil
	}
	// sharing=private and another step has it: a new cache of this
	// step's own, made as the shared one is, thrown away after.
	unlockDir()
	d, err := scratch()
	if err == nil {
		err = os.Remove(d)
	}
	if err == nil {
		err = fillCacheMount(ctx, d, m, seed)
	}
	if err != nil {
		return "", nil, err
	}
	return d, func() {}, nil
}

// cacheSeed is what a cache mount with from= starts with: the host path of
// source= in the stage or image, and what identifies it ("" for a cache
// without from=). As in BuildKit's dockerfile2llb, a from= with source= at
// the root and mode=, uid= or gid= mounts a new directory with those, not
// the stage's root.
func (x *executor) cacheSeed(ctx context.Context, m plan.Mount) (string, string, error) {
	src := path.Clean("/" + m.Source)
	if m.From.Kind == plan.SourceNone || (m.From.Kind == plan.SourceContext && m.From.Context == "") ||
		(src == "/" && (m.Mode != nil || m.UID != nil || m.GID != nil)) {
		return "", "", nil
	}
	content, err := x.mountContent(ctx, m)
	if err != nil {
		return "", "", err
	}
	var root string
	switch m.From.Kind {
	case plan.SourceStage:
		sr, err := x.wait(ctx, m.From.Stage)
		if err != nil {
			return "", "", err
		}
		root, err = x.stageView(ctx, sr)
		if err != nil {
			return "", "", err
		}
	case plan.SourceImage:
		if root, _, err = x.imageView(ctx, m.From); err != nil {
			return "", "", err
		}
	case plan.SourceContext:
		l, err := x.local(m.From.Context)
		if err != nil {
			return "", "", err
		}
		root = l.dir
	}
	host, err := securejoin.SecureJoin(root, src)
	if err != nil {
		return "", "", fmt.Errorf("--mount=type=cache,source=%s: %w", m.Source, err)
	}
	fi, err := os.Stat(host)
	if err != nil || !fi.IsDir() {
		return "", "", fmt.Errorf("--mount=type=cache,from=...,source=%s: %s is not a directory in %s: name a directory to seed the cache with",
			m.Source, src, describeSource(m.From))
	}
	return host, content + ":" + src, nil
}

// makeCacheMount creates a cache mount's directory when it does not exist:
// made aside, with its mode and owner or as a copy of seed, then renamed
// into place unless another step or build made it meanwhile (never over
// theirs, which may be in use already).
func makeCacheMount(ctx context.Context, dir string, m plan.Mount, seed string) error {
	if _, err := os.Stat(dir); !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(dir), 0o755); err != nil {
		return err
	}
	tmp, err := os.MkdirTemp(filepath.Dir(dir), ".new-")
	if err != nil {
		return err
	}
	if err := os.Remove(tmp); err != nil {
		return err
	}
	if err := fillCacheMount(ctx, tmp, m, seed); err != nil {
		os.RemoveAll(tmp)
		return err
	}
	if err := renameNoReplace(tmp, dir); err != nil {
		os.RemoveAll(tmp)
		if !errors.Is(err, fs.ErrExist) {
			return err
		}
	}
	return nil
}

// fillCacheMount makes the new cache directory d: a copy of seed, or empty
// with the mount's mode (default 0755) and owner (default 0:0).
func fillCacheMount(ctx context.Context, d string, m plan.Mount, seed string) error {
	if seed != "" {
		fi, err := os.Stat(seed)
		if err != nil {
			return err
		}
		if err := copyPath(ctx, seed, d); err != nil {
			return fmt.Errorf("seeding: %w", err)
		}
		if err := os.Chmod(d, fi.Mode()&(fs.ModePerm|fs.ModeSetuid|fs.ModeSetgid|fs.ModeSticky)); err != nil {
			return err
		}
		uid, gid := owner(fi)
		return lchown(d, uid, gid)
	}
	mode := os.FileMode(0o755)
	if m.Mode != nil {
		mode = os.FileMode(*m.Mode)
	}
	uid, gid := 0, 0
	if m.UID != nil {
		uid = int(*m.UID)
	}
	if m.GID != nil {
		gid = int(*m.GID)
	}
	if err := os.Mkdir(d, 0o700); err != nil {
		return err
	}
	if err := os.Chmod(d, mode); err != nil {
		return err
	}
	if os.Geteuid() == 0 {
		return os.Chown(d, uid, gid)
	}
	return nil
}

// cacheUse is who in this process uses one cache mount directory, for
// BuildKit's sharing modes: shared steps use it together; a locked step
// waits until no other step uses it and has it alone; a private step has
// it alone when nobody uses it and otherwise gets a new cache of its own.
// Shared steps wait while a locked or private step has it.
type cacheUse struct {
	mu        sync.Mutex
	shared    int           // steps using it with sharing=shared
	exclusive bool          // a locked or private step has it
	changed   chan struct{} // closed (and replaced) when a step releases it
}

// acquire waits until the directory may be used as sharing ("shared",
// "private" or "locked") says, or ctx ends. ok is false for a private step
// that must take a cache of its own; release is then nil.
func (u *cacheUse) acquire(ctx context.Context, sharing string) (release func(), ok bool, err error) {
	for {
		u.mu.Lock()
		if u.changed == nil {
			u.changed = make(chan struct{})
		}
		switch {
		case sharing != "locked" && sharing != "private" && !u.exclusive:
			u.shared++
			u.mu.Unlock()
			return u.releaser(false), true, nil
		case (sharing == "locked" || sharing == "private") && !u.exclusive && u.shared == 0:
			u.exclusive = true
			u.mu.Unlock()
			return u.releaser(true), true, nil
		case sharing == "private":
			u.mu.Unlock()
			return nil, false, nil
		}
		changed := u.changed
		u.mu.Unlock()
		select {
		case <-changed:
		case <-ctx.Done():
			return nil, false, ctx.Err()
		}
	}
}

// releaser returns the function ending one use; calls after the first do
// nothing.
func (u *cacheUse) releaser(exclusive bool) func() {
	var once sync.Once
	return func() {
		once.Do(func() {
			u.mu.Lock()
			defer u.mu.Unlock()
			if exclusive {
				u.exclusive = false
			} else {
				u.shared--
			}
			close(u.changed)
			u.changed = make(chan struct{})
		})
	}
}
