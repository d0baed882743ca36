//go:build unix

package engine

import (
	"archive/tar"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	specs "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/manyarch/manyarch/internal/dockerfile"
	"github.com/manyarch/manyarch/internal/emulation"
	"github.com/manyarch/manyarch/internal/plan"
	"github.com/manyarch/manyarch/internal/platform"
	"github.com/manyarch/manyarch/internal/ref"
	"github.com/manyarch/manyarch/internal/sandbox"
	"github.com/manyarch/manyarch/internal/store"
	"github.com/manyarch/manyarch/internal/testutil"
)

// TestMain makes the re-exec of the test binary the sandbox init, as
// cmd/manyarch does.
func TestMain(m *testing.M) {
	if sandbox.IsInit() {
		os.Exit(sandbox.Init())
	}
	emulation.Init()
	os.Exit(m.Run())
}

var e2ePlatforms = []string{"linux/amd64", "linux/arm64", "linux/arm/v7"}

// e2eEnv makes a store holding fixtures/busybox:1.35, or skips.
func e2eEnv(t testing.TB) *ref.Env {
	t.Helper()
	testutil.RequireRoot(t)
	f := testutil.RequireFixtures(t)
	ctx := context.Background()
	env := &ref.Env{StoreRoot: t.TempDir()}
	t.Cleanup(func() { env.Close() })
	src, err := ref.Parse("oci-archive:" + f.Busybox)
	if err != nil {
		t.Fatal(err)
	}
	a, err := ref.Read(ctx, env, src)
	if err != nil {
		t.Fatal(err)
	}
	dst, _ := ref.Parse("fixtures/busybox:1.35")
	if _, err := ref.Write(ctx, env, dst, a); err != nil {
		t.Fatal(err)
	}
	return env
}

// e2eContext copies testdata/build/all/ctx and adds archive.tar.gz.
func e2eContext(t *testing.T) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "ctx")
	if err := os.CopyFS(dir, os.DirFS("../../testdata/build/all/ctx")); err != nil {
		t.Fatal(err)
	}
	f, err := os.Create(filepath.Join(dir, "archive.tar.gz"))
	if err != nil {
		t.Fatal(err)
	}
	zw := gzip.NewWriter(f)
	tw := tar.NewWriter(zw)
	tw.WriteHeader(&tar.Header{Name: "inside/", Typeflag: tar.TypeDir, Mode: 0o755})
	tw.WriteHeader(&tar.Header{Name: "inside/file", Typeflag: tar.TypeReg, Mode: 0o644, Size: 3})
	tw.Write([]byte("in\n"))
	tw.Close()
	zw.Close()
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	return dir
}

func parsePlatforms(t testing.TB, ps ...string) []specs.Platform {
	out, err := platform.ParseList(ps...)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func e2eRequest(t *testing.T, ctxDir string, ps ...string) *Request {
	df, err := os.ReadFile(filepath.Join(ctxDir, "Dockerfile"))
	if err != nil {
		t.Fatal(err)
	}
	epoch := time.Unix(1700000000, 0).UTC()
	return &Request{Dockerfile: df, DockerfileName: filepath.Join(ctxDir, "Dockerfile"), ContextDir: ctxDir,
		Platforms: parsePlatforms(t, ps...), SourceDateEpoch: &epoch}
}

func TestBuildEveryInstruction(t *testing.T) { // long: one build of every instruction, then a check per instruction
	testutil.Short(t, "builds for three platforms, two under emulation")
	env := e2eEnv(t)
	ctx := context.Background()
	ctxDir := e2eContext(t)
	out := t.TempDir()
	req := e2eRequest(t, ctxDir, e2ePlatforms...)
	req.Tags = []string{"e2e:1"}
	req.Labels = map[string]string{"org.example.cli": "label"}
	req.Annotations = []string{"index:org.example.index=yes", "manifest[linux/arm64]:org.example.arm=yes"}
	req.Outputs = []Output{
		{Type: "oci", Dest: filepath.Join(out, "img.tar"), Attrs: map[string]string{}},
		{Type: "local", Dest: filepath.Join(out, "local"), Attrs: map[string]string{}},
	}
	eng := NewNative(NativeOptions{Env: env})
	res, err := eng.Build(ctx, req)
	if err != nil {
		t.Fatalf("Build: %v", err)
	}
	if len(res.Platforms) != 3 {
		t.Fatalf("Build gave %d platforms, want 3", len(res.Platforms))
	}
	st, _ := env.Store(ctx)
	d, err := st.Resolve(ctx, "e2e:1")
	if err != nil || d.Digest != res.Index.Digest {
		t.Fatalf("Resolve(e2e:1) = %v, %v, want the index %s", d.Digest, err, res.Index.Digest)
	}

	machines := map[string]string{"linux/amd64": "x86_64", "linux/arm64": "aarch64", "linux/arm/v7": "armv7l"}
	arches := map[string]string{"linux/amd64": "amd64", "linux/arm64": "arm64", "linux/arm/v7": "arm"}
	for _, pr := range res.Platforms {
		p := platform.Format(pr.Platform)
		t.Run(p, func(t *testing.T) {
			root := filepath.Join(out, "local", strings.ReplaceAll(p, "/", "_"))
			checkFile(t, root, "out/machine", machines[p]+"\n", 0o644, 0, 0)
			checkFile(t, root, "out/targetarch", arches[p]+"\n", 0o644, 0, 0)
			checkFile(t, root, "out/heredoc.txt", "heredoc\n", 0o644, 0, 0)
			checkFile(t, root, "out/heredoc.link", "heredoc\n", 0o644, 0, 0) // COPY follows a source symlink
			checkFile(t, root, "out/from-bind", "a\n", 0o644, 0, 0)
			checkFile(t, root, "out/interfaces", "1\n", 0o644, 0, 0) // --network=none: loopback only
			checkFile(t, root, "owned/a.txt", "a\n", 0o640, 1000, 1000)
			checkFile(t, root, "nobody/a.txt", "a\n", 0o644, 65534, 65534)
			checkFile(t, root, "nobody/sub/b.txt", "b\n", 0o644, 65534, 65534)
			checkFile(t, root, "linked/b.txt", "b\n", 0o644, 0, 0)
			checkFile(t, root, "linked/c.txt", "c\n", 0o644, 0, 0)
			checkFile(t, root, "excl/a.txt", "a\n", 0o644, 0, 0)
			checkFile(t, root, "unpacked/inside/file", "in\n", 0o644, 0, 0)
			checkFile(t, root, "added/a.txt", "a\n", 0o644, 0, 0)
			checkFile(t, root, "inline.txt", "platform="+p+"\n", 0o644, 0, 0)
			checkDir(t, root, "home/app", 0o755, 1000, 1000)
			checkDir(t, root, "work-copy", 0o755, 0, 0)
			for _, gone := range []string{"excl/README.md", "ignored", "work-copy/greeting.txt", "etc/hostname", "etc/hosts", "etc/resolv.conf"} {
				if _, err := os.Lstat(filepath.Join(root, gone)); err == nil {
					t.Errorf("%s exists, want it absent", gone)
				}
			}

			img := imageFor(t, st, res, pr)
			cf, err := img.ConfigFile()
			if err != nil {
				t.Fatal(err)
			}
			c := cf.Config
			if !cf.Created.Time.Equal(*req.SourceDateEpoch) {
				t.Errorf("created = %v, want SOURCE_DATE_EPOCH %v", cf.Created.Time, *req.SourceDateEpoch)
			}
			if cf.Architecture != pr.Platform.Architecture || cf.Variant != pr.Platform.Variant {
				t.Errorf("config platform %s/%s, want %s", cf.Architecture, cf.Variant, p)
			}
			want := v1.Config{
				User:         "root",
				WorkingDir:   "/home/app",
				Entrypoint:   []string{"/bin/sh", "-c"},
				Cmd:          []string{"cat /out/machine"},
				StopSignal:   "SIGINT",
				Shell:        []string{"/bin/sh", "-ec"},
				OnBuild:      []string{"RUN echo onbuild"},
				ExposedPorts: map[string]struct{}{"8080/tcp": {}, "53/udp": {}},
				Volumes:      map[string]struct{}{"/data": {}},
				Labels:       map[string]string{"org.example.final": "yes", "org.example.cli": "label"},
			}
			if c.User != want.User || c.WorkingDir != want.WorkingDir || !slices.Equal(c.Entrypoint, want.Entrypoint) ||
				!slices.Equal(c.Cmd, want.Cmd) || c.StopSignal != want.StopSignal || !slices.Equal(c.Shell, want.Shell) ||
				!slices.Equal(c.OnBuild, want.OnBuild) || len(c.ExposedPorts) != 2 || len(c.Volumes) != 1 ||
				c.Labels["org.example.final"] != "yes" || c.Labels["org.example.cli"] != "label" || c.Labels["org.example.stage"] != "" {
				t.Errorf("config = %+v, want %+v", c, want)
			}
			if h := c.Healthcheck; h == nil || !slices.Equal(h.Test, []string{"CMD", "true"}) || h.Interval != 30*time.Second || h.Timeout != 3*time.Second {
				t.Errorf("Healthcheck = %+v, want CMD true every 30s, timeout 3s", h)
			}
			layers := 0
			for _, h := range cf.History {
				if !h.EmptyLayer {
					layers++
				}
			}
			if layers != len(cf.RootFS.DiffIDs) {
				t.Errorf("history has %d layer entries, rootfs %d diff IDs", layers, len(cf.RootFS.DiffIDs))
			}
			// base (1) + ARG + 9 COPY/ADD + USER WORKDIR USER EXPOSE VOLUME STOPSIGNAL HEALTHCHECK SHELL ENTRYPOINT CMD LABEL
			if len(cf.History) != 22 {
				t.Errorf("history has %d entries, want 22", len(cf.History))
			}
			m, _ := img.Manifest()
			if got := m.Annotations["org.example.arm"]; (got == "yes") != (p == "linux/arm64") {
				t.Errorf("manifest annotation org.example.arm = %q on %s", got, p)
			}
		})
	}

	// Unchanged: every step comes from the cache and the digests are the same.
	res2, err := eng.Build(ctx, e2eRequestLike(t, req))
	if err != nil {
		t.Fatalf("second Build: %v", err)
	}
	for _, pr := range res2.Platforms {
		for _, s := range pr.Steps {
			if !s.Cached && s.Duration != 0 {
				t.Errorf("second build: step of stage %s on %s ran again (key %s)", s.Stage, platform.Format(pr.Platform), plan.ShortKey(s.Key))
			}
		}
	}
	if res2.Index.Digest != res.Index.Digest {
		t.Errorf("second build index %s, want %s (same inputs, SOURCE_DATE_EPOCH)", res2.Index.Digest, res.Index.Digest)
	}

	if skopeo, err := exec.LookPath("skopeo"); err == nil {
		layout := filepath.Join(t.TempDir(), "layout")
		if b, err := exec.Command(skopeo, "copy", "--all", "oci-archive:"+filepath.Join(out, "img.tar"), "oci:"+layout).CombinedOutput(); err != nil {
			t.Errorf("skopeo copy --all oci-archive: %v\n%s", err, b)
		}
	}
}

func e2eRequestLike(t *testing.T, r *Request) *Request {
	c := *r
	c.Outputs = nil
	return &c
}

func imageFor(t *testing.T, st *store.Store, res *Result, pr PlatformResult) v1.Image {
	t.Helper()
	img, err := st.Image(context.Background(), pr.Manifest.Digest)
	if err != nil {
		t.Fatalf("reading %s from the store: %v", pr.Manifest.Digest, err)
	}
	return img
}

func checkFile(t *testing.T, root, name, content string, mode fs.FileMode, uid, gid int) {
	t.Helper()
	p := filepath.Join(root, name)
	fi, err := os.Lstat(p)
	if err != nil {
		t.Errorf("%s: %v", name, err)
		return
	}
	b, _ := os.ReadFile(p)
	st := fi.Sys().(*syscall.Stat_t)
	if !fi.Mode().IsRegular() || string(b) != content || fi.Mode().Perm() != mode || int(st.Uid) != uid || int(st.Gid) != gid {
		t.Errorf("%s = %v %d:%d %q, want %v %d:%d %q", name, fi.Mode(), st.Uid, st.Gid, b, mode, uid, gid, content)
	}
}

func checkDir(t *testing.T, root, name string, mode fs.FileMode, uid, gid int) {
	t.Helper()
	fi, err := os.Lstat(filepath.Join(root, name))
	if err != nil {
		t.Errorf("%s: %v", name, err)
		return
	}
	st := fi.Sys().(*syscall.Stat_t)
	if !fi.IsDir() || fi.Mode().Perm() != mode || int(st.Uid) != uid || int(st.Gid) != gid {
		t.Errorf("%s = %v %d:%d, want a directory %v %d:%d", name, fi.Mode(), st.Uid, st.Gid, mode, uid, gid)
	}
}

// TestBuildStageLayers checks what RUN layers hold: deletions as whiteouts,
// no mount points left by the sandbox, symlinks kept.
func TestBuildStageLayers(t *testing.T) {
	testutil.Short(t, "runs RUN steps")
	env := e2eEnv(t)
	ctx := context.Background()
	ctxDir := e2eContext(t)
	out := t.TempDir()
	req := e2eRequest(t, ctxDir, "linux/amd64")
	req.Target = "builder"
	req.Outputs = []Output{{Type: "local", Dest: out, Attrs: map[string]string{}}}
	if _, err := NewNative(NativeOptions{Env: env}).Build(ctx, req); err != nil {
		t.Fatalf("Build: %v", err)
	}
	if l, err := os.Readlink(filepath.Join(out, "heredoc.link")); err != nil || l != "/heredoc.txt" {
		t.Errorf("heredoc.link -> %q, %v; want /heredoc.txt", l, err)
	}
	checkFile(t, out, "cache-list", "runs\n", 0o644, 0, 0)
	checkFile(t, out, "opt/bin/tool", "#!/bin/sh\necho tool\n", 0o755, 0, 0)
	for _, gone := range []string{"work/greeting.txt", "gone", "etc/hosts", "etc/resolv.conf", "etc/hostname", "ctx", "cache"} {
		if _, err := os.Lstat(filepath.Join(out, gone)); err == nil {
			t.Errorf("%s exists, want it absent", gone)
		}
	}
}

// TestBuildDockerArchive writes a docker-archive that skopeo reads.
func TestBuildDockerArchive(t *testing.T) {
	skopeo := testutil.RequireCommand(t, "skopeo", "skopeo")
	env := e2eEnv(t)
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "f"), []byte("f\n"), 0o644)
	df := "FROM fixtures/busybox:1.35\nCOPY f /f\nCMD [\"cat\", \"/f\"]\n"
	dest := filepath.Join(t.TempDir(), "img.tar")
	req := &Request{Dockerfile: []byte(df), DockerfileName: "Dockerfile", ContextDir: dir, Platforms: parsePlatforms(t, "linux/arm64"),
		Tags: []string{"docker-out:1"}, Outputs: []Output{{Type: "docker", Dest: dest, Attrs: map[string]string{}}}}
	if _, err := NewNative(NativeOptions{Env: env}).Build(context.Background(), req); err != nil {
		t.Fatalf("Build: %v", err)
	}
	b, err := exec.Command(skopeo, "inspect", "docker-archive:"+dest).CombinedOutput()
	if err != nil || !strings.Contains(string(b), `"Architecture": "arm64"`) {
		t.Errorf("skopeo inspect docker-archive: %v\n%s", err, b)
	}
}

// TestBuildBadInput: each bad input is an error located in the Dockerfile
// that says what to do, and nothing is tagged.
func TestBuildBadInput(t *testing.T) {
	env := e2eEnv(t)
	ctx := context.Background()
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "f"), []byte("f\n"), 0o644)
	os.WriteFile(filepath.Join(dir, ".dockerignore"), []byte("secret\n"), 0o644)
	os.WriteFile(filepath.Join(dir, "secret"), []byte("s\n"), 0o644)
	for _, tc := range []struct {
		name, df  string
		platforms []string
		mode      emulation.Mode
		target    string
		want      []string
	}{
		{name: "unknown instruction", df: "FROM fixtures/busybox:1.35\nRUNN true\n", want: []string{"Dockerfile:2", `unknown instruction: "RUNN"`, "did you mean RUN"}},
		{name: "bad flag", df: "FROM fixtures/busybox:1.35\nCOPY --form=x f /f\n", want: []string{"Dockerfile:2", "--form"}},
		{name: "missing stage", df: "FROM fixtures/busybox:1.35\nCOPY --from=nosuchstage /f /f\n", want: []string{"Dockerfile:1", "nosuchstage"}},
		{name: "missing target", df: "FROM fixtures/busybox:1.35 AS a\n", target: "b", want: []string{`target stage "b" could not be found`}},
		{name: "missing source", df: "FROM fixtures/busybox:1.35\nCOPY nope /nope\n", want: []string{"Dockerfile:2", "nope not found in the build context"}},
		{name: "ignored source", df: "FROM fixtures/busybox:1.35\nCOPY secret /s\n", want: []string{"Dockerfile:2", "excluded by .dockerignore"}},
		{name: "source outside", df: "FROM fixtures/busybox:1.35\nCOPY ../f /f\n", want: []string{"Dockerfile:2", "outside the build context"}},
		{name: "cycle", df: "FROM fixtures/busybox:1.35 AS a\nCOPY --from=b /f /f\nFROM fixtures/busybox:1.35 AS b\nCOPY --from=a /f /f\n", want: []string{"Dockerfile:", "circular dependency"}},
		{name: "base lacks platform", df: "FROM fixtures/busybox:1.35\nRUN true\n", platforms: []string{"linux/riscv64"}, want: []string{"Dockerfile:1", "no image for linux/riscv64", "linux/arm64"}},
		{name: "run fails", df: "FROM fixtures/busybox:1.35\nCOPY f /f\nRUN echo first; echo second >&2; exit 3\n", platforms: []string{"linux/arm64"},
			want: []string{"Dockerfile:3", "exited with status 3", "linux/arm64", "under emulation", "| first", "| second"}},
		{name: "no emulator", df: "FROM fixtures/busybox:1.35\nRUN true\n", platforms: []string{"linux/s390x"}, mode: emulation.ModeNone,
			want: []string{"Dockerfile:2", "linux/s390x"}},
		{name: "docker archive of two platforms", df: "FROM fixtures/busybox:1.35\n", platforms: []string{"linux/amd64", "linux/arm64"},
			want: []string{"type=docker holds one image", "type=oci"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ps := tc.platforms
			if ps == nil {
				ps = []string{"linux/amd64"}
			}
			req := &Request{Dockerfile: []byte(tc.df), DockerfileName: "Dockerfile", ContextDir: dir, Platforms: parsePlatforms(t, ps...),
				Target: tc.target, Tags: []string{"bad:1"}}
			if strings.HasPrefix(tc.name, "docker archive") {
				req.Outputs = []Output{{Type: "docker", Dest: filepath.Join(t.TempDir(), "x.tar"), Attrs: map[string]string{}}}
			}
			_, err := NewNative(NativeOptions{Env: env, Emulation: tc.mode}).Build(ctx, req)
			if err == nil {
				t.Fatalf("Build(%q) succeeded, want an error", tc.df)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("Build(%q) = %v, want it to contain %q", tc.df, err, w)
				}
			}
			if strings.HasPrefix(tc.want[0], "Dockerfile:") {
				var de *dockerfile.Error
				if !errors.As(err, &de) {
					t.Errorf("Build(%q) = %T, want a *dockerfile.Error", tc.df, err)
				}
			}
			st, _ := env.Store(ctx)
			if _, err := st.Resolve(ctx, "bad:1"); !errors.Is(err, store.ErrNotFound) {
				t.Errorf("after a failed build, bad:1 resolves (%v); want no tag", err)
			}
		})
	}
}

// TestBuildSourcesAndMounts covers ADD of a URL with --checksum, secret
// mounts, ONBUILD triggers of a base image, and --push to a registry.
func TestBuildSourcesAndMounts(t *testing.T) {
	env := e2eEnv(t)
	ctx := context.Background()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Last-Modified", "Wed, 01 Feb 2023 00:00:00 GMT")
		w.Write([]byte("downloaded\n"))
	}))
	defer srv.Close()
	sum := sha256.Sum256([]byte("downloaded\n"))
	dir := t.TempDir()
	secret := filepath.Join(dir, "token")
	os.WriteFile(secret, []byte("s3cr3t"), 0o600)
	eng := NewNative(NativeOptions{Env: env})

	// A base with ONBUILD triggers.
	base := "FROM fixtures/busybox:1.35\nONBUILD RUN echo triggered > /onbuild\n"
	if _, err := eng.Build(ctx, &Request{Dockerfile: []byte(base), DockerfileName: "base.Dockerfile", ContextDir: dir,
		Platforms: parsePlatforms(t, "linux/amd64"), Tags: []string{"onbuild-base:1"}}); err != nil {
		t.Fatalf("building the ONBUILD base: %v", err)
	}

	df := "FROM onbuild-base:1\n" +
		"ADD --checksum=sha256:" + hex.EncodeToString(sum[:]) + " " + srv.URL + "/files/data.txt /dl/\n" +
		"RUN --mount=type=secret,id=token cat /run/secrets/token > /seen-secret\n" +
		"RUN --mount=type=secret,id=token,env=TOKEN sh -c 'echo $TOKEN > /seen-env'\n"
	out := t.TempDir()
	req := &Request{Dockerfile: []byte(df), DockerfileName: "Dockerfile", ContextDir: dir, Platforms: parsePlatforms(t, "linux/amd64"),
		Secrets: []Output{{Attrs: map[string]string{"id": "token", "src": secret}}},
		Outputs: []Output{{Type: "local", Dest: out, Attrs: map[string]string{}}}}
	if _, err := exec.LookPath("docker-registry"); err == nil {
		reg := testutil.StartRegistry(t, testutil.RegistryOptions{})
		req.Tags = []string{reg.Ref("built/app:1")}
		req.Push = true
	}
	if _, err := eng.Build(ctx, req); err != nil {
		t.Fatalf("Build: %v", err)
	}
	checkFile(t, out, "onbuild", "triggered\n", 0o644, 0, 0)
	checkFile(t, out, "dl/data.txt", "downloaded\n", 0o600, 0, 0)
	checkFile(t, out, "seen-secret", "s3cr3t", 0o644, 0, 0)
	checkFile(t, out, "seen-env", "s3cr3t\n", 0o644, 0, 0)
	if _, err := os.Lstat(filepath.Join(out, "run/secrets/token")); err == nil {
		t.Errorf("the secret was left in the image")
	}
	if fi, err := os.Stat(filepath.Join(out, "dl/data.txt")); err == nil && fi.ModTime().UTC() != time.Date(2023, 2, 1, 0, 0, 0, 0, time.UTC) {
		t.Errorf("ADD URL mtime = %v, want Last-Modified", fi.ModTime())
	}
	if req.Push {
		r, _ := ref.Parse("docker://" + req.Tags[0])
		if _, err := ref.Read(ctx, env, r); err != nil {
			t.Errorf("reading the pushed image: %v", err)
		}
	}

	// A wrong checksum fails, located.
	bad := strings.Replace(df, hex.EncodeToString(sum[:]), strings.Repeat("0", 64), 1)
	_, err := eng.Build(ctx, &Request{Dockerfile: []byte(bad), DockerfileName: "Dockerfile", ContextDir: dir, Platforms: parsePlatforms(t, "linux/amd64")})
	if err == nil || !strings.Contains(err.Error(), "Dockerfile:2") || !strings.Contains(err.Error(), "checksum mismatch") {
		t.Errorf("Build with a wrong --checksum = %v, want a checksum mismatch at Dockerfile:2", err)
	}
}

// TestBuildCacheInvalidation: editing a file re-runs the steps from the
// COPY that reads it on, and nothing before; an ignored file changes nothing.
func TestBuildCacheInvalidation(t *testing.T) {
	env := e2eEnv(t)
	ctx := context.Background()
	dir := t.TempDir()
	write := func(name, data string) {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("a", "a1\n")
	write("b", "b1\n")
	write("ignored.log", "x\n")
	write(".dockerignore", "*.log\n")
	df := "FROM fixtures/busybox:1.35\nCOPY a /a\nRUN cat /a > /a2\nCOPY . /ctx/\nRUN cat /ctx/b > /b2\nCMD [\"cat\", \"/b2\"]\n"
	eng := NewNative(NativeOptions{Env: env})
	build := func() []bool {
		t.Helper()
		res, err := eng.Build(ctx, &Request{Dockerfile: []byte(df), DockerfileName: "Dockerfile", ContextDir: dir, Platforms: parsePlatforms(t, "linux/amd64")})
		if err != nil {
			t.Fatalf("Build: %v", err)
		}
		var ran []bool
		for _, s := range res.Platforms[0].Steps {
			ran = append(ran, !s.Cached)
		}
		return ran
	}
	// steps: COPY a, RUN, COPY ., RUN, CMD (config: never "ran")
	for _, tc := range []struct {
		name string
		edit func()
		want []bool
	}{
		{"first build", func() {}, []bool{true, true, true, true, true}},
		{"unchanged", func() {}, []bool{false, false, false, false, true}},
		{"ignored file edited", func() { write("ignored.log", "y\n") }, []bool{false, false, false, false, true}},
		{"b edited", func() { write("b", "b2\n") }, []bool{false, false, true, true, true}},
		{"a edited", func() { write("a", "a2\n") }, []bool{true, true, true, true, true}},
		{"mode changed", func() { os.Chmod(filepath.Join(dir, "b"), 0o600) }, []bool{false, false, true, true, true}},
	} {
		tc.edit()
		got := build()
		// config steps report Cached false and Duration 0: count them as not run
		if len(got) == len(tc.want) {
			got[len(got)-1] = true
		}
		if !slices.Equal(got, tc.want) {
			t.Errorf("%s: steps ran %v, want %v", tc.name, got, tc.want)
		}
	}
}

// TestBuildReproducible: with SOURCE_DATE_EPOCH, two builds of the same
// inputs in two clean stores give the same digests on every platform.
func TestBuildReproducible(t *testing.T) {
	testutil.Short(t, "builds twice for two platforms, one emulated")
	ctxDir := filepath.Join(t.TempDir(), "ctx")
	if err := os.CopyFS(ctxDir, os.DirFS("../../testdata/build/multistage/ctx")); err != nil {
		t.Fatal(err)
	}
	var digests [2][]v1.Hash
	for i := range digests {
		env := e2eEnv(t)
		res, err := NewNative(NativeOptions{Env: env}).Build(context.Background(), e2eRequest(t, ctxDir, "linux/amd64", "linux/arm64"))
		if err != nil {
			t.Fatalf("Build %d: %v", i+1, err)
		}
		digests[i] = append(digests[i], res.Index.Digest)
		for _, pr := range res.Platforms {
			digests[i] = append(digests[i], pr.Manifest.Digest)
		}
	}
	if !slices.Equal(digests[0], digests[1]) {
		t.Errorf("two clean builds gave %v and %v, want the same digests", digests[0], digests[1])
	}
}

// TestBuildSharedStage: a stage pinned to $BUILDPLATFORM that uses no
// TARGET* argument runs once, natively, for every target platform.
func TestBuildSharedStage(t *testing.T) {
	env := e2eEnv(t)
	df := "FROM --platform=$BUILDPLATFORM fixtures/busybox:1.35 AS gen\nRUN uname -m > /gen\n" +
		"FROM fixtures/busybox:1.35\nCOPY --from=gen /gen /gen\n"
	out := t.TempDir()
	res, err := NewNative(NativeOptions{Env: env}).Build(context.Background(), &Request{Dockerfile: []byte(df), DockerfileName: "Dockerfile",
		ContextDir: t.TempDir(), Platforms: parsePlatforms(t, e2ePlatforms...), BuildPlatform: parsePlatforms(t, "linux/amd64")[0],
		Outputs: []Output{{Type: "local", Dest: out, Attrs: map[string]string{}}}})
	if err != nil {
		t.Fatalf("Build: %v", err)
	}
	runs := map[string]bool{}
	for _, pr := range res.Platforms {
		for _, s := range pr.Steps {
			if s.Stage == "gen" {
				if s.Emulated {
					t.Errorf("the shared stage ran emulated for %s", platform.Format(pr.Platform))
				}
				runs[s.Key] = true
			}
		}
	}
	if len(runs) != 1 {
		t.Errorf("the shared stage ran %d times, want once", len(runs))
	}
	for _, p := range e2ePlatforms {
		checkFile(t, filepath.Join(out, strings.ReplaceAll(p, "/", "_")), "gen", "x86_64\n", 0o644, 0, 0)
	}
}

// TestBuildCacheExport: a cache exported with type=local from one store
// makes the same build on an empty store fully cached, on every platform.
func TestBuildCacheExport(t *testing.T) {
	cache := filepath.Join(t.TempDir(), "cache")
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "f"), []byte("f\n"), 0o644)
	df := "FROM fixtures/busybox:1.35\nCOPY f /f\nRUN uname -m > /m\nWORKDIR /w\n"
	run := func(env *ref.Env, o Output) *Result {
		t.Helper()
		req := &Request{Dockerfile: []byte(df), DockerfileName: "Dockerfile", ContextDir: dir, Platforms: parsePlatforms(t, "linux/amd64", "linux/arm64")}
		if o.Type != "" && o.Dest != "" {
			req.CacheTo = []Output{o}
		} else {
			req.CacheFrom = []Output{o}
		}
		res, err := NewNative(NativeOptions{Env: env}).Build(context.Background(), req)
		if err != nil {
			t.Fatalf("Build: %v", err)
		}
		return res
	}
	first := run(e2eEnv(t), Output{Type: "local", Dest: cache, Attrs: map[string]string{}})
	time.Sleep(1100 * time.Millisecond) // created times come from the records, not the clock
	second := run(e2eEnv(t), Output{Type: "local", Attrs: map[string]string{"src": cache}})
	if first.Index.Digest != second.Index.Digest {
		t.Errorf("a build from the imported cache gave index %s, the first build %s; want the same image", second.Index.Digest, first.Index.Digest)
	}
	for i, pr := range second.Platforms {
		for j, s := range pr.Steps {
			if s.Duration != 0 || (j < 3 && !s.Cached) {
				t.Errorf("%s step %d: cached %t, ran %v; want it from the imported cache", platform.Format(pr.Platform), j+1, s.Cached, s.Duration)
			}
		}
		if len(pr.Steps) != len(first.Platforms[i].Steps) {
			t.Errorf("%s: %d steps, the first build had %d", platform.Format(pr.Platform), len(pr.Steps), len(first.Platforms[i].Steps))
		}
	}
	// A missing --cache-from directory is a cold build, not an error.
	run(e2eEnv(t), Output{Type: "local", Attrs: map[string]string{"src": filepath.Join(t.TempDir(), "none")}})
}

// TestBuildUnchangedRewritesNothing: an unchanged rebuild (no
// SOURCE_DATE_EPOCH) answers every step from the cache, gives the same
// digests (created times come from the cache records, as BuildKit's do) and
// writes no file of the store again: no blob, no layer directory, no
// index.json (cache records are only touched, for prune's
// least-recently-used order).
func TestBuildUnchangedRewritesNothing(t *testing.T) {
	// The context file is new: without this the first build would not
	// remember its sum (racy) and the rebuild, past the window, would.
	old := racyWindow
	racyWindow = -time.Hour
	t.Cleanup(func() { racyWindow = old })
	env := e2eEnv(t)
	ctx := context.Background()
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "f"), []byte("f\n"), 0o644)
	df := "FROM fixtures/busybox:1.35\nCOPY f /f\nRUN uname -m > /m\nWORKDIR /w\n"
	build := func() *Result {
		t.Helper()
		res, err := NewNative(NativeOptions{Env: env}).Build(ctx, &Request{Dockerfile: []byte(df), DockerfileName: "Dockerfile",
			ContextDir: dir, Platforms: parsePlatforms(t, "linux/amd64", "linux/arm64"), Tags: []string{"same:1"}})
		if err != nil {
			t.Fatalf("Build: %v", err)
		}
		return res
	}
	type stamp struct {
		ino, size int64
		mtime     time.Time
	}
	files := func() map[string]stamp {
		out := map[string]stamp{}
		filepath.WalkDir(env.StoreRoot, func(p string, d fs.DirEntry, err error) error {
			if err != nil || !d.Type().IsRegular() {
				return nil
			}
			fi, err := os.Lstat(p)
			if err != nil {
				return nil
			}
			s := stamp{ino: int64(fi.Sys().(*syscall.Stat_t).Ino), size: fi.Size(), mtime: fi.ModTime()}
			if filepath.Base(filepath.Dir(p)) == "buildcache" {
				s.mtime = time.Time{}
			}
			out[p] = s
			return nil
		})
		return out
	}
	first := build()
	before := files()
	// Another second: created times come from the cache, not the clock.
	time.Sleep(1100 * time.Millisecond)
	second := build()
	after := files()
	for _, pr := range second.Platforms {
		for i, s := range pr.Steps {
			if s.Duration != 0 {
				t.Errorf("%s step %d ran again (%v)", platform.Format(pr.Platform), i+1, s.Duration)
			}
		}
	}
	if first.Index.Digest != second.Index.Digest {
		t.Errorf("index %s, then %s: want the same", first.Index.Digest, second.Index.Digest)
	}
	for p, s := range after {
		rel, _ := filepath.Rel(env.StoreRoot, p)
		if b, ok := before[p]; !ok {
			t.Errorf("the rebuild wrote a new file %s", rel)
		} else if b != s {
			t.Errorf("the rebuild rewrote %s (inode, size, mtime %v, then %v)", rel, b, s)
		}
	}
}
