package sandbox

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// TestRemoveStaleStates: the state directories of sandboxes whose process
// was killed go; those of running sandboxes (locked), those just made and
// other programs' directories stay.
func TestRemoveStaleStates(t *testing.T) {
	tmp := t.TempDir()
	t.Setenv("TMPDIR", tmp)
	old := time.Now().Add(-2 * time.Minute)
	mk := func(name string, mtime time.Time) string {
		d := filepath.Join(tmp, name)
		if err := os.MkdirAll(filepath.Join(d, "rootfs"), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.Chtimes(d, mtime, mtime); err != nil {
			t.Fatal(err)
		}
		return d
	}
	stale := mk(stateDirPrefix+"111", old)
	running := mk(stateDirPrefix+"222", old)
	fresh := mk(stateDirPrefix+"333", time.Now())
	other := mk("other-444", old)
	f, err := os.Open(running)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX); err != nil {
		t.Fatal(err)
	}
	removeStaleStates()
	for d, want := range map[string]bool{stale: false, running: true, fresh: true, other: true} {
		if _, err := os.Stat(d); (err == nil) != want {
			t.Errorf("after removeStaleStates, %s exists = %v, want %v", filepath.Base(d), err == nil, want)
		}
	}
}
