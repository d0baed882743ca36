//go:build unix

package engine

import (
	"os"
	"path/filepath"
	"testing"
	"time"
)

func TestModeChange(t *testing.T) {
	for _, tc := range []struct {
		chmod string
		old   uint32
		dir   bool
		want  uint32
	}{
		{"0640", 0o755, false, 0o640},
		{"755", 0o600, true, 0o755},
		{"4755", 0o644, false, 0o4755},
		{"u+x", 0o644, false, 0o744},
		{"go-w", 0o666, false, 0o644},
		{"a=r", 0o755, false, 0o444},
		{"a+X", 0o644, false, 0o644},
		{"a+X", 0o744, false, 0o755},
		{"a+X", 0o600, true, 0o711},
		{"u=rwx,g=rx,o=", 0o777, false, 0o750},
		{"+t", 0o755, true, 0o1755},
		{"u+s", 0o755, false, 0o4755},
	} {
		m, err := parseChmod(tc.chmod)
		if err != nil {
			t.Fatalf("parseChmod(%q): %v", tc.chmod, err)
		}
		if got := m.apply(tc.old, tc.dir); got != tc.want {
			t.Errorf("--chmod=%s on %04o (dir %t) = %04o, want %04o", tc.chmod, tc.old, tc.dir, got, tc.want)
		}
	}
	for _, bad := range []string{"99999", "8", "u+q", "x+r"} {
		if _, err := parseChmod(bad); err == nil {
			t.Errorf("parseChmod(%q) = nil error, want one", bad)
		}
	}
}

func TestParseChown(t *testing.T) {
	root := t.TempDir()
	os.MkdirAll(filepath.Join(root, "etc"), 0o755)
	os.WriteFile(filepath.Join(root, "etc/passwd"), []byte("root:x:0:0::/root:/bin/sh\napp:x:1001:1002::/home/app:/bin/sh\n"), 0o644)
	os.WriteFile(filepath.Join(root, "etc/group"), []byte("root:x:0:\nstaff:x:50:\n"), 0o644)
	for _, tc := range []struct {
		in       string
		uid, gid int
		err      bool
	}{
		{"1000", 1000, 1000, false},
		{"1000:33", 1000, 33, false},
		{"app", 1001, 1002, false},
		{"app:staff", 1001, 50, false},
		{"0:staff", 0, 50, false},
		{"nosuch", 0, 0, true},
		{"app:nogroup", 0, 0, true},
		// numbers that would wrap or are no id (issue #25)
		{"4294967296:0", 0, 0, true},
		{"0:4294967296", 0, 0, true},
		{"-1", 0, 0, true},
		{"0:-1", 0, 0, true},
		{"2147483648", 0, 0, true},
		{"2147483647", 2147483647, 2147483647, false},
	} {
		// The same answers from the host directory and from a planned
		// layer over it.
		for _, fsys := range []copyFS{hostFS{root}, newPlanFS([]string{root}, time.Now())} {
			c, err := parseChown(fsys, tc.in)
			if tc.err {
				if err == nil {
					t.Errorf("%T: parseChown(%q) = %+v, want an error", fsys, tc.in, c)
				}
				continue
			}
			if err != nil || c.uid != tc.uid || c.gid != tc.gid {
				t.Errorf("%T: parseChown(%q) = %+v, %v; want %d:%d", fsys, tc.in, c, err, tc.uid, tc.gid)
			}
		}
	}
}

func TestContextPath(t *testing.T) {
	dir := t.TempDir()
	l := &localSource{dir: dir}
	for _, tc := range []struct {
		src  string
		want string
		err  bool
	}{
		{"a/b", filepath.Join(dir, "a/b"), false},
		{"/a", filepath.Join(dir, "a"), false},
		{"./a/../b", filepath.Join(dir, "b"), false},
		{"../x", "", true},
		{"a/../../x", "", true},
	} {
		got, err := l.path(tc.src)
		if (err != nil) != tc.err || (!tc.err && got != tc.want) {
			t.Errorf("contextPath(%q) = %q, %v; want %q (error %t)", tc.src, got, err, tc.want, tc.err)
		}
	}
}
