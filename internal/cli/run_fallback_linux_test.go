package cli

import (
	"os"
	"path/filepath"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/manyarch/manyarch/internal/testutil"
)

// overlayTempDir mounts an overlay and returns a directory on it, where
// overlayfs refuses an upper directory ("not supported as upperdir"), as
// when manyarch runs in a container whose root is an overlay.
func overlayTempDir(t *testing.T) string {
	t.Helper()
	testutil.RequireRoot(t)
	base := t.TempDir()
	for _, d := range []string{"l", "u", "w", "m"} {
		if err := os.Mkdir(filepath.Join(base, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	m := filepath.Join(base, "m")
	opts := "lowerdir=" + filepath.Join(base, "l") + ",upperdir=" + filepath.Join(base, "u") + ",workdir=" + filepath.Join(base, "w")
	if err := unix.Mount("overlay", m, "overlay", 0, opts); err != nil {
		t.Skipf("needs overlayfs: %v", err)
	}
	t.Cleanup(func() { unix.Unmount(m, unix.MNT_DETACH) })
	return m
}

// TestRunOverlayRefused: with the temporary directory on an overlay, the
// container's overlay root is refused and run runs on a copy of the
// layers instead, with the same result (package container's fallback).
func TestRunOverlayRefused(t *testing.T) {
	root := busyboxStore(t, "linux/amd64=amd64")
	t.Setenv("TMPDIR", overlayTempDir(t))
	out, stderr, code := runManyarch(t, "", "--root", root, "run", "t/busybox:1", "sh", "-c", "echo written > /etc/f && cat /etc/f && uname -m")
	if code != 0 || out != "written\nx86_64\n" {
		t.Fatalf("run with TMPDIR on an overlay = %q, exit %d, stderr:\n%s\nwant it to run on a copy of the layers", out, code, stderr)
	}
}
