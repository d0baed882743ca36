//go:build unix

package fsutil

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

func isUnix() bool { return true }

func TestDirLocks(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "work")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	ex, err := TryLockDir(dir, true)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := TryLockDir(dir, false); err != ErrLocked {
		t.Fatalf("TryLockDir(shared) under an exclusive lock = %v, want ErrLocked", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if _, err := LockDir(ctx, dir, false); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("LockDir(shared) under an exclusive lock = %v, want the context's deadline", err)
	}
	if !ex.AtPath() {
		t.Error("AtPath() = false for the directory still at its path")
	}
	ex.Unlock()
	sh, err := LockDir(context.Background(), dir, false)
	if err != nil {
		t.Fatalf("LockDir(shared) after the unlock = %v", err)
	}
	// Replaced while held: the lock no longer guards what the path names.
	if err := os.Rename(dir, dir+".old"); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if sh.AtPath() {
		t.Error("AtPath() = true after the directory was replaced")
	}
	sh.Unlock()
	f := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(f, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := TryLockDir(f, true); err == nil || !strings.Contains(err.Error(), "not a directory") {
		t.Errorf("TryLockDir(a file) = %v, want an error saying it is not a directory", err)
	}
}

// Writers of one path at once: each one's sweep of killed writers' temporary
// files must not take another's, neither between its creation and its lock
// nor between its close and its rename. Every write succeeds, the file is
// always one writer's whole content, and no temporary file is left.
func TestWriteFileConcurrent(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "index.json")
	const writers, writes = 8, 60
	var wg sync.WaitGroup
	errs := make(chan error, writers*writes)
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			content := strings.Repeat(strconv.Itoa(w), 4096)
			for range writes {
				if err := WriteFileBytes(path, 0o644, []byte(content), NoSync()); err != nil {
					errs <- err
				}
				b, err := os.ReadFile(path)
				if err != nil || len(b) != 4096 || strings.Count(string(b), string(b[0])) != 4096 {
					errs <- fmt.Errorf("read %d bytes (%v), want one writer's 4096", len(b), err)
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	n := 0
	for err := range errs {
		if n++; n <= 5 {
			t.Error(err)
		}
	}
	if n > 5 {
		t.Errorf("and %d more errors", n-5)
	}
	ents, _ := os.ReadDir(dir)
	if len(ents) != 1 {
		var names []string
		for _, e := range ents {
			names = append(names, e.Name())
		}
		t.Errorf("left in the directory: %v, want only index.json", names)
	}
}

// A writer's new temporary file taken by another's sweep before its lock:
// the write makes another and succeeds.
func TestWriteFileTempSweptBeforeLock(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "f")
	swept := 0
	old := beforeTempLock
	beforeTempLock = func(string) {
		if swept < 2 {
			swept++
			removeStaleTemps(dir, ".f.tmp-")
		}
	}
	t.Cleanup(func() { beforeTempLock = old })
	if err := WriteFileBytes(path, 0o644, []byte("new"), NoSync()); err != nil {
		t.Fatalf("WriteFile with its temporary file swept before its lock = %v", err)
	}
	if b, err := os.ReadFile(path); err != nil || string(b) != "new" {
		t.Errorf("the file holds %q (%v), want \"new\"", b, err)
	}
	if swept != 2 {
		t.Errorf("the sweep ran %d times, want 2", swept)
	}
}
