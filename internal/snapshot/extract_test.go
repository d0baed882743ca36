//go:build linux

package snapshot

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// jail makes base/root (the extraction target) next to base/outside/victim,
// which no extraction may touch, and returns base and root.
func jail(t *testing.T) (base, root string) {
	t.Helper()
	base = t.TempDir()
	root = filepath.Join(base, "root")
	mustWrite(t, filepath.Join(base, "outside/victim"), "precious", 0o644)
	if err := os.Mkdir(root, 0o755); err != nil {
		t.Fatal(err)
	}
	return base, root
}

// checkJail fails t if anything outside base/root changed.
func checkJail(t *testing.T, base string) {
	t.Helper()
	names, err := readNames(base)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(names, []string{"outside", "root"}) {
		t.Errorf("%s holds %q after extraction, want only outside and root", base, names)
	}
	var st unix.Stat_t
	if err := unix.Lstat(filepath.Join(base, "root"), &st); err != nil || st.Mode&unix.S_IFMT != unix.S_IFDIR {
		t.Errorf("the extraction root is no longer a directory (err %v)", err)
	}
	names, _ = readNames(filepath.Join(base, "outside"))
	if !slices.Equal(names, []string{"victim"}) {
		t.Errorf("outside holds %q, want only victim", names)
	}
	data, err := os.ReadFile(filepath.Join(base, "outside/victim"))
	if err != nil || string(data) != "precious" {
		t.Errorf("outside/victim = %q, %v; want it untouched", data, err)
	}
	if err := unix.Lstat(filepath.Join(base, "outside/victim"), &st); err == nil && st.Nlink != 1 {
		t.Errorf("outside/victim has %d links, want 1", st.Nlink)
	}
}

func readString(t *testing.T, p string) string {
	t.Helper()
	data, err := os.ReadFile(p)
	if err != nil {
		t.Fatalf("reading %s: %v", p, err)
	}
	return string(data)
}

func TestExtractMalicious(t *testing.T) { // long: one table of hostile archives, one case a few lines
	tests := []struct {
		name    string
		tar     []byte
		wantErr string            // substring of the error, "" for success
		files   map[string]string // expected content below root
		links   map[string]string // expected symlinks below root
	}{
		{
			name:  "dotdot",
			tar:   mkTar(t, file("../../etc/x", "a"), file("a/../../../outside/victim", "b")),
			files: map[string]string{"etc/x": "a", "outside/victim": "b"},
		},
		{
			name:  "absolute name",
			tar:   mkTar(t, file("/etc/x", "a")),
			files: map[string]string{"etc/x": "a"},
		},
		{
			name:  "absolute symlink parent",
			tar:   mkTar(t, symlink("x", "/"), file("x/outside/victim", "pwned")),
			files: map[string]string{"outside/victim": "pwned"},
			links: map[string]string{"x": "/"},
		},
		{
			name:  "relative symlink parent",
			tar:   mkTar(t, symlink("x", "../../.."), file("x/outside/victim", "pwned")),
			files: map[string]string{"outside/victim": "pwned"},
			links: map[string]string{"x": "../../.."},
		},
		{
			name:  "symlink chain",
			tar:   mkTar(t, symlink("a", "b"), symlink("b", "c/.."), dir("c"), symlink("c/d", "../../../outside"), file("a/c/d/victim", "pwned")),
			files: map[string]string{"outside/victim": "pwned"},
		},
		{
			name:    "symlink loop",
			tar:     mkTar(t, symlink("l1", "l2"), symlink("l2", "l1"), file("l1/x", "a")),
			wantErr: `entry "l1/x"`,
		},
		{
			name:  "final symlink not followed",
			tar:   mkTar(t, symlink("s", "../outside/victim"), file("s", "replaced")),
			files: map[string]string{"s": "replaced"},
		},
		{
			name:    "hardlink to host file",
			tar:     mkTar(t, hardlink("pw", "/etc/passwd")),
			wantErr: `entry "pw": hardlink target "/etc/passwd" does not exist in the layer`,
		},
		{
			name:  "hardlink to contained file",
			tar:   mkTar(t, file("etc/passwd", "inside"), hardlink("pw", "/etc/passwd")),
			files: map[string]string{"pw": "inside", "etc/passwd": "inside"},
		},
		{
			name:    "hardlink outside",
			tar:     mkTar(t, hardlink("v", "../outside/victim")),
			wantErr: "does not exist in the layer",
		},
		{
			name:  "hardlink through symlink parent",
			tar:   mkTar(t, symlink("up", "../.."), file("outside/victim", "inner"), hardlink("v", "up/outside/victim")),
			files: map[string]string{"v": "inner"},
		},
		{
			name:  "hardlink to a symlink links the symlink",
			tar:   mkTar(t, symlink("s", "/../outside/victim"), hardlink("h", "s")),
			links: map[string]string{"h": "/../outside/victim"},
		},
		{
			name:  "file replaced by directory",
			tar:   mkTar(t, file("p", "file"), dir("p"), file("p/q", "child")),
			files: map[string]string{"p/q": "child"},
		},
		{
			name:  "directory replaced by file",
			tar:   mkTar(t, dir("d"), file("d/child", "x"), file("d", "now a file")),
			files: map[string]string{"d": "now a file"},
		},
		{
			name:  "directory replaced by symlink then written through",
			tar:   mkTar(t, dir("d"), symlink("d", "/outside"), file("d/victim", "pwned")),
			files: map[string]string{"outside/victim": "pwned"},
		},
		{
			name:    "root replaced by file",
			tar:     mkTar(t, file(".", "x")),
			wantErr: "would replace the root",
		},
		{
			name:    "root replaced by symlink",
			tar:     mkTar(t, symlink("/", "/etc")),
			wantErr: "would replace the root",
		},
		{
			name:    "whiteout of dotdot",
			tar:     mkTar(t, file("a/.wh...", "")),
			wantErr: "not a file name",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			base, root := jail(t)
			_, err := Extract(context.Background(), bytes.NewReader(tt.tar), root, ExtractOptions{Name: "evil.tar"})
			checkJail(t, base)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("Extract = %v, want an error containing %q", err, tt.wantErr)
				}
				var ee *EntryError
				if !errors.As(err, &ee) || ee.Source != "evil.tar" {
					t.Errorf("Extract error %v is not an *EntryError naming evil.tar", err)
				}
				return
			}
			if err != nil {
				t.Fatalf("Extract = %v", err)
			}
			for p, want := range tt.files {
				if got := readString(t, filepath.Join(root, p)); got != want {
					t.Errorf("%s = %q, want %q", p, got, want)
				}
			}
			for p, want := range tt.links {
				if got, err := os.Readlink(filepath.Join(root, p)); err != nil || got != want {
					t.Errorf("readlink %s = %q, %v; want %q", p, got, err, want)
				}
			}
		})
	}
}

func TestExtractStatsRewritten(t *testing.T) {
	_, root := jail(t)
	stats, err := Extract(context.Background(), bytes.NewReader(mkTar(t, file("../x", "1"), file("/y", "2"), file("z", "3"))), root, ExtractOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if stats.Rewritten != 2 || stats.Entries != 3 || stats.Bytes != 3 {
		t.Errorf("stats = %+v, want 3 entries, 3 bytes, 2 rewritten", stats)
	}
}

func TestExtractWhiteoutsApply(t *testing.T) {
	base, root := jail(t)
	lower := mkTar(t, dir("a"), file("a/1", "1"), file("a/2", "2"), file("b", "b"), dir("c"), file("c/keep", "k"),
		dir("etc"), file("etc/shadow", "s"))
	if _, err := Extract(context.Background(), bytes.NewReader(lower), root, ExtractOptions{}); err != nil {
		t.Fatal(err)
	}
	upper := mkTar(t,
		dir("a"), file("a/.wh..wh..opq", ""), file("a/3", "3"),
		file(".wh.b", ""),
		file("c/new", "n"), file("c/.wh..wh..opq", ""), // opaque after a child of the same layer
		symlink("lnk", "/etc"), file("lnk/.wh.shadow", ""), // whiteout through a symlink stays inside
		symlink("out", "../outside"), file("out/.wh.victim", ""),
	)
	stats, err := Extract(context.Background(), bytes.NewReader(upper), root, ExtractOptions{})
	if err != nil {
		t.Fatal(err)
	}
	checkJail(t, base)
	if stats.Whiteouts != 5 {
		t.Errorf("stats.Whiteouts = %d, want 5", stats.Whiteouts)
	}
	for _, gone := range []string{"a/1", "a/2", "b", "c/keep", "etc/shadow"} {
		if _, err := os.Lstat(filepath.Join(root, gone)); !os.IsNotExist(err) {
			t.Errorf("%s still exists after its whiteout (err %v)", gone, err)
		}
	}
	for _, kept := range []string{"a/3", "c/new", "lnk"} {
		if _, err := os.Lstat(filepath.Join(root, kept)); err != nil {
			t.Errorf("%s missing: %v", kept, err)
		}
	}
}

func TestExtractWhiteoutsOverlay(t *testing.T) {
	_, root := jail(t)
	layer := mkTar(t, dir("a"), file("a/.wh..wh..opq", ""), file("a/3", "3"), file(".wh.b", ""))
	_, err := Extract(context.Background(), bytes.NewReader(layer), root, ExtractOptions{Whiteouts: OverlayWhiteouts})
	if err != nil {
		t.Fatal(err)
	}
	var st unix.Stat_t
	if err := unix.Lstat(filepath.Join(root, "b"), &st); err != nil || st.Mode&unix.S_IFMT != unix.S_IFCHR || st.Rdev != 0 {
		t.Errorf("b = mode %o rdev %d (err %v), want a 0/0 character device", st.Mode, st.Rdev, err)
	}
	if _, err := os.Lstat(filepath.Join(root, ".wh.b")); !os.IsNotExist(err) {
		t.Errorf(".wh.b exists in overlay form (err %v)", err)
	}
	xs, err := readXattrs(filepath.Join(root, "a"))
	if err != nil {
		t.Fatal(err)
	}
	if xs["user.overlay.opaque"] != "y" {
		t.Errorf("a xattrs = %v, want user.overlay.opaque=y", xs)
	}
	if _, _, initNS := privileges(); initNS && xs["trusted.overlay.opaque"] != "y" {
		t.Errorf("a xattrs = %v, want trusted.overlay.opaque=y as root", xs)
	}
}

func TestExtractRefusesOverlayXattrs(t *testing.T) {
	_, root := jail(t)
	e := dir("d")
	e.xattrs = map[string]string{"trusted.overlay.redirect": "/etc", "user.overlay.opaque": "y", "user.ok": "1"}
	stats, err := Extract(context.Background(), bytes.NewReader(mkTar(t, e)), root, ExtractOptions{})
	if err != nil {
		t.Fatal(err)
	}
	xs, _ := readXattrs(filepath.Join(root, "d"))
	if len(xs) != 1 || xs["user.ok"] != "1" {
		t.Errorf("d xattrs = %v, want only user.ok", xs)
	}
	if stats.XattrsSkipped != 2 {
		t.Errorf("stats.XattrsSkipped = %d, want 2", stats.XattrsSkipped)
	}
}

func TestExtractDevices(t *testing.T) {
	_, root := jail(t)
	dev := tentry{name: "dev/null", typ: tar.TypeChar, mode: 0o666, major: 1}
	fifo := tentry{name: "dev/fifo", typ: tar.TypeFifo, mode: 0o600}
	stats, err := Extract(context.Background(), bytes.NewReader(mkTar(t, dev, fifo)), root, ExtractOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var st unix.Stat_t
	if err := unix.Lstat(filepath.Join(root, "dev/fifo"), &st); err != nil || st.Mode != unix.S_IFIFO|0o600 {
		t.Errorf("dev/fifo mode = %o (err %v), want fifo 0600", st.Mode, err)
	}
	if isRoot() {
		if err := unix.Lstat(filepath.Join(root, "dev/null"), &st); err != nil || st.Mode != unix.S_IFCHR|0o666 {
			t.Errorf("dev/null mode = %o (err %v), want char device 0666", st.Mode, err)
		}
	} else if !slices.Equal(stats.DevicesSkipped, []string{"dev/null"}) {
		t.Errorf("stats.DevicesSkipped = %q, want [dev/null]", stats.DevicesSkipped)
	}
}

func TestExtractOwners(t *testing.T) {
	if !isRoot() {
		t.Skip("needs root to chown (run the suite as root, as CI does)")
	}
	_, root := jail(t)
	f := file("f", "x")
	f.uid, f.gid = 1000, 2000
	f.mode = 0o4755
	mapped := func(uid, gid int) (int, int, error) { return uid + 100000, gid + 100000, nil }
	if _, err := Extract(context.Background(), bytes.NewReader(mkTar(t, f)), root, ExtractOptions{MapID: mapped}); err != nil {
		t.Fatal(err)
	}
	var st unix.Stat_t
	if err := unix.Lstat(filepath.Join(root, "f"), &st); err != nil {
		t.Fatal(err)
	}
	if st.Uid != 101000 || st.Gid != 102000 || st.Mode&0o7777 != 0o4755 {
		t.Errorf("f owner %d:%d mode %o, want 101000:102000 4755 (setuid kept after chown)", st.Uid, st.Gid, st.Mode&0o7777)
	}
}

func TestExtractDirModesAfterChildren(t *testing.T) {
	_, root := jail(t)
	ro := dir("ro")
	ro.mode = 0o555
	t.Cleanup(func() { os.Chmod(filepath.Join(root, "ro"), 0o755) }) // so a non-root cleanup can remove ro/f
	if _, err := Extract(context.Background(), bytes.NewReader(mkTar(t, ro, file("ro/f", "x"))), root, ExtractOptions{}); err != nil {
		t.Fatalf("Extract of a read-only directory with a child = %v", err)
	}
	var st unix.Stat_t
	if err := unix.Lstat(filepath.Join(root, "ro"), &st); err != nil || st.Mode&0o7777 != 0o555 {
		t.Errorf("ro mode = %o (err %v), want 555", st.Mode&0o7777, err)
	}
	if int64(st.Mtim.Sec) != testTime.Unix() {
		t.Errorf("ro mtime = %d, want %d (set after its children)", st.Mtim.Sec, testTime.Unix())
	}
}

func TestExtractTruncated(t *testing.T) {
	_, root := jail(t)
	data := mkTar(t, file("big", strings.Repeat("x", 4096)))
	_, err := Extract(context.Background(), bytes.NewReader(data[:1024]), root, ExtractOptions{Name: "layer sha256:abc"})
	if err == nil || !strings.Contains(err.Error(), `layer sha256:abc: entry "big"`) {
		t.Fatalf("Extract of a truncated tar = %v, want an error naming the layer and entry", err)
	}
}

func FuzzExtract(f *testing.F) {
	maxSparseSize = 1 << 20 // sparse expansion is bounded; keep each run fast
	f.Add(mkTar(f, file("../../etc/x", "a")), false)
	f.Add(mkTar(f, symlink("x", "/"), file("x/etc/passwd", "a")), false)
	f.Add(mkTar(f, symlink("x", "../../.."), file("x/y", "a"), hardlink("z", "x/y")), true)
	f.Add(mkTar(f, hardlink("pw", "/etc/passwd"), hardlink("o", "../outside")), false)
	f.Add(mkTar(f, dir("d"), file("d/.wh..wh..opq", ""), file(".wh.d", ""), symlink("l", "/.."), file("l/.wh.x", "")), true)
	f.Add(mkTar(f, file("p", "1"), dir("p"), file("p/q", "2"), symlink("p", "p/q"), file("p", "3")), false)
	f.Fuzz(func(t *testing.T, data []byte, overlay bool) {
		base := t.TempDir()
		root := filepath.Join(base, "root")
		mode := ApplyWhiteouts
		if overlay {
			mode = OverlayWhiteouts
		}
		_, _ = Extract(context.Background(), bytes.NewReader(data), root, ExtractOptions{Whiteouts: mode})
		names, err := readNames(base)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(names, []string{"root"}) {
			t.Fatalf("extraction wrote outside its root: %s holds %q", base, names)
		}
		var st unix.Stat_t
		if err := unix.Lstat(root, &st); err != nil || st.Mode&unix.S_IFMT != unix.S_IFDIR {
			t.Fatalf("the extraction root is no longer a directory (err %v)", err)
		}
	})
}
