package emulation

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/manyarch/manyarch/internal/platform"
	"github.com/manyarch/manyarch/internal/testutil"
)

func TestParseVersion(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want Version
		ok   bool
	}{
		{"qemu-i386 version 10.0.2 (Debian 1:10.0.2+ds-2+deb13u1~bpo12+1)\nCopyright", Version{10, 0, 2}, true},
		{"qemu-i386 version 7.2.22 (Debian 1:7.2+dfsg-7+deb12u18+b3)", Version{7, 2, 22}, true},
		{"qemu-aarch64 version 8.1\n", Version{8, 1, 0}, true},
		{"Usage: true [ignored command line arguments]", Version{}, false},
		{"", Version{}, false},
	} {
		got, err := ParseVersion(tc.in)
		if (err == nil) != tc.ok || got != tc.want {
			t.Errorf("ParseVersion(%q) = %v, %v; want %v, ok %v", tc.in, got, err, tc.want, tc.ok)
		}
	}
	if !(Version{7, 2, 22}).Less(Version{8, 0, 0}) || (Version{10, 0, 2}).Less(Version{8, 0, 0}) {
		t.Errorf("Version.Less orders 7.2.22, 8.0.0, 10.0.2 wrongly")
	}
}

// fakeQEMU builds testdata/fakeqemu (static: CGO_ENABLED=0) as dir/file,
// printing name's version line with version, behaving as mode says.
func fakeQEMU(t *testing.T, dir, file, name, version, mode string) string {
	t.Helper()
	goBin := testutil.RequireCommand(t, "go", "golang")
	out := filepath.Join(dir, file)
	cmd := exec.Command(goBin, "build", "-o", out, "-ldflags",
		"-X main.name="+name+" -X main.version="+version+" -X main.mode="+mode, "./testdata/fakeqemu")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("building the fake emulator: %v\n%s", err, b)
	}
	return out
}

// onlyDirs makes LookupInterpreter search dirs alone (PATH included).
func onlyDirs(t *testing.T, dirs ...string) {
	t.Helper()
	old := interpreterDirs
	interpreterDirs = dirs
	t.Cleanup(func() { interpreterDirs = old })
	t.Setenv("PATH", strings.Join(dirs, ":"))
}

// TestLookupInterpreterPrefersNewest: Debian 12's QEMU 7.2
// qemu-i386-static beside QEMU 10's qemu-i386 (as when qemu-user comes
// from backports): the newer one is chosen, though -static is looked up
// first, and its version is reported.
func TestLookupInterpreterPrefersNewest(t *testing.T) {
	dir := t.TempDir()
	fakeQEMU(t, dir, "qemu-i386-static", "qemu-i386", "7.2.22", "crash")
	newest := fakeQEMU(t, dir, "qemu-i386", "qemu-i386", "10.0.2", "crash")
	dir2 := t.TempDir()
	real := fakeQEMU(t, dir2, "qemu-arm", "qemu-arm", "10.0.2", "crash")
	onlyDirs(t, dir)
	in, err := LookupInterpreter(arch(t, "386"))
	if err != nil || in.Path != newest || !in.Static || in.Version != (Version{10, 0, 2}) {
		t.Fatalf("LookupInterpreter(386) = %+v, %v; want %s, static, QEMU 10.0.2", in, err, newest)
	}
	// A -static link to the same file counts once, under the file's name.
	if err := os.Symlink(real, filepath.Join(dir2, "qemu-arm-static")); err != nil {
		t.Fatal(err)
	}
	onlyDirs(t, dir2)
	if in, err := LookupInterpreter(arch(t, "arm/v7")); err != nil || in.Path != real {
		t.Errorf("LookupInterpreter(arm/v7) with a -static link = %+v, %v; want %s", in, err, real)
	}
}

// TestEmulatorRefusals: each unusable emulator is a clear error naming
// the file, the platform and the package to install.
func TestEmulatorRefusals(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	i386 := arch(t, "386")
	old := fakeQEMU(t, dir, "qemu-i386-old", "qemu-i386", "7.2.22", "crash")
	crash := fakeQEMU(t, dir, "qemu-aarch64-crash", "qemu-aarch64", "10.0.2", "crash")
	dynamic := filepath.Join(dir, "qemu-i386-dynamic")
	copyFile(t, "/bin/true", dynamic)
	if s, err := IsStatic(dynamic); err != nil || s {
		t.Skipf("/bin/true is not dynamically linked here (%v, %v)", s, err)
	}

	check := func(name string, a platform.Arch, path string, wantType any, wants ...string) {
		t.Run(name, func(t *testing.T) {
			in := Interpreter{Path: path}
			in.Static, _ = IsStatic(path)
			in.Version, _ = EmulatorVersion(ctx, path)
			err := CheckEmulator(ctx, a, in)
			if err == nil {
				t.Fatalf("CheckEmulator(%s, %s) = nil, want an error", a, path)
			}
			if !errors.As(err, wantType) {
				t.Errorf("CheckEmulator(%s, %s) = %T %v, want %T", a, path, err, err, wantType)
			}
			for _, w := range append(wants, path, a.String(), "apt-get install -t bookworm-backports qemu-user") {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("CheckEmulator(%s, %s) = %q, want it to contain %q", a, path, err, w)
				}
			}
		})
	}
	var ee *EmulatorError
	var de *DynamicInterpreterError
	check("too old", i386, old, &ee, "QEMU 7.2.22", "QEMU 8 or later", "crashes every Go program")
	check("fails the thread probe", arch(t, "arm64"), crash, &ee, "threads and signals", "SIGSEGV")
	check("dynamically linked", i386, dynamic, &de, "dynamically linked")

	t.Run("missing", func(t *testing.T) {
		onlyDirs(t, t.TempDir())
		_, err := LookupInterpreter(i386)
		var nf *InterpreterNotFoundError
		if !errors.As(err, &nf) || !strings.Contains(err.Error(), "qemu-i386") || !strings.Contains(err.Error(), "bookworm-backports qemu-user") {
			t.Errorf("LookupInterpreter(386) with nothing installed = %v; want an InterpreterNotFoundError naming qemu-i386 and the package", err)
		}
		if _, err := Plan(ctx, i386.Platform, ModePrivate); err == nil || !strings.Contains(err.Error(), "qemu-user") {
			t.Errorf("Plan(386, private) with nothing installed = %v; want an error naming the package", err)
		}
	})
}

func copyFile(t *testing.T, from, to string) {
	t.Helper()
	in, err := os.Open(from)
	if err != nil {
		t.Skip(err)
	}
	defer in.Close()
	out, err := os.OpenFile(to, os.O_CREATE|os.O_WRONLY, 0o755)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(out, in); err != nil {
		t.Fatal(err)
	}
	if err := out.Close(); err != nil {
		t.Fatal(err)
	}
}

// TestThreadProbeEveryPlatform runs the thread probe (a Go program with
// threads, TLS and a signal) under the emulator LookupInterpreter picks for
// every emulated row of the table: the installed QEMU must run real
// programs of each.
func TestThreadProbeEveryPlatform(t *testing.T) {
	ctx := context.Background()
	for _, a := range platform.All() {
		if platform.Match(a.Platform, platform.Host()) {
			continue
		}
		t.Run(strings.ReplaceAll(a.Name, "/", "-"), func(t *testing.T) {
			in, err := LookupInterpreter(a)
			if err != nil {
				t.Skip(err)
			}
			if err := CheckEmulator(ctx, a, in); err != nil {
				t.Errorf("CheckEmulator(%s, %s) = %v", a, in, err)
			}
		})
	}
}

// withNative makes the kernel run (or refuse) what nativeCandidate allows.
func withNative(t *testing.T, runs bool) {
	old := runsNatively
	runsNatively = func(context.Context, platform.Arch) bool { return runs }
	t.Cleanup(func() { runsNatively = old })
}

// TestPlan386BothKindsOfHost plays both kinds of amd64 host: one whose
// kernel runs i386 (auto: native with linux32; private and host modes
// still emulate) and one whose kernel refuses it (auto: private, under
// qemu-i386, no linux32).
func TestPlan386BothKindsOfHost(t *testing.T) {
	if runtime.GOARCH != "amd64" {
		t.Skip("an amd64 host question")
	}
	if err := PrivateSupported(); err != nil {
		t.Skip(err)
	}
	a := arch(t, "386")
	if _, err := staticInterpreter(a); err != nil {
		t.Skip(err)
	}
	if _, active := activeHandler(t, a); active {
		t.Skip("a host handler serves linux/386")
	}
	ctx := context.Background()
	private := func(name string, d Decision, err error) {
		t.Helper()
		if err != nil || d.Kind != KindPrivate || d.Linux32 || len(d.Handlers) != 1 ||
			!strings.Contains(d.Emulator.Path, "qemu-i386") || d.Emulator.Version == (Version{}) {
			t.Errorf("%s = %+v, %v; want private under qemu-i386 with its version, no linux32", name, d, err)
		}
	}
	t.Run("runs i386", func(t *testing.T) {
		withNative(t, true)
		d, err := Plan(ctx, a.Platform, ModeAuto)
		if err != nil || d.Kind != KindNative || !d.Linux32 || d.String() != "native (linux32)" {
			t.Errorf("Plan(386, auto) = %+v, %v; want native (linux32)", d, err)
		}
		d, err = Plan(ctx, a.Platform, ModePrivate)
		private("Plan(386, private)", d, err)
		if !strings.HasPrefix(d.String(), "private: ") || !strings.Contains(d.String(), "(QEMU ") {
			t.Errorf("Decision.String() = %q, want private: PATH (QEMU VERSION)", d)
		}
		// -v on run, build and test: the logged decision names the emulator.
		var logs strings.Builder
		slog.New(slog.NewTextHandler(&logs, nil)).Info("emulation planned", "emulation", d)
		if want := "emulation.emulator=" + d.Emulator.Path + " emulation.qemu=" + d.Emulator.Version.String(); !strings.Contains(logs.String(), want) {
			t.Errorf("logged decision = %q, want it to contain %q", logs.String(), want)
		}
		if _, err := Plan(ctx, a.Platform, ModeHost); err == nil || !strings.Contains(err.Error(), "no enabled host handler") {
			t.Errorf("Plan(386, host) without a handler = %v; want an error: host mode emulates, and there is no handler", err)
		}
		st := statusRow(t, a)
		if st.State != StateNative {
			t.Errorf("Status(386) = %+v; want native", st)
		}
	})
	t.Run("refuses i386", func(t *testing.T) {
		withNative(t, false)
		d, err := Plan(ctx, a.Platform, ModeAuto)
		private("Plan(386, auto)", d, err)
		if _, err := Plan(ctx, a.Platform, ModeNone); err == nil {
			t.Errorf("Plan(386, none) on a host refusing i386 = nil error, want one")
		}
		st := statusRow(t, a)
		if st.State != StatePrivate || st.Emulator != d.Emulator.Path || st.QEMUVersion != d.Emulator.Version.String() ||
			st.Probe != ProbePass || !strings.Contains(st.Note, "IA32") {
			t.Errorf("Status(386) = %+v; want private, emulator %s %s, probe pass, a note on IA32", st, d.Emulator.Path, d.Emulator.Version)
		}
		// Without probes too: the kernel's refusal is read, not guessed.
		sts, err := Status(ctx, WithProbes(false))
		if err != nil {
			t.Fatal(err)
		}
		for _, st := range sts {
			if st.Platform == a.String() && st.State != StatePrivate {
				t.Errorf("Status(386, no probes) = %+v; want private", st)
			}
		}
	})
}

func activeHandler(t *testing.T, a platform.Arch) (Handler, bool) {
	hs, enabled, err := readHost(context.Background())
	if err != nil {
		return Handler{}, false
	}
	for _, h := range hs {
		if h.Enabled && enabled && h.Serves(a) {
			return h, true
		}
	}
	return Handler{}, false
}

func statusRow(t *testing.T, a platform.Arch) PlatformStatus {
	t.Helper()
	sts, err := Status(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	for _, st := range sts {
		if st.Platform == a.String() {
			return st
		}
	}
	t.Fatalf("Status has no row for %s", a)
	return PlatformStatus{}
}

// TestStatusTellsThePath: every platform that Plan (auto) can run is not
// reported unavailable, and the row's state and emulator are the ones
// Plan chose.
func TestStatusTellsThePath(t *testing.T) {
	ctx := context.Background()
	sts, err := Status(ctx)
	if err != nil {
		t.Fatal(err)
	}
	want := map[Kind]State{KindNative: StateNative, KindHost: StateEmulated, KindPrivate: StatePrivate}
	for _, st := range sts {
		d, err := Plan(ctx, st.Arch.Platform, ModeAuto)
		if err != nil {
			if st.State != StateUnavailable || st.Reason == "" {
				t.Errorf("Status(%s) = %s (reason %q); Plan says %v: want unavailable with a reason", st.Platform, st.State, st.Reason, err)
			}
			continue
		}
		if st.State != want[d.Kind] || st.Emulator != d.Emulator.Path || st.QEMUVersion != d.Emulator.Version.String() {
			t.Errorf("Status(%s) = %s %q %q; Plan chose %s", st.Platform, st.State, st.Emulator, st.QEMUVersion, d)
		}
	}
}

// TestInstallRefusesOldQEMUFor386: `manyarch binfmt install 386` with only
// QEMU 7.2 registers nothing and names the emulator and the fix.
func TestInstallRefusesOldQEMUFor386(t *testing.T) {
	preserveHost(t)
	ctx := context.Background()
	a := arch(t, "386")
	if nativeCandidate(a, platform.Host()) && runsNatively(ctx, a) {
		t.Skip("this host runs linux/386 natively: install registers nothing for it")
	}
	if _, active := activeHandler(t, a); active {
		t.Skip("a host handler serves linux/386")
	}
	dir := t.TempDir()
	old := fakeQEMU(t, dir, "qemu-i386", "qemu-i386", "7.2.22", "crash")
	onlyDirs(t, dir)
	cs, err := Install(ctx, []platform.Arch{a})
	if err == nil || len(cs) != 1 || cs[0].Action != ActionFailed || !strings.Contains(cs[0].Detail, old) || !strings.Contains(cs[0].Detail, "QEMU 8 or later") {
		t.Errorf("Install(386) with QEMU 7.2 = %+v, %v; want failed, naming %s and QEMU 8 or later", cs, err, old)
	}
	if _, active := activeHandler(t, a); active {
		t.Errorf("Install(386) with QEMU 7.2 registered a handler")
	}
}

func TestFirstLines(t *testing.T) {
	crash := strings.Repeat("fatal error: ", 2000) + "runtime·unlock: lock count\nruntime·unlock: lock count\nb\nc\nd\n"
	got := firstLines(crash, 3)
	if len(got) > 600 || !strings.HasPrefix(got, "fatal error: fatal error:") || !strings.HasSuffix(got, " | ...") {
		t.Errorf("firstLines(a QEMU 7.2 crash, 3) = %d bytes %q, want at most 600, cut lines, then ...", len(got), got)
	}
	if got := firstLines(" a\nb \n", 3); got != "a | b" {
		t.Errorf("firstLines(%q, 3) = %q, want %q", " a\nb \n", got, "a | b")
	}
}

// TestThreadProbeCachedPassIsCheap: once the emulator passed, ThreadProbe
// answers from its cache without decompressing the 1.4 MB probe, which
// every emulated run would otherwise pay (issue #20, emulated run row).
func TestThreadProbeCachedPassIsCheap(t *testing.T) {
	p, err := platform.Parse("linux/arm64")
	if err != nil {
		t.Fatal(err)
	}
	a, ok := platform.Lookup(p)
	if !ok || platform.Match(a.Platform, platform.Host()) {
		t.Skip("needs a host that emulates linux/arm64")
	}
	in, err := LookupInterpreter(a)
	if err != nil {
		t.Skip(err)
	}
	old := probeCacheOverride
	probeCacheOverride = t.TempDir()
	t.Cleanup(func() { probeCacheOverride = old })
	ctx := context.Background()
	// The first probe runs; the second finds the pass in the cache file.
	for i, fresh := range []bool{true, false} {
		threadMem.Clear()
		threadBinCache.Delete(threadProbeGOARCH(a))
		r, err := ThreadProbe(ctx, a, in.Path)
		if err != nil || !r.OK {
			t.Fatalf("ThreadProbe(%s, %s) #%d = %+v, %v", a, in.Path, i+1, r, err)
		}
		_, decompressed := threadBinCache.Load(threadProbeGOARCH(a))
		if decompressed != fresh {
			t.Errorf("ThreadProbe #%d (cached pass: %v) decompressed the probe: %v, want %v", i+1, !fresh, decompressed, fresh)
		}
	}
}
