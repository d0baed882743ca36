package engine

import (
	"os"
	"path/filepath"
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
