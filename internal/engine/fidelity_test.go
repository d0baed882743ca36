//go:build unix

package engine

import (
	"archive/tar"
	"bytes"
	"context"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/manyarch/manyarch/internal/ref"
)

// Cases adapted from BuildKit v0.34.2's frontend tests
// (frontend/dockerfile/*_test.go), each named after the test it comes from.

// fidelityBuild builds df (FROM scratch or anything in a fresh store) on
// linux/amd64 with a context holding files (a name ending in / is a
// directory) and returns the local output directory.
func fidelityBuild(t *testing.T, df string, files map[string]string) (string, error) {
	t.Helper()
	ctxDir := t.TempDir()
	for name, data := range files {
		p := filepath.Join(ctxDir, name)
		if strings.HasSuffix(name, "/") {
			if err := os.MkdirAll(p, 0o755); err != nil {
				t.Fatal(err)
			}
			continue
		}
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	env := &ref.Env{StoreRoot: t.TempDir()}
	t.Cleanup(func() { env.Close() })
	return fidelityBuildIn(t, env, ctxDir, df)
}

func fidelityBuildIn(t *testing.T, env *ref.Env, ctxDir, df string) (string, error) {
	t.Helper()
	out := filepath.Join(t.TempDir(), "out")
	req := &Request{Dockerfile: []byte(df), DockerfileName: filepath.Join(ctxDir, "Dockerfile"), ContextDir: ctxDir,
		Platforms: parsePlatforms(t, "linux/amd64"),
		Outputs:   []Output{{Type: "local", Dest: out, Attrs: map[string]string{}}}}
	_, err := NewNative(NativeOptions{Env: env}).Build(context.Background(), req)
	return out, err
}

func readOut(t *testing.T, out, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(out, name))
	if err != nil {
		t.Errorf("%s: %v", name, err)
	}
	return string(b)
}

// TestEmptyWildcard (BuildKit testEmptyWildcard): a wildcard source that
// matches nothing is skipped, the other sources are copied.
func TestEmptyWildcard(t *testing.T) {
	out, err := fidelityBuild(t, "FROM scratch\nCOPY foo nomatch* /\nCOPY nomatch* /d/\n", map[string]string{"foo": "contents0"})
	if err != nil {
		t.Fatalf("Build: %v", err)
	}
	if got := readOut(t, out, "foo"); got != "contents0" {
		t.Errorf("foo = %q, want contents0", got)
	}
	// A named source that is missing still fails.
	if _, err := fidelityBuild(t, "FROM scratch\nCOPY foo missing /\n", map[string]string{"foo": "x"}); err == nil || !strings.Contains(err.Error(), "missing") {
		t.Errorf("COPY of a missing file = %v, want an error naming it", err)
	}
}

func tarOf(t *testing.T, name, content string) string {
	t.Helper()
	var b bytes.Buffer
	tw := tar.NewWriter(&b)
	if err := tw.WriteHeader(&tar.Header{Name: name, Typeflag: tar.TypeReg, Size: int64(len(content)), Mode: 0o644}); err != nil {
		t.Fatal(err)
	}
	tw.Write([]byte(content))
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	return b.String()
}

// TestDockerfileAddArchiveWildcard (BuildKit testDockerfileAddArchiveWildcard):
// a wildcard matching several archives unpacks each into a destination
// without a trailing /.
func TestDockerfileAddArchiveWildcard(t *testing.T) {
	out, err := fidelityBuild(t, "FROM scratch\nADD *.tar /dest\n", map[string]string{
		"t.tar": tarOf(t, "foo", "content0"), "b.tar": tarOf(t, "bar", "content1")})
	if err != nil {
		t.Fatalf("Build: %v", err)
	}
	if got := readOut(t, out, "dest/foo"); got != "content0" {
		t.Errorf("dest/foo = %q", got)
	}
	if got := readOut(t, out, "dest/bar"); got != "content1" {
		t.Errorf("dest/bar = %q", got)
	}
}

// TestExcludedFilesOnCopy (BuildKit testExcludedFilesOnCopy, builders 4-6):
// directories matched by a wildcard merge into the destination, with or
// without its trailing /; excluding everything leaves it empty.
func TestExcludedFilesOnCopy(t *testing.T) {
	files := map[string]string{
		"dir1/file-101.png": "2", "dir1/file-102.txt": "3", "dir1/file-103.jpeg": "4",
		"dir2/file-201.pdf": "6", "dir2/file-202.jpeg": "7", "dir2/file-203.png": "8",
		"dir3/file-301.mp3": "9", "dir3/file-302.mpeg": "10", "dir4/file-401.txt": "11",
	}
	out, err := fidelityBuild(t, "FROM scratch\n"+
		"COPY --exclude=*.mp3 --exclude=*.jpeg --exclude=*.png --exclude=*.pdf --exclude=*.txt dir* /4/\n"+
		"ADD --exclude=*.mp* --exclude=*.jpeg --exclude=*.png --exclude=*.pdf dir* /5\n"+
		"ADD --exclude=* dir* /6\n", files)
	if err != nil {
		t.Fatalf("Build: %v", err)
	}
	want := map[string][]string{"4": {"file-302.mpeg"}, "5": {"file-102.txt", "file-401.txt"}, "6": nil}
	for d, names := range want {
		ents, err := os.ReadDir(filepath.Join(out, d))
		if err != nil {
			t.Errorf("/%s: %v", d, err)
			continue
		}
		var got []string
		for _, e := range ents {
			got = append(got, e.Name())
		}
		if strings.Join(got, " ") != strings.Join(names, " ") {
			t.Errorf("/%s holds %v, want %v", d, got, names)
		}
	}
}

// TestCopyWildcards (BuildKit testCopyWildcards): one wildcard match to a
// path without / becomes that file; several files into a path without /
// each replace it, the last one staying, as BuildKit copies them.
func TestCopyWildcards(t *testing.T) {
	out, err := fidelityBuild(t, "FROM scratch\nCOPY f*.go foo2.go\nCOPY *.go /gofiles/\nCOPY a b /ab\n", map[string]string{
		"foo.go": "foo-contents", "bar.go": "bar-contents", "a": "A", "b": "B"})
	if err != nil {
		t.Fatalf("Build: %v", err)
	}
	for name, want := range map[string]string{"foo2.go": "foo-contents", "gofiles/foo.go": "foo-contents", "gofiles/bar.go": "bar-contents", "ab": "B"} {
		if got := readOut(t, out, name); got != want {
			t.Errorf("%s = %q, want %q", name, got, want)
		}
	}
}

// TestDockerignore (BuildKit testDockerignore, and the re-include of issue
// #26): .dockerignore follows fsutil's filter over moby/patternmatcher, so
// an exception under an excluded directory sends that file and its
// directory, for a COPY of the whole context and of the directory.
func TestDockerignore(t *testing.T) {
	files := map[string]string{
		"foo": "foo-contents", "bar": "bar-contents", "baz": "baz-contents", "bay": "bay-contents",
		".dockerignore": "ba*\nDockerfile\n!bay\n.dockerignore\nlogs\n!logs/keep.log\ncache/\n!cache/**/*.keep\n",
		"logs/a.log":    "a", "logs/keep.log": "keep", "logs/sub/b.log": "b",
		"cache/x/y.keep": "y", "cache/x/z.tmp": "z", "cache/empty/": "",
	}
	out, err := fidelityBuild(t, "FROM scratch\nCOPY . /all/\nCOPY logs /logs/\nCOPY logs/keep.log /one/\n", files)
	if err != nil {
		t.Fatalf("Build: %v", err)
	}
	var got []string
	filepath.WalkDir(out, func(p string, d fs.DirEntry, err error) error {
		if err == nil && p != out {
			r, _ := filepath.Rel(out, p)
			got = append(got, filepath.ToSlash(r))
		}
		return nil
	})
	want := []string{"all", "all/bay", "all/cache", "all/cache/x", "all/cache/x/y.keep", "all/foo", "all/logs", "all/logs/keep.log",
		"logs", "logs/keep.log", "one", "one/keep.log"}
	if strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("built tree:\n got %v\nwant %v", got, want)
	}
}

func checkMode(t *testing.T, out, name string, want fs.FileMode) {
	t.Helper()
	fi, err := os.Lstat(filepath.Join(out, name))
	if err != nil {
		t.Errorf("%s: %v", name, err)
		return
	}
	if got := fi.Mode() & (fs.ModeDir | fs.ModePerm | fs.ModeSetuid | fs.ModeSetgid | fs.ModeSticky); got != want {
		t.Errorf("%s: mode %v, want %v", name, got, want)
	}
}

// TestCopyChmod (BuildKit testCopyChmod): the directories a COPY creates
// get an octal --chmod's mode, with and without --link; a copied directory
// too; a symbolic --chmod leaves created parents 0755.
func TestCopyChmod(t *testing.T) {
	out, err := fidelityBuild(t, "FROM scratch\n"+
		"COPY --chmod=0644 foo /\n"+
		"COPY --chmod=777 foo /parent/foo\n"+
		"COPY --chmod=770 foo /parent/sub/foo\n"+
		"COPY --link --chmod=750 foo /lparent/lsub/foo\n"+
		"COPY --chmod=640 dir /d640\n"+
		"COPY --link --chmod=640 dir /l640\n"+
		"COPY --chmod=u+x foo /sym/foo\n", map[string]string{"foo": "foo-contents", "dir/f": "f", "dir/sub/g": "g"})
	if err != nil {
		t.Fatalf("Build: %v", err)
	}
	for name, want := range map[string]fs.FileMode{
		"foo": 0o644, "parent": fs.ModeDir | 0o777, "parent/foo": 0o777, "parent/sub": fs.ModeDir | 0o770,
		"lparent": fs.ModeDir | 0o750, "lparent/lsub": fs.ModeDir | 0o750,
		"d640": fs.ModeDir | 0o640, "d640/f": 0o640, "d640/sub": fs.ModeDir | 0o640,
		"l640": fs.ModeDir | 0o640, "l640/sub/g": 0o640,
		"sym": fs.ModeDir | 0o755, "sym/foo": 0o744,
	} {
		checkMode(t, out, name, want)
	}
}

func symlinkTar(t *testing.T, name, target string) string {
	t.Helper()
	var b bytes.Buffer
	tw := tar.NewWriter(&b)
	if err := tw.WriteHeader(&tar.Header{Name: name, Typeflag: tar.TypeSymlink, Linkname: target, Mode: 0o755}); err != nil {
		t.Fatal(err)
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	return b.String()
}

// TestSymlinkDestination (BuildKit testSymlinkDestination): a destination
// through a dangling symlink follows it (inside the image's root) and
// creates its target.
func TestSymlinkDestination(t *testing.T) {
	files := map[string]string{"foo": "content0", "t.tar": symlinkTar(t, "symlink", "../tmp/symlink-target")}
	out, err := fidelityBuild(t, "FROM scratch\nADD t.tar /\nCOPY foo /symlink/\nCOPY foo /symlink/sub/bar\n", files)
	if err != nil {
		t.Fatalf("Build: %v", err)
	}
	if got := readOut(t, out, "tmp/symlink-target/foo"); got != "content0" {
		t.Errorf("tmp/symlink-target/foo = %q, want content0", got)
	}
	if got := readOut(t, out, "tmp/symlink-target/sub/bar"); got != "content0" {
		t.Errorf("tmp/symlink-target/sub/bar = %q, want content0", got)
	}
	if l, err := os.Readlink(filepath.Join(out, "symlink")); err != nil || l != "../tmp/symlink-target" {
		t.Errorf("symlink -> %q (%v), want ../tmp/symlink-target", l, err)
	}
}

// TestDockerfileAddChownArchive (BuildKit testDockerfileAddChownArchive):
// ADD --chown gives the entries of an unpacked archive the owner, and
// --chmod leaves the directory it unpacks into 0755.
func TestDockerfileAddChownArchive(t *testing.T) {
	out, err := fidelityBuild(t, "FROM scratch\nADD --chown=100:200 t.tar /out/\nADD --chmod=600 t.tar /m/d/\n", map[string]string{"t.tar": tarOf(t, "foo", "content0")})
	if err != nil {
		t.Fatalf("Build: %v", err)
	}
	if got := readOut(t, out, "out/foo"); got != "content0" {
		t.Errorf("out/foo = %q", got)
	}
	for _, name := range []string{"out", "out/foo"} {
		fi, err := os.Lstat(filepath.Join(out, name))
		if err != nil {
			t.Fatal(err)
		}
		if uid, gid := owner(fi); uid != 100 || gid != 200 {
			t.Errorf("%s owned by %d:%d, want 100:200", name, uid, gid)
		}
	}
	checkMode(t, out, "m/d", fs.ModeDir|0o755)
	checkMode(t, out, "m", fs.ModeDir|0o755)
}

// TestUserAdditionalGids and TestHostname (BuildKit testUserAdditionalGids,
// and executor/oci's buildkitsandbox): RUN processes have their primary
// group among their groups, for root and for USER 1000:1000; the host name
// is buildkitsandbox and HOSTNAME is not set unless the Dockerfile sets it.
func TestUserAdditionalGids(t *testing.T) {
	env := e2eEnv(t)
	df := "FROM fixtures/busybox:1.35\n" +
		"RUN id > /root-groups; hostname > /hostname; env > /env\n" +
		"USER 1000:1000\n" +
		"RUN id > /tmp/user-groups\n" +
		"USER root\n" +
		"ENV HOSTNAME=set\n" +
		"RUN echo $HOSTNAME > /hostname-env\n"
	out, err := fidelityBuildIn(t, env, t.TempDir(), df)
	if err != nil {
		t.Fatalf("Build: %v", err)
	}
	if got := readOut(t, out, "root-groups"); !strings.Contains(got, " groups=0(root)") {
		t.Errorf("id as root = %q, want groups=0(root)", got)
	}
	if got := readOut(t, out, "tmp/user-groups"); !strings.Contains(got, " groups=1000") {
		t.Errorf("id as 1000:1000 = %q, want groups=1000", got)
	}
	if got := readOut(t, out, "hostname"); got != "buildkitsandbox\n" {
		t.Errorf("hostname = %q, want buildkitsandbox", got)
	}
	if got := readOut(t, out, "env"); strings.Contains(got, "HOSTNAME=") {
		t.Errorf("RUN environment holds HOSTNAME:\n%s", got)
	}
	if got := readOut(t, out, "hostname-env"); got != "set\n" {
		t.Errorf("$HOSTNAME after ENV HOSTNAME=set = %q", got)
	}
}

// TestMountTmpfs (BuildKit testMountTmpfs and testMountTmpfsSize): RUN
// --mount=type=tmpfs is a tmpfs, of the size= given, mode 1777, and what
// is written there is not in the image.
func TestMountTmpfs(t *testing.T) {
	env := e2eEnv(t)
	df := "FROM fixtures/busybox:1.35\n" +
		"RUN --mount=target=/mytmp,type=tmpfs touch /mytmp/foo && stat -c %a /mytmp > /tmpfsmode\n" +
		"RUN [ ! -f /mytmp/foo ]\n" +
		"RUN --mount=type=tmpfs,target=/dev/shm,size=128m mount | grep /dev/shm > /tmpfssize\n"
	out, err := fidelityBuildIn(t, env, t.TempDir(), df)
	if err != nil {
		t.Fatalf("Build: %v", err)
	}
	if got := readOut(t, out, "tmpfssize"); !strings.Contains(got, "tmpfs") || !strings.Contains(got, "size=131072k") {
		t.Errorf("the mount of /dev/shm = %q, want a tmpfs with size=131072k", got)
	}
	if got := readOut(t, out, "tmpfsmode"); got != "1777\n" {
		t.Errorf("tmpfs mode = %q, want 1777", got)
	}
}

// TestCopyParents (BuildKit testCopyParents): --parents keeps the source
// path below the context, with wildcards.
func TestCopyParents(t *testing.T) {
	out, err := fidelityBuild(t, "FROM scratch\nCOPY --parents foo1/foo2/bar /\nWORKDIR /test\nCOPY --parents foo1/foo2/ba* .\n",
		map[string]string{"foo1/foo2/bar": "testing", "foo1/foo2/baz": "testing2"})
	if err != nil {
		t.Fatalf("Build: %v", err)
	}
	for name, want := range map[string]string{"foo1/foo2/bar": "testing", "test/foo1/foo2/bar": "testing", "test/foo1/foo2/baz": "testing2"} {
		if got := readOut(t, out, name); got != want {
			t.Errorf("%s = %q, want %q", name, got, want)
		}
	}
}

// TestCopyRelativeParents (BuildKit testCopyRelativeParents): the ./ pivot
// of a --from source, and ** patterns.
func TestCopyRelativeParents(t *testing.T) {
	files := map[string]string{
		"a/b/c/d/e/": "", "a/b2/c/d/e/": "", "a/b/c2/d/e/": "", "a/b/c2/d/e2/": "",
		"a/b/c/d/foo": "", "a/b/c/d/e/bay": "", "a/b2/c/d/e/bar": "", "a/b/c2/d/e/baz": "", "a/b/c2/d/e2/baz": "",
	}
	df := "FROM scratch AS base\nCOPY a /test/a/\n" +
		"FROM scratch\n" +
		"COPY --from=base --parents /test/a/b/./c/d /middle/\n" +
		"COPY --from=base --parents /test/a/b/c/d/. /end/\n" +
		"COPY --from=base --parents ./test/a/b/c/d /start/\n" +
		"COPY --from=base --parents /test/a/./b/./c /double/\n" +
		"COPY --from=base --parents /test/a/./*/c /wildcard/\n" +
		"COPY --from=base --parents /test/a/b*/./c/**/e /doublewildcard/\n" +
		"COPY --from=base --parents /test/a/b/c*/./d/**/baz /test/a/b*/./c/**/bar /doubleinputs/\n" +
		"COPY --parents a/./b/c/d/foo a/./nomatch*/x /ctx/\n"
	out, err := fidelityBuild(t, df, files)
	if err != nil {
		t.Fatalf("Build: %v", err)
	}
	exists := func(name string, want bool) {
		t.Helper()
		if _, err := os.Lstat(filepath.Join(out, name)); (err == nil) != want {
			t.Errorf("%s exists = %t, want %t", name, err == nil, want)
		}
	}
	for _, name := range []string{"middle/c/d/e", "middle/c/d/foo", "end/test/a/b/c/d/e", "end/test/a/b/c/d/foo",
		"start/test/a/b/c/d/e", "start/test/a/b/c/d/foo", "double/b/c/d/e", "double/b/c/d/foo",
		"wildcard/b/c/d/e", "wildcard/b2/c/d/e/bar", "doublewildcard/c/d/e/bay", "doublewildcard/c/d/e/bar",
		"doubleinputs/d/e/baz", "doubleinputs/d/e2/baz", "doubleinputs/c/d/e/bar", "ctx/b/c/d/foo"} {
		exists(name, true)
	}
	for _, name := range []string{"middle/a", "middle/e", "doubleinputs/d/e/bay"} {
		exists(name, false)
	}
	// A path without wildcards must exist.
	if _, err := fidelityBuild(t, "FROM scratch\nCOPY --parents a/./nosuch /x/\n", files); err == nil || !strings.Contains(err.Error(), "nosuch") {
		t.Errorf("COPY --parents of a missing path = %v, want an error naming it", err)
	}
}
