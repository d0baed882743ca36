package engine

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/manyarch/manyarch/internal/testutil"
)

// A killed build leaves its directory, maybe with a mount in it: the next
// build removes it, but not the directory of a build that is running.
func TestRemoveStaleBuildDirs(t *testing.T) {
	testutil.RequireRoot(t)
	root := t.TempDir()
	stale := filepath.Join(root, "build-stale")
	mnt := filepath.Join(stale, "copy-1", "rootfs")
	if err := os.MkdirAll(mnt, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := unix.Mount("tmpfs", mnt, "tmpfs", 0, ""); err != nil {
		t.Fatalf("mounting a tmpfs: %v", err)
	}
	t.Cleanup(func() { unix.Unmount(mnt, unix.MNT_DETACH) })
	live := filepath.Join(root, "build-live")
	os.Mkdir(live, 0o755)
	unlock, err := lockDir(live)
	if err != nil {
		t.Fatal(err)
	}
	defer unlock()

	removeStaleBuildDirs(root)
	if _, err := os.Stat(stale); !os.IsNotExist(err) {
		t.Errorf("stale build directory: Stat = %v, want it removed", err)
	}
	if _, err := os.Stat(live); err != nil {
		t.Errorf("live build directory: Stat = %v, want it kept", err)
	}
}

// A build's sweep of killed builds' directories can take a new build's
// directory between its creation and its lock: the new build makes another
// instead of failing with "locking build directory: no such file or
// directory" (CI saw it in TestDockerfileCorpus).
func TestMakeBuildDirSweptBeforeLock(t *testing.T) {
	root := t.TempDir()
	swept := 0
	old := beforeBuildDirLock
	beforeBuildDirLock = func(dir string) {
		if swept < 2 {
			swept++
			removeStaleBuildDirs(root) // another build starting now
		}
	}
	t.Cleanup(func() { beforeBuildDirLock = old })
	dir, unlock, err := makeBuildDir(root)
	if err != nil {
		t.Fatalf("makeBuildDir with a sweep before its lock = %v", err)
	}
	defer unlock()
	if swept != 2 {
		t.Fatalf("the sweep ran %d times, want 2", swept)
	}
	if fi, err := os.Stat(dir); err != nil || !fi.IsDir() {
		t.Fatalf("build directory %s: Stat = %v", dir, err)
	}
	// It is locked: a sweep now leaves it.
	removeStaleBuildDirs(root)
	if _, err := os.Stat(dir); err != nil {
		t.Errorf("a sweep removed the locked build directory: %v", err)
	}
}

// A directory its holder removed and another made again at the same path
// while we waited to open and lock it: the lock we got is on the old one,
// worth nothing, and lockDir says it does not exist.
func TestLockDirReplacedWhileLocking(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "build-x")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	old := afterDirLock
	afterDirLock = func(d string) {
		os.Remove(d)
		os.Mkdir(d, 0o755)
	}
	t.Cleanup(func() { afterDirLock = old })
	unlock, err := lockDir(dir)
	if err == nil {
		unlock()
		t.Fatal("lockDir of a directory replaced while it was locked succeeded")
	}
	if !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("lockDir of a replaced directory = %v, want fs.ErrNotExist", err)
	}
}

// Builds starting at once, each sweeping and making its directory as
// newExecutor does, all get one.
func TestMakeBuildDirConcurrent(t *testing.T) {
	root := t.TempDir()
	var wg sync.WaitGroup
	errs := make(chan error, 8*50)
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 50 {
				removeStaleBuildDirs(root)
				dir, unlock, err := makeBuildDir(root)
				if err != nil {
					errs <- err
					continue
				}
				if _, err := os.Stat(dir); err != nil {
					errs <- fmt.Errorf("a made build directory is gone: %w", err)
				}
				unlock()
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}
