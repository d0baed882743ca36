package fsutil

import (
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"
)

func TestLocks(t *testing.T) {
	if runtime.GOOS != "windows" && !isUnix() {
		t.Skip("file locks need unix or Windows")
	}
	p := filepath.Join(t.TempDir(), "x.lock")
	sh1, err := TryLockFile(p, 0o644, false)
	if err != nil {
		t.Fatal(err)
	}
	sh2, err := TryLockFile(p, 0o644, false)
	if err != nil {
		t.Fatalf("second shared lock = %v, want it granted", err)
	}
	if _, err := TryLockFile(p, 0o644, true); err != ErrLocked {
		t.Fatalf("exclusive lock under shared ones = %v, want ErrLocked", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if _, err := LockFile(ctx, p, 0o644, true); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("LockFile(exclusive) under shared ones = %v, want the context's deadline", err)
	}
	sh1.Unlock()
	done := make(chan error, 1)
	go func() {
		l, err := LockFile(context.Background(), p, 0o644, true)
		if err == nil {
			err = l.Unlock()
		}
		done <- err
	}()
	select {
	case err := <-done:
		t.Fatalf("LockFile(exclusive) returned %v while a shared lock was held", err)
	case <-time.After(30 * time.Millisecond):
	}
	sh2.Unlock()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("LockFile(exclusive) after the unlocks = %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("LockFile(exclusive) still waits after every lock was released")
	}
}

func TestWriteFile(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "f.json")
	if err := WriteFileBytes(p, 0o600, []byte("old")); err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(p); err != nil || (runtime.GOOS != "windows" && fi.Mode().Perm() != 0o600) {
		t.Errorf("WriteFileBytes(0600): %v %v, want mode 0600", fi.Mode(), err)
	}
	boom := errors.New("boom")
	err := WriteFile(p, 0o644, func(w io.Writer) error {
		io.WriteString(w, "half")
		return boom
	})
	if !errors.Is(err, boom) {
		t.Fatalf("WriteFile with a failing fill = %v, want its error", err)
	}
	if b, _ := os.ReadFile(p); string(b) != "old" {
		t.Errorf("after a failed write the file holds %q, want the old %q", b, "old")
	}
	if ents, _ := os.ReadDir(dir); len(ents) != 1 {
		t.Errorf("after a failed write the directory holds %d entries, want the file alone", len(ents))
	}

	// What a killed writer left (unlocked) goes; a live writer's stays.
	stale := filepath.Join(dir, ".f.json.tmp-123")
	if err := os.WriteFile(stale, []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	live := filepath.Join(dir, ".f.json.tmp-456")
	l, err := TryLockFile(live, 0o644, true)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Unlock()
	if err := WriteFileBytes(p, 0o644, []byte("new")); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(p); string(b) != "new" {
		t.Errorf("file holds %q, want %q", b, "new")
	}
	if _, err := os.Stat(stale); !os.IsNotExist(err) {
		t.Errorf("a killed writer's temp file is still there (%v)", err)
	}
	if _, err := os.Stat(live); err != nil {
		t.Errorf("a live writer's temp file was removed: %v", err)
	}

	// TempDir: the temporary file is made there, not beside the target.
	tmp := filepath.Join(dir, "tmp")
	os.Mkdir(tmp, 0o755)
	err = WriteFile(p, 0o644, func(w io.Writer) error {
		ents, _ := os.ReadDir(tmp)
		if len(ents) != 1 || !strings.HasPrefix(ents[0].Name(), ".f.json.tmp-") {
			t.Errorf("TempDir holds %v while writing, want the temporary file", ents)
		}
		_, err := io.WriteString(w, "via tmp")
		return err
	}, TempDir(tmp), NoSync())
	if err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(p); string(b) != "via tmp" {
		t.Errorf("file holds %q, want %q", b, "via tmp")
	}
}

// A missing directory is named, and still reads as not existing; the
// hidden temporary file's name is not in the message.
func TestWriteFileMissingDirectory(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "no", "such")
	path := filepath.Join(dir, "out.tar")
	err := WriteFileBytes(path, 0o644, []byte("x"))
	if err == nil || !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("WriteFileBytes into a missing directory = %v, want a not-exist error", err)
	}
	if msg := err.Error(); !strings.Contains(msg, "directory "+dir+" does not exist") || strings.Contains(msg, ".tmp-") {
		t.Errorf("error %q, want it to name the directory %s and not the temporary file", msg, dir)
	}
}
