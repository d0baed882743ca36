package engine

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/manyarch/manyarch/internal/testutil"
)

// TestExportLocalUnsafe: -o type=local leaves out device nodes and drops
// setuid/setgid bits unless unsafe-keep=true, warns naming them, and
// never follows an image symlink out of the export (issue #25 item 5).
func TestExportLocalUnsafe(t *testing.T) {
	testutil.RequireRoot(t) // mknod, and exporting root-owned setuid files
	outside := t.TempDir()  // a host directory an image symlink points at
	hostFile := filepath.Join(outside, "x")
	mustWrite(t, hostFile, 0o4755)

	base, top := t.TempDir(), t.TempDir() // layer directories, bottom and top
	for _, f := range []struct {
		path string
		mode uint32
	}{{"bin/su", 0o4755}, {"usr/bin/wall", 0o2755}, {"bin/sh", 0o755}, {"a/x", 0o4755}, {"etc/later", 0o4755}} {
		mustWrite(t, filepath.Join(base, f.path), f.mode)
	}
	mknod(t, filepath.Join(base, "dev/sda"), unix.S_IFBLK|0o666, unix.Mkdev(8, 0))
	mknod(t, filepath.Join(base, "dev/null"), unix.S_IFCHR|0o666, unix.Mkdev(1, 3))
	// The top layer replaces the directory a with a symlink out of the
	// tree, and removes etc/later with a whiteout.
	if err := os.Symlink(outside, filepath.Join(top, "a")); err != nil {
		t.Fatal(err)
	}
	mknod(t, filepath.Join(top, "etc/later"), unix.S_IFCHR, 0)
	lowers := []string{top, base}

	t.Run("default", func(t *testing.T) {
		dest := t.TempDir()
		res := &Result{}
		o := Output{Type: "local", Dest: dest, Attrs: map[string]string{}}
		if err := (&executor{}).exportLocal(context.Background(), o, lowers, dest, amd64, res); err != nil {
			t.Fatal(err)
		}
		for _, p := range []string{"dev/sda", "dev/null", "etc/later"} {
			if _, err := os.Lstat(filepath.Join(dest, p)); !os.IsNotExist(err) {
				t.Errorf("%s exported (%v), want it left out", p, err)
			}
		}
		for p, want := range map[string]os.FileMode{"bin/su": 0o755, "usr/bin/wall": 0o755, "bin/sh": 0o755} {
			if fi, err := os.Lstat(filepath.Join(dest, p)); err != nil || fi.Mode() != want {
				t.Errorf("%s exported as %v (%v), want %v", p, fi.Mode(), err, want)
			}
		}
		if fi, err := os.Stat(hostFile); err != nil || fi.Mode()&os.ModeSetuid == 0 {
			t.Errorf("the host file behind the image's symlink a is now %v (%v): the export followed the symlink", fi.Mode(), err)
		}
		if fi, _ := os.Stat(dest); fi.Mode().Perm() == 0o700 {
			t.Errorf("the export directory stays %v", fi.Mode())
		}
		if len(res.Warnings) != 1 {
			t.Fatalf("warnings = %v, want one", res.Warnings)
		}
		w := res.Warnings[0].String()
		for _, s := range []string{"-o type=local,dest=" + dest, "linux/amd64", "setuid/setgid bits of 2 files (/bin/su, /usr/bin/wall)",
			"2 device nodes (/dev/null, /dev/sda)", "unsafe-keep=true"} {
			if !strings.Contains(w, s) {
				t.Errorf("warning %q does not contain %q", w, s)
			}
		}
	})

	t.Run("unsafe-keep", func(t *testing.T) {
		dest := t.TempDir()
		res := &Result{}
		o := Output{Type: "local", Dest: dest, Attrs: map[string]string{attrUnsafeKeep: "true"}}
		if err := (&executor{}).exportLocal(context.Background(), o, lowers, dest, amd64, res); err != nil {
			t.Fatal(err)
		}
		if fi, err := os.Lstat(filepath.Join(dest, "dev/sda")); err != nil || fi.Mode()&os.ModeDevice == 0 {
			t.Errorf("dev/sda with unsafe-keep = %v (%v), want the device", fi, err)
		}
		if fi, err := os.Lstat(filepath.Join(dest, "bin/su")); err != nil || fi.Mode()&os.ModeSetuid == 0 {
			t.Errorf("bin/su with unsafe-keep = %v (%v), want setuid", fi, err)
		}
		if len(res.Warnings) != 0 {
			t.Errorf("warnings with unsafe-keep = %v, want none", res.Warnings)
		}
	})
}

func TestUnsafeKeepAttr(t *testing.T) {
	for _, tc := range []struct {
		o    string
		want string
	}{
		{"type=local,dest=d,unsafe-keep=maybe", "unsafe-keep=maybe: want true or false"},
		{"type=tar,dest=f.tar,unsafe-keep=true", "unsafe-keep= applies to type=local only"},
	} {
		o, err := ParseOutput(tc.o)
		if err != nil {
			t.Fatal(err)
		}
		_, err = checkOutputs(&Request{Outputs: []Output{o}})
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("checkOutputs(-o %s) = %v, want an error containing %q", tc.o, err, tc.want)
		}
	}
	o, _ := ParseOutput("type=local,dest=d,unsafe-keep=true")
	if _, err := checkOutputs(&Request{Outputs: []Output{o}}); err != nil {
		t.Errorf("checkOutputs(unsafe-keep=true) = %v", err)
	}
}

// mustWrite makes a file with the unix mode bits mode (07777).
func mustWrite(t *testing.T, p string, mode uint32) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(p), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := unix.Chmod(p, mode); err != nil {
		t.Fatal(err)
	}
}

func mknod(t *testing.T, p string, mode uint32, dev uint64) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := unix.Mknod(p, mode, int(dev)); err != nil {
		t.Fatal(err)
	}
}
