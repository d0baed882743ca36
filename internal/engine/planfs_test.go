//go:build unix

package engine

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/manyarch/manyarch/internal/plan"
	"github.com/manyarch/manyarch/internal/snapshot"
	"github.com/manyarch/manyarch/internal/testutil"
)

// planLowers makes two layer directories in overlay form (top first): a
// base with /etc, /usr/lib, a /lib -> usr/lib symlink, files, a directory
// and a symlink to be replaced, and a top layer that whites out /gone and
// makes /opq opaque.
func planLowers(t *testing.T) []string {
	t.Helper()
	old := time.Unix(1600000000, 0)
	base, top := t.TempDir(), t.TempDir()
	write := func(root, p, data string, mode os.FileMode) {
		full := filepath.Join(root, p)
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(full, []byte(data), mode); err != nil {
			t.Fatal(err)
		}
	}
	mkdir := func(root, p string, mode os.FileMode) {
		if err := os.MkdirAll(filepath.Join(root, p), mode); err != nil {
			t.Fatal(err)
		}
		os.Chmod(filepath.Join(root, p), mode)
	}
	write(base, "etc/passwd", "root:x:0:0::/root:/bin/sh\napp:x:1001:1002::/home/app:/bin/sh\n", 0o644)
	write(base, "etc/group", "root:x:0:\napp:x:1002:\n", 0o644)
	mkdir(base, "etc/sub", 0o750)
	write(base, "etc/sub/keep", "keep", 0o644)
	mkdir(base, "usr/lib", 0o755)
	write(base, "d2/x", "a file where the copy puts a directory", 0o644)
	mkdir(base, "sl/ylink/inner", 0o755)
	write(base, "sl/ylink/inner/x", "a directory where the copy puts a symlink", 0o644)
	if err := os.Symlink("usr/lib", filepath.Join(base, "lib")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("/etc/passwd", filepath.Join(base, "link-to-file")); err != nil {
		t.Fatal(err)
	}
	write(base, "gone", "gone", 0o644)
	mkdir(base, "opq", 0o755)
	write(base, "opq/hidden", "hidden", 0o644)
	if err := unix.Setxattr(filepath.Join(base, "etc"), "user.test", []byte("etc-xattr"), 0); err != nil {
		t.Logf("no user xattrs here: %v", err)
	}
	mkdir(top, "opq", 0o711)
	write(top, "opq/new", "new", 0o600)
	for _, name := range []string{"trusted.overlay.opaque", "user.overlay.opaque"} {
		if err := unix.Setxattr(filepath.Join(top, "opq"), name, []byte("y"), 0); err != nil {
			t.Fatal(err)
		}
	}
	if err := unix.Mknod(filepath.Join(top, "gone"), unix.S_IFCHR, 0); err != nil {
		t.Fatal(err)
	}
	for _, root := range []string{base, top} {
		filepath.Walk(root, func(p string, _ os.FileInfo, _ error) error {
			ts := []unix.Timespec{unix.NsecToTimespec(old.UnixNano()), unix.NsecToTimespec(old.UnixNano())}
			return unix.UtimesNanoAt(unix.AT_FDCWD, p, ts, unix.AT_SYMLINK_NOFOLLOW)
		})
	}
	return []string{top, base}
}

// planSources makes a source tree: files, an empty directory, a symlink,
// and a directory sub/ whose name exists in the lower /etc.
func planSources(t *testing.T) string {
	t.Helper()
	src := t.TempDir()
	for p, data := range map[string]string{
		"a.txt":        "a",
		"bin/tool":     "#!/bin/sh\n",
		"sub/new":      "n",
		"tree/x/y/z":   "z",
		"tree/x/other": "o",
	} {
		full := filepath.Join(src, p)
		os.MkdirAll(filepath.Dir(full), 0o755)
		if err := os.WriteFile(full, []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	os.Chmod(filepath.Join(src, "bin/tool"), 0o755)
	os.Mkdir(filepath.Join(src, "tree/empty"), 0o700)
	os.Symlink("x/y", filepath.Join(src, "tree/ylink"))
	when := time.Unix(1650000000, 0)
	filepath.Walk(src, func(p string, _ os.FileInfo, _ error) error {
		ts := []unix.Timespec{unix.NsecToTimespec(when.UnixNano()), unix.NsecToTimespec(when.UnixNano())}
		return unix.UtimesNanoAt(unix.AT_FDCWD, p, ts, unix.AT_SYMLINK_NOFOLLOW)
	})
	return src
}

// tarEntries lists a layer's entries for comparison; times at or after
// since print as "now" (a directory changed by the copy).
func tarEntries(t *testing.T, b []byte, since time.Time) []string {
	t.Helper()
	var out []string
	tr := tar.NewReader(bytes.NewReader(b))
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
		h := sha256.New()
		io.Copy(h, tr)
		mt := fmt.Sprint(hdr.ModTime.Unix())
		if !hdr.ModTime.Before(since) {
			mt = "now"
		}
		var x []string
		for k, v := range hdr.PAXRecords {
			x = append(x, k+"="+v)
		}
		slices.Sort(x)
		out = append(out, fmt.Sprintf("%s %c %o %d:%d %d %s link=%q %s %v", hdr.Name, hdr.Typeflag, hdr.Mode, hdr.Uid, hdr.Gid,
			hdr.Size, mt, hdr.Linkname, hex.EncodeToString(h.Sum(nil))[:12], x))
	}
}

// TestPlanFSMatchesOverlay runs the same COPYs through the copier twice:
// into an overlay mount of the layers, whose upper directory WriteDiff
// writes (what a COPY did before the fast path, and still does for ADD of
// archives), and into a planFS over the same layers. The layers must list
// the same entries in the same order with the same metadata and contents.
func TestPlanFSMatchesOverlay(t *testing.T) {
	testutil.RequireRoot(t)
	lowers := planLowers(t)
	src := planSources(t)
	srcOf := func(rel string) copySource {
		return copySource{host: filepath.Join(src, rel), name: filepath.Base(rel), rel: rel, resetOwner: true}
	}
	for _, tc := range []struct {
		name string
		cp   plan.CopyStep
		srcs []string
	}{
		{"dir contents to a new dir", plan.CopyStep{Dest: "/data/"}, []string{"tree"}},
		{"file into an existing dir", plan.CopyStep{Dest: "/etc/"}, []string{"a.txt"}},
		{"file over a file", plan.CopyStep{Dest: "/etc/passwd"}, []string{"a.txt"}},
		{"file over a symlink", plan.CopyStep{Dest: "/link-to-file"}, []string{"a.txt"}},
		{"dir over a file", plan.CopyStep{Dest: "/d2/"}, []string{"tree"}},
		{"symlink over a dir", plan.CopyStep{Dest: "/sl/"}, []string{"tree"}},
		{"through a lower symlink", plan.CopyStep{Dest: "/lib/"}, []string{"bin/tool"}},
		{"into an opaque dir", plan.CopyStep{Dest: "/opq/"}, []string{"a.txt"}},
		{"over a whiteout", plan.CopyStep{Dest: "/gone"}, []string{"a.txt"}},
		{"dir over a whiteout", plan.CopyStep{Dest: "/gone/"}, []string{"tree"}},
		{"chown chmod deep", plan.CopyStep{Dest: "/deep/new/path/", Chown: "app", Chmod: "0640"}, []string{"a.txt", "bin"}},
		{"merge into an existing subdir", plan.CopyStep{Dest: "/etc/"}, []string{"sub", "a.txt"}},
		{"parents", plan.CopyStep{Dest: "/p/", Parents: true}, []string{"tree/x/y", "bin/tool"}},
		{"exclude", plan.CopyStep{Dest: "/ex/", Excludes: []string{"x/other"}}, []string{"tree"}},
		{"link", plan.CopyStep{Dest: "/etc/", Link: true}, []string{"sub", "a.txt"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			x := &executor{}
			step := &plan.Step{Kind: plan.StepCopy, Copy: &tc.cp}
			var srcs []copySource
			for _, s := range tc.srcs {
				cs := srcOf(s)
				if tc.cp.Parents {
					cs.name, cs.parentRoot = s, src
				}
				srcs = append(srcs, cs)
			}
			since := time.Now().Add(-time.Second)
			ls := lowers
			var want bytes.Buffer
			if tc.cp.Link {
				ls = nil
				stage := t.TempDir()
				if err := x.copyInto(ctx, hostFS{stage}, step, srcs, nil); err != nil {
					t.Fatal(err)
				}
				if err := snapshot.WriteTar(ctx, &want, stage, snapshot.TarOptions{}); err != nil {
					t.Fatal(err)
				}
			} else {
				root, err := snapshot.Mount(ctx, lowers, snapshot.MountOptions{TempDir: t.TempDir(), NoFallback: true})
				if err != nil {
					t.Skipf("overlayfs: %v", err)
				}
				defer root.Close()
				if err := x.copyInto(ctx, hostFS{root.Root()}, step, srcs, nil); err != nil {
					t.Fatal(err)
				}
				if err := root.Diff(ctx, &want, snapshot.TarOptions{}); err != nil {
					t.Fatal(err)
				}
			}
			pf := newPlanFS(ls, time.Now())
			if err := x.copyInto(ctx, pf, step, srcs, nil); err != nil {
				t.Fatal(err)
			}
			var got bytes.Buffer
			if err := pf.writeTar(ctx, &got, snapshot.TarOptions{}); err != nil {
				t.Fatal(err)
			}
			w, g := tarEntries(t, want.Bytes(), since), tarEntries(t, got.Bytes(), since)
			t.Logf("layer:\n  %s", strings.Join(g, "\n  "))
			if !slices.Equal(w, g) {
				t.Errorf("planned layer differs from the overlay's:\n got:\n  %s\nwant:\n  %s", strings.Join(g, "\n  "), strings.Join(w, "\n  "))
			}
		})
	}
}
