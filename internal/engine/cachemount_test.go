//go:build unix

package engine

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/manyarch/manyarch/internal/plan"
	"github.com/manyarch/manyarch/internal/store"
)

// TestCacheUse: BuildKit's sharing modes between the RUN steps of this
// process (frontend/dockerfile/docs: RUN --mount=type=cache,sharing=):
// shared steps use a cache together, a locked step waits until nobody uses
// it, a private step that finds it in use gets its own, and nobody shares
// it with a locked or private step.
func TestCacheUse(t *testing.T) {
	ctx := context.Background()
	var u cacheUse
	r1, ok1, err1 := u.acquire(ctx, "shared")
	r2, ok2, err2 := u.acquire(ctx, "shared")
	if !ok1 || !ok2 || err1 != nil || err2 != nil {
		t.Fatalf("two shared steps: ok %v %v, errors %v %v; want both to use the cache", ok1, ok2, err1, err2)
	}
	if _, ok, err := u.acquire(ctx, "private"); ok || err != nil {
		t.Errorf("private step while shared steps use the cache: ok %v, %v; want a cache of its own", ok, err)
	}
	locked := make(chan func())
	go func() {
		r, _, _ := u.acquire(ctx, "locked")
		locked <- r
	}()
	select {
	case <-locked:
		t.Fatal("a locked step got the cache while shared steps use it")
	case <-time.After(50 * time.Millisecond):
	}
	r1()
	r1() // a second release changes nothing
	select {
	case <-locked:
		t.Fatal("a locked step got the cache while a shared step still uses it")
	case <-time.After(50 * time.Millisecond):
	}
	r2()
	var rl func()
	select {
	case rl = <-locked:
	case <-time.After(5 * time.Second):
		t.Fatal("the locked step did not get the cache once the shared steps left")
	}
	wctx, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
	defer cancel()
	if _, _, err := u.acquire(wctx, "shared"); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("shared step while a locked step has the cache: %v, want it to wait (until its context ends)", err)
	}
	if _, ok, _ := u.acquire(ctx, "private"); ok {
		t.Errorf("private step while a locked step has the cache: got it, want a cache of its own")
	}
	rl()
	rp, ok, err := u.acquire(ctx, "private")
	if !ok || err != nil {
		t.Fatalf("private step on an unused cache: ok %v, %v; want it", ok, err)
	}
	rp()
}

// TestCacheUseConcurrent runs many steps of every sharing mode on one cache
// (run it with -race): no step has the cache alone while another uses it.
func TestCacheUseConcurrent(t *testing.T) {
	var (
		u            cacheUse
		mu           sync.Mutex
		shared, excl int
		wg           sync.WaitGroup
		bad          []string
	)
	modes := []string{"shared", "locked", "private"}
	for i := range 60 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			mode := modes[i%3]
			release, ok, err := u.acquire(context.Background(), mode)
			if err != nil || !ok {
				return // a private step with a cache of its own
			}
			mu.Lock()
			if mode == "shared" {
				shared++
			} else {
				excl++
			}
			if excl > 1 || (excl == 1 && shared > 0) {
				bad = append(bad, fmt.Sprintf("%d exclusive and %d shared users at once", excl, shared))
			}
			mu.Unlock()
			time.Sleep(time.Millisecond)
			mu.Lock()
			if mode == "shared" {
				shared--
			} else {
				excl--
			}
			mu.Unlock()
			release()
		}()
	}
	wg.Wait()
	if len(bad) > 0 {
		t.Errorf("cache shared against its mode: %s", strings.Join(bad, "; "))
	}
}

// TestRenameNoReplace: a new cache directory never replaces one another
// step made meanwhile, even an empty one, which rename(2) replaces (Go's
// os.Rename refuses a directory, but checks first and renames after: the
// race TestMakeCacheMountConcurrent finds).
func TestRenameNoReplace(t *testing.T) {
	dir := t.TempDir()
	theirs, ours := filepath.Join(dir, "cache"), filepath.Join(dir, ".new")
	for _, d := range []string{theirs, ours} {
		if err := os.Mkdir(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	before := inode(t, theirs)
	if err := renameNoReplace(ours, theirs); !errors.Is(err, fs.ErrExist) {
		t.Errorf("renameNoReplace onto an existing empty directory = %v, want an error matching fs.ErrExist", err)
	}
	if inode(t, theirs) != before {
		t.Errorf("the existing directory was replaced")
	}
	fresh := filepath.Join(dir, "fresh")
	if err := renameNoReplace(ours, fresh); err != nil {
		t.Errorf("renameNoReplace to a new name: %v", err)
	}
}

// TestMakeCacheMountConcurrent: steps making one new cache at once all end
// up with the same directory, with its mode.
func TestMakeCacheMountConcurrent(t *testing.T) {
	mode := uint64(0o750)
	m := plan.Mount{CacheID: "c", Mode: &mode}
	for round := range 20 {
		dir := filepath.Join(t.TempDir(), "mounts", fmt.Sprint(round))
		inodes := make([]uint64, 8)
		var wg sync.WaitGroup
		for i := range inodes {
			wg.Add(1)
			go func() {
				defer wg.Done()
				if err := makeCacheMount(context.Background(), dir, m, ""); err != nil {
					t.Errorf("makeCacheMount: %v", err)
					return
				}
				var st syscall.Stat_t
				if err := syscall.Stat(dir, &st); err == nil {
					inodes[i] = st.Ino
				}
			}()
		}
		wg.Wait()
		for i, ino := range inodes {
			if ino != inodes[0] {
				t.Fatalf("round %d: step %d found directory inode %d, step 0 %d: one replaced the other", round, i, ino, inodes[0])
			}
		}
		if fi, err := os.Stat(dir); err != nil || fi.Mode().Perm() != 0o750 {
			t.Fatalf("round %d: cache directory %v, %v; want mode 0750", round, fi, err)
		}
		if left, _ := filepath.Glob(filepath.Join(filepath.Dir(dir), ".new-*")); len(left) > 0 {
			t.Fatalf("round %d: temporary directories left: %q", round, left)
		}
	}
}

func inode(t *testing.T, p string) uint64 {
	t.Helper()
	var st syscall.Stat_t
	if err := syscall.Stat(p, &st); err != nil {
		t.Fatal(err)
	}
	return st.Ino
}

// TestCacheMountFrom (BuildKit testMountContext's cache from=, corpus case
// mount-bind-file): a new cache with from=STAGE,source=DIR starts as a copy
// of that directory (mode and owner too); a cache that exists keeps what
// earlier steps wrote; the same id without from= is another cache; from=
// names an image too; a source that is not a directory fails naming it.
func TestCacheMountFrom(t *testing.T) {
	env := e2eEnv(t)
	df := "FROM fixtures/busybox:1.35 AS seed\n" +
		"RUN mkdir -p /seed/sub && echo -n seeded > /seed/f && chmod 0750 /seed && chown 7:8 /seed\n" +
		"FROM fixtures/busybox:1.35\n" +
		"RUN --mount=type=cache,target=/c,from=seed,source=/seed,id=t cat /c/f > /first && echo -n changed > /c/f && stat -c '%a %u:%g' /c > /mode\n" +
		"RUN --mount=type=cache,target=/c,from=seed,source=seed,id=t cat /c/f > /second\n" +
		"RUN --mount=type=cache,target=/c,id=t ls -A /c > /unseeded\n" +
		"RUN --mount=type=cache,target=/c,from=fixtures/busybox:1.35,source=/bin,id=img test -x /c/busybox && echo yes > /from-image\n"
	out, err := fidelityBuildIn(t, env, t.TempDir(), df)
	if err != nil {
		t.Fatalf("Build: %v", err)
	}
	for name, want := range map[string]string{
		"first": "seeded", "second": "changed", "mode": "750 7:8\n", "unseeded": "", "from-image": "yes\n",
	} {
		if got := readOut(t, out, name); got != want {
			t.Errorf("/%s = %q, want %q", name, got, want)
		}
	}
	df = "FROM fixtures/busybox:1.35 AS seed\nRUN mkdir /seed && echo -n x > /seed/f\n" +
		"FROM fixtures/busybox:1.35\nRUN --mount=type=cache,target=/c,from=seed,source=/seed/f true\n"
	if _, err := fidelityBuildIn(t, env, t.TempDir(), df); err == nil || !strings.Contains(err.Error(), "/seed/f is not a directory in stage seed") {
		t.Errorf("cache from= a file: %v, want an error saying /seed/f is not a directory in stage seed", err)
	}
}

// TestCacheMountsOrder: two steps that each lock the same two caches, named
// in opposite orders, both finish (the caches are taken in one order; in
// the Dockerfile's, each step could hold one and wait for the other), and
// a step mounting one cache twice, shared then locked, does not wait for
// itself.
func TestCacheMountsOrder(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	st, err := store.Open(ctx, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	x := &executor{n: &Native{}, st: st}
	scratch := func() (string, error) { return os.MkdirTemp(t.TempDir(), "scratch-") }
	cache := func(id, sharing, target string) plan.Mount {
		return plan.Mount{Type: "cache", CacheID: id, Sharing: sharing, Target: target, From: plan.Source{Kind: plan.SourceNone}}
	}
	steps := [][]plan.Mount{
		{cache("a", "locked", "/a"), cache("b", "locked", "/b")},
		{cache("b", "locked", "/b"), cache("a", "locked", "/a")},
	}
	var wg sync.WaitGroup
	errs := make([]error, 2)
	for round := range 50 {
		for s := range steps {
			wg.Add(1)
			go func() {
				defer wg.Done()
				at, release, err := x.cacheMounts(ctx, steps[s], scratch)
				defer release()
				if err == nil && (at[0] == "" || at[1] == "" || at[0] == at[1]) {
					err = fmt.Errorf("mounts %v, want two cache directories", at)
				}
				if err != nil {
					errs[s] = fmt.Errorf("round %d: %w", round, err)
				}
				time.Sleep(time.Millisecond)
			}()
		}
		wg.Wait()
		if errs[0] != nil || errs[1] != nil {
			t.Fatalf("steps locking caches a and b in opposite orders: %v; %v", errs[0], errs[1])
		}
	}
	at, release, err := x.cacheMounts(ctx, []plan.Mount{cache("c", "shared", "/c1"), {Type: "bind"}, cache("c", "locked", "/c2")}, scratch)
	defer release()
	if err != nil || at[0] == "" || at[0] != at[2] {
		t.Errorf("one cache mounted twice by a step: %v, %v; want the same directory at 0 and 2", at, err)
	}
}
