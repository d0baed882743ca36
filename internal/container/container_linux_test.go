package container_test

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"maps"
	"net"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/tarball"

	"github.com/manyarch/manyarch/internal/cgroup"
	"github.com/manyarch/manyarch/internal/container"
	"github.com/manyarch/manyarch/internal/container/containertest"
	"github.com/manyarch/manyarch/internal/emulation"
	"github.com/manyarch/manyarch/internal/fsutil"
	"github.com/manyarch/manyarch/internal/netns"
	"github.com/manyarch/manyarch/internal/platform"
	"github.com/manyarch/manyarch/internal/sandbox"
	"github.com/manyarch/manyarch/internal/sandbox/sandboxtest"
	"github.com/manyarch/manyarch/internal/snapshot"
	"github.com/manyarch/manyarch/internal/testutil"
)

// busyboxLayers returns busybox for a Debian architecture as one layer.
func busyboxLayers(t *testing.T, debArch string) []v1.Layer {
	t.Helper()
	testutil.RequireRoot(t)
	root := testutil.BusyboxRootfs(t, debArch)
	var b bytes.Buffer
	if err := snapshot.WriteTar(context.Background(), &b, root, snapshot.TarOptions{}); err != nil {
		t.Fatal(err)
	}
	data := b.Bytes()
	l, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(data)), nil })
	if err != nil {
		t.Fatal(err)
	}
	return []v1.Layer{l}
}

func snapshotter(t *testing.T) *snapshot.Snapshotter {
	t.Helper()
	s, err := snapshot.NewSnapshotter(filepath.Join(t.TempDir(), "snapshots"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func prepare(t *testing.T, debArch, p string, mode emulation.Mode, opts ...container.Option) *container.Rootfs {
	t.Helper()
	layers := busyboxLayers(t, debArch)
	pl, err := platform.Parse(p)
	if err != nil {
		t.Fatal(err)
	}
	r, err := container.Prepare(context.Background(), snapshotter(t), layers, pl, mode, opts...)
	if err != nil {
		t.Fatalf("Prepare(%s): %v", p, err)
	}
	return r
}

// sh runs `sh -c script` in run and returns its output.
func sh(t *testing.T, run func(context.Context, sandbox.Spec) (sandbox.Result, error), spec sandbox.Spec, script string) (string, sandbox.Result, error) {
	t.Helper()
	var out bytes.Buffer
	spec.Args = []string{"sh", "-c", script}
	spec.Stdout, spec.Stderr = &out, &out
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	res, err := run(ctx, spec)
	return out.String(), res, err
}

// TestRunIsolatedNative runs on a prepared root: the command sees the
// image, the sandbox's default isolation (sandboxtest's table), and the
// throwaway container leaves nothing in the temporary directory.
func TestRunIsolatedNative(t *testing.T) {
	tmp := t.TempDir()
	r := prepare(t, "amd64", "linux/amd64", emulation.ModeAuto, container.WithTempDir(tmp))
	if r.Emulated() || len(r.Lowers()) != 1 {
		t.Fatalf("Prepare(linux/amd64 on amd64) = emulated %v, %d lowers; want native, 1", r.Emulated(), len(r.Lowers()))
	}
	out, res, err := sh(t, r.Run, sandbox.Spec{}, "uname -m; "+sandboxtest.Probe(-1))
	if err != nil || res.ExitCode != 0 {
		t.Fatalf("Run = %+v, %v\n%s", res, err, out)
	}
	arch, probe, _ := strings.Cut(out, "\n")
	if arch != "x86_64" {
		t.Errorf("uname -m = %q, want x86_64", arch)
	}
	sandboxtest.Check(t, probe, sandboxtest.Default(-1))
	if ents, _ := os.ReadDir(tmp); len(ents) != 0 {
		t.Errorf("Run left %d entries in the temporary directory (%s...)", len(ents), ents[0].Name())
	}
}

// TestRunEmulated runs arm64 busybox under the emulation Prepare plans:
// uname -m is aarch64, and private emulation registers its handler
// inside the container only.
func TestRunEmulated(t *testing.T) {
	testutil.RequireCommand(t, "qemu-aarch64-static", "qemu-user-static")
	for _, mode := range []emulation.Mode{emulation.ModeAuto, emulation.ModePrivate} {
		t.Run(string(mode), func(t *testing.T) {
			if mode == emulation.ModePrivate {
				if err := emulation.PrivateSupported(); err != nil {
					t.Skipf("private binfmt_misc: %v", err)
				}
			}
			r := prepare(t, "arm64", "linux/arm64", mode)
			if !r.Emulated() {
				t.Fatalf("Prepare(linux/arm64, %s) = native on this host", mode)
			}
			out, res, err := sh(t, r.Run, sandbox.Spec{}, "uname -m")
			if err != nil || res.ExitCode != 0 || out != "aarch64\n" {
				t.Fatalf("Run(uname -m) on linux/arm64 (%s) = %q, %+v, %v; want aarch64", r.Emulation(), out, res, err)
			}
		})
	}
}

// TestContainerSharesWrites: runs in one container see each other's
// writes, and Diff is the change as a layer; another container does not
// see them.
func TestContainerSharesWrites(t *testing.T) {
	r := prepare(t, "amd64", "linux/amd64", emulation.ModeAuto, container.WithTempDir(t.TempDir()))
	c, err := r.NewContainer()
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if out, res, err := sh(t, c.Run, sandbox.Spec{}, "echo kept > /etc/marker && rm /bin/true"); err != nil || res.ExitCode != 0 {
		t.Fatalf("Run(write) = %+v, %v\n%s", res, err, out)
	}
	if out, _, err := sh(t, c.Run, sandbox.Spec{}, "cat /etc/marker; ls /bin/true 2>&1 || echo gone"); err != nil || !strings.Contains(out, "kept") || !strings.Contains(out, "gone") {
		t.Fatalf("second Run in the container = %q, %v; want the first run's marker and /bin/true gone", out, err)
	}
	if out, _, err := sh(t, r.Run, sandbox.Spec{}, "cat /etc/marker 2>&1 || echo absent"); err != nil || !strings.Contains(out, "absent") {
		t.Fatalf("Run in another container = %q, %v; want no marker", out, err)
	}
	if c.Copied() {
		t.Fatal("the container copied the layers where overlay works")
	}
	names := diffNames(t, c)
	if !names["etc/marker"] || !names["bin/.wh.true"] {
		t.Errorf("Diff = %v; want etc/marker and the whiteout bin/.wh.true", names)
	}
}

func diffNames(t *testing.T, c *container.Container) map[string]bool {
	t.Helper()
	var b bytes.Buffer
	if err := c.Diff(context.Background(), &b, snapshot.TarOptions{}); err != nil {
		t.Fatalf("Diff: %v", err)
	}
	names := map[string]bool{}
	tr := tar.NewReader(&b)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		names[strings.TrimSuffix(h.Name, "/")] = true
	}
	return names
}

// TestOverlayRefusedFallsBackToCopy: with the containers' directories on
// an overlay (manyarch in a container), the sandbox's overlay mount is
// refused with a *sandbox.OverlayError and the container runs on a copy
// of the layers instead: writes are shared between its runs, Diff is the
// same change, the image's layer directories stay untouched, and a later
// container of the same root copies at once.
func TestOverlayRefusedFallsBackToCopy(t *testing.T) {
	tmp := containertest.OverlayRefusingDir(t, "")
	var logs testutil.SyncBuffer
	r := prepare(t, "amd64", "linux/amd64", emulation.ModeAuto, container.WithTempDir(tmp),
		container.WithLogger(slogTo(&logs)))
	lower := r.Lowers()[0]
	before := treeList(t, lower)

	// The sandbox alone refuses this overlay: the fallback is needed.
	up, work := filepath.Join(tmp, "u"), filepath.Join(tmp, "w")
	os.Mkdir(up, 0o755)
	os.Mkdir(work, 0o755)
	_, _, err := sh(t, sandbox.Run, sandbox.Spec{Overlay: &sandbox.Overlay{Lower: r.Lowers(), Upper: up, Work: work}}, "true")
	var oe *sandbox.OverlayError
	if !errors.As(err, &oe) {
		t.Fatalf("sandbox.Run(upper on an overlay) = %v; want a *sandbox.OverlayError (the test's premise)", err)
	}

	c, err := r.NewContainer()
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	out, res, err := sh(t, c.Run, sandbox.Spec{}, "echo copied > /etc/marker; rm /bin/true; echo ran")
	if err != nil || res.ExitCode != 0 || out != "ran\n" {
		t.Fatalf("Run(upper on an overlay) = %q, %+v, %v; want it to run on a copy", out, res, err)
	}
	if !c.Copied() {
		t.Fatal("Copied() = false after the overlay was refused")
	}
	if out, _, err := sh(t, c.Run, sandbox.Spec{}, "cat /etc/marker"); err != nil || out != "copied\n" {
		t.Fatalf("second Run on the copy = %q, %v; want the first run's write", out, err)
	}
	// The same runs in an overlay container change the same paths.
	ro := prepare(t, "amd64", "linux/amd64", emulation.ModeAuto, container.WithTempDir(t.TempDir()))
	co, err := ro.NewContainer()
	if err != nil {
		t.Fatal(err)
	}
	defer co.Close()
	sh(t, co.Run, sandbox.Spec{}, "echo copied > /etc/marker; rm /bin/true; echo ran")
	sh(t, co.Run, sandbox.Spec{}, "cat /etc/marker")
	names, want := diffNames(t, c), diffNames(t, co)
	if !names["etc/marker"] || !names["bin/.wh.true"] || !maps.Equal(names, want) {
		t.Errorf("Diff of the copy = %v; want etc/marker, bin/.wh.true and the same paths as on an overlay: %v", names, want)
	}
	if got := strings.Count(logs.String(), "overlay root refused"); got != 1 {
		t.Errorf("the fallback was logged %d times, want once:\n%s", got, logs.String())
	}
	out, _, err = sh(t, r.Run, sandbox.Spec{}, "ls /etc/marker 2>&1 || echo absent")
	if err != nil || !strings.Contains(out, "absent") {
		t.Errorf("Run in a second container = %q, %v; want its own copy, without the marker", out, err)
	}
	if got := strings.Count(logs.String(), "overlay root refused"); got != 1 {
		t.Errorf("a later container tried the overlay again (logged %d times)", got)
	}
	if after := treeList(t, lower); after != before {
		t.Errorf("the image's layer directory changed:\nbefore:\n%s\nafter:\n%s", before, after)
	}
}

// TestStartService starts busybox httpd as a service in a private network
// with a published port and a cgroup, as service tests do: Start returns
// once it runs, it answers through the port, its init is in the cgroup
// and its own network namespace, Kill stops it, and nothing is left:
// link, slot lock, container directory.
func TestStartService(t *testing.T) {
	testutil.RequireCommand(t, "ip", "iproute2")
	testutil.RequireCommand(t, "nsenter", "util-linux")
	tmp := t.TempDir()
	r := prepare(t, "amd64", "linux/amd64", emulation.ModeAuto, container.WithTempDir(tmp))
	port := freePort(t)
	px, err := netns.Listen([]netns.Port{{HostIP: netip.MustParseAddr("127.0.0.1"), HostPort: port, ContainerPort: 8080, Spec: "test"}})
	if err != nil {
		t.Fatal(err)
	}
	defer px.Close()
	mem, err := cgroup.NewMemory(256 << 20)
	if err != nil {
		t.Skipf("needs a memory cgroup: %v", err)
	}
	defer mem.Remove()

	var out testutil.SyncBuffer
	var calledStarted bool
	p, err := r.Start(context.Background(), sandbox.Spec{
		Args:    []string{"sh", "-c", "mkdir -p /www && echo served > /www/index.html && exec httpd -f -p 8080 -h /www"},
		Network: sandbox.NetworkPrivate, Publish: px, Cgroup: mem.Dir(),
		Stdout: &out, Stderr: &out, StopTimeout: 5 * time.Second,
		Started: func(sandbox.Started) { calledStarted = true },
	})
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	stopped := false
	defer func() {
		if !stopped {
			p.Kill(syscall.SIGKILL)
			p.Wait()
		}
	}()
	if p.Pid() <= 0 || !p.Address().IsValid() || !netns.Subnet.Contains(p.Address()) || !calledStarted {
		t.Fatalf("started process: pid %d, address %v, Spec.Started called %v; want a pid, an address in %s, true", p.Pid(), p.Address(), calledStarted, netns.Subnet)
	}
	link := netns.LinkOf(p.Address())
	if cg, err := os.ReadFile("/proc/" + strconv.Itoa(p.Pid()) + "/cgroup"); err != nil || !strings.Contains(string(cg), strings.TrimPrefix(filepath.Base(mem.Dir()), "/")) {
		t.Errorf("/proc/%d/cgroup = %q, %v; want the Spec's cgroup %s", p.Pid(), cg, err, mem.Dir())
	}
	if a, b := nsOf(t, os.Getpid()), nsOf(t, p.Pid()); a == b {
		t.Errorf("the container's init shares the host's network namespace %s", a)
	}
	body, err := httpGet("http://127.0.0.1:" + strconv.Itoa(int(port)) + "/")
	if err != nil || body != "served\n" {
		t.Fatalf("GET through the published port = %q, %v\n%s", body, err, out.String())
	}
	if err := p.Kill(syscall.SIGTERM); err != nil {
		t.Fatalf("Kill(SIGTERM): %v", err)
	}
	res, err := p.Wait()
	stopped = true
	if err != nil || !res.Stopped {
		t.Fatalf("Wait after SIGTERM = %+v, %v; want a stop", res, err)
	}
	if err := p.Kill(syscall.SIGTERM); !errors.Is(err, os.ErrProcessDone) {
		t.Errorf("Kill after Wait = %v, want os.ErrProcessDone", err)
	}
	if ifs, _ := net.Interfaces(); hasLink(ifs, link) {
		t.Errorf("link %s left on the host after Wait", link)
	}
	if ents, _ := os.ReadDir(tmp); len(ents) != 0 {
		t.Errorf("Start left %d entries in the temporary directory after Wait", len(ents))
	}
}

// TestStartFailures: a command that is not there fails Start with the
// sandbox's *ExecError, a container-set field is refused, and SIGKILL
// ends a service at once as a stop.
func TestStartFailures(t *testing.T) {
	r := prepare(t, "amd64", "linux/amd64", emulation.ModeAuto, container.WithTempDir(t.TempDir()))
	_, err := r.Start(context.Background(), sandbox.Spec{Args: []string{"no-such-command"}})
	var ee *sandbox.ExecError
	if !errors.As(err, &ee) || ee.Code != 127 {
		t.Errorf("Start(no-such-command) = %v; want a *sandbox.ExecError with code 127", err)
	}
	if _, err := r.Start(context.Background(), sandbox.Spec{Args: []string{"true"}, RootDir: "/"}); err == nil {
		t.Error("Start(Spec.RootDir set) = nil error; want the container to refuse a root it did not set")
	}
	p, err := r.Start(context.Background(), sandbox.Spec{Args: []string{"sleep", "100"}})
	if err != nil {
		t.Fatal(err)
	}
	t0 := time.Now()
	p.Kill(syscall.SIGKILL)
	res, err := p.Wait()
	if err != nil || !res.Stopped || time.Since(t0) > 5*time.Second {
		t.Errorf("Wait after SIGKILL = %+v, %v after %v; want a stop at once", res, err, time.Since(t0))
	}
	// A command that ends at once still started.
	p, err = r.Start(context.Background(), sandbox.Spec{Args: []string{"true"}})
	if err != nil {
		t.Fatalf("Start(true) = %v", err)
	}
	if res, err := p.Wait(); err != nil || res.ExitCode != 0 {
		t.Errorf("Wait(true) = %+v, %v", res, err)
	}
}

func nsOf(t *testing.T, pid int) string {
	t.Helper()
	l, err := os.Readlink("/proc/" + strconv.Itoa(pid) + "/ns/net")
	if err != nil {
		t.Fatal(err)
	}
	return l
}

func hasLink(ifs []net.Interface, name string) bool {
	for _, i := range ifs {
		if i.Name == name {
			return true
		}
	}
	return false
}

func freePort(t *testing.T) uint16 {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return uint16(ln.Addr().(*net.TCPAddr).Port)
}

// httpGet gets url until it answers 200, for at most 20 s.
func httpGet(url string) (string, error) {
	c := &http.Client{Timeout: 3 * time.Second}
	var err error
	for deadline := time.Now().Add(20 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		var resp *http.Response
		if resp, err = c.Get(url); err == nil {
			b, rerr := io.ReadAll(resp.Body)
			resp.Body.Close()
			if rerr == nil && resp.StatusCode == 200 {
				return string(b), nil
			}
			err = rerr
		}
	}
	return "", err
}

// treeList lists the paths under dir with their modes and sizes.
func treeList(t *testing.T, dir string) string {
	t.Helper()
	var b strings.Builder
	err := filepath.Walk(dir, func(p string, fi os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		b.WriteString(rel + " " + fi.Mode().String() + " " + strconv.FormatInt(fi.Size(), 10) + "\n")
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return b.String()
}

func slogTo(w io.Writer) *slog.Logger {
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

// TestStaleContainerDirs: NewContainer removes the container directories a
// killed process left (unlocked, older than a minute) and keeps the ones
// in use (locked) or just being made (younger); its own directory stays
// locked until Close.
func TestStaleContainerDirs(t *testing.T) {
	tmp := t.TempDir()
	r := prepare(t, "amd64", "linux/amd64", emulation.ModeAuto, container.WithTempDir(tmp))
	old := time.Now().Add(-2 * time.Minute)
	mk := func(name string, age time.Time) string {
		d := filepath.Join(tmp, "manyarch-container-"+name)
		if err := os.MkdirAll(filepath.Join(d, "upper", "etc"), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.Chtimes(d, age, age); err != nil {
			t.Fatal(err)
		}
		return d
	}
	stale, young, busy := mk("stale", old), mk("young", time.Now()), mk("busy", old)
	f, err := os.Open(busy)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := fsutil.TryLock(f, true); err != nil {
		t.Fatal(err)
	}
	c, err := r.NewContainer()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(stale); !os.IsNotExist(err) {
		t.Errorf("a killed process's container directory %s is still there after NewContainer (%v)", stale, err)
	}
	for _, d := range []string{young, busy} {
		if _, err := os.Stat(d); err != nil {
			t.Errorf("NewContainer removed %s (in use or just made): %v", d, err)
		}
	}
	// Its own directory is locked: another process's sweep leaves it.
	ents, _ := filepath.Glob(filepath.Join(tmp, "manyarch-container-*"))
	for _, d := range ents {
		if d == young || d == busy {
			continue
		}
		g, err := os.Open(d)
		if err != nil {
			t.Fatal(err)
		}
		if fsutil.TryLock(g, true) == nil {
			t.Errorf("the new container's directory %s is not locked", d)
		}
		g.Close()
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
}
