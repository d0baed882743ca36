//go:build linux

package cli

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/manyarch/manyarch/internal/testutil"
)

// TestBuildPull: build --pull as buildx's (issue #22 item 3). A base named
// with a registry host is read from its registry although the store has an
// older copy: the build runs on the tag's new image (its RUN is not a cache
// hit of the old one), says what it pulled, and the store's copy is
// updated, so a later build without --pull uses it too. A store name (no
// host) is read from the store, with a warning that says why.
func TestBuildPull(t *testing.T) { // long: one story, registry set-up first
	root := busyboxStore(t, "linux/amd64=amd64")
	reg := testutil.StartRegistry(t, testutil.RegistryOptions{})
	base := reg.Ref("base:1")
	mc := func(args ...string) (string, string) {
		t.Helper()
		out, stderr, code := runManyarch(t, "", append([]string{"--root", root}, args...)...)
		if code != 0 {
			t.Fatalf("manyarch %s: exit %d\n%s", strings.Join(args, " "), code, stderr)
		}
		return out, stderr
	}
	// The registry's base:1 is busybox, and the store has that copy.
	mc("push", "t/busybox:1", base)
	mc("pull", base)
	oldDigest, _ := mc("digest", "store:"+base)

	// Then base:1 moves to an image with /marker in it.
	v2 := t.TempDir()
	if err := os.WriteFile(filepath.Join(v2, "Dockerfile"), []byte("FROM t/busybox:1\nRUN echo v2 > /marker\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	mc("build", "-t", "v2:1", v2)
	mc("push", "v2:1", base)
	newDigest, _ := mc("digest", base)
	if newDigest == oldDigest {
		t.Fatalf("pushing v2:1 to %s did not move the tag (%s)", base, newDigest)
	}

	dir := t.TempDir()
	df := "ARG BASE\nFROM $BASE\nRUN (cat /marker 2>/dev/null || echo none) > /seen\n"
	if err := os.WriteFile(filepath.Join(dir, "Dockerfile"), []byte(df), 0o644); err != nil {
		t.Fatal(err)
	}
	seen := func(args ...string) (string, string) {
		t.Helper()
		dest := filepath.Join(t.TempDir(), "out")
		_, errOut := mc(append(append([]string{"build", "-o", "type=local,dest=" + dest}, args...), dir)...)
		b, err := os.ReadFile(filepath.Join(dest, "seen"))
		if err != nil {
			t.Fatalf("build %v: %v\n%s", args, err, errOut)
		}
		return strings.TrimSpace(string(b)), errOut
	}
	if got, _ := seen("--build-arg", "BASE="+base); got != "none" {
		t.Errorf("build FROM %s without --pull saw %q; want the store's old copy (none)", base, got)
	}
	got, stderr := seen("--pull", "--build-arg", "BASE="+base)
	if got != "v2" {
		t.Errorf("build --pull FROM %s saw %q; want the registry's v2\n%s", base, got, stderr)
	}
	if want := "pulled " + base + " from its registry (" + strings.TrimSpace(newDigest) + ")"; !strings.Contains(stderr, want) {
		t.Errorf("build --pull stderr lacks %q:\n%s", want, stderr)
	}
	if d, _ := mc("digest", "store:"+base); d != newDigest {
		t.Errorf("after build --pull the store's %s is %s; want the registry's %s", base, d, newDigest)
	}
	got, stderr = seen("--build-arg", "BASE="+base)
	if got != "v2" || strings.Contains(stderr, "pulled ") {
		t.Errorf("build without --pull after one with it saw %q (want v2, the updated store copy, nothing pulled)\n%s", got, stderr)
	}

	// A store name: read from the store, and said so once.
	_, stderr = seen("--pull", "--build-arg", "BASE=t/busybox:1")
	if n := strings.Count(stderr, "--pull: t/busybox:1 names no registry host"); n != 1 {
		t.Errorf("build --pull FROM t/busybox:1: the no-host warning appears %d times; want once\n%s", n, stderr)
	}

	// A registry that does not answer fails --pull, naming it and the way out.
	_, stderr, code := runManyarch(t, "", "--root", root, "build", "--pull", "--build-arg", "BASE=127.0.0.1:1/base:1", dir)
	if code == 0 || !strings.Contains(stderr, "127.0.0.1:1") || !strings.Contains(stderr, "without --pull") {
		t.Errorf("build --pull with an unreachable registry: exit %d; want an error naming it and \"without --pull\"\n%s", code, stderr)
	}
}
