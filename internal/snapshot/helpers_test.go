//go:build linux

package snapshot

import (
	"archive/tar"
	"bytes"
	"crypto/sha256"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// tentry is one entry of a tar built by a test.
type tentry struct {
	name, link string
	typ        byte
	mode       int64
	body       string
	uid, gid   int
	xattrs     map[string]string
	major      int64
}

func file(name, body string) tentry {
	return tentry{name: name, typ: tar.TypeReg, body: body, mode: 0o644}
}
func dir(name string) tentry { return tentry{name: name, typ: tar.TypeDir, mode: 0o755} }
func symlink(name, target string) tentry {
	return tentry{name: name, typ: tar.TypeSymlink, link: target, mode: 0o777}
}
func hardlink(name, target string) tentry {
	return tentry{name: name, typ: tar.TypeLink, link: target, mode: 0o644}
}

var testTime = time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC)

func mkTar(t testing.TB, entries ...tentry) []byte {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, e := range entries {
		hdr := &tar.Header{
			Name: e.name, Linkname: e.link, Typeflag: e.typ, Mode: e.mode,
			Size: int64(len(e.body)), Uid: e.uid, Gid: e.gid, ModTime: testTime,
			Devmajor: e.major,
		}
		for k, v := range e.xattrs {
			if hdr.PAXRecords == nil {
				hdr.PAXRecords = map[string]string{}
			}
			hdr.PAXRecords[xattrPAXPrefix+k] = v
		}
		if err := tw.WriteHeader(hdr); err != nil {
			t.Fatalf("writing test tar entry %q: %v", e.name, err)
		}
		if _, err := tw.Write([]byte(e.body)); err != nil {
			t.Fatal(err)
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// describe summarises a tree: one line per path with type, mode, owner,
// modification time (seconds), size, content hash, link target, device and
// user/security xattrs, and the hardlink group of files with several names.
func describe(t testing.TB, root string) map[string]string {
	return describeOpt(t, root, false)
}

func describeOpt(t testing.TB, root string, skipLinkTimes bool) map[string]string {
	t.Helper()
	out := map[string]string{}
	inodes := map[uint64][]string{}
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		if rel == "." {
			return nil
		}
		var st unix.Stat_t
		if err := unix.Lstat(p, &st); err != nil {
			return err
		}
		var b strings.Builder
		fmt.Fprintf(&b, "%o %d:%d", st.Mode, st.Uid, st.Gid)
		if st.Mode&unix.S_IFMT != unix.S_IFLNK || !skipLinkTimes {
			fmt.Fprintf(&b, " t=%d", st.Mtim.Sec)
		}
		switch st.Mode & unix.S_IFMT {
		case unix.S_IFREG:
			data, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			fmt.Fprintf(&b, " %d %x", len(data), sha256.Sum256(data))
			if st.Nlink > 1 {
				inodes[st.Ino] = append(inodes[st.Ino], rel)
			}
		case unix.S_IFLNK:
			target, _ := os.Readlink(p)
			fmt.Fprintf(&b, " -> %s", target)
		case unix.S_IFCHR, unix.S_IFBLK:
			fmt.Fprintf(&b, " dev=%d,%d", unix.Major(uint64(st.Rdev)), unix.Minor(uint64(st.Rdev)))
		}
		xs, err := readXattrs(p)
		if err != nil {
			return err
		}
		var keys []string
		for k := range xs {
			if !internalXattr(k) {
				keys = append(keys, k)
			}
		}
		sort.Strings(keys)
		for _, k := range keys {
			fmt.Fprintf(&b, " %s=%q", k, xs[k])
		}
		out[rel] = b.String()
		return nil
	})
	if err != nil {
		t.Fatalf("describing %s: %v", root, err)
	}
	for _, names := range inodes {
		sort.Strings(names)
		for _, n := range names {
			out[n] += " links=" + strings.Join(names, ",")
		}
	}
	return out
}

func diffTrees(t testing.TB, got, want map[string]string) {
	t.Helper()
	var keys []string
	seen := map[string]bool{}
	for k := range got {
		keys, seen[k] = append(keys, k), true
	}
	for k := range want {
		if !seen[k] {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	for _, k := range keys {
		if got[k] != want[k] {
			t.Errorf("%s:\n  got  %s\n  want %s", k, orMissing(got[k]), orMissing(want[k]))
		}
	}
}

func orMissing(s string) string {
	if s == "" {
		return "(missing)"
	}
	return s
}

func mustWrite(t testing.TB, p, body string, mode os.FileMode) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(body), mode); err != nil {
		t.Fatal(err)
	}
	if err := unix.Chmod(p, uint32(mode)); err != nil {
		t.Fatal(err)
	}
}

// listTar returns "name type" lines of a tar.
func listTar(t testing.TB, data []byte) []string {
	t.Helper()
	var out []string
	tr := tar.NewReader(bytes.NewReader(data))
	for {
		hdr, err := tr.Next()
		if err != nil {
			if err.Error() == "EOF" {
				return out
			}
			t.Fatalf("reading tar: %v", err)
		}
		s := hdr.Name
		if hdr.Linkname != "" {
			s += " -> " + hdr.Linkname
		}
		out = append(out, s)
	}
}

// isRoot reports whether the test may chown and create devices.
func isRoot() bool { c, m, _ := privileges(); return c && m }
