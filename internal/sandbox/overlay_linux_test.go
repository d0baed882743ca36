package sandbox_test

import (
	"errors"
	"os"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/manyarch/manyarch/internal/sandbox"
)

// otherFS returns a directory on another file system than dir (/dev/shm, a
// tmpfs), or skips.
func otherFS(t *testing.T, dir string) string {
	t.Helper()
	var a, b syscall.Stat_t
	if syscall.Stat(dir, &a) != nil || syscall.Stat("/dev/shm", &b) != nil || a.Dev == b.Dev {
		t.Skip("needs /dev/shm on another file system than the test's temporary directory")
	}
	d, err := os.MkdirTemp("/dev/shm", "manyarch-sandbox-test-")
	if err != nil {
		t.Skipf("needs a writable /dev/shm: %v", err)
	}
	t.Cleanup(func() { os.RemoveAll(d) })
	return d
}

// TestOverlayErrorTyped: an overlay root the kernel refuses (here a work
// directory on another file system than the upper one, as real as an upper
// directory on an overlay when manyarch runs in a container) is a
// *SetupError wrapping an *OverlayError, which callers fall back on without
// reading the message; other setup errors are not.
func TestOverlayErrorTyped(t *testing.T) {
	root := busybox(t)
	tmp := t.TempDir()
	upper := filepath.Join(tmp, "upper")
	if err := os.Mkdir(upper, 0o755); err != nil {
		t.Fatal(err)
	}
	spec := sandbox.Spec{Overlay: &sandbox.Overlay{Lower: []string{root}, Upper: upper, Work: otherFS(t, tmp)}}
	_, _, res, err := runSh(t, spec, "echo ran")
	var se *sandbox.SetupError
	var oe *sandbox.OverlayError
	if !errors.As(err, &se) || !errors.As(err, &oe) || res.ExitCode != 125 {
		t.Fatalf("Run(overlay with upper and work on two file systems) = %+v, %v (%T); want exit 125, a *SetupError wrapping an *OverlayError", res, err, err)
	}
	if !errors.Is(err, syscall.EXDEV) && !errors.Is(err, syscall.EINVAL) {
		t.Errorf("Run(overlay with upper and work on two file systems) = %v; want the mount's errno (EXDEV or EINVAL) to unwrap", err)
	}

	// Not an overlay problem: the working directory is a file.
	file := filepath.Join(t.TempDir(), "root")
	if err := os.Mkdir(file, 0o755); err != nil {
		t.Fatal(err)
	}
	_, _, _, err = runSh(t, sandbox.Spec{RootDir: root, Dir: "/bin/busybox"}, "true")
	if !errors.As(err, &se) || errors.As(err, &oe) {
		t.Errorf("Run(working directory /bin/busybox) = %v (%T); want a *SetupError that is not an *OverlayError", err, err)
	}
}
