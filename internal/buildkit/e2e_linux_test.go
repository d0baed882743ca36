package buildkit

import (
	"archive/tar"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/containerd/containerd/v2/core/content"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/types"
	bkclient "github.com/moby/buildkit/client"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	specs "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/manyarch/manyarch/internal/builders"
	"github.com/manyarch/manyarch/internal/engine"
	"github.com/manyarch/manyarch/internal/platform"
	"github.com/manyarch/manyarch/internal/progress"
	"github.com/manyarch/manyarch/internal/ref"
	"github.com/manyarch/manyarch/internal/store"
	"github.com/manyarch/manyarch/internal/testutil"
)

// daemon is a buildkitd started by a test, with its own root and socket.
type daemon struct {
	dir  string // its root is dir/root
	addr string
	cmd  *exec.Cmd
	done chan struct{}
}

// startDaemon starts a rootful buildkitd whose OCI worker reports
// platforms; it is stopped when the test ends.
func startDaemon(t *testing.T, platforms ...string) *daemon {
	t.Helper()
	testutil.RequireRoot(t)
	bin := testutil.RequireCommand(t, "buildkitd", "BuildKit v0.34.2 (hack/install-buildkit.sh)")
	runc := testutil.RequireCommand(t, "runc", "runc")
	dir, err := os.MkdirTemp("", "mabk-")
	if err != nil {
		t.Fatal(err)
	}
	sock := filepath.Join(dir, "sock")
	var ps []string
	for _, p := range platforms {
		ps = append(ps, fmt.Sprintf("%q", p))
	}
	cfg := fmt.Sprintf(`root = %q
[grpc]
  address = ["unix://%s"]
[dns]
  nameservers = ["127.0.0.1"]
[worker.oci]
  enabled = true
  binary = %q
  snapshotter = "overlayfs"
  networkMode = "host"
  gc = false
  platforms = [%s]
[worker.containerd]
  enabled = false
`, filepath.Join(dir, "root"), sock, runc, strings.Join(ps, ", "))
	if err := os.WriteFile(filepath.Join(dir, "buildkitd.toml"), []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	log, err := os.Create(filepath.Join(dir, "log"))
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "--config", filepath.Join(dir, "buildkitd.toml"))
	cmd.Stdout, cmd.Stderr = log, log
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	d := &daemon{dir: dir, addr: "unix://" + sock, cmd: cmd, done: make(chan struct{})}
	go func() { cmd.Wait(); log.Close(); close(d.done) }()
	t.Cleanup(func() {
		d.stop()
		// Unmount whatever a killed daemon left, then remove its root.
		exec.Command("sh", "-c", "grep -o ' "+dir+"[^ ]*' /proc/self/mounts | sort -r | xargs -r -n1 umount -l").Run()
		os.RemoveAll(dir)
	})
	deadline := time.Now().Add(20 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		c, err := bkclient.New(ctx, d.addr)
		if err == nil {
			_, err = c.ListWorkers(ctx)
			c.Close()
		}
		cancel()
		if err == nil {
			return d
		}
		select {
		case <-d.done:
			b, _ := os.ReadFile(filepath.Join(dir, "log"))
			t.Fatalf("buildkitd exited: %s", b)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("buildkitd did not answer on %s within 20s: %v", d.addr, err)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// stop ends the daemon: SIGTERM, then SIGKILL of its process group.
func (d *daemon) stop() {
	if d.cmd.Process == nil {
		return
	}
	d.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-d.done:
	case <-time.After(10 * time.Second):
		syscall.Kill(-d.cmd.Process.Pid, syscall.SIGKILL)
		<-d.done
	}
}

// kill kills the daemon at once (a machine that dies); killing a dead
// daemon does nothing.
func (d *daemon) kill() {
	syscall.Kill(-d.cmd.Process.Pid, syscall.SIGKILL)
	<-d.done
}

// fixture is a store holding fixtures/busybox:1.35 and a context directory.
type fixture struct {
	env *ref.Env
	st  *store.Store
	ctx string
}

func newFixture(t *testing.T, dockerfile string) *fixture {
	t.Helper()
	fx := testutil.RequireFixtures(t)
	ctx := context.Background()
	env := &ref.Env{StoreRoot: t.TempDir()}
	t.Cleanup(func() { env.Close() })
	src, err := ref.NewOCIArchive(fx.Busybox, "")
	if err != nil {
		t.Fatal(err)
	}
	a, err := ref.Read(ctx, env, src)
	if err != nil {
		t.Fatal(err)
	}
	dst, _ := ref.NewStore("fixtures/busybox:1.35")
	if _, err := ref.Write(ctx, env, dst, a); err != nil {
		t.Fatal(err)
	}
	st, err := env.Store(ctx)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "Dockerfile"), []byte(dockerfile), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "a.txt"), []byte("hello from the context\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "ignored.txt"), []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, ".dockerignore"), []byte("ignored.txt\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	return &fixture{env: env, st: st, ctx: dir}
}

func (f *fixture) request(t *testing.T, tag string, platforms ...string) *engine.Request {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(f.ctx, "Dockerfile"))
	if err != nil {
		t.Fatal(err)
	}
	return &engine.Request{Dockerfile: b, DockerfileName: "Dockerfile", ContextDir: f.ctx,
		Platforms: mustPlatforms(t, platforms...), Tags: []string{tag}}
}

// recorder collects progress events.
type recorder struct {
	mu     sync.Mutex
	events []progress.Event
	onRun  func(progress.Event)
}

func (r *recorder) event(e progress.Event) {
	r.mu.Lock()
	r.events = append(r.events, e)
	f := r.onRun
	r.mu.Unlock()
	if f != nil && e.Status == progress.StatusRunning {
		f(e)
	}
}

// nodesOf returns, per platform, the nodes whose events named it.
func (r *recorder) nodesOf() map[string]map[string]bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := map[string]map[string]bool{}
	for _, e := range r.events {
		if e.Platform == "" {
			continue
		}
		node, _, _ := strings.Cut(e.ID, "/")
		if out[e.Platform] == nil {
			out[e.Platform] = map[string]bool{}
		}
		out[e.Platform][node] = true
	}
	return out
}

// files returns the regular files of img's top layer with their content.
func topFiles(t *testing.T, img v1.Image) map[string]string {
	t.Helper()
	ls, err := img.Layers()
	if err != nil {
		t.Fatal(err)
	}
	rc, err := ls[len(ls)-1].Uncompressed()
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	out := map[string]string{}
	tr := tar.NewReader(rc)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
		if h.Typeflag == tar.TypeReg {
			b, _ := io.ReadAll(io.LimitReader(tr, 1<<20))
			out[strings.TrimPrefix(h.Name, "./")] = string(b)
		}
	}
}

func imageFor(t *testing.T, st *store.Store, tag string, p specs.Platform) v1.Image {
	t.Helper()
	ctx := context.Background()
	d, err := st.Resolve(ctx, tag)
	if err != nil {
		t.Fatalf("resolving %s: %v", tag, err)
	}
	a, err := ref.FromStore(ctx, st, d)
	if err != nil {
		t.Fatal(err)
	}
	sel, err := ref.Select(ctx, a, []specs.Platform{p})
	if err != nil {
		t.Fatal(err)
	}
	return sel.(v1.Image)
}

const copyDockerfile = `ARG BASE=fixtures/busybox:1.35
FROM ${BASE}
COPY . /ctx/
LABEL org.example.engine=any
`

// TestTwoNodes builds on two daemons, one for linux/amd64 and one for
// linux/arm64 and linux/arm/v7, and compares with the native engine.
func TestTwoNodes(t *testing.T) {
	b, _, _ := farm(t)
	f := newFixture(t, copyDockerfile)
	rec := &recorder{}
	req := f.request(t, "bk/app:1", "linux/amd64", "linux/arm64", "linux/arm/v7")
	req.Progress = rec.event
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	res, err := New(Options{Builder: b, Env: f.env}).Build(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Platforms) != 3 || res.Index.Digest.String() == "" {
		t.Fatalf("result = %+v, want 3 platforms and an index", res)
	}
	// The index in the store has the three platforms in order.
	d, err := f.st.Resolve(ctx, "bk/app:1")
	if err != nil || d.Digest != res.Index.Digest {
		t.Fatalf("bk/app:1 = %v, %v, want the index %s", d.Digest, err, res.Index.Digest)
	}
	idx, err := f.st.Index(ctx, d.Digest)
	if err != nil {
		t.Fatal(err)
	}
	im, _ := idx.IndexManifest()
	var got []string
	for _, m := range im.Manifests {
		got = append(got, platform.Format(platform.Normalize(specs.Platform{OS: m.Platform.OS, Architecture: m.Platform.Architecture, Variant: m.Platform.Variant})))
	}
	if strings.Join(got, ",") != "linux/amd64,linux/arm64,linux/arm/v7" {
		t.Fatalf("index platforms = %v", got)
	}
	// Each node did its platforms' work, and only those.
	nodes := rec.nodesOf()
	want := map[string]string{"linux/amd64": "farm0", "linux/arm64": "farm1", "linux/arm/v7": "farm1"}
	for p, n := range want {
		if len(nodes[p]) != 1 || !nodes[p][n] {
			t.Errorf("%s was built by %v, want %s only", p, nodes[p], n)
		}
	}
	// Trees and configs: the native engine's build of the same request has
	// the same top layer (same diff ID) and the same config but for times.
	native := engine.NewNative(engine.NativeOptions{Env: f.env})
	nreq := f.request(t, "native/app:1", "linux/amd64", "linux/arm64", "linux/arm/v7")
	if _, err := native.Build(ctx, nreq); err != nil {
		t.Fatalf("native build: %v", err)
	}
	for _, pr := range res.Platforms {
		bi := imageFor(t, f.st, "bk/app:1", pr.Platform)
		ni := imageFor(t, f.st, "native/app:1", pr.Platform)
		files := topFiles(t, bi)
		if files["ctx/a.txt"] != "hello from the context\n" || files["ctx/ignored.txt"] != "" {
			t.Errorf("%s: top layer files %v: want ctx/a.txt and not the .dockerignore'd ctx/ignored.txt", platform.Format(pr.Platform), files)
		}
		bc, _ := bi.ConfigFile()
		nc, _ := ni.ConfigFile()
		if bc.Architecture != pr.Platform.Architecture || bc.Config.Labels["org.example.engine"] != "any" {
			t.Errorf("%s: config arch %s labels %v", platform.Format(pr.Platform), bc.Architecture, bc.Config.Labels)
		}
		// Same tree (names, contents); BuildKit keeps the context's file
		// times where the native engine clamps them, so the layer bytes
		// differ (docs/scaling-out.md lists it).
		if nf := topFiles(t, ni); fmt.Sprint(files) != fmt.Sprint(nf) {
			t.Errorf("%s: top layer differs from the native engine's:\n buildkit %v\n native   %v", platform.Format(pr.Platform), files, nf)
		}
		if len(bc.RootFS.DiffIDs) != len(nc.RootFS.DiffIDs) || bc.RootFS.DiffIDs[0] != nc.RootFS.DiffIDs[0] {
			t.Errorf("%s: layers differ from the native engine's (the base's first): %v vs %v", platform.Format(pr.Platform), bc.RootFS.DiffIDs, nc.RootFS.DiffIDs)
		}
		if fmt.Sprint(bc.Config.Env, bc.Config.Cmd, bc.Config.WorkingDir) != fmt.Sprint(nc.Config.Env, nc.Config.Cmd, nc.Config.WorkingDir) {
			t.Errorf("%s: config differs: %v vs %v", platform.Format(pr.Platform), bc.Config, nc.Config)
		}
	}
}

// runDockerfile does its RUN work in a stage on the build platform (each
// node's own: BUILDPLATFORM), as cross-compiling Dockerfiles do, so it
// runs natively on every node, then copies the result into each target
// platform's image.
const runDockerfile = `FROM --platform=$BUILDPLATFORM fixtures/busybox:1.35 AS work
ARG TARGETPLATFORM
RUN i=0; while [ $i -lt 20000 ]; do i=$((i+1)); done; echo "$i $TARGETPLATFORM" > /count
RUN echo step one && echo step two && exit 3
FROM fixtures/busybox:1.35
COPY --from=work /count /count
`

func withoutLine(df string, n int) string {
	lines := strings.Split(df, "\n")
	return strings.Join(append(lines[:n-1:n-1], lines[n:]...), "\n")
}

// farm starts two nodes: farm0 for linux/amd64, farm1 for linux/arm64 and
// linux/arm/v7 (its worker lists linux/amd64 first, so that it is its
// build platform: this machine runs no other natively).
func farm(t *testing.T) (builders.Builder, *daemon, *daemon) {
	n0 := startDaemon(t, "linux/amd64")
	n1 := startDaemon(t, "linux/amd64", "linux/arm64", "linux/arm/v7")
	b, err := builders.New("farm", []builders.Node{
		{Addr: n0.addr, Platforms: []string{"linux/amd64"}},
		{Addr: n1.addr, Platforms: []string{"linux/arm64", "linux/arm/v7"}},
	})
	if err != nil {
		t.Fatal(err)
	}
	return b, n0, n1
}

// TestRunAndFailures: RUN steps on two nodes at once; a failing step names
// node, platform, Dockerfile line, exit status and its log, and tags
// nothing; a platform no node has names every node's platforms.
func TestRunAndFailures(t *testing.T) {
	b, _, n1 := farm(t)
	f := newFixture(t, runDockerfile)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	eng := New(Options{Builder: b, Env: f.env})

	req := f.request(t, "bk/run:1", "linux/amd64", "linux/arm64")
	_, err := eng.Build(ctx, req)
	var se *StepError
	if !errors.As(err, &se) {
		t.Fatalf("Build = %v, want a StepError", err)
	}
	msg := err.Error()
	for _, want := range []string{"Dockerfile:4", "exit status 3", "step two", "RUN echo step one"} {
		if !strings.Contains(msg, want) {
			t.Errorf("error %q lacks %q", msg, want)
		}
	}
	if se.Node.Name != "farm0" && se.Node.Name != "farm1" {
		t.Errorf("failure names node %q", se.Node.Name)
	}
	if _, err := f.st.Resolve(ctx, "bk/run:1"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("a failed build tagged bk/run:1 (%v)", err)
	}

	// Without the failing step, both nodes run their RUN and it is tagged.
	req.Dockerfile = []byte(withoutLine(runDockerfile, 4))
	rec := &recorder{}
	req.Progress = rec.event
	res, err := eng.Build(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	for _, pr := range res.Platforms {
		files := topFiles(t, imageFor(t, f.st, "bk/run:1", pr.Platform))
		if want := "20000 " + platform.Format(pr.Platform) + "\n"; files["count"] != want {
			t.Errorf("%s: /count = %q, want %q", platform.Format(pr.Platform), files["count"], want)
		}
	}
	if nodes := rec.nodesOf(); !nodes["linux/arm64"]["farm1"] || nodes["linux/arm64"]["farm0"] || !nodes["linux/amd64"]["farm0"] || nodes["linux/amd64"]["farm1"] {
		t.Errorf("nodes by platform = %v, want amd64 on farm0 and arm64 on farm1", nodes)
	}

	// A node sending more than MaxExportSize is stopped there.
	small := New(Options{Builder: b, Env: f.env, MaxExportSize: 64 << 10})
	req.Tags = []string{"bk/big:1"}
	req.NoCache = true
	_, err = small.Build(ctx, req)
	var ne *NodeError
	if !errors.As(err, &ne) || !strings.Contains(err.Error(), "passed 65536 bytes") {
		t.Errorf("Build with MaxExportSize 64 KiB = %v, want a NodeError saying the export passed it", err)
	}
	if _, err := f.st.Resolve(ctx, "bk/big:1"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("an over-size export tagged (%v)", err)
	}

	// A platform no node lists.
	req = f.request(t, "bk/none:1", "linux/s390x")
	_, err = eng.Build(ctx, req)
	var pe *PlatformError
	if !errors.As(err, &pe) || !strings.Contains(err.Error(), "farm1 ("+n1.addr+"): linux/amd64, ") {
		t.Errorf("Build(s390x) = %v, want a PlatformError listing farm1's platforms", err)
	}
}

// TestEmulatedRun runs RUN steps of foreign platforms on the nodes, which
// needs the host's binfmt_misc handlers for them (BuildKit uses the host's).
func TestEmulatedRun(t *testing.T) {
	if !hostEmulates("aarch64") || !hostEmulates("arm") {
		t.Skip("needs host binfmt_misc handlers for aarch64 and arm (manyarch binfmt install arm64 arm/v7, as CI does): BuildKit's RUN steps use the host's")
	}
	b, _, _ := farm(t)
	f := newFixture(t, "FROM fixtures/busybox:1.35\nRUN i=0; while [ $i -lt 3000 ]; do i=$((i+1)); done; uname -m > /arch\n")
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	req := f.request(t, "bk/emu:1", "linux/amd64", "linux/arm64", "linux/arm/v7")
	rec := &recorder{}
	req.Progress = rec.event
	res, err := New(Options{Builder: b, Env: f.env}).Build(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"linux/amd64": "x86_64\n", "linux/arm64": "aarch64\n", "linux/arm/v7": "armv7l\n"}
	for _, pr := range res.Platforms {
		p := platform.Format(pr.Platform)
		if got := topFiles(t, imageFor(t, f.st, "bk/emu:1", pr.Platform))["arch"]; got != want[p] {
			t.Errorf("%s: uname -m = %q, want %q", p, got, want[p])
		}
	}
	if nodes := rec.nodesOf(); nodes["linux/arm64"]["farm0"] || nodes["linux/arm/v7"]["farm0"] {
		t.Errorf("nodes by platform = %v: farm0 built an arm platform", nodes)
	}
}

// hostEmulates reports whether an enabled binfmt_misc handler's
// interpreter is QEMU for arch.
func hostEmulates(arch string) bool {
	ents, err := os.ReadDir("/proc/sys/fs/binfmt_misc")
	if err != nil {
		return false
	}
	for _, e := range ents {
		b, err := os.ReadFile(filepath.Join("/proc/sys/fs/binfmt_misc", e.Name()))
		if err != nil || !strings.HasPrefix(string(b), "enabled") {
			continue
		}
		for _, l := range strings.Split(string(b), "\n") {
			if strings.HasPrefix(l, "interpreter ") && (strings.HasSuffix(l, "qemu-"+arch) || strings.HasSuffix(l, "qemu-"+arch+"-static")) {
				return true
			}
		}
	}
	return false
}

// TestNodeFaults: a node stopped before the build fails it before anything
// runs; a node killed mid-build fails it naming the node; a cancelled build
// stops every solve; nothing is tagged in any case.
func TestNodeFaults(t *testing.T) {
	b, _, n1 := farm(t)
	f := newFixture(t, "FROM --platform=$BUILDPLATFORM fixtures/busybox:1.35 AS work\nRUN sleep 20 && touch /done\nFROM fixtures/busybox:1.35\nCOPY --from=work /done /done\n")
	eng := New(Options{Builder: b, Env: f.env, DialTimeout: 5 * time.Second})

	t.Run("cancelled", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		rec := &recorder{}
		var once sync.Once
		rec.onRun = func(e progress.Event) {
			if strings.Contains(e.Name, "RUN sleep") {
				once.Do(cancel)
			}
		}
		req := f.request(t, "bk/cancel:1", "linux/amd64", "linux/arm64")
		req.Progress = rec.event
		start := time.Now()
		_, err := eng.Build(ctx, req)
		if err == nil || !strings.Contains(err.Error(), "cancelled") {
			t.Fatalf("Build = %v, want cancelled", err)
		}
		if d := time.Since(start); d > 15*time.Second {
			t.Errorf("a cancelled build took %s: the solves did not stop", d)
		}
		if _, err := f.st.Resolve(context.Background(), "bk/cancel:1"); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("a cancelled build tagged (%v)", err)
		}
	})

	t.Run("killed mid-build", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		rec := &recorder{}
		var once sync.Once
		rec.onRun = func(e progress.Event) {
			if strings.HasPrefix(e.ID, "farm1/") && strings.Contains(e.Name, "RUN sleep") {
				once.Do(func() { go n1.kill() })
			}
		}
		req := f.request(t, "bk/killed:1", "linux/amd64", "linux/arm64")
		req.Progress = rec.event
		_, err := eng.Build(ctx, req)
		var ne *NodeError
		if !errors.As(err, &ne) || ne.Node.Name != "farm1" || !strings.Contains(err.Error(), n1.addr) {
			t.Fatalf("Build = %v, want a NodeError naming farm1 and its address", err)
		}
		if _, err := f.st.Resolve(context.Background(), "bk/killed:1"); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("a build whose node died tagged (%v)", err)
		}
	})

	t.Run("stopped before", func(t *testing.T) {
		// farm1 is dead (killed above; killed here too, so that this
		// case stands alone): the build fails before farm0 runs anything.
		n1.kill()
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		rec := &recorder{}
		req := f.request(t, "bk/stopped:1", "linux/amd64", "linux/arm64")
		req.Progress = rec.event
		_, err := eng.Build(ctx, req)
		var ne *NodeError
		if !errors.As(err, &ne) || ne.Node.Name != "farm1" || !strings.Contains(err.Error(), "unreachable") || !strings.Contains(err.Error(), n1.addr) {
			t.Fatalf("Build = %v, want farm1 (%s) unreachable", err, n1.addr)
		}
		if len(rec.events) != 0 {
			t.Errorf("%d progress events: a step ran though a node was down", len(rec.events))
		}
	})
}

// stallingStore serves the first stallAfter bytes of every layer-sized
// blob, then stalls until the node stops reading: a base download cut off
// part way, as a Ctrl-C during the fetch leaves it.
type stallingStore struct {
	content.Store
	once    sync.Once
	stalled chan struct{} // closed at the first stall
}

// stallAfter is past the first 1 MiB that BuildKit's copy writes into
// its ingest, so the cut leaves a partial download behind.
const stallAfter = 3 << 19

func (s *stallingStore) ReaderAt(ctx context.Context, desc ocispec.Descriptor) (content.ReaderAt, error) {
	ra, err := s.Store.ReaderAt(ctx, desc)
	if err != nil || ra.Size() < 2*stallAfter {
		return ra, err
	}
	return &stallingReader{ReaderAt: ra, ctx: ctx, s: s}, nil
}

type stallingReader struct {
	content.ReaderAt
	ctx context.Context
	s   *stallingStore
}

func (r *stallingReader) ReadAt(p []byte, off int64) (int, error) {
	if off < stallAfter {
		// A short read without an error: the session's content server
		// sends it and comes back for the rest.
		return r.ReaderAt.ReadAt(p[:min(int64(len(p)), stallAfter-off)], off)
	}
	r.s.once.Do(func() { close(r.s.stalled) })
	select {
	case <-r.ctx.Done():
		return 0, r.ctx.Err()
	case <-time.After(time.Minute):
		return 0, errors.New("stalled for a minute: the node never stopped reading")
	}
}

// TestBuildAfterCancelledFetch: a build cancelled while its node fetches a
// base layer from manyarch's store leaves a partial download in the node's
// content store; the next build of the same base still works. (BuildKit
// resumes such a download at its offset, which its OCI-layout fetcher
// cannot do: "failed to copy: unsupported offset".)
func TestBuildAfterCancelledFetch(t *testing.T) {
	d, b := oneNode(t)
	f := newFixture(t, "FROM fixtures/big:1\nCOPY a.txt /a.txt\n")
	var err error
	// A base whose top layer is 4 MiB of random bytes (gzip keeps it so).
	big, err := random.Layer(4<<20, types.OCILayer)
	if err != nil {
		t.Fatal(err)
	}
	img, err := mutate.AppendLayers(imageFor(t, f.st, "fixtures/busybox:1.35", specs.Platform{OS: "linux", Architecture: "amd64"}), big)
	if err != nil {
		t.Fatal(err)
	}
	dst, _ := ref.NewStore("fixtures/big:1")
	if _, err := ref.Write(context.Background(), f.env, dst, img); err != nil {
		t.Fatal(err)
	}
	logs := &strings.Builder{}
	var logMu sync.Mutex
	eng := New(Options{Builder: b, Env: f.env, Logger: slog.New(slog.NewTextHandler(lockedWriter{&logMu, logs}, nil))})
	ss := &stallingStore{stalled: make(chan struct{})}
	eng.wrapStore = func(cs content.Store) content.Store { ss.Store = cs; return ss }

	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	go func() {
		// Cancel once the node has written the first MiB it read.
		select {
		case <-ss.stalled:
		case <-ctx.Done():
			return
		}
		for i := 0; i < 100 && d.partialDownload() < 1<<20; i++ {
			time.Sleep(100 * time.Millisecond)
		}
		cancel()
	}()
	_, err = eng.Build(ctx, f.request(t, "bk/cut:1", "linux/amd64"))
	select {
	case <-ss.stalled:
	default:
		t.Fatalf("the node never read a base layer from the store (Build = %v)", err)
	}
	if err == nil || !strings.Contains(err.Error(), "cancelled") {
		t.Fatalf("Build = %v, want cancelled", err)
	}

	if n := d.partialDownload(); n < 1<<20 {
		t.Fatalf("after the cancelled build the node holds %d bytes of partial download, want >= 1 MiB", n)
	}
	eng.wrapStore = nil
	ctx, cancel = context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	res, err := eng.Build(ctx, f.request(t, "bk/cut:1", "linux/amd64"))
	if err != nil {
		t.Fatalf("the build after a cancelled base fetch: %v", err)
	}
	if got := topFiles(t, imageFor(t, f.st, "bk/cut:1", res.Platforms[0].Platform))["a.txt"]; got != "hello from the context\n" {
		t.Errorf("a.txt = %q, want the context's", got)
	}
	logMu.Lock()
	defer logMu.Unlock()
	if !strings.Contains(logs.String(), "partial base download") {
		t.Errorf("the build did not meet the partial download (logs: %s): the test no longer tests the retry", logs)
	}
}

type lockedWriter struct {
	mu *sync.Mutex
	w  io.Writer
}

func (l lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

// partialDownload is the size of the largest download in the daemon's
// content store that is not complete (an ingest), 0 when none.
func (d *daemon) partialDownload() int64 {
	data, _ := filepath.Glob(filepath.Join(d.dir, "root", "*", "content", "ingest", "*", "data"))
	var n int64
	for _, f := range data {
		if fi, err := os.Stat(f); err == nil && fi.Size() > n {
			n = fi.Size()
		}
	}
	return n
}

// TestOCILayoutBase: a base given as --build-arg BASE=oci:DIR:TAG goes to
// the node as a named OCI-layout context (as buildctl --oci-layout), read
// from the layout, not from manyarch's store or a registry; one named in
// the Dockerfile itself is refused with advice.
func TestOCILayoutBase(t *testing.T) {
	_, b := oneNode(t)
	f := newFixture(t, "ARG BASE\nFROM ${BASE}\nCOPY a.txt /a.txt\n")
	var err error
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	// The layout holds busybox under the tag v1; the store's copy of it is
	// removed, so only the layout can give it.
	dir := t.TempDir()
	src, _ := ref.NewStore("fixtures/busybox:1.35")
	a, err := ref.Read(ctx, f.env, src)
	if err != nil {
		t.Fatal(err)
	}
	lay, err := ref.Parse("oci:" + dir + ":v1")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ref.Write(ctx, f.env, lay, a); err != nil {
		t.Fatal(err)
	}
	if err := f.st.Untag(ctx, "fixtures/busybox:1.35"); err != nil {
		t.Fatal(err)
	}
	eng := New(Options{Builder: b, Env: f.env})
	req := f.request(t, "bk/oci:1", "linux/amd64")
	req.BuildArgs = map[string]string{"BASE": "oci:" + dir + ":v1"}
	res, err := eng.Build(ctx, req)
	if err != nil {
		t.Fatalf("Build with BASE=oci:%s:v1: %v", dir, err)
	}
	img := imageFor(t, f.st, "bk/oci:1", res.Platforms[0].Platform)
	if got := topFiles(t, img)["a.txt"]; got != "hello from the context\n" {
		t.Errorf("a.txt = %q, want the context's", got)
	}
	cfg, _ := img.ConfigFile()
	if len(cfg.RootFS.DiffIDs) != 2 {
		t.Errorf("image layers %v, want busybox's and the COPY's", cfg.RootFS.DiffIDs)
	}

	req = f.request(t, "bk/oci:2", "linux/amd64")
	req.Dockerfile = []byte("FROM oci:" + dir + ":v1\nCOPY a.txt /a.txt\n")
	_, err = eng.Build(ctx, req)
	if err == nil || !strings.Contains(err.Error(), "through a build argument") {
		t.Errorf("Build with FROM oci:DIR = %v, want advice to use a build argument", err)
	}
}

// oneNode starts a daemon for linux/amd64 and a builder of it alone.
func oneNode(t *testing.T) (*daemon, builders.Builder) {
	d := startDaemon(t, "linux/amd64")
	b, err := builders.New("one", []builders.Node{{Addr: d.addr, Platforms: []string{"linux/amd64"}}})
	if err != nil {
		t.Fatal(err)
	}
	return d, b
}

// phaseRecorder keeps the "buildkit phase" debug records in the order
// they were logged (a phase is logged when it ends).
type phaseRecorder struct {
	mu     sync.Mutex
	phases []string // "NODE: PHASE"
}

func (p *phaseRecorder) Enabled(context.Context, slog.Level) bool { return true }
func (p *phaseRecorder) WithAttrs([]slog.Attr) slog.Handler       { return p }
func (p *phaseRecorder) WithGroup(string) slog.Handler            { return p }
func (p *phaseRecorder) Handle(_ context.Context, r slog.Record) error {
	if r.Message != "buildkit phase" {
		return nil
	}
	var node, phase string
	r.Attrs(func(a slog.Attr) bool {
		switch a.Key {
		case "node":
			node = a.Value.String()
		case "phase":
			phase = a.Value.String()
		}
		return true
	})
	p.mu.Lock()
	p.phases = append(p.phases, node+": "+phase)
	p.mu.Unlock()
	return nil
}

func (p *phaseRecorder) index(s string) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	for i, x := range p.phases {
		if x == s {
			return i
		}
	}
	return -1
}

// TestImportWhileOthersBuild: a node's images go into the store as soon
// as that node has sent them, while a slower node still builds, not after
// every node has finished.
func TestImportWhileOthersBuild(t *testing.T) {
	b, _, _ := farm(t)
	f := newFixture(t, `FROM --platform=$BUILDPLATFORM fixtures/busybox:1.35 AS work
ARG TARGETARCH
RUN if [ "$TARGETARCH" = arm64 ]; then sleep 4; fi; echo $TARGETARCH > /arch
FROM fixtures/busybox:1.35
COPY --from=work /arch /arch
`)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	rec := &phaseRecorder{}
	eng := New(Options{Builder: b, Env: f.env, Logger: slog.New(rec)})
	res, err := eng.Build(ctx, f.request(t, "bk/stream:1", "linux/amd64", "linux/arm64"))
	if err != nil {
		t.Fatal(err)
	}
	for _, pr := range res.Platforms {
		if got, want := topFiles(t, imageFor(t, f.st, "bk/stream:1", pr.Platform))["arch"], pr.Platform.Architecture+"\n"; got != want {
			t.Errorf("%s: /arch = %q, want %q", platform.Format(pr.Platform), got, want)
		}
	}
	imported := rec.index("farm0: import into the store")
	slowDone := rec.index("farm1: solve (build and OCI export)")
	if imported < 0 || slowDone < 0 || imported > slowDone {
		t.Errorf("phases ended in the order %q: want farm0's import to end before farm1's solve (the slow node) ends", rec.phases)
	}
}
