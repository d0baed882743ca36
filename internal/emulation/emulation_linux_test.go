package emulation

import (
	"context"
	"errors"
	specs "github.com/opencontainers/image-spec/specs-go/v1"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/manyarch/manyarch/internal/platform"
	"github.com/manyarch/manyarch/internal/testutil"
)

func TestMain(m *testing.M) {
	Init() // the private-probe helper re-executes the test binary
	dir, err := os.MkdirTemp("", "manyarch-probe-cache-")
	if err != nil {
		panic(err)
	}
	probeCacheOverride = dir
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

func arch(t testing.TB, s string) platform.Arch {
	t.Helper()
	p, err := platform.Parse(s)
	if err != nil {
		t.Fatal(err)
	}
	a, ok := platform.Lookup(p)
	if !ok {
		t.Fatalf("Lookup(%s) = false", s)
	}
	return a
}

// hostSnapshot is the host's binfmt_misc state: whether it is mounted and
// its handlers.
type hostSnapshot struct {
	mounted  bool
	handlers []Handler
}

func snapshotHost(t testing.TB) hostSnapshot {
	t.Helper()
	s := hostSnapshot{mounted: isMounted(HostMount)}
	if s.mounted {
		hs, err := ReadHandlers(context.Background(), HostMount)
		if err != nil {
			t.Fatal(err)
		}
		s.handlers = hs
	}
	return s
}

func (s hostSnapshot) String() string {
	var b strings.Builder
	if !s.mounted {
		return "not mounted"
	}
	for _, h := range s.handlers {
		b.WriteString(h.Name + "(" + h.Interpreter + "," + h.Flags + ") ")
	}
	return "mounted: " + b.String()
}

func sameHost(a, b hostSnapshot) bool {
	if a.mounted != b.mounted || len(a.handlers) != len(b.handlers) {
		return false
	}
	for i := range a.handlers {
		if !a.handlers[i].Equal(b.handlers[i]) || a.handlers[i].Enabled != b.handlers[i].Enabled {
			return false
		}
	}
	return true
}

// preserveHost records the host's binfmt_misc state and restores it when
// the test ends: handlers the test added are removed, removed ones are
// registered again, and a mount the test made is undone.
func preserveHost(t *testing.T) hostSnapshot {
	t.Helper()
	testutil.RequireRoot(t)
	before := snapshotHost(t)
	t.Cleanup(func() {
		ctx := context.Background()
		if isMounted(HostMount) {
			now, _ := ReadHandlers(ctx, HostMount)
			for _, h := range now {
				if indexName(before.handlers, h.Name) < 0 {
					if err := Unregister(ctx, HostMount, h.Name); err != nil {
						t.Errorf("restoring the host: %v", err)
					}
				}
			}
			now, _ = ReadHandlers(ctx, HostMount)
			for _, h := range before.handlers {
				i := indexName(now, h.Name)
				if i >= 0 && !now[i].Equal(h) {
					_ = Unregister(ctx, HostMount, h.Name)
					i = -1
				}
				if i < 0 {
					if err := Register(ctx, HostMount, h); err != nil {
						t.Errorf("restoring the host: %v", err)
					}
				} else if now[i].Enabled != h.Enabled {
					_ = SetEnabled(ctx, HostMount, h.Name, h.Enabled)
				}
			}
		} else if before.mounted {
			t.Errorf("the test unmounted %s", HostMount)
		}
		if !before.mounted && isMounted(HostMount) {
			if hs, _ := ReadHandlers(ctx, HostMount); len(hs) == 0 {
				_ = unix.Unmount(HostMount, 0)
			}
			_ = os.Remove(mountedMarker)
		}
		if after := snapshotHost(t); !sameHost(before, after) {
			t.Errorf("host binfmt_misc not restored:\nbefore %v\nafter  %v", before, after)
		}
	})
	return before
}

// emulatedArchs are the table rows this host needs an emulator for.
func emulatedArchs() []platform.Arch {
	var out []platform.Arch
	for _, a := range platform.All() {
		if !nativeCandidate(a, platform.Host()) {
			out = append(out, a)
		}
	}
	return out
}

func TestProbeDirectNative(t *testing.T) {
	host := platform.Host()
	for _, a := range platform.All() {
		if !platform.MatchCompat(a.Platform, host) {
			continue
		}
		t.Run(a.Name, func(t *testing.T) {
			r, err := Probe(context.Background(), a, ProbeDirect)
			if err != nil {
				t.Fatalf("Probe(%s, direct) = %v", a, err)
			}
			// The host's own platform always runs; another one it may
			// run (386 on amd64) may be refused by the kernel (IA32
			// emulation off), which must show as exec format error.
			if !r.OK && (platform.Match(a.Platform, host) || !errors.Is(r.Err, syscall.ENOEXEC)) {
				t.Errorf("Probe(%s, direct) = %+v; want OK, or for a compatible platform exec format error", a, r)
			}
		})
	}
}

// TestProbePrivate runs every emulated platform's probe through a private
// binfmt_misc instance, in a chroot holding only the probe, and checks the
// host's registrations are unchanged.
func TestProbePrivate(t *testing.T) {
	if err := PrivateSupported(); err != nil {
		t.Skip(err)
	}
	before := snapshotHost(t)
	for _, a := range emulatedArchs() {
		t.Run(strings.ReplaceAll(a.Name, "/", "-"), func(t *testing.T) {
			if _, err := staticInterpreter(a); err != nil {
				t.Skipf("%v", err)
			}
			r, err := Probe(context.Background(), a, ProbePrivate)
			if err != nil || !r.OK {
				t.Errorf("Probe(%s, private) = %+v, %v; want OK", a, r, err)
			}
		})
	}
	if after := snapshotHost(t); !sameHost(before, after) {
		t.Errorf("host binfmt_misc changed by private probes:\nbefore %v\nafter  %v", before, after)
	}
}

// TestProbePrivateUnprivileged runs the private probe as uid 65534 in a
// user namespace it creates itself, as a non-root user of manyarch would.
func TestProbePrivateUnprivileged(t *testing.T) {
	if os.Getenv("MANYARCH_TEST_UNPRIVILEGED_CHILD") == "1" {
		if os.Geteuid() == 0 {
			t.Fatal("child runs as root")
		}
		r, err := Probe(context.Background(), arch(t, "arm64"), ProbePrivate)
		if err != nil || !r.OK {
			t.Fatalf("Probe(arm64, private) as uid %d = %+v, %v", os.Geteuid(), r, err)
		}
		if _, err := Probe(context.Background(), arch(t, "arm64"), ProbeChroot); !errors.Is(err, ErrNeedsRoot) {
			t.Fatalf("Probe(arm64, chroot) as uid %d = %v, want ErrNeedsRoot", os.Geteuid(), err)
		}
		return
	}
	testutil.RequireRoot(t)
	if err := PrivateSupported(); err != nil {
		t.Skip(err)
	}
	if _, err := staticInterpreter(arch(t, "arm64")); err != nil {
		t.Skip(err)
	}
	// The test binary's directory is private to root: copy it where
	// nobody can read it.
	dir, err := os.MkdirTemp("", "manyarch-emulation-test-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	exe := filepath.Join(dir, "emulation.test")
	data, err := os.ReadFile(self)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(exe, data, 0o755); err != nil {
		t.Fatal(err)
	}
	before := snapshotHost(t)
	cmd := exec.Command(exe, "-test.run=^TestProbePrivateUnprivileged$", "-test.v")
	cmd.Env = []string{"MANYARCH_TEST_UNPRIVILEGED_CHILD=1", "PATH=/usr/bin:/bin", "TMPDIR=/tmp"}
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("child as uid 65534: %v\n%s", err, out)
	}
	if !strings.Contains(string(out), "--- PASS") {
		t.Fatalf("child as uid 65534 did not pass:\n%s", out)
	}
	if after := snapshotHost(t); !sameHost(before, after) {
		t.Errorf("host binfmt_misc changed:\nbefore %v\nafter  %v", before, after)
	}
}

func TestMountPrivateRefusesInitialUserNamespace(t *testing.T) {
	testutil.RequireRoot(t)
	preserveHost(t)
	dir := t.TempDir()
	h := NewHandler(arch(t, "arm64"), "/usr/bin/qemu-aarch64-static")
	h.Name = "manyarch-test-must-not-exist"
	err := MountPrivate(dir, []Handler{h})
	if !errors.Is(err, ErrInitialUserNamespace) {
		t.Errorf("MountPrivate in the initial user namespace = %v, want ErrInitialUserNamespace", err)
	}
	if isMounted(dir) {
		_ = unix.Unmount(dir, 0)
		t.Errorf("MountPrivate mounted %s in the initial user namespace", dir)
	}
}

func TestProbeChrootNeedsRegisteredFFlag(t *testing.T) {
	preserveHost(t)
	ctx := context.Background()
	a := arch(t, "riscv64")
	in, err := staticInterpreter(a)
	if err != nil {
		t.Skip(err)
	}
	if _, err := MountHost(ctx); err != nil {
		t.Fatal(err)
	}
	hs, _ := ReadHandlers(ctx, HostMount)
	for _, h := range hs {
		if h.Enabled && h.Serves(a) {
			t.Skipf("host handler %s already serves %s", h.Name, a)
		}
	}
	// Without the F flag the kernel looks for the interpreter inside the
	// chroot, which holds only the probe: the probe must fail...
	h := NewHandler(a, in.Path)
	h.Name, h.Flags = "manyarch-test-noF-riscv64", "P"
	if err := Register(ctx, HostMount, h); err != nil {
		t.Fatal(err)
	}
	r, err := Probe(ctx, a, ProbeChroot)
	if err != nil || r.OK {
		t.Errorf("Probe(%s, chroot) without F = %+v, %v; want a failed probe", a, r, err)
	}
	// ...and a direct probe passes, with the interpreter visible.
	if r, err := Probe(ctx, a, ProbeDirect); err != nil || !r.OK {
		t.Errorf("Probe(%s, direct) without F = %+v, %v; want OK", a, r, err)
	}
	if err := Unregister(ctx, HostMount, h.Name); err != nil {
		t.Fatal(err)
	}
	// With F it passes.
	h.Name, h.Flags = "manyarch-test-F-riscv64", "F"
	if err := Register(ctx, HostMount, h); err != nil {
		t.Fatal(err)
	}
	if r, err := Probe(ctx, a, ProbeChroot); err != nil || !r.OK {
		t.Errorf("Probe(%s, chroot) with F = %+v, %v; want OK", a, r, err)
	}
	// A live entry reads back as registered.
	got, err := ReadHandlers(ctx, HostMount)
	if err != nil {
		t.Fatal(err)
	}
	if i := indexName(got, h.Name); i < 0 || !got[i].Equal(h) {
		t.Errorf("ReadHandlers after Register(%+v) = %+v", h, got)
	}
}

// TestInstallStatusUninstall installs every emulated platform on the host,
// checks Status reports them emulated with passing chroot probes, removes
// them and checks the host is exactly as before.
func TestInstallStatusUninstall(t *testing.T) {
	before := preserveHost(t)
	ctx := context.Background()
	for _, h := range before.handlers {
		if !h.Owned() {
			t.Skipf("host has other handlers (%s): this test wants a host without them", h.Name)
		}
	}
	all := platform.All()
	// What the kernel runs itself, read before any handler could catch it
	// (386 on an amd64 kernel without IA32 emulation is emulated).
	native := map[string]bool{}
	for _, a := range all {
		native[a.String()] = platform.Match(a.Platform, platform.Host()) ||
			(nativeCandidate(a, platform.Host()) && runsNatively(ctx, a))
	}
	changes, err := Install(ctx, all)
	if err != nil {
		t.Fatalf("Install(all) = %v", err)
	}
	for _, c := range changes {
		want := ActionInstalled
		if native[c.Platforms[0]] {
			want = ActionNative
		}
		if c.Action != want && !(c.Action == ActionUnchanged && want == ActionInstalled) {
			t.Errorf("Install: %v = %s (%s), want %s", c.Platforms, c.Action, c.Detail, want)
		}
	}
	// Installing again changes nothing.
	again, err := Install(ctx, all)
	if err != nil {
		t.Fatalf("Install(all) again = %v", err)
	}
	for _, c := range again {
		if c.Action != ActionUnchanged && c.Action != ActionNative {
			t.Errorf("Install again: %v = %s, want unchanged", c.Platforms, c.Action)
		}
	}
	sts, err := Status(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, st := range sts {
		want := StateEmulated
		if native[st.Platform] {
			want = StateNative
		}
		if st.State != want || st.Probe != ProbePass {
			t.Errorf("Status %s = %s, probe %s %s; want %s, pass", st.Platform, st.State, st.Probe, st.ProbeDetail, want)
		}
		if want == StateEmulated && (st.Handler != HandlerName(st.Arch) || st.Flags != InstallFlags || st.Static == nil || !*st.Static) {
			t.Errorf("Status %s = %+v, want handler %s flags %s static", st.Platform, st, HandlerName(st.Arch), InstallFlags)
		}
	}
	// Plan uses the host handlers now.
	d, err := Plan(ctx, arch(t, "arm/v5").Platform, ModeAuto)
	if err != nil || d.Kind != KindHost || !reflect.DeepEqual(d.Env, []string{"QEMU_CPU=arm926"}) {
		t.Errorf("Plan(arm/v5, auto) = %+v, %v; want host with QEMU_CPU=arm926", d, err)
	}
	if _, err := Uninstall(ctx, all); err != nil {
		t.Fatalf("Uninstall(all) = %v", err)
	}
	if after := snapshotHost(t); !sameHost(before, after) {
		t.Errorf("after install and uninstall:\nbefore %v\nafter  %v", before, after)
	}
}

// unservedArch is the architecture name, with its static QEMU, for a test
// that registers handlers for it on the host: skipped without the
// interpreter or when a handler of the host serves it already. It mounts
// the host's binfmt_misc.
func unservedArch(t *testing.T, name string) (platform.Arch, Interpreter) {
	t.Helper()
	a := arch(t, name)
	in, err := staticInterpreter(a)
	if err != nil {
		t.Skip(err)
	}
	ctx := context.Background()
	if _, err := MountHost(ctx); err != nil {
		t.Fatal(err)
	}
	hs, _ := ReadHandlers(ctx, HostMount)
	for _, h := range hs {
		if h.Serves(a) {
			t.Skipf("host handler %s already serves %s", h.Name, a)
		}
	}
	return a, in
}

func TestInstallForce(t *testing.T) {
	preserveHost(t)
	ctx := context.Background()
	a, in := unservedArch(t, "riscv64")
	foreign := Handler{Name: "zz-manyarch-test-foreign", Enabled: true, Interpreter: in.Path, Flags: "OCF",
		Magic: a.BinfmtMagic, Mask: a.BinfmtMask}
	if err := Register(ctx, HostMount, foreign); err != nil {
		t.Fatal(err)
	}
	c, err := Install(ctx, []platform.Arch{a})
	if err != nil || len(c) != 1 || c[0].Action != ActionKept || !strings.Contains(c[0].Detail, foreign.Name) {
		t.Fatalf("Install(riscv64) with a foreign handler = %+v, %v; want kept, naming it", c, err)
	}
	c, err = Install(ctx, []platform.Arch{a}, WithForce(true))
	if err != nil || len(c) != 1 || c[0].Action != ActionReplaced {
		t.Fatalf("Install(riscv64, force) = %+v, %v; want replaced", c, err)
	}
	hs, _ := ReadHandlers(ctx, HostMount)
	if indexName(hs, foreign.Name) >= 0 || indexName(hs, HandlerName(a)) < 0 {
		t.Errorf("after Install(force): %v; want %s and not %s", hs, HandlerName(a), foreign.Name)
	}
	// Uninstall without force keeps another tool's handler.
	if err := Register(ctx, HostMount, foreign); err != nil {
		t.Fatal(err)
	}
	c, err = Uninstall(ctx, []platform.Arch{a})
	if err != nil || c[0].Action != ActionRemoved || !strings.Contains(c[0].Detail, "still serves") {
		t.Errorf("Uninstall(riscv64) = %+v, %v; want removed, foreign still serving", c, err)
	}
	c, err = Uninstall(ctx, []platform.Arch{a}, WithForce(true))
	if err != nil || c[0].Action != ActionRemoved {
		t.Errorf("Uninstall(riscv64, force) = %+v, %v; want removed", c, err)
	}
	hs, _ = ReadHandlers(ctx, HostMount)
	if indexName(hs, foreign.Name) >= 0 {
		t.Errorf("after Uninstall(force): %s still registered", foreign.Name)
	}
}

func TestInstallNeverRegistersNative(t *testing.T) {
	preserveHost(t)
	host, ok := platform.Lookup(platform.Host())
	if !ok {
		t.Skip("host platform not in the table")
	}
	c, err := Install(context.Background(), []platform.Arch{host})
	if err != nil || len(c) != 1 || c[0].Action != ActionNative {
		t.Errorf("Install(%s) = %+v, %v; want native", host, c, err)
	}
	if hs, _ := ReadHandlers(context.Background(), HostMount); indexName(hs, HandlerName(host)) >= 0 {
		t.Errorf("Install(%s) registered %s", host, HandlerName(host))
	}
}

func TestPlan(t *testing.T) {
	ctx := context.Background()
	host := platform.Host()
	if d, err := Plan(ctx, host, ModeNone); err != nil || d.Kind != KindNative {
		t.Errorf("Plan(host, none) = %+v, %v; want native", d, err)
	}
	if runtime.GOARCH == "amd64" {
		// What the host can do decides: a kernel that runs i386 gives
		// native with Linux32, one that refuses it (IA32 emulation off)
		// an error, as for any platform with emulation off.
		i386 := arch(t, "386")
		d, err := Plan(ctx, i386.Platform, ModeNone)
		if runsNatively(ctx, i386) {
			if err != nil || d.Kind != KindNative || !d.Linux32 {
				t.Errorf("Plan(386, none) on a host running i386 = %+v, %v; want native with Linux32", d, err)
			}
		} else if err == nil {
			t.Errorf("Plan(386, none) on a host refusing i386 = %+v; want a NoEmulatorError", d)
		}
	}
	a := emulatedArchs()
	if len(a) == 0 {
		t.Skip("no emulated platform")
	}
	var nee *NoEmulatorError
	if _, err := Plan(ctx, a[0].Platform, ModeNone); !errors.As(err, &nee) || !strings.Contains(err.Error(), a[0].String()) {
		t.Errorf("Plan(%s, none) = %v; want a NoEmulatorError naming the platform", a[0], err)
	}
	v5 := arch(t, "arm/v5")
	if PrivateSupported() == nil {
		if _, err := staticInterpreter(v5); err == nil {
			d, err := Plan(ctx, v5.Platform, ModePrivate)
			if err != nil || d.Kind != KindPrivate || len(d.Handlers) != 1 || !d.Handlers[0].HasFlag('F') ||
				!reflect.DeepEqual(d.Env, []string{"QEMU_CPU=arm926"}) {
				t.Errorf("Plan(arm/v5, private) = %+v, %v; want private, one F handler, QEMU_CPU=arm926", d, err)
			}
		}
	}
	if _, err := Plan(ctx, specsPlatform("linux", "sparc64"), ModeAuto); err == nil || !strings.Contains(err.Error(), "known platforms") {
		t.Errorf("Plan(linux/sparc64) = %v; want an error listing known platforms", err)
	}
}

// TestPlanHostModeWithoutHandler checks the error a user sees when no host
// handler exists: it names the platform and the command that fixes it.
func TestPlanHostModeWithoutHandler(t *testing.T) {
	preserveHost(t)
	ctx := context.Background()
	a := arch(t, "s390x")
	if hs, err := ReadHandlers(ctx, HostMount); err == nil {
		for _, h := range hs {
			if h.Serves(a) && h.Enabled {
				t.Skipf("host handler %s serves %s", h.Name, a)
			}
		}
	}
	_, err := Plan(ctx, a.Platform, ModeHost)
	if err == nil || !strings.Contains(err.Error(), "manyarch binfmt install s390x") || !strings.Contains(err.Error(), "linux/s390x") {
		t.Errorf("Plan(s390x, host) = %v; want an error naming linux/s390x and `manyarch binfmt install s390x`", err)
	}
}

func specsPlatform(os, arch string) specs.Platform { return specs.Platform{OS: os, Architecture: arch} }

// TestPlanCachesHostProbe checks that a host handler's passing probe is
// remembered, and that a changed handler is probed again.
func TestPlanCachesHostProbe(t *testing.T) {
	preserveHost(t)
	ctx := context.Background()
	a := arch(t, "arm64")
	if _, err := staticInterpreter(a); err != nil {
		t.Skip(err)
	}
	if _, err := Install(ctx, []platform.Arch{a}, WithProbes(false)); err != nil {
		t.Fatal(err)
	}
	hs, err := ReadHandlers(ctx, HostMount)
	if err != nil {
		t.Fatal(err)
	}
	h := hs[indexName(hs, HandlerName(a))]
	bin, _ := probeBinary(a)
	key, ok := probeCacheKey(h, ProbeChroot, bin)
	if !ok {
		t.Fatal("no cache key")
	}
	entry := filepath.Join(probeCacheDir(), key)
	os.Remove(entry)
	d, err := Plan(ctx, a.Platform, ModeHost)
	if err != nil || d.Kind != KindHost || d.Handler == nil || d.Handler.Name != h.Name {
		t.Fatalf("Plan(arm64, host) = %+v, %v; want host handler %s", d, err, h.Name)
	}
	if _, err := os.Stat(entry); err != nil {
		t.Errorf("Plan(arm64, host) left no probe cache entry: %v", err)
	}
	t.Cleanup(func() { os.Remove(entry) })
	h2 := h
	h2.Flags = "F"
	if k2, _ := probeCacheKey(h2, ProbeChroot, bin); k2 == key {
		t.Errorf("probe cache key ignores the handler's flags")
	}
}

// BenchmarkPlan measures Plan for an emulated platform: with a host
// handler (probe cached after the first call) and privately.
func BenchmarkPlan(b *testing.B) {
	ctx := context.Background()
	a := arch(b, "arm64")
	for _, mode := range []Mode{ModeAuto, ModePrivate} {
		b.Run(string(mode), func(b *testing.B) {
			for i := 0; i < b.N; i++ {
				if _, err := Plan(ctx, a.Platform, mode); err != nil {
					b.Skip(err)
				}
			}
		})
	}
	b.Run("probe-chroot", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			if _, err := Probe(ctx, a, ProbeChroot); err != nil {
				b.Skip(err)
			}
		}
	})
	b.Run("probe-private", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			if _, err := Probe(ctx, a, ProbePrivate); err != nil {
				b.Skip(err)
			}
		}
	})
}

// TestPrivateGoProgramUname runs cross-compiled Go programs (a real
// runtime: threads, signals, futexes) through Plan's private decision and
// checks the machine name each arm variant reports with Decision.Env.
func TestPrivateGoProgramUname(t *testing.T) {
	testutil.Short(t, "cross-compiles Go programs")
	goBin := testutil.RequireCommand(t, "go", "golang")
	if err := PrivateSupported(); err != nil {
		t.Skip(err)
	}
	src := t.TempDir()
	prog := `package main

import (
	"fmt"
	"syscall"
)

func main() {
	var u syscall.Utsname
	if err := syscall.Uname(&u); err != nil {
		panic(err)
	}
	var b []byte
	for _, c := range u.Machine {
		if c == 0 {
			break
		}
		b = append(b, byte(c))
	}
	fmt.Printf("%s\n", b)
}
`
	if err := os.WriteFile(filepath.Join(src, "main.go"), []byte(prog), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(src, "go.mod"), []byte("module uname\n\ngo 1.22\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	build := func(a platform.Arch) []byte {
		out := filepath.Join(src, strings.ReplaceAll(a.Name, "/", "-"))
		cmd := exec.Command(goBin, "build", "-o", out, ".")
		cmd.Dir = src
		cmd.Env = append(os.Environ(), append(a.GoEnv(), "CGO_ENABLED=0")...)
		if b, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("go build for %s: %v\n%s", a, err, b)
		}
		b, err := os.ReadFile(out)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	for _, name := range []string{"arm64", "arm/v7", "arm/v6", "arm/v5", "riscv64"} {
		a := arch(t, name)
		t.Run(strings.ReplaceAll(name, "/", "-"), func(t *testing.T) {
			d, err := Plan(context.Background(), a.Platform, ModePrivate)
			if err != nil {
				t.Skip(err)
			}
			dir, err := os.MkdirTemp("", "manyarch-uname-")
			if err != nil {
				t.Fatal(err)
			}
			defer os.RemoveAll(dir)
			if err := os.WriteFile(filepath.Join(dir, "probe"), build(a), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.Mkdir(filepath.Join(dir, "binfmt_misc"), 0o755); err != nil {
				t.Fatal(err)
			}
			cmd, err := helperCommand(context.Background(), helperProbe, dir, d.Handlers, d.Env)
			if err != nil {
				t.Fatal(err)
			}
			out, err := cmd.CombinedOutput()
			if got := strings.TrimSpace(string(out)); err != nil || got != a.UnameMachine {
				t.Errorf("uname -m of a %s Go program with %v = %q, %v; want %q", a, d.Env, got, err, a.UnameMachine)
			}
		})
	}
}

// TestPlanAutoFallsBackToPrivate disables, then de-F-flags, a host handler
// and checks that auto mode stops relying on it.
func TestPlanAutoFallsBackToPrivate(t *testing.T) {
	preserveHost(t)
	if err := PrivateSupported(); err != nil {
		t.Skip(err)
	}
	ctx := context.Background()
	a, in := unservedArch(t, "arm64")
	h := NewHandler(a, in.Path)
	h.Name = "zz-manyarch-test-aarch64"
	if err := Register(ctx, HostMount, h); err != nil {
		t.Fatal(err)
	}
	if d, err := Plan(ctx, a.Platform, ModeAuto); err != nil || d.Kind != KindHost {
		t.Fatalf("Plan(arm64, auto) with an enabled handler = %+v, %v; want host", d, err)
	}
	if err := SetEnabled(ctx, HostMount, h.Name, false); err != nil {
		t.Fatal(err)
	}
	if d, err := Plan(ctx, a.Platform, ModeAuto); err != nil || d.Kind != KindPrivate {
		t.Errorf("Plan(arm64, auto) with the handler disabled = %+v, %v; want private", d, err)
	}
	if _, err := Plan(ctx, a.Platform, ModeHost); err == nil || !strings.Contains(err.Error(), "no enabled host handler") {
		t.Errorf("Plan(arm64, host) with the handler disabled = %v; want an error saying there is no enabled handler", err)
	}
	if err := Unregister(ctx, HostMount, h.Name); err != nil {
		t.Fatal(err)
	}
	h.Flags = "P"
	if err := Register(ctx, HostMount, h); err != nil {
		t.Fatal(err)
	}
	if d, err := Plan(ctx, a.Platform, ModeAuto); err != nil || d.Kind != KindPrivate {
		t.Errorf("Plan(arm64, auto) with a handler without F = %+v, %v; want private", d, err)
	}
}

// Installs at once (parallel CI jobs on one host) all succeed: each reads
// the host's handlers and registers what is missing under the host lock;
// without it two read "none" and the second's register failed with "file
// exists", or one's probe ran while another replaced the handler. Then
// uninstalls at once.
func TestInstallConcurrent(t *testing.T) {
	preserveHost(t)
	ctx := context.Background()
	a, _ := unservedArch(t, "riscv64")
	for round := range 3 {
		for _, op := range []string{"install", "uninstall"} {
			var wg sync.WaitGroup
			errs := make([]error, 4)
			for i := range errs {
				wg.Add(1)
				go func() {
					defer wg.Done()
					var err error
					if op == "install" {
						_, err = Install(ctx, []platform.Arch{a}, WithProbes(false))
					} else {
						_, err = Uninstall(ctx, []platform.Arch{a})
					}
					errs[i] = err
				}()
			}
			wg.Wait()
			for i, err := range errs {
				if err != nil {
					t.Errorf("round %d: %s %d of 4 at once: %v", round, op, i, err)
				}
			}
		}
	}
}
