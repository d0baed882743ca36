package imagetest

import (
	"archive/tar"
	"bufio"
	"context"
	"encoding/hex"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"

	"github.com/manyarch/manyarch/internal/fsutil"
	"github.com/manyarch/manyarch/internal/snapshot"
	"github.com/manyarch/manyarch/internal/testutil"
)

// hostileCase is one layer ordering that two implementations of the
// overlay rules could disagree on, and the paths to look at.
type hostileCase struct {
	name   string
	layers [][]entry // bottom first, above a busybox layer
	paths  []string
}

// hostileCases builds the evil image's cases; secret is a host file the
// image must never reach.
func hostileCases(secret string) []hostileCase {
	d := func(name string) entry { return dir(name, 0o755) }
	wh := func(name string) entry { return file(name, "", 0o644) }
	owned := func(e entry, uid, gid int) entry { e.uid, e.gid = uid, gid; return e }
	hard := func(name, target string) entry { return entry{name: name, typ: tar.TypeLink, link: target} }
	return []hostileCase{
		{name: "symlink over dir", layers: [][]entry{
			{d("c1"), d("c1/d"), file("c1/d/f", "lower f", 0o644), d("c1/t"), file("c1/t/g", "target g", 0o600)},
			{symlink("c1/d", "/c1/t")},
		}, paths: []string{"/c1/d", "/c1/d/f", "/c1/d/g"}},
		{name: "dir over symlink", layers: [][]entry{
			{d("c2"), symlink("c2/s", "t"), d("c2/t"), file("c2/t/f", "via link", 0o644)},
			{dir("c2/s", 0o750), file("c2/s/h", "upper h", 0o640)},
		}, paths: []string{"/c2/s", "/c2/s/f", "/c2/s/h", "/c2/t/f"}},
		{name: "file whiteout", layers: [][]entry{
			{d("c3"), file("c3/a", "a", 0o644), file("c3/b", "b", 0o644), d("c3/dir"), file("c3/dir/x", "x", 0o644)},
			{wh("c3/.wh.a"), wh("c3/.wh.dir")},
			{file("c3/dir", "now a file", 0o600)},
		}, paths: []string{"/c3/a", "/c3/b", "/c3/dir", "/c3/dir/x"}},
		{name: "opaque dir", layers: [][]entry{
			{d("c4"), d("c4/d"), file("c4/d/x", "x", 0o644), d("c4/d/sub"), file("c4/d/sub/y", "y", 0o644)},
			{dir("c4/d", 0o700), wh("c4/d/.wh..wh..opq"), file("c4/d/z", "z", 0o644)},
		}, paths: []string{"/c4/d", "/c4/d/x", "/c4/d/sub", "/c4/d/sub/y", "/c4/d/z"}},
		{name: "absolute symlinks", layers: [][]entry{
			{d("c5"), file("c5/real", "real", 0o644), symlink("c5/abs", "/c5/real"), symlink("c5/host", secret),
				symlink("c5/shadow", "/c5/shadow"), symlink("c5/root", "/"), symlink("c5/hostdir", filepath.Dir(secret))},
		}, paths: []string{"/c5/abs", "/c5/host", "/c5/shadow", "/c5/root", "/c5/root/c5/real", "/c5/hostdir", "/c5/hostdir/" + filepath.Base(secret)}},
		{name: "dot-dot symlinks", layers: [][]entry{
			{d("c6"), d("c6/a"), d("c6/a/b"), file("c6/target", "inside", 0o644),
				symlink("c6/a/b/up", "../../../../../../../../c6/target"),
				symlink("c6/a/b/esc", "../../../../../../../.."+secret),
				symlink("c6/a/b/updir", "../../../../../../../.."),
			},
		}, paths: []string{"/c6/a/b/up", "/c6/a/b/esc", "/c6/a/b/updir", "/c6/a/b/updir/c6/target", "/c6/a/b/updir" + secret}},
		{name: "symlink loops", layers: [][]entry{
			{d("c7"), symlink("c7/l1", "l2"), symlink("c7/l2", "l1"), symlink("c7/self", "self"), symlink("c7/dirloop", "dirloop/x")},
		}, paths: []string{"/c7/l1", "/c7/self", "/c7/self/x", "/c7/dirloop"}},
		{name: "whiteout under a symlink", layers: [][]entry{
			{d("c8"), d("c8/real"), file("c8/real/f", "f", 0o644), file("c8/real/g", "g", 0o644), symlink("c8/link", "real")},
			{wh("c8/link/.wh.f")},
		}, paths: []string{"/c8/link", "/c8/link/f", "/c8/link/g", "/c8/real/f", "/c8/real/g"}},
		{name: "owners, modes and hard links", layers: [][]entry{
			{d("c9"), owned(file("c9/suid", "suid", 0o4755), 1234, 5678), hard("c9/hard", "c9/suid"),
				owned(dir("c9/sticky", 0o1777), 42, 43), owned(file("c9/x", "x", 0o2710), 7, 8)},
		}, paths: []string{"/c9/suid", "/c9/hard", "/c9/sticky", "/c9/x"}},
		{name: "file over dir and dir over file", layers: [][]entry{
			{d("c10"), d("c10/d"), file("c10/d/x", "x", 0o644), file("c10/f", "f", 0o644)},
			{file("c10/d", "file now", 0o644), dir("c10/f", 0o711), file("c10/f/y", "y", 0o644)},
		}, paths: []string{"/c10/d", "/c10/d/x", "/c10/f", "/c10/f/y"}},
		{name: "fifo", layers: [][]entry{
			// A content test must not block opening it.
			{d("c11"), {name: "c11/fifo", typ: tar.TypeFifo, mode: 0o644}, symlink("c11/link", "fifo")},
		}, paths: []string{"/c11/fifo", "/c11/link"}},
	}
}

// evilImage writes an image of a busybox layer and the cases' layers as an
// OCI layout and reads it back from there, as `manyarch test oci:DIR`
// would.
func evilImage(t *testing.T, cases []hostileCase) v1.Image {
	t.Helper()
	root := testutil.BusyboxRootfs(t, runtime.GOARCH)
	layers := []v1.Layer{dirLayer(t, root)}
	for depth := 0; ; depth++ {
		var es []entry
		for _, c := range cases {
			if depth < len(c.layers) {
				es = append(es, c.layers[depth]...)
			}
		}
		if len(es) == 0 {
			break
		}
		layers = append(layers, layer(t, es...))
	}
	img := image(t, "linux/"+runtime.GOARCH, v1.Config{Env: []string{"PATH=/bin:/usr/bin"}}, layers...)
	dir := t.TempDir()
	p, err := layout.Write(dir, empty.Index)
	if err != nil {
		t.Fatal(err)
	}
	if err := p.AppendImage(img); err != nil {
		t.Fatal(err)
	}
	idx, err := layout.ImageIndexFromPath(dir)
	if err != nil {
		t.Fatal(err)
	}
	m, err := idx.IndexManifest()
	if err != nil || len(m.Manifests) != 1 {
		t.Fatalf("reading the evil layout back: %v, %d manifests", err, len(m.Manifests))
	}
	back, err := idx.Image(m.Manifests[0].Digest)
	if err != nil {
		t.Fatal(err)
	}
	return back
}

// probeScript prints, for each path argument, what the container sees:
// lstat and stat (raw mode in hex, owner, group, size), the link target,
// and a regular file's content in hex.
const probeScript = `for p; do
echo "== $p"
if s=$(stat -c '%f %u %g %s' "$p" 2>/dev/null); then echo "lstat $s"; else echo "lstat missing"; fi
if s=$(stat -L -c '%f %u %g %s' "$p" 2>/dev/null); then echo "stat $s"; else echo "stat missing"; fi
if l=$(readlink "$p" 2>/dev/null); then echo "link $l"; fi
if [ -f "$p" ] && c=$(od -An -v -tx1 "$p" 2>/dev/null); then echo "content $(echo $c | tr -d ' ')"; else echo "content none"; fi
done
`

// describe prints what a file view reports about p in probeScript's form.
func describe(ctx context.Context, v fileView, p string) []string {
	out := []string{"== " + p}
	stat := func(what string, follow bool) {
		fi, err := v.stat(p, follow)
		if err != nil {
			out = append(out, what+" missing")
			return
		}
		size := fi.size
		if !fi.mode.IsRegular() {
			size = -1 // directories and links: sizes are file system details
		}
		out = append(out, fmt.Sprintf("%s %x %d %d %d", what, rawMode(fi.mode), fi.uid, fi.gid, size))
	}
	stat("lstat", false)
	stat("stat", true)
	if fi, err := v.stat(p, false); err == nil && fi.mode&fs.ModeSymlink != 0 {
		out = append(out, "link "+fi.linkname)
	}
	data, errs, err := v.readFiles(ctx, []string{p})
	if err != nil || errs[p] != nil {
		out = append(out, "content none")
	} else {
		out = append(out, "content "+hex.EncodeToString(data[p]))
	}
	return out
}

// rawMode is the st_mode of a Go file mode.
func rawMode(m fs.FileMode) uint32 {
	r := uint32(m.Perm())
	switch {
	case m&fs.ModeSymlink != 0:
		r |= 0o120000
	case m.IsDir():
		r |= 0o040000
	case m&fs.ModeCharDevice != 0:
		r |= 0o020000
	case m&fs.ModeDevice != 0:
		r |= 0o060000
	case m&fs.ModeNamedPipe != 0:
		r |= 0o010000
	case m&fs.ModeSocket != 0:
		r |= 0o140000
	default:
		r |= 0o100000
	}
	if m&fs.ModeSetuid != 0 {
		r |= 0o4000
	}
	if m&fs.ModeSetgid != 0 {
		r |= 0o2000
	}
	if m&fs.ModeSticky != 0 {
		r |= 0o1000
	}
	return r
}

// containerSees runs probeScript in a container of img and returns its
// report per path, sizes of non-files blanked as describe does.
func containerSees(t *testing.T, x *SandboxExecutor, img v1.Image, paths []string) map[string][]string {
	t.Helper()
	tgt := Target{Platform: mustPlatform(t, "linux/"+runtime.GOARCH), Image: img}
	res, err := x.Run(context.Background(), tgt, Exec{Args: append([]string{"/bin/sh", "-c", probeScript, "sh"}, paths...), Env: []string{"PATH=/bin"}})
	if err != nil || res.ExitCode != 0 {
		t.Fatalf("probing the container: %v, exit %d, stderr %s", err, res.ExitCode, res.Stderr)
	}
	out := map[string][]string{}
	var cur string
	sc := bufio.NewScanner(strings.NewReader(string(res.Stdout)))
	for sc.Scan() {
		line := sc.Text()
		if p, ok := strings.CutPrefix(line, "== "); ok {
			cur = p
		}
		if f := strings.Fields(line); (f[0] == "lstat" || f[0] == "stat") && len(f) == 5 {
			var mode uint32
			fmt.Sscanf(f[1], "%x", &mode)
			if mode&0o170000 != 0o100000 {
				f[4] = "-1"
			}
			line = strings.Join(f, " ")
		}
		out[cur] = append(out[cur], line)
	}
	return out
}

// TestFileViewsMatchContainer is the differential test of issue #25 item 4:
// for every hostile layer ordering, what file tests read (exists, mode,
// owner, link target, content; lstat for fileExistenceTests, stat for
// content) equals what stat, readlink and od show inside a container of the
// same image, for the kernel view and for the flattened fallback alike.
func TestFileViewsMatchContainer(t *testing.T) {
	x := requireSandbox(t)
	secret := filepath.Join(t.TempDir(), "host-secret")
	if err := os.WriteFile(secret, []byte("HOST SECRET"), 0o644); err != nil {
		t.Fatal(err)
	}
	cases := hostileCases(secret)
	img := evilImage(t, cases)
	var paths []string
	for _, c := range cases {
		paths = append(paths, c.paths...)
	}
	want := containerSees(t, x, img, paths)
	if got := want["/c11/fifo"]; len(got) < 2 || !strings.HasPrefix(got[1], "lstat 11a4 ") {
		t.Fatalf("the container sees /c11/fifo as %q, want a FIFO: the case tests nothing", got)
	}

	ctx := context.Background()
	kv, err := x.rootView(ctx, Target{Platform: mustPlatform(t, "linux/"+runtime.GOARCH), Image: img})
	if err != nil {
		t.Fatal(err)
	}
	defer kv.close()
	if kv.kind() != "kernel overlay" {
		t.Logf("kernel view: %s", kv.kind())
	}
	// The overlay lives in a private mount namespace: the host's mount
	// table never shows it.
	if mounts := hostMounts(t); x.tmp == "" || strings.Contains(mounts, x.tmp) {
		t.Errorf("the file tests' overlay is mounted in the host's namespace:\n%s", mounts)
	}
	flat, err := newFlatFS(ctx, img)
	if err != nil {
		t.Fatal(err)
	}
	// Where overlayfs cannot stack, the sandbox and the file tests both
	// use snapshot's copy of the layers; it must agree too.
	layers, err := img.Layers()
	if err != nil {
		t.Fatal(err)
	}
	lowers, err := x.snap.Prepare(ctx, layers)
	if err != nil {
		t.Fatal(err)
	}
	copied, err := mountKernelFS(ctx, lowers, snapshot.MountOptions{TempDir: t.TempDir(), Copy: true})
	if err != nil {
		t.Fatal(err)
	}
	defer copied.close()
	// The same through Run and CST files, as `manyarch test` reads them:
	// tests written from what the container saw pass with the kernel view
	// (the sandbox executor) and with the flattened layers (none).
	cfg := mustParse(t, structureTestsFrom(t, paths, want))
	if len(cfg.FileExistenceTests) != len(paths) || len(cfg.FileContentTests) < 10 {
		t.Fatalf("%d existence and %d content tests from %d paths", len(cfg.FileExistenceTests), len(cfg.FileContentTests), len(paths))
	}
	for _, ex := range []Executor{x, nil} {
		r := run(t, img, ex, []*Config{cfg})
		for i, tt := range r.Tests {
			if res := r.Results[i][0]; res.Status != StatusPass {
				t.Errorf("executor %T: %s: %s, want pass (the container saw it so): %+v", ex, tt.Name, res.Status, res.Failures)
			}
		}
	}

	for _, v := range []fileView{kv, flat, copied} {
		for _, c := range cases {
			for _, p := range c.paths {
				got := strings.Join(describe(ctx, v, p), "\n")
				if w := strings.Join(want[p], "\n"); got != w {
					t.Errorf("%s: %s: %s reads\n%s\nthe container sees\n%s", v.kind(), c.name, p, got, w)
				}
				if strings.Contains(got, hex.EncodeToString([]byte("HOST SECRET"))) {
					t.Errorf("%s: %s: %s read the host file %s", v.kind(), c.name, p, secret)
				}
			}
		}
	}
}

// TestKernelViewNeverReadsHostFiles: with the sandbox executor, file tests
// read the kernel's view of the container's root, and no link in the image
// reaches a host file through it.
func TestKernelViewNeverReadsHostFiles(t *testing.T) {
	x := requireSandbox(t)
	rec := newLogRecorder()
	checkNoHostRead(t, x, hostSecret(t), WithLogger(slog.New(rec)))
	if !rec.has("view=kernel overlay") {
		t.Errorf("file tests did not log that they read the kernel overlay: %q", rec.attrs)
	}
}

// hostMounts returns the mount table of a thread in the test's (the
// host's) mount namespace.
func hostMounts(t *testing.T) string {
	t.Helper()
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	b, err := os.ReadFile("/proc/thread-self/mountinfo")
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestKernelViewCleansUp: closing the view unmounts the overlay and
// removes its directories.
func TestKernelViewCleansUp(t *testing.T) {
	testutil.RequireRoot(t)
	tmp := t.TempDir()
	x, err := NewSandboxExecutor(filepath.Join(t.TempDir(), "snapshots"), tmp, "auto", nil)
	if err != nil {
		t.Fatal(err)
	}
	img := image(t, "linux/arm64", v1.Config{}, layer(t, file("f", "x", 0o644)))
	v, err := x.rootView(context.Background(), Target{Platform: mustPlatform(t, "linux/arm64"), Image: img})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := v.stat("/f", false); err != nil {
		t.Fatalf("stat(/f) = %v", err)
	}
	if err := v.close(); err != nil {
		t.Fatal(err)
	}
	if err := v.close(); err != nil {
		t.Errorf("second close = %v, want nil", err)
	}
	left, _ := os.ReadDir(tmp)
	for _, e := range left {
		t.Errorf("left behind in the temporary directory: %s", e.Name())
	}
	if mounts := hostMounts(t); strings.Contains(mounts, tmp) {
		t.Errorf("still mounted:\n%s", mounts)
	}
}

// structureTestsFrom writes a CST file whose tests state what the
// container saw of paths: existence, permissions, owner, executable bit
// (lstat, as fileExistenceTests look) and content (followed).
func structureTestsFrom(t *testing.T, paths []string, seen map[string][]string) string {
	t.Helper()
	var exist, content strings.Builder
	for i, p := range paths {
		var lstat []string
		var data string
		hasData := false
		for _, line := range seen[p] {
			f := strings.Fields(line)
			switch {
			case f[0] == "lstat" && len(f) == 5:
				lstat = f[1:]
			case f[0] == "content" && len(f) == 2 && f[1] != "none":
				b, err := hex.DecodeString(f[1])
				if err != nil {
					t.Fatal(err)
				}
				data, hasData = string(b), true
			case line == "content " || line == "content":
				hasData = true // an empty file
			}
		}
		if lstat == nil {
			fmt.Fprintf(&exist, "- {name: 'absent %d', path: %q, shouldExist: false}\n", i, p)
		} else {
			var raw uint32
			fmt.Sscanf(lstat[0], "%x", &raw)
			mode := statMode(raw)
			fmt.Fprintf(&exist, "- {name: 'present %d', path: %q, shouldExist: true, permissions: %q, uid: %s, gid: %s", i, p, mode.String(), lstat[1], lstat[2])
			if mode.Perm()&0o111 != 0 {
				exist.WriteString(", isExecutableBy: any")
			}
			exist.WriteString("}\n")
		}
		if hasData {
			fmt.Fprintf(&content, "- {name: 'content %d', path: %q, expectedContents: [%q]}\n", i, p, "^"+regexp.QuoteMeta(data)+"$")
		}
	}
	return "schemaVersion: 2.0.0\nfileExistenceTests:\n" + exist.String() + "fileContentTests:\n" + content.String()
}

// TestKernelViewRemovesStaleDirs: a view's directory (in copy mode a whole
// copy of the image) that a killed run left is removed by the next view;
// one a live run holds locked, or a fresh one, is kept.
func TestKernelViewRemovesStaleDirs(t *testing.T) {
	testutil.RequireRoot(t)
	tmp := t.TempDir()
	old := time.Now().Add(-2 * time.Minute)
	mk := func(name string, mtime time.Time) string {
		d := filepath.Join(tmp, name)
		if err := os.MkdirAll(filepath.Join(d, "copy", "etc"), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.Chtimes(d, mtime, mtime); err != nil {
			t.Fatal(err)
		}
		return d
	}
	stale, live, fresh := mk(viewDirPrefix+"stale", old), mk(viewDirPrefix+"live", old), mk(viewDirPrefix+"fresh", time.Now())
	lock, err := fsutil.TryLockDir(live, true)
	if err != nil {
		t.Fatal(err)
	}
	defer lock.Unlock()
	v, err := mountKernelFS(context.Background(), nil, snapshot.MountOptions{TempDir: tmp})
	if err != nil {
		t.Fatal(err)
	}
	if err := v.close(); err != nil {
		t.Fatal(err)
	}
	for d, want := range map[string]bool{stale: false, live: true, fresh: true} {
		if _, err := os.Stat(d); (err == nil) != want {
			t.Errorf("%s exists = %v, want %v", filepath.Base(d), err == nil, want)
		}
	}
}
