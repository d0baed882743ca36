//go:build unix

package ref

import (
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/v1/random"
	"golang.org/x/sys/unix"

	"github.com/manyarch/manyarch/internal/fsutil"
)

// TestAtomicFileStaleTemps: the temporary file a killed writer left beside
// the destination is removed by the next write; one a live writer holds is
// not; a failed fill leaves the old file and no temporary file.
func TestAtomicFileStaleTemps(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "out.tar")
	stale := filepath.Join(dir, ".out.tar.tmp-111")
	live := filepath.Join(dir, ".out.tar.tmp-222")
	other := filepath.Join(dir, ".other.tar.tmp-333")
	for _, p := range []string{stale, live, other} {
		if err := os.WriteFile(p, []byte("half"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	f, err := os.Open(live)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX); err != nil {
		t.Fatal(err)
	}
	if err := AtomicFile(path, func(w io.Writer) error { _, err := w.Write([]byte("new")); return err }); err != nil {
		t.Fatalf("AtomicFile: %v", err)
	}
	for p, want := range map[string]bool{stale: false, live: true, other: true} {
		if _, err := os.Stat(p); (err == nil) != want {
			t.Errorf("after AtomicFile, %s exists = %v, want %v", filepath.Base(p), err == nil, want)
		}
	}
	boom := errors.New("boom")
	if err := AtomicFile(path, func(w io.Writer) error { w.Write([]byte("partial")); return boom }); !errors.Is(err, boom) {
		t.Fatalf("AtomicFile with a failing fill = %v, want %v", err, boom)
	}
	if b, _ := os.ReadFile(path); string(b) != "new" {
		t.Errorf("after a failed write %s holds %q, want the old %q", path, b, "new")
	}
	if m, _ := filepath.Glob(filepath.Join(dir, ".out.tar.tmp-*")); len(m) != 1 || m[0] != live {
		t.Errorf("temporary files after a failed write: %v, want only the live writer's", m)
	}
}

// TestOCIArchiveStaleLayouts: the layout directory a writer killed while
// writing an oci-archive left beside it (.NAME.layout-*) is removed by the
// next write of that archive; one a live writer holds, or one just made,
// is not.
func TestOCIArchiveStaleLayouts(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	path := filepath.Join(dir, "out.tar")
	stale := filepath.Join(dir, ".out.tar.layout-111")
	live := filepath.Join(dir, ".out.tar.layout-222")
	fresh := filepath.Join(dir, ".out.tar.layout-333")
	old := time.Now().Add(-time.Hour)
	for _, p := range []string{stale, live, fresh} {
		if err := os.MkdirAll(filepath.Join(p, "blobs"), 0o755); err != nil {
			t.Fatal(err)
		}
		if p != fresh {
			if err := os.Chtimes(p, old, old); err != nil {
				t.Fatal(err)
			}
		}
	}
	l, err := fsutil.TryLockDir(live, true)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Unlock()
	r, err := NewOCIArchive(path, "1")
	if err != nil {
		t.Fatal(err)
	}
	img, err := random.Image(256, 1)
	if err != nil {
		t.Fatal(err)
	}
	env := &Env{StoreRoot: t.TempDir()}
	defer env.Close()
	if _, err := Write(ctx, env, r, img); err != nil {
		t.Fatal(err)
	}
	for p, want := range map[string]bool{stale: false, live: true, fresh: true, path: true} {
		if _, err := os.Stat(p); (err == nil) != want {
			t.Errorf("after the write, %s exists = %v, want %v", filepath.Base(p), err == nil, want)
		}
	}
	if m, _ := filepath.Glob(filepath.Join(dir, ".out.tar.layout-*")); len(m) != 2 {
		t.Errorf("layout directories after the write: %v, want the live and the fresh one only", m)
	}
}
