//go:build linux

package snapshot

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"golang.org/x/sys/unix"
)

// memLayer is an uncompressed in-memory v1.Layer.
type memLayer struct {
	data []byte
	bad  bool // report a wrong diff ID
}

var _ v1.Layer = memLayer{}

func (l memLayer) hash() v1.Hash {
	sum := sha256.Sum256(l.data)
	if l.bad {
		sum[0] ^= 1
	}
	return v1.Hash{Algorithm: "sha256", Hex: hex.EncodeToString(sum[:])}
}
func (l memLayer) Digest() (v1.Hash, error)            { return l.hash(), nil }
func (l memLayer) DiffID() (v1.Hash, error)            { return l.hash(), nil }
func (l memLayer) Size() (int64, error)                { return int64(len(l.data)), nil }
func (l memLayer) MediaType() (types.MediaType, error) { return types.OCIUncompressedLayer, nil }
func (l memLayer) Compressed() (io.ReadCloser, error)  { return l.Uncompressed() }
func (l memLayer) Uncompressed() (io.ReadCloser, error) {
	return io.NopCloser(bytes.NewReader(l.data)), nil
}

func requireRoot(t *testing.T) {
	t.Helper()
	if !isRoot() {
		t.Skip("needs root outside a user namespace to mount overlayfs and chown (run the suite as root, as CI does)")
	}
}

func testLayers(t *testing.T) (memLayer, memLayer) {
	l1 := mkTar(t,
		dir("etc"), file("etc/passwd", "root\n"), file("etc/hostname", "one\n"), file("etc/motd", "hi\n"),
		dir("usr"), dir("usr/bin"), file("usr/bin/tool", "v1"), hardlink("usr/bin/tool2", "usr/bin/tool"),
		dir("var"), dir("var/cache"), file("var/cache/a", "a"), file("var/cache/b", "b"),
		dir("opt"), file("opt/x", "x"), dir("gone"), file("gone/f", "f"), file("renameme", "r"),
		dir("dirtofile"), file("dirtofile/f", "f"), symlink("lnk", "/etc/passwd"),
	)
	l2 := mkTar(t,
		dir("etc"), file("etc/hostname", "two\n"), file("etc/.wh.motd", ""),
		dir("opt"), file("opt/.wh..wh..opq", ""), file("opt/y", "y"),
		file("new", "n"),
	)
	return memLayer{data: l1}, memLayer{data: l2}
}

// mutate changes a container root the ways RUN steps do.
func mutate(t *testing.T, root string) {
	t.Helper()
	mustWrite(t, filepath.Join(root, "etc/passwd"), "root\nuser\n", 0o644)              // modify (copy-up)
	mustWrite(t, filepath.Join(root, "etc/new.conf"), "c", 0o600)                       // add
	mustWrite(t, filepath.Join(root, "usr/local/bin/app"), "app", 0o755)                // add with new parents
	must(t, os.Remove(filepath.Join(root, "etc/hostname")))                             // delete a file of the top layer
	must(t, os.RemoveAll(filepath.Join(root, "gone")))                                  // delete a directory
	must(t, os.RemoveAll(filepath.Join(root, "var/cache")))                             // delete and recreate: opaque
	mustWrite(t, filepath.Join(root, "var/cache/c"), "c", 0o644)                        //
	must(t, os.Rename(filepath.Join(root, "renameme"), filepath.Join(root, "renamed"))) // rename a file
	must(t, os.Chmod(filepath.Join(root, "opt/y"), 0o600))                              // metadata only
	must(t, os.RemoveAll(filepath.Join(root, "dirtofile")))                             // directory becomes a file
	mustWrite(t, filepath.Join(root, "dirtofile"), "now a file", 0o644)                 //
	must(t, os.Remove(filepath.Join(root, "lnk")))                                      // symlink retargeted
	must(t, os.Symlink("/etc/new.conf", filepath.Join(root, "lnk")))                    //
	if isRoot() {
		must(t, os.Lchown(filepath.Join(root, "usr/local/bin/app"), 1000, 1000)) // owner
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// flatten applies tars in order onto a fresh directory.
func flatten(t *testing.T, tars ...[]byte) string {
	t.Helper()
	dir := t.TempDir()
	for i, data := range tars {
		if _, err := Extract(context.Background(), bytes.NewReader(data), dir, ExtractOptions{}); err != nil {
			t.Fatalf("applying tar %d: %v", i, err)
		}
	}
	return dir
}

func TestSnapshotterMountDiff(t *testing.T) {
	ctx := context.Background()
	s, err := NewSnapshotter(filepath.Join(t.TempDir(), "snapshots"))
	if err != nil {
		t.Fatal(err)
	}
	l1, l2 := testLayers(t)
	lowers, err := s.Prepare(ctx, []v1.Layer{l1, l2})
	if err != nil {
		t.Fatalf("Prepare = %v", err)
	}
	if want := []string{s.Dir(l2.hash()), s.Dir(l1.hash())}; !slices.Equal(lowers, want) {
		t.Fatalf("Prepare = %q, want %q (top first)", lowers, want)
	}
	// Prepared again: nothing changes.
	again, err := s.Prepare(ctx, []v1.Layer{l1, l2})
	if err != nil || !slices.Equal(again, lowers) {
		t.Fatalf("second Prepare = %q, %v", again, err)
	}
	base := describeOpt(t, flatten(t, l1.data, l2.data), false)

	for _, tc := range []struct {
		name                string
		copyMode, userxattr bool
	}{{"overlay", false, false}, {"overlay-userxattr", false, true}, {"copy", true, false}} {
		copyMode := tc.copyMode
		name := tc.name
		t.Run(name, func(t *testing.T) {
			if !copyMode {
				requireRoot(t)
			}
			m, err := Mount(ctx, lowers, MountOptions{Copy: copyMode, NoFallback: !copyMode, UserXattr: tc.userxattr, TempDir: t.TempDir()})
			if err != nil {
				t.Fatalf("Mount = %v", err)
			}
			defer func() {
				if err := m.Close(); err != nil {
					t.Errorf("Close = %v", err)
				}
				if err := m.Close(); err != nil {
					t.Errorf("second Close = %v", err)
				}
				if _, err := os.Stat(m.Root()); !os.IsNotExist(err) {
					t.Errorf("root %s remains after Close (err %v)", m.Root(), err)
				}
			}()
			if m.Overlay() == copyMode {
				t.Fatalf("Overlay() = %v in %s mode", m.Overlay(), name)
			}
			diffTrees(t, describe(t, m.Root()), base)
			if t.Failed() {
				t.FailNow()
			}
			mutate(t, m.Root())
			var diff bytes.Buffer
			if err := m.Diff(ctx, &diff, TarOptions{}); err != nil {
				t.Fatalf("Diff = %v", err)
			}
			entries := listTar(t, diff.Bytes())
			for _, want := range []string{".wh.gone", "etc/.wh.hostname", ".wh.renameme", "renamed", "dirtofile"} {
				if !slices.Contains(entries, want) {
					t.Errorf("diff lacks %q: %q", want, entries)
				}
			}
			if !copyMode && !slices.Contains(entries, "var/cache/.wh..wh..opq") {
				t.Errorf("overlay diff lacks the opaque marker of the recreated var/cache: %q", entries)
			}
			got := describe(t, flatten(t, l1.data, l2.data, diff.Bytes()))
			diffTrees(t, got, describe(t, m.Root()))
			if t.Failed() {
				t.Logf("diff entries: %q", listTar(t, diff.Bytes()))
			}
		})
	}
}

func TestMountManyLayers(t *testing.T) {
	requireRoot(t)
	ctx := context.Background()
	s, err := NewSnapshotter(filepath.Join(t.TempDir(), "snapshots"))
	if err != nil {
		t.Fatal(err)
	}
	// 150 layers with long paths: far beyond one page of lowerdir option.
	var layers []v1.Layer
	for i := range 150 {
		layers = append(layers, memLayer{data: mkTar(t, file(filepath.Join("layers", string(rune('a'+i%26))+hex.EncodeToString([]byte{byte(i)})), "x"))})
	}
	lowers, err := s.Prepare(ctx, layers)
	if err != nil {
		t.Fatal(err)
	}
	m, err := Mount(ctx, lowers, MountOptions{NoFallback: true, TempDir: t.TempDir()})
	if err != nil {
		t.Fatalf("Mount of %d layers = %v", len(lowers), err)
	}
	defer m.Close()
	names, err := readNames(filepath.Join(m.Root(), "layers"))
	if err != nil || len(names) != 150 {
		t.Fatalf("merged root has %d entries in layers/ (err %v), want 150", len(names), err)
	}
}

func TestPrepareCorruptAndPrune(t *testing.T) {
	ctx := context.Background()
	s, err := NewSnapshotter(filepath.Join(t.TempDir(), "snapshots"))
	if err != nil {
		t.Fatal(err)
	}
	_, err = s.Prepare(ctx, []v1.Layer{memLayer{data: mkTar(t, file("a", "1")), bad: true}})
	if !errors.Is(err, ErrCorruptLayer) {
		t.Fatalf("Prepare of a layer not matching its diff ID = %v, want ErrCorruptLayer", err)
	}
	if names, _ := readNames(filepath.Join(s.Root(), "sha256")); len(names) != 0 {
		t.Fatalf("a corrupt layer left %q", names)
	}
	if names, _ := readNames(filepath.Join(s.Root(), "tmp")); len(names) != 0 {
		t.Fatalf("a corrupt layer left temporary %q", names)
	}
	keepL, dropL := memLayer{data: mkTar(t, file("k", "1"))}, memLayer{data: mkTar(t, file("d", "2"))}
	if _, err := s.Prepare(ctx, []v1.Layer{keepL}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Prepare(ctx, []v1.Layer{dropL}); err != nil {
		t.Fatal(err)
	}
	// A crashed unpack: a temporary directory nobody holds a lock for.
	must(t, os.MkdirAll(filepath.Join(s.Root(), "tmp", dropL.hash().Hex+".123", "fs"), 0o755))
	removed, err := s.Prune(ctx, func(h v1.Hash) bool { return h == keepL.hash() })
	if err != nil {
		t.Fatal(err)
	}
	if len(removed) != 1 || removed[0] != dropL.hash() {
		t.Errorf("Prune removed %v, want [%v]", removed, dropL.hash())
	}
	if _, err := os.Stat(s.Dir(keepL.hash())); err != nil {
		t.Errorf("kept snapshot gone: %v", err)
	}
	if _, err := os.Stat(s.Dir(dropL.hash())); !os.IsNotExist(err) {
		t.Errorf("pruned snapshot remains (err %v)", err)
	}
	if names, _ := readNames(filepath.Join(s.Root(), "tmp")); len(names) != 0 {
		t.Errorf("Prune left stale temporary %q", names)
	}
}

func TestPrepareConcurrent(t *testing.T) {
	ctx := context.Background()
	root := filepath.Join(t.TempDir(), "snapshots")
	l1, l2 := testLayers(t)
	errs := make(chan error, 4)
	for range 4 {
		go func() {
			s, err := NewSnapshotter(root)
			if err == nil {
				_, err = s.Prepare(ctx, []v1.Layer{l1, l2})
			}
			errs <- err
		}()
	}
	for range 4 {
		if err := <-errs; err != nil {
			t.Fatalf("concurrent Prepare = %v", err)
		}
	}
	names, _ := readNames(filepath.Join(root, "sha256"))
	if len(names) != 2 {
		t.Errorf("snapshots %q, want 2", names)
	}
	var st unix.Stat_t
	if err := unix.Lstat(filepath.Join(root, "sha256", names[0], "fs"), &st); err != nil {
		t.Error(err)
	}
}

func TestMountFallback(t *testing.T) {
	if isRoot() {
		// Overlay mounts succeed as root; the fallback is what unprivileged
		// processes get, so run this test again as nobody.
		runAsNobody(t, "TestMountFallback")
		return
	}
	l1, _ := testLayers(t)
	s, err := NewSnapshotter(filepath.Join(t.TempDir(), "snapshots"))
	if err != nil {
		t.Fatal(err)
	}
	lowers, err := s.Prepare(context.Background(), []v1.Layer{l1})
	if err != nil {
		t.Fatal(err)
	}
	m, err := Mount(context.Background(), lowers, MountOptions{TempDir: t.TempDir()})
	if err != nil {
		t.Fatalf("Mount = %v, want the copy fallback", err)
	}
	defer m.Close()
	if m.Overlay() || m.FallbackReason() == nil || m.Upper() != "" {
		t.Errorf("Mount as non-root: Overlay() = %v, FallbackReason() = %v, Upper() = %q; want a copy with a reason", m.Overlay(), m.FallbackReason(), m.Upper())
	}
	if _, err := Mount(context.Background(), lowers, MountOptions{TempDir: t.TempDir(), NoFallback: true}); !errors.Is(err, ErrOverlayUnavailable) {
		t.Errorf("Mount with NoFallback as non-root = %v, want ErrOverlayUnavailable", err)
	}
}

// runAsNobody runs the named test of this test binary as uid/gid 65534 and
// fails t if it fails. The binary is copied where nobody may execute it.
func runAsNobody(t *testing.T, name string) {
	t.Helper()
	// Not t.TempDir: its parent directory is private to root.
	dir, err := os.MkdirTemp("", "snapshot-nobody-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o777); err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(dir, "snapshot.test")
	b, err := os.ReadFile(os.Args[0])
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(bin, b, 0o755); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "-test.run=^"+name+"$", "-test.count=1", "-test.v")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "TMPDIR="+dir, "HOME="+dir)
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
	out, err := cmd.CombinedOutput()
	if err != nil || !strings.Contains(string(out), "--- PASS: "+name) {
		t.Fatalf("%s as nobody: %v\n%s", name, err, out)
	}
}

// TestPrepareSharedLayers: a layer shared by two stacks with different
// layers below is unpacked once; a layer that occurs twice in one stack is
// left out below its higher occurrence, and the merged root is the same as
// applying every layer in order.
func TestPrepareSharedLayers(t *testing.T) {
	ctx := context.Background()
	s, err := NewSnapshotter(filepath.Join(t.TempDir(), "snapshots"))
	if err != nil {
		t.Fatal(err)
	}
	// Parent directories are explicit entries: an implicit one gets the
	// time of the unpack, which differs between the snapshot and flatten's
	// reference when a second boundary falls between them.
	baseA := memLayer{data: mkTar(t, dir("etc"), file("etc/os", "a"), file("same", "base a"))}
	baseB := memLayer{data: mkTar(t, dir("etc"), file("etc/os", "b"), file("same", "base b"))}
	top := memLayer{data: mkTar(t, dir("app"), file("app/main", "code"), file("same", "top"))}
	mid := memLayer{data: mkTar(t, file("same", "mid"), dir("app"), file("app/main", "mid"))}
	la, err := s.Prepare(ctx, []v1.Layer{baseA, top})
	if err != nil {
		t.Fatal(err)
	}
	lb, err := s.Prepare(ctx, []v1.Layer{baseB, top})
	if err != nil {
		t.Fatal(err)
	}
	if la[0] != lb[0] || la[1] == lb[1] {
		t.Errorf("stacks %q and %q: want the shared top layer in one directory, the bases in two", la, lb)
	}
	if names, _ := readNames(filepath.Join(s.Root(), "sha256")); len(names) != 3 {
		t.Errorf("%d layer directories %q, want 3", len(names), names)
	}
	stack := []v1.Layer{baseA, top, mid, top}
	lowers, err := s.Prepare(ctx, stack)
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{s.Dir(top.hash()), s.Dir(mid.hash()), s.Dir(baseA.hash())}; !slices.Equal(lowers, want) {
		t.Fatalf("Prepare(base, top, mid, top) = %q, want %q", lowers, want)
	}
	requireRoot(t)
	m, err := Mount(ctx, lowers, MountOptions{NoFallback: true, TempDir: t.TempDir()})
	if err != nil {
		t.Fatalf("Mount = %v", err)
	}
	defer m.Close()
	diffTrees(t, describe(t, m.Root()), describe(t, flatten(t, baseA.data, top.data, mid.data, top.data)))
}

// TestPruneUnused: nothing goes while another snapshotter holds its lease;
// then directories go least recently used first down to the limit, and
// all of them without one.
func TestPruneUnused(t *testing.T) {
	ctx := context.Background()
	root := filepath.Join(t.TempDir(), "snapshots")
	user, err := NewSnapshotter(root)
	if err != nil {
		t.Fatal(err)
	}
	var layers []memLayer
	for i, name := range []string{"old", "mid", "new"} {
		l := memLayer{data: mkTar(t, file(name, strings.Repeat("x", 1000*(i+1))))}
		if _, err := user.Prepare(ctx, []v1.Layer{l}); err != nil {
			t.Fatal(err)
		}
		used := time.Now().Add(time.Duration(i-10) * time.Minute)
		must(t, os.Chtimes(filepath.Join(root, "sha256", l.hash().Hex), used, used))
		layers = append(layers, l)
	}
	pruner, err := NewSnapshotter(root)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := pruner.PruneUnused(ctx, 0); !errors.Is(err, ErrInUse) {
		t.Fatalf("PruneUnused while a lease is held = %v, want ErrInUse", err)
	}
	must(t, user.Close())
	// 1000 + 2000 + 3000 bytes of files (and 64-byte diffid files); keep 5500.
	st, err := pruner.PruneUnused(ctx, 5500)
	if err != nil || st.Removed != 1 {
		t.Fatalf("PruneUnused(keep 5500) = %+v, %v; want the oldest removed", st, err)
	}
	for i, want := range []bool{false, true, true} {
		if _, err := os.Stat(pruner.Dir(layers[i].hash())); (err == nil) != want {
			t.Errorf("layer %d present = %v after PruneUnused(keep 5500), want %v", i, err == nil, want)
		}
	}
	// Prepare after Close takes the lease again.
	if _, err := user.Prepare(ctx, []v1.Layer{layers[2]}); err != nil {
		t.Fatal(err)
	}
	if _, err := pruner.PruneUnused(ctx, 0); !errors.Is(err, ErrInUse) {
		t.Fatalf("PruneUnused after a new Prepare = %v, want ErrInUse", err)
	}
	must(t, user.Close())
	if st, err := pruner.PruneUnused(ctx, 0); err != nil || st.Removed != 2 {
		t.Fatalf("PruneUnused(all) = %+v, %v; want 2 removed", st, err)
	}
	if names, _ := readNames(filepath.Join(root, "sha256")); len(names) != 0 {
		t.Errorf("left %q", names)
	}
}
