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

	"github.com/manyarch/manyarch/internal/platform"
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

// TestAMD64Variants: linux/amd64/v2..v4 as buildx and containerd have them
// (issue #22 item 3): a build for amd64/v3 takes an amd64 base, sees
// TARGETVARIANT=v3 (what a Dockerfile passes to GOAMD64), makes an index
// entry linux/amd64/v3; run on a v3 CPU prefers it to plain amd64, and a
// level the CPU lacks is refused before anything runs.
func TestAMD64Variants(t *testing.T) {
	level := platform.HostAMD64Level()
	if level < 2 {
		t.Skipf("needs an x86-64-v2 (or newer) amd64 host; this one is %s at level %d", platform.Format(platform.Host()), level)
	}
	root := busyboxStore(t, "linux/amd64=amd64")
	dir := t.TempDir()
	df := "FROM t/busybox:1\nARG TARGETPLATFORM TARGETVARIANT\nRUN echo \"$TARGETPLATFORM ${TARGETVARIANT:-none}\" > /v\n"
	if err := os.WriteFile(filepath.Join(dir, "Dockerfile"), []byte(df), 0o644); err != nil {
		t.Fatal(err)
	}
	v := fmt.Sprintf("linux/amd64/v%d", level)
	if _, stderr, code := runManyarch(t, "", "--root", root, "build", "--platform", "linux/amd64,linux/amd64/v1,"+v, "-t", "lv:1", dir); code != 0 {
		t.Fatalf("build --platform linux/amd64,%s: exit %d, %s", v, code, stderr)
	}
	out, _, _ := runManyarch(t, "", "--root", root, "inspect", "--format", "{{range .Manifests}}{{.Platform}} {{end}}", "lv:1")
	if !strings.Contains(out, v) || strings.Count(out, "linux/amd64") != 2 {
		t.Errorf("inspect lv:1 platforms = %q; want linux/amd64 and %s, once each", out, v)
	}
	if out, stderr, code := runManyarch(t, "", "--root", root, "run", "lv:1", "cat", "/v"); code != 0 || out != fmt.Sprintf("%s v%d\n", v, level) {
		t.Errorf("run lv:1 on an x86-64-v%d CPU: exit %d, %q (%s); want the %s image", level, code, out, stderr, v)
	}
	if out, stderr, code := runManyarch(t, "", "--root", root, "run", "--platform", "linux/amd64", "lv:1", "cat", "/v"); code != 0 || out != "linux/amd64 none\n" {
		t.Errorf("run --platform linux/amd64 lv:1: exit %d, %q (%s)", code, out, stderr)
	}
	if level < 4 {
		next := fmt.Sprintf("linux/amd64/v%d", level+1)
		if _, stderr, code := runManyarch(t, "", "--root", root, "build", "--platform", next, dir); code == 0 || !strings.Contains(stderr, next+" needs an x86-64-v") {
			t.Errorf("build --platform %s on an x86-64-v%d CPU: exit %d, %q; want the CPU level error", next, level, code, stderr)
		}
	}
}
