package sandbox_test

import (
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	specs "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/manyarch/manyarch/internal/cgroup"
	"github.com/manyarch/manyarch/internal/emulation"
	"github.com/manyarch/manyarch/internal/platform"
	"github.com/manyarch/manyarch/internal/sandbox"
	"github.com/manyarch/manyarch/internal/testutil"
)

// runSh runs `sh -c script` in spec (Args are set here) and returns stdout,
// stderr, the result and the error.
func runSh(t *testing.T, spec sandbox.Spec, script string) (string, string, sandbox.Result, error) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	spec.Args = []string{"sh", "-c", script}
	spec.Stdout, spec.Stderr = &stdout, &stderr
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	res, err := sandbox.Run(ctx, spec)
	return stdout.String(), stderr.String(), res, err
}

func busybox(t *testing.T) string {
	t.Helper()
	testutil.RequireRoot(t)
	return testutil.BusyboxRootfs(t, "amd64")
}

// treeDigest lists every path under dir with its mode, size and content
// hash, to prove a tree was not changed.
func treeDigest(t *testing.T, dir string) string {
	t.Helper()
	var b strings.Builder
	err := filepath.Walk(dir, func(p string, fi os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		b.WriteString(rel + " " + fi.Mode().String() + " " + strconv.FormatInt(fi.Size(), 10))
		if fi.Mode().IsRegular() {
			c, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			b.WriteString(" " + strconv.Itoa(len(c)) + " " + string(c[:min(len(c), 64)]))
		}
		if fi.Mode()&os.ModeSymlink != 0 {
			l, _ := os.Readlink(p)
			b.WriteString(" -> " + l)
		}
		b.WriteString("\n")
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return b.String()
}

func TestRunOutputAndExitCodes(t *testing.T) {
	root := busybox(t)
	for _, tc := range []struct {
		script   string
		wantOut  string
		wantCode int
		wantSig  syscall.Signal
	}{
		{"echo hello", "hello\n", 0, 0},
		{"echo out; exit 3", "out\n", 3, 0},
		{"kill -9 $$", "", 128 + 9, syscall.SIGKILL},
		{"kill -TERM $$", "", 128 + 15, syscall.SIGTERM},
	} {
		t.Run(tc.script, func(t *testing.T) {
			out, stderr, res, err := runSh(t, sandbox.Spec{RootDir: root}, tc.script)
			if err != nil {
				t.Fatalf("Run(%q) error: %v (stderr %q)", tc.script, err, stderr)
			}
			if out != tc.wantOut || res.ExitCode != tc.wantCode || res.Signal != tc.wantSig {
				t.Errorf("Run(%q) = %q, code %d, signal %v; want %q, %d, %v", tc.script, out, res.ExitCode, res.Signal, tc.wantOut, tc.wantCode, tc.wantSig)
			}
		})
	}
}

// TestRunSharedWriter: one writer that is not safe for concurrent use (a
// bytes.Buffer) as both Stdout and Stderr gets all the output, in order,
// as os/exec promises for its Cmd.
func TestRunSharedWriter(t *testing.T) {
	root := busybox(t)
	for range 5 {
		var b bytes.Buffer
		res, err := sandbox.Run(context.Background(), sandbox.Spec{RootDir: root, Stdout: &b, Stderr: &b,
			Args: []string{"sh", "-c", "echo one; echo two >&2; echo three; exit 3"}})
		if err != nil || res.ExitCode != 3 || b.String() != "one\ntwo\nthree\n" {
			t.Fatalf("Run(stdout and stderr the same bytes.Buffer) = %q, %+v, %v; want one, two, three in order, exit 3", b.String(), res, err)
		}
	}
}

func TestRunCommandNotFound(t *testing.T) {
	root := busybox(t)
	for _, tc := range []struct {
		cmd      string
		wantCode int
		wantMsg  string
	}{
		{"nosuchcommand", 127, `exec: "nosuchcommand": executable file not found in $PATH`},
		{"/bin/nosuch", 127, `exec: "/bin/nosuch": stat /bin/nosuch: no such file or directory`},
		{"/etc/passwd", 126, `exec: "/etc/passwd": permission denied`},
	} {
		t.Run(tc.cmd, func(t *testing.T) {
			res, err := sandbox.Run(context.Background(), sandbox.Spec{RootDir: root, Args: []string{tc.cmd}})
			var ee *sandbox.ExecError
			if !errors.As(err, &ee) {
				t.Fatalf("Run(%q) error = %v, want *ExecError", tc.cmd, err)
			}
			if err.Error() != tc.wantMsg || res.ExitCode != tc.wantCode {
				t.Errorf("Run(%q) = %q, code %d; want %q, %d", tc.cmd, err, res.ExitCode, tc.wantMsg, tc.wantCode)
			}
		})
	}
	_, err := sandbox.Run(context.Background(), sandbox.Spec{RootDir: root, Args: []string{"nosuchcommand"}})
	if !errors.Is(err, sandbox.ErrNotFound) {
		t.Errorf("errors.Is(%v, ErrNotFound) = false", err)
	}
}

func TestRunEnvironment(t *testing.T) {
	root := busybox(t)
	for _, tc := range []struct {
		name   string
		spec   sandbox.Spec
		script string
		want   string
	}{
		{"default env", sandbox.Spec{}, `echo "$PATH|$HOME|$HOSTNAME"`, "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin|/root|manyarch\n"},
		{"env given", sandbox.Spec{Env: []string{"FOO=bar", "PATH=/bin"}}, `echo "$FOO $PATH"`, "bar /bin\n"},
		{"hostname", sandbox.Spec{Hostname: "box1"}, `hostname; cat /etc/hostname; grep -c box1 /etc/hosts`, "box1\nbox1\n1\n"},
		{"BuildKit's /etc", sandbox.Spec{Hostname: "buildkitsandbox", BuildKitEtc: true},
			`hostname; cat /etc/hosts; test -s /etc/hostname && echo bound || echo not bound`,
			"buildkitsandbox\n127.0.0.1\tlocalhost buildkitsandbox\n::1\tlocalhost ip6-localhost ip6-loopback\nnot bound\n"},
		{"workdir created", sandbox.Spec{Dir: "/work/dir"}, `pwd`, "/work/dir\n"},
		{"user nobody", sandbox.Spec{User: "nobody"}, `id -u; id -g; echo $HOME`, "65534\n65534\n/nonexistent\n"},
		{"uid:gid", sandbox.Spec{User: "1000:2000"}, `id -u; id -g`, "1000\n2000\n"},
		{"extra groups", sandbox.Spec{User: "nobody", Groups: []string{"root", "44"}}, `id -G`, "65534 0 44\n"},
		{"root", sandbox.Spec{}, `id -u; id -g`, "0\n0\n"},
		{"dev", sandbox.Spec{}, `echo x > /dev/null && head -c 3 /dev/zero | wc -c && ls /dev/pts/ptmx && test -L /dev/stdout && echo ok`, "3\n/dev/pts/ptmx\nok\n"},
		{"parent is init", sandbox.Spec{}, `echo $PPID`, "1\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.spec.RootDir = root
			out, stderr, res, err := runSh(t, tc.spec, tc.script)
			if err != nil || res.ExitCode != 0 {
				t.Fatalf("Run(%q) = %v, code %d, stderr %q", tc.script, err, res.ExitCode, stderr)
			}
			if out != tc.want {
				t.Errorf("Run(%q) = %q, want %q", tc.script, out, tc.want)
			}
		})
	}
	t.Run("unknown user", func(t *testing.T) {
		_, _, res, err := runSh(t, sandbox.Spec{RootDir: root, User: "nosuchuser"}, "true")
		var se *sandbox.SetupError
		if !errors.As(err, &se) || !strings.Contains(err.Error(), `"nosuchuser"`) || res.ExitCode != 125 {
			t.Errorf("Run as nosuchuser = %v, code %d; want a SetupError naming the user", err, res.ExitCode)
		}
	})
}

func TestRunStdin(t *testing.T) {
	root := busybox(t)
	var out bytes.Buffer
	res, err := sandbox.Run(context.Background(), sandbox.Spec{
		RootDir: root, Args: []string{"tr", "a-z", "A-Z"},
		Stdin: strings.NewReader("hello stdin"), Stdout: &out,
	})
	if err != nil || res.ExitCode != 0 || out.String() != "HELLO STDIN" {
		t.Errorf("tr with stdin = %q, %v, %d; want %q", out.String(), err, res.ExitCode, "HELLO STDIN")
	}
}

func TestIsolationHostInvisible(t *testing.T) {
	root := busybox(t)
	secret := filepath.Join(t.TempDir(), "host-secret")
	if err := os.WriteFile(secret, []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	script := `ls / | sort | tr '\n' ' '; echo; test -e ` + secret + ` && echo SEEN; test -e /etc/debian_version && echo HOSTETC; cat /proc/self/mountinfo | grep -c . >/dev/null; echo done`
	out, stderr, _, err := runSh(t, sandbox.Spec{RootDir: root}, script)
	if err != nil {
		t.Fatalf("Run: %v (%s)", err, stderr)
	}
	if strings.Contains(out, "SEEN") || strings.Contains(out, "HOSTETC") {
		t.Errorf("host files visible inside the sandbox: %q", out)
	}
	if want := "bin dev etc proc root sys tmp \ndone\n"; out != want {
		t.Errorf("ls / = %q, want %q", out, want)
	}
}

func TestIsolationPIDs(t *testing.T) {
	root := busybox(t)
	out, stderr, _, err := runSh(t, sandbox.Spec{RootDir: root}, `ls /proc | grep '^[0-9]*$' | sort -n | tr '\n' ' '`)
	if err != nil {
		t.Fatalf("Run: %v (%s)", err, stderr)
	}
	// 1 is the init, then the shell and its pipeline: nothing of the host.
	pids := strings.Fields(out)
	if len(pids) < 2 || pids[0] != "1" || len(pids) > 6 {
		t.Errorf("PIDs in the sandbox = %q, want 1, the shell and its pipeline only", out)
	}
}

func TestIsolationNetworkNone(t *testing.T) {
	root := busybox(t)
	script := `ls /sys/class/net | tr '\n' ' '; echo; ip -o link show up | cut -d: -f2`
	out, stderr, _, err := runSh(t, sandbox.Spec{RootDir: root, Network: sandbox.NetworkNone}, script)
	if err != nil {
		t.Fatalf("Run: %v (%s)", err, stderr)
	}
	if want := "lo \n lo\n"; out != want {
		t.Errorf("interfaces with network none = %q, want %q (only lo, up)", out, want)
	}
	hostOut, _, _, err := runSh(t, sandbox.Spec{RootDir: root}, `ls /sys/class/net | wc -l`)
	if err != nil {
		t.Fatal(err)
	}
	hostIfaces, _ := os.ReadDir("/sys/class/net")
	if strings.TrimSpace(hostOut) != strconv.Itoa(len(hostIfaces)) {
		t.Errorf("network host shows %s interfaces, host has %d", strings.TrimSpace(hostOut), len(hostIfaces))
	}
}

// overlayDirs returns an overlay root with the busybox tree as its lower.
func overlayDirs(t *testing.T, lower string) *sandbox.Overlay {
	t.Helper()
	d := t.TempDir()
	o := &sandbox.Overlay{Lower: []string{lower}, Upper: filepath.Join(d, "upper"), Work: filepath.Join(d, "work")}
	for _, p := range []string{o.Upper, o.Work} {
		if err := os.Mkdir(p, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	return o
}

func TestIsolationOverlayWritesStayInUpper(t *testing.T) {
	lower := busybox(t)
	before := treeDigest(t, lower)
	o := overlayDirs(t, lower)
	_, stderr, res, err := runSh(t, sandbox.Spec{Overlay: o}, `echo new > /etc/new && echo changed >> /etc/passwd && rm /bin/ls && mkdir /opt && rm -rf /root`)
	if err != nil || res.ExitCode != 0 {
		t.Fatalf("Run = %v, code %d (%s)", err, res.ExitCode, stderr)
	}
	if after := treeDigest(t, lower); after != before {
		t.Errorf("lower directory changed by writes in the sandbox")
	}
	if b, err := os.ReadFile(filepath.Join(o.Upper, "etc", "new")); err != nil || string(b) != "new\n" {
		t.Errorf("upper/etc/new = %q, %v; want the file written inside", b, err)
	}
}

func TestIsolationRmRfRoot(t *testing.T) {
	lower := busybox(t)
	hostDir := t.TempDir()
	if err := os.WriteFile(filepath.Join(hostDir, "keep"), []byte("keep"), 0o644); err != nil {
		t.Fatal(err)
	}
	beforeLower, beforeHost := treeDigest(t, lower), treeDigest(t, hostDir)
	o := overlayDirs(t, lower)
	spec := sandbox.Spec{Overlay: o, Mounts: []sandbox.Mount{{Source: hostDir, Target: "/data", ReadOnly: true}}}
	// busybox rm is itself in /bin: it goes, so the shell's next command fails.
	_, _, _, err := runSh(t, spec, `/bin/busybox rm -rf / 2>/dev/null; /bin/busybox mount -o remount,rw /data 2>/dev/null; /bin/busybox touch /data/x 2>/dev/null; exit 0`)
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	if treeDigest(t, lower) != beforeLower {
		t.Errorf("rm -rf / inside changed the lower directory")
	}
	if treeDigest(t, hostDir) != beforeHost {
		t.Errorf("rm -rf / inside changed the read-only bind mount source")
	}
}

func TestMountReadOnly(t *testing.T) {
	root := busybox(t)
	hostDir := t.TempDir()
	if err := os.WriteFile(filepath.Join(hostDir, "f"), []byte("data\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	rw := t.TempDir()
	spec := sandbox.Spec{RootDir: root, Mounts: []sandbox.Mount{
		{Source: hostDir, Target: "/in", ReadOnly: true},
		{Source: rw, Target: "/out"},
	}}
	out, stderr, res, err := runSh(t, spec, `cat /in/f; touch /in/g 2>/dev/null && echo WROTE; mount -o remount,rw /in 2>/dev/null && echo REMOUNTED; echo hi > /out/r`)
	if err != nil || res.ExitCode != 0 {
		t.Fatalf("Run = %v, code %d (%s)", err, res.ExitCode, stderr)
	}
	if out != "data\n" {
		t.Errorf("output = %q, want only %q (no write or remount of a read-only mount)", out, "data\n")
	}
	if b, _ := os.ReadFile(filepath.Join(rw, "r")); string(b) != "hi\n" {
		t.Errorf("write through a read-write mount = %q, want %q", b, "hi\n")
	}
}

func TestRunTimeout(t *testing.T) {
	root := busybox(t)
	start := time.Now()
	res, err := sandbox.Run(context.Background(), sandbox.Spec{RootDir: root, Args: []string{"sleep", "100"}, Timeout: 300 * time.Millisecond})
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	if !res.TimedOut || res.ExitCode != 137 || time.Since(start) > 10*time.Second {
		t.Errorf("Run(sleep 100, timeout 300ms) = %+v after %v; want TimedOut, 137, quickly", res, time.Since(start))
	}
}

func TestRunSignalForwarding(t *testing.T) {
	root := busybox(t)
	sigs := make(chan os.Signal, 1)
	var out bytes.Buffer
	go func() {
		time.Sleep(500 * time.Millisecond)
		sigs <- syscall.SIGUSR1
	}()
	res, err := sandbox.Run(context.Background(), sandbox.Spec{
		RootDir: root, Stdout: &out, Signals: sigs,
		Args: []string{"sh", "-c", `trap 'echo got USR1; exit 42' USR1; while true; do sleep 0.05; done`},
	})
	if err != nil || res.ExitCode != 42 || out.String() != "got USR1\n" {
		t.Errorf("SIGUSR1 forwarding: %q, code %d, %v; want %q, 42", out.String(), res.ExitCode, err, "got USR1\n")
	}
}

func TestRunContextCancel(t *testing.T) {
	root := busybox(t)
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(300*time.Millisecond, cancel)
	start := time.Now()
	res, err := sandbox.Run(ctx, sandbox.Spec{RootDir: root, Args: []string{"sleep", "100"}, StopTimeout: 5 * time.Second})
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	if !res.Stopped || res.Signal != syscall.SIGTERM || res.ExitCode != 143 || time.Since(start) > 4*time.Second {
		t.Errorf("cancelled sleep = %+v after %v; want Stopped by SIGTERM (143)", res, time.Since(start))
	}
	// A process ignoring SIGTERM is killed after StopTimeout. The cancel
	// comes once the shell says it ignores TERM: on a loaded machine a
	// fixed delay could cancel before the trap is set.
	ctx, cancel = context.WithCancel(context.Background())
	defer cancel()
	res, err = sandbox.Run(ctx, sandbox.Spec{RootDir: root, Args: []string{"sh", "-c", `trap '' TERM; echo ignoring; sleep 100`},
		Stdout: writerFunc(func(p []byte) (int, error) { cancel(); return len(p), nil }), StopTimeout: 300 * time.Millisecond})
	if err != nil || !res.Stopped || res.ExitCode != 137 {
		t.Errorf("cancelled sh ignoring TERM = %+v, %v; want Stopped, 137", res, err)
	}
}

// TestRunCancelledBeforeStart: a context done before the command starts
// (before the init could handle a signal) still stops the command with
// StopSignal once it runs; the signal was once lost, leaving the command
// to be killed StopTimeout later, or ended the init without a report.
func TestRunCancelledBeforeStart(t *testing.T) {
	root := busybox(t)
	for range 3 {
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		start := time.Now()
		res, err := sandbox.Run(ctx, sandbox.Spec{RootDir: root, Args: []string{"sleep", "100"}, StopTimeout: 20 * time.Second})
		if err != nil || !res.Stopped || res.Signal != syscall.SIGTERM || res.ExitCode != 143 || time.Since(start) > 10*time.Second {
			t.Fatalf("Run(cancelled context) = %+v, %v after %v; want Stopped by SIGTERM (143), at once", res, err, time.Since(start))
		}
	}
}

func TestRunLeavesNothing(t *testing.T) {
	root := busybox(t)
	before, _ := filepath.Glob(filepath.Join(os.TempDir(), "manyarch-sandbox-*"))
	// Other test packages run beside this one (go test -p 2) and mount, so
	// only the mounts that mention this run's root or a sandbox state
	// directory are compared, and the background processes carry a
	// duration no other test uses.
	ours := func() []string {
		m, _ := os.ReadFile("/proc/self/mountinfo")
		var lines []string
		for _, l := range strings.Split(string(m), "\n") {
			if strings.Contains(l, root) || strings.Contains(l, "manyarch-sandbox-") {
				lines = append(lines, l)
			}
		}
		return lines
	}
	mounts := ours()
	_, _, _, err := runSh(t, sandbox.Spec{RootDir: root, Network: sandbox.NetworkNone}, "sleep 1017 & sleep 1017 & true")
	if err != nil {
		t.Fatal(err)
	}
	after, _ := filepath.Glob(filepath.Join(os.TempDir(), "manyarch-sandbox-*"))
	if len(after) > len(before) {
		t.Errorf("state directories left behind: %v", after)
	}
	if m := ours(); !slices.Equal(m, mounts) {
		t.Errorf("host mount table changed by a sandbox run: %q, was %q", m, mounts)
	}
	if out, _ := exec.Command("pgrep", "-f", "sleep 1017").Output(); len(out) > 0 {
		t.Errorf("background processes survived the sandbox: pids %s", out)
	}
}

func TestSpecErrors(t *testing.T) {
	for _, tc := range []struct {
		name string
		spec sandbox.Spec
		want string
	}{
		{"no args", sandbox.Spec{RootDir: "/"}, "no command"},
		{"no root", sandbox.Spec{Args: []string{"true"}}, "no root filesystem"},
		{"bad network", sandbox.Spec{RootDir: "/", Args: []string{"true"}, Network: "bridge"}, `unknown network "bridge"`},
		{"mount over proc", sandbox.Spec{RootDir: "/", Args: []string{"true"}, Mounts: []sandbox.Mount{{Source: "/tmp", Target: "/proc/x"}}}, "cannot mount over /proc"},
		{"missing root", sandbox.Spec{RootDir: "/nonexistent/root", Args: []string{"true"}}, "/nonexistent/root"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := sandbox.Run(context.Background(), tc.spec)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("Run(%s) = %v, want an error containing %q", tc.name, err, tc.want)
			}
		})
	}
}

func TestPrivateBinfmt(t *testing.T) {
	testutil.RequireRoot(t)
	testutil.RequireCommand(t, "qemu-aarch64-static", "qemu-user-static")
	root := testutil.BusyboxRootfs(t, "arm64")
	arch, ok := platform.Lookup(specs.Platform{OS: "linux", Architecture: "arm64"})
	if !ok {
		t.Fatal("platform table has no linux/arm64")
	}
	interp, err := emulation.LookupInterpreter(arch)
	if err != nil {
		t.Skipf("needs qemu-aarch64-static: %v", err)
	}
	aarch64Handler := emulation.NewHandler(arch, interp.Path)
	if _, err := os.Stat("/proc/sys/fs/binfmt_misc/qemu-aarch64"); err == nil {
		t.Log("the host has a qemu-aarch64 handler; this test still uses only the private one")
	}
	out, stderr, res, err := runSh(t, sandbox.Spec{RootDir: root, Binfmt: []emulation.Handler{aarch64Handler}}, "uname -m")
	if err != nil || res.ExitCode != 0 {
		t.Fatalf("Run(uname -m) arm64 = %v, code %d (%s)", err, res.ExitCode, stderr)
	}
	if out != "aarch64\n" {
		t.Errorf("uname -m in arm64 sandbox = %q, want %q", out, "aarch64\n")
	}
	// Without the handler the kernel cannot run the binary.
	if _, err := os.Stat("/proc/sys/fs/binfmt_misc/qemu-aarch64"); err != nil {
		_, _, res, err := runSh(t, sandbox.Spec{RootDir: root}, "uname -m")
		var ee *sandbox.ExecError
		if !errors.As(err, &ee) || !errors.Is(err, syscall.ENOEXEC) || res.ExitCode != 126 {
			t.Errorf("arm64 without emulation = %v, code %d; want an exec format ExecError, 126", err, res.ExitCode)
		}
	}
}

func BenchmarkRunTrue(b *testing.B) {
	testutil.RequireRoot(b)
	root := testutil.BusyboxRootfs(b, "amd64")
	b.ResetTimer()
	for b.Loop() {
		res, err := sandbox.Run(context.Background(), sandbox.Spec{RootDir: root, Args: []string{"true"}})
		if err != nil || res.ExitCode != 0 {
			b.Fatalf("Run(true) = %v, %v", res, err)
		}
	}
}

func TestLinux32(t *testing.T) {
	testutil.RequireRoot(t)
	root := testutil.BusyboxRootfs(t, "i386")
	out, stderr, res, err := runSh(t, sandbox.Spec{RootDir: root, Linux32: true}, "uname -m")
	var ee *sandbox.ExecError
	if errors.As(err, &ee) && errors.Is(err, syscall.ENOEXEC) {
		t.Skip("this kernel cannot run i386 executables natively (no IA32 emulation)")
	}
	if err != nil || res.ExitCode != 0 {
		t.Fatalf("Run(uname -m) i386 = %v, code %d (%s)", err, res.ExitCode, stderr)
	}
	if out != "i686\n" {
		t.Errorf("uname -m with Linux32 = %q, want %q", out, "i686\n")
	}
}

func TestRunInCgroup(t *testing.T) {
	root := busybox(t)
	m, err := cgroup.NewMemory(32 << 20)
	if errors.Is(err, cgroup.ErrNoMemoryController) {
		t.Skipf("no memory cgroup: %v", err)
	}
	if err != nil {
		t.Fatal(err)
	}
	defer m.Remove()
	// Every process of the sandbox, the shell's children too, is in the
	// cgroup and under its limit.
	out, stderr, res, err := runSh(t, sandbox.Spec{RootDir: root, Cgroup: m.Dir()}, `cat /proc/self/cgroup; dd if=/dev/zero of=/dev/null bs=128M count=1; echo "dd $?"`)
	if err != nil || res.ExitCode != 0 {
		t.Fatalf("Run = %+v, %v; stderr %q", res, err, stderr)
	}
	rel := strings.TrimPrefix(m.Dir(), "/sys/fs/cgroup/memory")
	if !strings.Contains(out, rel+"\n") {
		t.Errorf("/proc/self/cgroup in the sandbox = %q, want a line ending in %s", out, rel)
	}
	if !strings.Contains(out, "dd 137") {
		t.Errorf("output %q, want dd killed (dd 137) by the 32 MiB limit", out)
	}
	if n, err := m.OOMKills(); err != nil || n != 1 {
		t.Errorf("OOMKills() = %d, %v, want 1", n, err)
	}
}

// writerFunc is an io.Writer of a function.
type writerFunc func([]byte) (int, error)

func (f writerFunc) Write(p []byte) (int, error) { return f(p) }
