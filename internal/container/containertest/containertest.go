//go:build linux

package containertest

import (
	"os"
	"path/filepath"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/manyarch/manyarch/internal/testutil"
)

// OverlayRefusingDir mounts an overlay (root only; it skips otherwise, or
// without overlayfs) at dir, created when missing, or at a new temporary
// directory when dir is "", and returns it. overlayfs refuses an upper
// directory there ("not supported as upperdir"), as it does when manyarch
// runs in a container whose root is an overlay, so a container whose
// writable directories are there runs on a copy of the layers. The mount
// goes when the test ends.
func OverlayRefusingDir(t testing.TB, dir string) string {
	t.Helper()
	testutil.RequireRoot(t)
	base := t.TempDir()
	for _, d := range []string{"l", "u", "w"} {
		if err := os.Mkdir(filepath.Join(base, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if dir == "" {
		dir = filepath.Join(base, "m")
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	opts := "lowerdir=" + filepath.Join(base, "l") + ",upperdir=" + filepath.Join(base, "u") + ",workdir=" + filepath.Join(base, "w")
	if err := unix.Mount("overlay", dir, "overlay", 0, opts); err != nil {
		t.Skipf("needs overlayfs: %v", err)
	}
	t.Cleanup(func() { unix.Unmount(dir, unix.MNT_DETACH) })
	return dir
}
