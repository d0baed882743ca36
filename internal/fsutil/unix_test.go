//go:build unix

package fsutil

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
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
