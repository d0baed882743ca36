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

// TestBuildContext: build --build-context as buildx's (issue #22 item 3):
// FROM NAME, COPY --from=NAME (a stage of that name replaced whole) and
// RUN --mount from=NAME use the named image, from the store
// (docker-image://) or an OCI layout (oci-layout://); bad values are errors
// that name the flag's value.
func TestBuildContext(t *testing.T) {
	root := busyboxStore(t, "linux/amd64=amd64")
	mc := func(args ...string) string {
		t.Helper()
		_, stderr, code := runManyarch(t, "", append([]string{"--root", root}, args...)...)
		if code != 0 {
			t.Fatalf("manyarch %s: exit %d\n%s", strings.Join(args, " "), code, stderr)
		}
		return stderr
	}
	mark := t.TempDir()
	if err := os.WriteFile(filepath.Join(mark, "Dockerfile"), []byte("FROM t/busybox:1\nRUN echo marked > /marker\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	mc("build", "-t", "mark:1", mark)
	layout := filepath.Join(t.TempDir(), "layout")
	mc("copy", "mark:1", "oci:"+layout+":v1")

	dir := t.TempDir()
	df := "FROM scratch AS tools\nCOPY Dockerfile /Dockerfile\n\nFROM base\nCOPY --from=tools /marker /from-stage\nRUN --mount=from=helper,target=/h cat /h/marker > /from-mount\n"
	if err := os.WriteFile(filepath.Join(dir, "Dockerfile"), []byte(df), 0o644); err != nil {
		t.Fatal(err)
	}
	dest := filepath.Join(t.TempDir(), "out")
	stderr := mc("build", "-o", "type=local,dest="+dest,
		"--build-context", "base=docker-image://t/busybox:1",
		"--build-context", "tools=docker-image://mark:1",
		"--build-context", "helper=oci-layout://"+layout+":v1", dir)
	for _, f := range []string{"from-stage", "from-mount", "bin/busybox"} {
		b, err := os.ReadFile(filepath.Join(dest, f))
		if err != nil || (f != "bin/busybox" && string(b) != "marked\n") {
			t.Errorf("build with named contexts: /%s = %q, %v; want the named image's file\n%s", f, b, err, stderr)
		}
	}
	for _, tc := range []struct{ value, want string }{
		{"base", "--build-context base: want NAME=docker-image://REF"},
		{"base=" + dir, "directory contexts are not supported"},
		{"base=oci-layout://" + dir + ":v1", "is not an OCI image layout"},
		{"base=oci-layout://" + layout + "@sha256:0000", "named by tag here"},
		{"base=docker-image://Bad:1", "--build-context base=docker-image://Bad:1:"},
		{"base=https://example.com/x.tar", "git and https contexts are not supported"},
	} {
		_, stderr, code := runManyarch(t, "", "--root", root, "build", "--build-context", tc.value, dir)
		if code == 0 || !strings.Contains(stderr, tc.want) {
			t.Errorf("build --build-context %s: exit %d, %q; want an error with %q", tc.value, code, stderr, tc.want)
		}
	}
}
