//go:build linux

package cli

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/manyarch/manyarch/internal/sandbox"
)

// TestUlimitAboveOwn: as root, --ulimit with a hard limit above
// manyarch's own is raised from outside the container's user namespace
// (issue #22 item 5), on run and on a build's RUN, as docker does.
func TestUlimitAboveOwn(t *testing.T) {
	root := busyboxStore(t, "linux/amd64=amd64")
	var own unix.Rlimit
	if err := unix.Getrlimit(unix.RLIMIT_NOFILE, &own); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile("/proc/sys/fs/nr_open")
	if err != nil {
		t.Skipf("no /proc/sys/fs/nr_open: %v", err)
	}
	nrOpen, err := strconv.ParseUint(strings.TrimSpace(string(b)), 10, 64)
	if err != nil {
		t.Fatalf("/proc/sys/fs/nr_open: %v", err)
	}
	hard := own.Max + 1000
	if hard > nrOpen {
		t.Skipf("manyarch's nofile hard limit %d is near the kernel's nr_open %d: nothing above it to ask for", own.Max, nrOpen)
	}
	flag := fmt.Sprintf("nofile=1024:%d", hard)
	if !sandbox.CanRaiseLimits() {
		// Root without CAP_SYS_RESOURCE (a container that dropped it):
		// a clear error before anything runs.
		_, stderr, code := runManyarch(t, "", "--root", root, "run", "--ulimit", flag, "t/busybox:1", "true")
		if code != runFailed || !strings.Contains(stderr, "above manyarch's own (") || !strings.Contains(stderr, "CAP_SYS_RESOURCE") {
			t.Errorf("run --ulimit %s without CAP_SYS_RESOURCE: exit %d, %q; want an error naming the limit and the capability", flag, code, stderr)
		}
		t.Skip("raising a hard limit needs CAP_SYS_RESOURCE, which this process lacks (the error was checked)")
	}
	out, stderr, code := runManyarch(t, "", "--root", root, "run", "--ulimit", flag, "t/busybox:1", "sh", "-c", "ulimit -n; ulimit -Hn")
	if want := fmt.Sprintf("1024\n%d\n", hard); code != 0 || out != want {
		t.Errorf("run --ulimit %s (own hard limit %d): exit %d, %q (%s); want %q", flag, own.Max, code, out, stderr, want)
	}

	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "Dockerfile"), []byte("FROM t/busybox:1\nRUN ulimit -Hn > /out\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	dest := filepath.Join(t.TempDir(), "out")
	_, stderr, code = runManyarch(t, "", "--root", root, "build", "--ulimit", flag, "-o", "type=local,dest="+dest, dir)
	if got, _ := os.ReadFile(filepath.Join(dest, "out")); code != 0 || string(got) != fmt.Sprintf("%d\n", hard) {
		t.Errorf("build --ulimit %s: exit %d, /out %q (%s); want %d", flag, code, got, stderr, hard)
	}
}
