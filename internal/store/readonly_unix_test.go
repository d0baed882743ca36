//go:build unix

package store

import (
	"context"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// A user who may read a store but not write it (root's, read by another
// user) still reads it: the hold opens gc.lock read-only, or, with no
// gc.lock to open, reads without the hold.
func TestHoldReadOnlyStore(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root, to read the store as another user")
	}
	ctx := context.Background()
	dir := t.TempDir()
	s, err := Open(ctx, filepath.Join(dir, "store"))
	if err != nil {
		t.Fatal(err)
	}
	d, err := s.WriteImage(ctx, randomImage(t, 256, 1))
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Tag(ctx, "app:1", d); err != nil {
		t.Fatal(err)
	}
	// The test binary, where user nobody can run it.
	bin := filepath.Join(dir, "store.test")
	b, err := os.ReadFile(os.Args[0])
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(bin, b, 0o755); err != nil {
		t.Fatal(err)
	}
	for p := dir; p != "/"; p = filepath.Dir(p) {
		if fi, err := os.Stat(p); err == nil && fi.Mode().Perm()&0o005 != 0o005 {
			if err := os.Chmod(p, fi.Mode().Perm()|0o005); err != nil {
				t.Fatal(err)
			}
		}
	}
	filepath.WalkDir(s.Root(), func(p string, e fs.DirEntry, err error) error {
		if err == nil {
			if e.IsDir() {
				os.Chmod(p, 0o755)
			} else {
				os.Chmod(p, 0o644)
			}
		}
		return nil
	})
	read := func() (string, error) {
		cmd := exec.Command(bin, "-test.run=^$")
		cmd.Env = append(os.Environ(), childEnv+"=read", childRootEnv+"="+s.Root())
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
		out, err := cmd.CombinedOutput()
		return strings.TrimSpace(string(out)), err
	}
	if out, err := read(); err != nil || out != d.Digest.String() {
		t.Fatalf("reading the store as user nobody: %v, %q; want %s", err, out, d.Digest)
	}
	if err := os.Remove(filepath.Join(s.Root(), gcLockFile)); err != nil {
		t.Fatal(err)
	}
	if out, err := read(); err != nil || out != d.Digest.String() {
		t.Fatalf("reading the store without gc.lock as user nobody: %v, %q; want %s", err, out, d.Digest)
	}
}
