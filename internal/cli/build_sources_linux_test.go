//go:build linux

package cli

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
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
	mc := storeCmd(t, root)
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
		{"base", "--build-context base: want NAME=DIR, NAME=docker-image://REF"},
		{"base=oci-layout://" + dir + ":v1", "is not an OCI image layout"},
		{"base=oci-layout://" + layout + "@sha256:0000", "named by tag here"},
		{"base=docker-image://Bad:1", "--build-context base=docker-image://Bad:1:"},
		{"base=https://example.com/x.tar", "git and http(s) contexts are not supported"},
		{"base=git@github.com:o/r.git", "git and http(s) contexts are not supported"},
		{"base=s3://bucket/x", "unknown form s3://bucket/x"},
		{"base=" + filepath.Join(dir, "nope"), "--build-context base=" + filepath.Join(dir, "nope") + ": no such directory"},
		{"base=" + filepath.Join(dir, "Dockerfile"), "is a file, not a directory"},
	} {
		_, stderr, code := runManyarch(t, "", "--root", root, "build", "--build-context", tc.value, dir)
		if code == 0 || !strings.Contains(stderr, tc.want) {
			t.Errorf("build --build-context %s: exit %d, %q; want an error with %q", tc.value, code, stderr, tc.want)
		}
	}
	_, stderr, code := runManyarch(t, "", "--root", root, "build", "--build-context", "lib="+dir, "--build-context", "lib=docker-image://t/busybox:1", dir)
	if code == 0 || !strings.Contains(stderr, "lib is named twice") {
		t.Errorf("build with lib named twice (a directory, then an image): exit %d, %q; want \"lib is named twice\"", code, stderr)
	}
}

// storeCmd runs manyarch commands on the store root, failing the test on
// an exit status but 0; it returns standard error.
func storeCmd(t *testing.T, root string) func(args ...string) string {
	return func(args ...string) string {
		t.Helper()
		_, stderr, code := runManyarch(t, "", append([]string{"--root", root}, args...)...)
		if code != 0 {
			t.Fatalf("manyarch %s: exit %d\n%s", strings.Join(args, " "), code, stderr)
		}
		return stderr
	}
}

// writeFiles writes name → content under dir, making directories.
func writeFiles(t *testing.T, dir string, files map[string]string) {
	t.Helper()
	for name, content := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// TestBuildContextDir: build --build-context NAME=DIR, buildx's most
// common form (issue #22 item 3). COPY --from=NAME (with --chown, --chmod,
// --exclude, --parents), RUN --mount from=NAME, FROM NAME (the files on
// scratch, owners 0:0) and a stage named NAME (replaced, its RUN not run)
// read the directory, less what its own .dockerignore excludes (the build
// context's does not apply to it). A changed file re-runs only the steps
// that read it; an ignored or unread one re-runs nothing; and the image
// does not depend on where the directory is.
func TestBuildContextDir(t *testing.T) {
	root := busyboxStore(t, "linux/amd64=amd64")
	mc := storeCmd(t, root)
	lib := filepath.Join(t.TempDir(), "lib")
	writeFiles(t, lib, map[string]string{
		"a.txt": "A1", "sub/b.txt": "B1", "unrelated.txt": "U1", "secret.key": "S1", "build/out": "O1",
		".dockerignore": "*.key\nbuild/\n",
	})
	if err := os.Chown(filepath.Join(lib, "a.txt"), 1234, 1234); err != nil {
		t.Fatal(err)
	}
	app := t.TempDir()
	writeFiles(t, app, map[string]string{".dockerignore": "a.txt\n", "a.txt": "main", "Dockerfile": "" +
		"FROM t/busybox:1 AS tools\nRUN echo not-replaced > /never\n" +
		"FROM lib AS files\n" +
		"FROM t/busybox:1\n" +
		"COPY --from=lib a.txt /copied/a.txt\n" +
		"COPY --from=lib --chown=7:8 --chmod=640 sub/ /copied/sub/\n" +
		"COPY --from=lib --exclude=*.txt . /all/\n" +
		"COPY --from=lib --parents sub/b.txt /p/\n" +
		"COPY --from=tools a.txt /replaced-a.txt\n" +
		"COPY --from=files / /files/\n" +
		"RUN --mount=from=lib,target=/m cat /m/a.txt /m/sub/b.txt > /mounted\n"})
	// A relative directory, as buildx users write it (../lib).
	wd, _ := os.Getwd()
	rel, err := filepath.Rel(wd, lib)
	if err != nil {
		t.Fatal(err)
	}
	dest := filepath.Join(t.TempDir(), "out")
	stderr := mc("build", "-o", "type=local,dest="+dest, "--build-context", "lib="+rel, "--build-context", "tools="+lib, app)
	read := func(dir, f string) string {
		b, err := os.ReadFile(filepath.Join(dir, f))
		if err != nil {
			return "<" + err.Error() + ">"
		}
		return string(b)
	}
	for f, want := range map[string]string{
		"copied/a.txt": "A1", "copied/sub/b.txt": "B1", "p/sub/b.txt": "B1", "replaced-a.txt": "A1",
		"files/a.txt": "A1", "files/sub/b.txt": "B1", "files/.dockerignore": "*.key\nbuild/\n", "mounted": "A1B1",
	} {
		if got := read(dest, f); got != want {
			t.Errorf("build with --build-context lib=%s: /%s = %q, want %q\n%s", rel, f, got, want, stderr)
		}
	}
	for _, f := range []string{"never", "all/a.txt", "all/secret.key", "all/build", "files/secret.key", "files/build", "copied/secret.key"} {
		if _, err := os.Lstat(filepath.Join(dest, f)); err == nil {
			t.Errorf("/%s is in the image; want it left out (replaced stage, --exclude or lib's .dockerignore)", f)
		}
	}
	if fi, err := os.Stat(filepath.Join(dest, "all/sub")); err != nil || !fi.IsDir() {
		t.Errorf("COPY --from=lib --exclude=*.txt . /all/: /all/sub = %v; want the directory", err)
	}
	if fi, err := os.Lstat(filepath.Join(dest, "copied/sub/b.txt")); err != nil || fi.Mode().Perm() != 0o640 || ownerOf(fi) != "7:8" {
		t.Errorf("COPY --from=lib --chown=7:8 --chmod=640: b.txt %v %v; want -rw-r----- 7:8", fi, err)
	}
	for _, f := range []string{"files/a.txt", "copied/a.txt"} {
		if fi, err := os.Lstat(filepath.Join(dest, f)); err != nil || ownerOf(fi) != "0:0" {
			t.Errorf("/%s from lib (owned by 1234:1234 on the host): %v; want owner 0:0 as BuildKit sends it", f, err)
		}
	}

	// The cache: one stage per file read, each stamping a random value.
	cacheDir := t.TempDir()
	writeFiles(t, cacheDir, map[string]string{"Dockerfile": "" +
		"FROM t/busybox:1 AS a\nCOPY --from=lib a.txt /a\nRUN od -An -N8 -tx1 /dev/urandom > /r\n" +
		"FROM t/busybox:1 AS u\nCOPY --from=lib unrelated.txt /u\nRUN od -An -N8 -tx1 /dev/urandom > /r\n" +
		"FROM t/busybox:1 AS m\nRUN --mount=from=lib,source=sub,target=/s cat /s/b.txt > /r && od -An -N8 -tx1 /dev/urandom >> /r\n" +
		"FROM lib AS files\n" +
		"FROM scratch\nCOPY --from=a /r /a\nCOPY --from=u /r /u\nCOPY --from=m /r /m\nCOPY --from=files / /files/\n"})
	stamps := func(libDir string) map[string]string {
		t.Helper()
		out := filepath.Join(t.TempDir(), "out")
		mc("build", "-o", "type=local,dest="+out, "--build-context", "lib="+libDir, cacheDir)
		return map[string]string{"a": read(out, "a"), "u": read(out, "u"), "m": read(out, "m"), "files/a.txt": read(out, "files/a.txt")}
	}
	check := func(what string, before, after map[string]string, rerun ...string) {
		t.Helper()
		for k, v := range before {
			if changed := after[k] != v; changed != slices.Contains(rerun, k) {
				t.Errorf("%s: stage %s changed=%t (%q -> %q); want only %v to run again", what, k, changed, v, after[k], rerun)
			}
		}
	}
	first := stamps(lib)
	now := stamps(lib)
	check("build again", first, now)
	writeFiles(t, lib, map[string]string{"secret.key": "S2", "build/out": "O2", "new.txt": "N"})
	next := stamps(lib)
	check("change ignored files, add an unread one", now, next) // FROM lib reads new.txt: its files change, not a, u or m
	if _, err := os.Stat(filepath.Join(lib, "new.txt")); err == nil && next["files/a.txt"] != "A1" {
		t.Errorf("FROM lib after adding new.txt: /files/a.txt = %q", next["files/a.txt"])
	}
	writeFiles(t, lib, map[string]string{"sub/b.txt": "B2"})
	after := stamps(lib)
	check("change sub/b.txt", next, after, "m")
	writeFiles(t, lib, map[string]string{"a.txt": "A2"})
	last := stamps(lib)
	check("change a.txt", after, last, "a", "files/a.txt")

	// Where the directory is does not matter: the same files elsewhere
	// give the same image (no cache: the layers are written again).
	img := func(libDir string) string {
		t.Helper()
		mc("build", "--no-cache", "--build-arg", "SOURCE_DATE_EPOCH=0", "-t", "dirs:1", "--build-context", "lib="+libDir, "--target", "files", cacheDir)
		out, _, _ := runManyarch(t, "", "--root", root, "digest", "dirs:1")
		return strings.TrimSpace(out)
	}
	moved := filepath.Join(t.TempDir(), "elsewhere", "lib2")
	if err := os.MkdirAll(filepath.Dir(moved), 0o755); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("cp", "-a", lib, moved).CombinedOutput(); err != nil {
		t.Fatalf("cp -a: %v %s", err, out)
	}
	if d1, d2 := img(lib), img(moved); d1 != d2 || d1 == "" {
		t.Errorf("FROM lib with lib at %s and at %s: digests %s and %s; want one", lib, moved, d1, d2)
	}
}

func ownerOf(fi os.FileInfo) string {
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return "?"
	}
	return fmt.Sprintf("%d:%d", st.Uid, st.Gid)
}
