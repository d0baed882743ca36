//go:build linux

package snapshot

import (
	"archive/tar"
	"bytes"
	"context"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// buildTree makes a tree with every kind of entry the process can create.
func buildTree(t *testing.T, root string) {
	t.Helper()
	mustWrite(t, filepath.Join(root, "etc/passwd"), "root:x:0:0::/root:/bin/sh\n", 0o644)
	mustWrite(t, filepath.Join(root, "bin/busybox"), "\x7fELF fake", 0o755)
	mustWrite(t, filepath.Join(root, "usr/bin/sudo"), "setuid", 0o4755)
	mustWrite(t, filepath.Join(root, "a-b"), "sorts before a/ in byte order, after it in walk order", 0o600)
	mustWrite(t, filepath.Join(root, "a/b"), "x", 0o644)
	mustWrite(t, filepath.Join(root, "long/"+string(bytes.Repeat([]byte("n"), 150))), "long name", 0o644)
	if err := os.Mkdir(filepath.Join(root, "tmp"), 0o1777); err != nil {
		t.Fatal(err)
	}
	if err := unix.Chmod(filepath.Join(root, "tmp"), 0o1777); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(filepath.Join(root, "empty"), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("busybox", filepath.Join(root, "bin/sh")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("/etc/passwd", filepath.Join(root, "abs-link")); err != nil {
		t.Fatal(err)
	}
	if err := os.Link(filepath.Join(root, "bin/busybox"), filepath.Join(root, "bin/ls")); err != nil {
		t.Fatal(err)
	}
	if err := os.Link(filepath.Join(root, "bin/busybox"), filepath.Join(root, "usr/bin/env")); err != nil {
		t.Fatal(err)
	}
	if err := unix.Mkfifo(filepath.Join(root, "fifo"), 0o640); err != nil {
		t.Fatal(err)
	}
	if err := unix.Lsetxattr(filepath.Join(root, "etc/passwd"), "user.note", []byte("hello"), 0); err != nil {
		t.Fatalf("setting a user xattr (the test's file system needs xattrs): %v", err)
	}
	if err := unix.Lsetxattr(filepath.Join(root, "etc"), "user.dir", []byte("d"), 0); err != nil {
		t.Fatal(err)
	}
	if isRoot() {
		if err := os.Lchown(filepath.Join(root, "etc/passwd"), 1000, 1001); err != nil {
			t.Fatal(err)
		}
		if err := os.Lchown(filepath.Join(root, "bin/sh"), 7, 8); err != nil {
			t.Fatal(err)
		}
		if err := unix.Mknod(filepath.Join(root, "null"), unix.S_IFCHR|0o666, int(unix.Mkdev(1, 3))); err != nil {
			t.Fatal(err)
		}
		if err := unix.Mknod(filepath.Join(root, "loop0"), unix.S_IFBLK|0o660, int(unix.Mkdev(7, 0))); err != nil {
			t.Fatal(err)
		}
		// cap_net_bind_service=ep, VFS_CAP_REVISION_2
		capv := []byte{0x01, 0x00, 0x00, 0x02, 0x00, 0x04, 0x00, 0x00, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0}
		if err := unix.Lsetxattr(filepath.Join(root, "bin/busybox"), "security.capability", capv, 0); err != nil {
			t.Fatal(err)
		}
		// overlayfs' own attributes never go into a layer.
		if err := unix.Lsetxattr(filepath.Join(root, "a"), "trusted.overlay.opaque", []byte("y"), 0); err != nil {
			t.Fatal(err)
		}
	}
	// Distinct sub-second times, to show they are truncated.
	for i, p := range []string{"etc/passwd", "bin/busybox", "a/b", "a", "etc"} {
		ts := time.Date(2023, 1, 2, 3, 4, 5+i, 123456789, time.UTC)
		if err := os.Chtimes(filepath.Join(root, p), ts, ts); err != nil {
			t.Fatal(err)
		}
	}
}

func writeTar(t *testing.T, dir string, opts TarOptions) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := WriteTar(context.Background(), &buf, dir, opts); err != nil {
		t.Fatalf("WriteTar(%s) = %v", dir, err)
	}
	return buf.Bytes()
}

func TestWriteTarRoundTrip(t *testing.T) {
	src := t.TempDir()
	buildTree(t, src)
	data := writeTar(t, src, TarOptions{})

	dst := t.TempDir()
	stats, err := Extract(context.Background(), bytes.NewReader(data), dst, ExtractOptions{})
	if err != nil {
		t.Fatalf("Extract = %v", err)
	}
	if len(stats.DevicesSkipped) != 0 || stats.XattrsSkipped != 0 || stats.Rewritten != 0 {
		t.Errorf("Extract stats = %+v, want nothing skipped or rewritten", stats)
	}
	want := describe(t, src)
	if isRoot() {
		// trusted.overlay.* is left out on purpose; describe ignores it.
		if !slices.Contains(listTar(t, data), "null") {
			t.Errorf("tar has no device entry null")
		}
	}
	diffTrees(t, describe(t, dst), want)
}

func TestWriteTarForm(t *testing.T) {
	src := t.TempDir()
	buildTree(t, src)
	data := writeTar(t, src, TarOptions{})
	got := listTar(t, data)
	want := []string{"a/", "a/b", "a-b", "abs-link -> /etc/passwd", "bin/", "bin/busybox", "bin/ls -> bin/busybox", "bin/sh -> busybox"}
	if !slices.Equal(got[:len(want)], want) {
		t.Errorf("WriteTar entries start %q, want %q", got[:len(want)], want)
	}
	if !slices.Contains(got, "usr/bin/env -> bin/busybox") {
		t.Errorf("WriteTar entries %q lack the hardlink usr/bin/env -> bin/busybox", got)
	}
	tr := tar.NewReader(bytes.NewReader(data))
	for {
		hdr, err := tr.Next()
		if err != nil {
			break
		}
		if hdr.Uname != "" || hdr.Gname != "" || !hdr.AccessTime.IsZero() || !hdr.ChangeTime.IsZero() {
			t.Errorf("entry %q: uname %q gname %q atime %v ctime %v, want all empty", hdr.Name, hdr.Uname, hdr.Gname, hdr.AccessTime, hdr.ChangeTime)
		}
		if hdr.ModTime.Nanosecond() != 0 {
			t.Errorf("entry %q: mtime %v not truncated to seconds", hdr.Name, hdr.ModTime)
		}
		for k := range hdr.PAXRecords {
			if k != "path" && k != "SCHILY.xattr.user.note" && k != "SCHILY.xattr.user.dir" && k != "SCHILY.xattr.security.capability" {
				t.Errorf("entry %q: unexpected PAX record %q", hdr.Name, k)
			}
		}
		if hdr.Name == "a/b" && hdr.Format != tar.FormatUSTAR {
			t.Errorf("entry a/b format = %v, want USTAR", hdr.Format)
		}
		if hdr.Name == "usr/bin/sudo" && hdr.Mode != 0o4755 {
			t.Errorf("usr/bin/sudo mode = %o, want 4755", hdr.Mode)
		}
	}
}

func TestWriteTarDeterministic(t *testing.T) {
	src := t.TempDir()
	buildTree(t, src)
	a := writeTar(t, src, TarOptions{})
	b := writeTar(t, src, TarOptions{})
	if !bytes.Equal(a, b) {
		t.Fatalf("two WriteTar of the same tree differ (%d and %d bytes)", len(a), len(b))
	}

	// The same content made at different times, clamped, is the same layer.
	epoch := time.Unix(1700000000, 0)
	src2 := t.TempDir()
	buildTree(t, src2)
	touchAll(t, src, time.Now().Add(-time.Hour))
	touchAll(t, src2, time.Now())
	c := writeTar(t, src, TarOptions{SourceDateEpoch: &epoch})
	d := writeTar(t, src2, TarOptions{SourceDateEpoch: &epoch})
	if !bytes.Equal(c, d) {
		t.Fatalf("trees differing only in times give different layers with SourceDateEpoch")
	}
	if bytes.Equal(a, c) {
		t.Fatalf("SourceDateEpoch did not change the layer of a tree with later times")
	}
	tr := tar.NewReader(bytes.NewReader(c))
	for {
		hdr, err := tr.Next()
		if err != nil {
			break
		}
		if hdr.ModTime.After(epoch) {
			t.Errorf("entry %q mtime %v after SourceDateEpoch %v", hdr.Name, hdr.ModTime, epoch)
		}
	}
}

func TestWriteTarOwnerOverride(t *testing.T) {
	src := t.TempDir()
	mustWrite(t, filepath.Join(src, "f"), "x", 0o644)
	zero := 0
	data := writeTar(t, src, TarOptions{UID: &zero, GID: &zero})
	tr := tar.NewReader(bytes.NewReader(data))
	hdr, err := tr.Next()
	if err != nil {
		t.Fatal(err)
	}
	if hdr.Uid != 0 || hdr.Gid != 0 {
		t.Errorf("owner = %d:%d, want 0:0", hdr.Uid, hdr.Gid)
	}
}

// touchAll sets the times of everything in root (symlinks included) to ts.
func touchAll(t *testing.T, root string, ts time.Time) {
	t.Helper()
	err := filepath.Walk(root, func(p string, _ os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		spec := unix.NsecToTimespec(ts.UnixNano())
		return unix.UtimesNanoAt(unix.AT_FDCWD, p, []unix.Timespec{spec, spec}, unix.AT_SYMLINK_NOFOLLOW)
	})
	if err != nil {
		t.Fatal(err)
	}
}
