//go:build linux

package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"reflect"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"golang.org/x/sys/unix"

	"github.com/manyarch/manyarch/internal/emulation"
	"github.com/manyarch/manyarch/internal/netns"
	"github.com/manyarch/manyarch/internal/sandbox"
	"github.com/manyarch/manyarch/internal/sandbox/sandboxtest"
	"github.com/manyarch/manyarch/internal/testutil"
)

// TestMain lets the test binary act as the sandbox init and the emulation
// helper when it is re-executed as one, as cmd/manyarch does.
func TestMain(m *testing.M) {
	if sandbox.IsInit() {
		os.Exit(sandbox.Init())
	}
	emulation.Init()
	if os.Getenv(cliMainEnv) == "1" {
		// A manyarch of its own, to kill (see startManyarch).
		ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
		err := NewRootCmd().ExecuteContext(ctx)
		stop()
		os.Exit(ExitCode(err, os.Stderr))
	}
	os.Exit(m.Run())
}

// cliMainEnv makes the test binary run manyarch with its arguments, as
// cmd/manyarch's main does.
const cliMainEnv = "_MANYARCH_CLI_TEST_MAIN"

// runCLI runs manyarch in-process and returns stdout, stderr and the exit
// status main would use.
func runManyarch(t *testing.T, stdin string, args ...string) (string, string, int) {
	t.Helper()
	// Locked buffers: the logger and the container's output copier
	// write stderr from different goroutines.
	var out, errb testutil.SyncBuffer
	cmd := NewRootCmd()
	cmd.SetArgs(args)
	cmd.SetOut(&out)
	cmd.SetErr(&errb)
	cmd.SetIn(strings.NewReader(stdin))
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	code := ExitCode(cmd.ExecuteContext(ctx), &errb)
	return out.String(), errb.String(), code
}

// busyboxStore imports busybox root filesystems of the given Debian
// architectures (as PLATFORM=DEBARCH pairs) as one image "t/busybox:1" in a
// new store and returns the store's root.
func busyboxStore(t *testing.T, pairs ...string) string {
	t.Helper()
	testutil.RequireRoot(t)
	root := t.TempDir()
	args := []string{"--root", root, "import", "-t", "t/busybox:1", "--change", `CMD ["/bin/sh"]`}
	for _, p := range pairs {
		plat, deb, _ := strings.Cut(p, "=")
		args = append(args, "--platform", plat+"="+testutil.BusyboxRootfs(t, deb))
	}
	if _, stderr, code := runManyarch(t, "", args...); code != 0 {
		t.Fatalf("manyarch import: exit %d: %s", code, stderr)
	}
	return root
}

func TestRunCommand(t *testing.T) {
	root := busyboxStore(t, "linux/amd64=amd64", "linux/arm64=arm64")
	envFile := filepath.Join(t.TempDir(), "env")
	if err := os.WriteFile(envFile, []byte("# comment\nB=from-file\nA=overridden\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	hostDir := t.TempDir()
	if err := os.WriteFile(filepath.Join(hostDir, "f"), []byte("host file\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name     string
		stdin    string
		args     []string
		wantOut  string
		wantCode int
		wantErr  string // in stderr
	}{
		{"host platform by default", "", []string{"t/busybox:1", "uname", "-m"}, "x86_64\n", 0, ""},
		{"image Cmd", "echo from-cmd-stdin", []string{"-i", "t/busybox:1"}, "from-cmd-stdin\n", 0, ""},
		{"exit status", "", []string{"t/busybox:1", "sh", "-c", "exit 3"}, "", 3, ""},
		{"killed by signal", "", []string{"t/busybox:1", "sh", "-c", "kill -9 $$"}, "", 137, ""},
		{"not found", "", []string{"t/busybox:1", "nosuch"}, "", 127, `exec: "nosuch": executable file not found in $PATH`},
		{"env", "", []string{"-e", "A=1", "--env-file", envFile, "-e", "A=2", "t/busybox:1", "sh", "-c", "echo $A $B"}, "2 from-file\n", 0, ""},
		{"workdir and user", "", []string{"-w", "/made/here", "-u", "nobody", "t/busybox:1", "sh", "-c", "pwd; id -u"}, "/made/here\n65534\n", 0, ""},
		{"entrypoint", "", []string{"--entrypoint", "echo", "t/busybox:1", "hi"}, "hi\n", 0, ""},
		{"flags after image go to the command", "", []string{"t/busybox:1", "echo", "-e", "x"}, "x\n", 0, ""},
		{"network none", "", []string{"--network", "none", "t/busybox:1", "ls", "/sys/class/net"}, "lo\n", 0, ""},
		{"hostname", "", []string{"--hostname", "box", "t/busybox:1", "hostname"}, "box\n", 0, ""},
		{"volume ro", "", []string{"--volume", hostDir + ":/in:ro", "t/busybox:1", "sh", "-c", "cat /in/f; touch /in/x 2>/dev/null || echo read-only"}, "host file\nread-only\n", 0, ""},
		{"timeout", "", []string{"--timeout", "300ms", "t/busybox:1", "sleep", "100"}, "", 137, "killed after --timeout 300ms"},
		{"missing platform", "", []string{"--platform", "linux/s390x", "t/busybox:1", "true"}, "", 125, "the image has linux/amd64, linux/arm64"},
		{"bad network", "", []string{"--network", "bridge", "t/busybox:1", "true"}, "", 125, `--network "bridge"`},
		{"bad volume", "", []string{"--volume", "rel:/x", "t/busybox:1", "true"}, "", 125, "must be absolute"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			args := append([]string{"--root", root, "run"}, tc.args...)
			out, stderr, code := runManyarch(t, tc.stdin, args...)
			if out != tc.wantOut || code != tc.wantCode || !strings.Contains(stderr, tc.wantErr) {
				t.Errorf("manyarch run %q = %q, exit %d, stderr %q; want %q, exit %d, stderr containing %q",
					tc.args, out, code, stderr, tc.wantOut, tc.wantCode, tc.wantErr)
			}
		})
	}

	t.Run("writes are thrown away", func(t *testing.T) {
		if _, stderr, code := runManyarch(t, "", "--root", root, "run", "t/busybox:1", "sh", "-c", "echo x > /etc/new; /bin/busybox rm -rf / 2>/dev/null; exit 0"); code != 0 {
			t.Fatalf("rm -rf / run: exit %d: %s", code, stderr)
		}
		out, stderr, code := runManyarch(t, "", "--root", root, "run", "t/busybox:1", "sh", "-c", "test -e /etc/new && echo KEPT; ls /bin/busybox")
		if out != "/bin/busybox\n" || code != 0 {
			t.Errorf("next run = %q, exit %d (%s); want the image unchanged", out, code, stderr)
		}
	})

	t.Run("emulated arm64", func(t *testing.T) {
		testutil.RequireCommand(t, "qemu-aarch64-static", "qemu-user-static")
		out, stderr, code := runManyarch(t, "", "--root", root, "run", "--platform", "linux/arm64", "t/busybox:1", "uname", "-m")
		if out != "aarch64\n" || code != 0 {
			t.Errorf("run --platform linux/arm64 uname -m = %q, exit %d (%s); want aarch64", out, code, stderr)
		}
		out, stderr, code = runManyarch(t, "", "--root", root, "run", "--platform", "linux/arm64", "--emulation", "private", "t/busybox:1", "uname", "-m")
		if out != "aarch64\n" || code != 0 {
			t.Errorf("run --emulation private = %q, exit %d (%s); want aarch64", out, code, stderr)
		}
	})
}

func TestRunNoHostPlatform(t *testing.T) {
	root := busyboxStore(t, "linux/arm64=arm64", "linux/s390x=s390x")
	_, stderr, code := runManyarch(t, "", "--root", root, "run", "t/busybox:1", "true")
	if code != 125 || !strings.Contains(stderr, "pick one with --platform: linux/arm64, linux/s390x") {
		t.Errorf("run of an image without the host platform = exit %d, %q; want 125 and the platforms it has", code, stderr)
	}
}

func TestRunCommandLine(t *testing.T) {
	img := v1.Config{Entrypoint: []string{"/ep"}, Cmd: []string{"-c", "x"}}
	for _, tc := range []struct {
		name       string
		cfg        v1.Config
		entrypoint *string
		args       []string
		want       []string
	}{
		{"entrypoint and cmd", img, nil, nil, []string{"/ep", "-c", "x"}},
		{"args replace cmd", img, nil, []string{"y"}, []string{"/ep", "y"}},
		{"--entrypoint drops cmd", img, runStrPtr("/other"), nil, []string{"/other"}},
		{"--entrypoint with args", img, runStrPtr("/other"), []string{"a"}, []string{"/other", "a"}},
		{"--entrypoint empty", img, runStrPtr(""), []string{"sh"}, []string{"sh"}},
		{"cmd only", v1.Config{Cmd: []string{"sh"}}, nil, nil, []string{"sh"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			o := &runOptions{}
			if tc.entrypoint != nil {
				o.entrypoint, o.entrypointGiven = *tc.entrypoint, true
			}
			got, err := o.command(tc.cfg, tc.args)
			if err != nil || !reflect.DeepEqual(got, tc.want) {
				t.Errorf("command(%v, %q) = %q, %v; want %q", tc.cfg, tc.args, got, err, tc.want)
			}
		})
	}
	if _, err := (&runOptions{}).command(v1.Config{}, nil); err == nil || !strings.Contains(err.Error(), "no command") {
		t.Errorf("command of an image without Entrypoint or Cmd = %v, want a no command error", err)
	}
}

func runStrPtr(s string) *string { return &s }

func TestParseVolumes(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct {
		in      string
		want    sandbox.Mount
		wantErr string
	}{
		{dir + ":/data", sandbox.Mount{Source: dir, Target: "/data"}, ""},
		{dir + ":/data:ro", sandbox.Mount{Source: dir, Target: "/data", ReadOnly: true}, ""},
		{dir + ":/data:rw", sandbox.Mount{Source: dir, Target: "/data"}, ""},
		{dir, sandbox.Mount{}, "want HOST:CONTAINER"},
		{"named:/data", sandbox.Mount{}, "must be absolute"},
		{dir + ":data", sandbox.Mount{}, "container path must be absolute"},
		{dir + ":/data:z", sandbox.Mount{}, `unknown option "z"`},
		{"/nonexistent/x:/data", sandbox.Mount{}, "no such file"},
	} {
		got, err := parseVolumes([]string{tc.in})
		switch {
		case tc.wantErr != "":
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("parseVolumes(%q) error = %v, want it to contain %q", tc.in, err, tc.wantErr)
			}
		case err != nil || len(got) != 1 || got[0] != tc.want:
			t.Errorf("parseVolumes(%q) = %+v, %v; want %+v", tc.in, got, err, tc.want)
		}
	}
}

func TestEnvironment(t *testing.T) {
	t.Setenv("MANYARCH_TEST_HOST_VAR", "host")
	file := filepath.Join(t.TempDir(), "env")
	if err := os.WriteFile(file, []byte("\n# c\nF=1\n  G=two words\nMANYARCH_TEST_HOST_VAR\nMANYARCH_TEST_UNSET_VAR\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	o := &runOptions{envFiles: []string{file}, env: []string{"F=2", "MANYARCH_TEST_HOST_VAR", "MANYARCH_TEST_UNSET_VAR"}}
	got, err := o.environment()
	if err != nil {
		t.Fatal(err)
	}
	got = sandbox.MergeEnv(append([]string{"PATH=/bin", "F=0"}, got...))
	want := []string{"PATH=/bin", "F=2", "G=two words", "MANYARCH_TEST_HOST_VAR=host"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("environment = %q, want %q", got, want)
	}
	bad := filepath.Join(t.TempDir(), "bad")
	if err := os.WriteFile(bad, []byte("OK=1\n=novalue\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := (&runOptions{envFiles: []string{bad}}).environment(); err == nil || !strings.Contains(err.Error(), bad+":2") {
		t.Errorf("environment with a bad env file = %v, want an error naming %s:2", err, bad)
	}
}

// TestRunIsolation: every container `manyarch run` starts, native and
// emulated, has Docker's default isolation (sandboxtest's table), the
// reproduction of issue #25 item 1 is harmless, and the security flags
// open up only what they name.
func TestRunIsolation(t *testing.T) {
	root := busyboxStore(t, "linux/amd64=amd64", "linux/arm64=arm64")
	// A descriptor the caller leaves open on the host's /, as `exec 7</`
	// in a shell does: the sandbox init is a re-exec of this process.
	fd, err := unix.Open("/", unix.O_RDONLY|unix.O_DIRECTORY, 0)
	if err != nil {
		t.Fatal(err)
	}
	const leaked = 97
	if err := unix.Dup3(fd, leaked, 0); err != nil {
		t.Fatal(err)
	}
	unix.Close(fd)
	defer unix.Close(leaked)

	for _, plat := range []string{"linux/amd64", "linux/arm64"} {
		t.Run("defaults "+plat, func(t *testing.T) {
			if plat == "linux/arm64" {
				testutil.RequireCommand(t, "qemu-aarch64-static", "qemu-user-static")
			}
			out, stderr, code := runManyarch(t, "", "--root", root, "run", "--platform", plat, "t/busybox:1", "sh", "-c", sandboxtest.Probe(leaked))
			if code != 0 {
				t.Fatalf("probe: exit %d: %s", code, stderr)
			}
			sandboxtest.Check(t, out, sandboxtest.Default(leaked))
		})
	}

	t.Run("core_pattern reproduction", func(t *testing.T) {
		const canary = "/tmp/canary"
		if _, err := os.Stat(canary); err == nil {
			t.Fatalf("%s exists before the test; remove it", canary)
		}
		before, err := os.ReadFile("/proc/sys/kernel/core_pattern")
		if err != nil {
			t.Fatal(err)
		}
		_, stderr, code := runManyarch(t, "", "--root", root, "run", "t/busybox:1",
			"sh", "-c", `echo "|/usr/bin/touch /tmp/canary" > /proc/sys/kernel/core_pattern; ulimit -c unlimited; sh -c "kill -SEGV \$\$"`)
		if !strings.Contains(stderr, "Read-only file system") || code != 139 {
			t.Errorf("reproduction: exit %d, stderr %q; want the write refused (Read-only file system) and the SIGSEGV status 139", code, stderr)
		}
		after, _ := os.ReadFile("/proc/sys/kernel/core_pattern")
		if string(after) != string(before) {
			// A regression: put the host's pattern back at once, so no
			// crash on the host runs the image's command.
			werr := os.WriteFile("/proc/sys/kernel/core_pattern", before, 0)
			t.Errorf("the host's core_pattern changed: %q -> %q (restored: %v)", before, after, werr)
		}
		// A crash on the host now would run the pattern: check it is not
		// the image's, then that nothing ran it.
		if strings.Contains(string(after), "canary") {
			t.Fatalf("core_pattern is the image's: %q", after)
		}
		if _, err := os.Stat(canary); err == nil {
			os.Remove(canary)
			t.Errorf("%s was created on the host (and removed)", canary)
		}
	})

	profile := filepath.Join(t.TempDir(), "profile.json")
	if err := os.WriteFile(profile, []byte(`{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":["mkdir","mkdirat"],"action":"SCMP_ACT_ERRNO"}]}`), 0o644); err != nil {
		t.Fatal(err)
	}
	badProfile := filepath.Join(t.TempDir(), "bad.json")
	if err := os.WriteFile(badProfile, []byte(`{"defaultAction":"SCMP_ACT_NOTIFY","syscalls":[]}`), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name string
		args []string
		want map[string]string
	}{
		{"privileged", []string{"--privileged"}, map[string]string{"CapEff": "000001ffffffffff", "Seccomp": "0", "ro:/proc/sys": "no"}},
		{"cap-drop all", []string{"--cap-drop", "ALL"}, map[string]string{"CapEff": "0000000000000000", "Seccomp": "2"}},
		{"cap-add", []string{"--cap-add", "CAP_SYS_ADMIN"}, map[string]string{"CapEff": "00000000a82425fb", "unshare-user": "ok"}},
		{"seccomp unconfined", []string{"--security-opt", "seccomp=unconfined"}, map[string]string{"Seccomp": "0", "CapEff": sandbox.DefaultCapabilityMask, "ro:/proc/sys": "yes"}},
		{"seccomp profile", []string{"--security-opt", "seccomp=" + profile}, map[string]string{"Seccomp": "2", "mkdir": "refused", "unshare-user": "ok"}},
		{"no-new-privileges", []string{"--security-opt", "no-new-privileges"}, map[string]string{"NoNewPrivs": "1"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			args := append(append([]string{"--root", root, "run"}, c.args...), "t/busybox:1", "sh", "-c", sandboxtest.Probe(-1))
			out, stderr, code := runManyarch(t, "", args...)
			if code != 0 {
				t.Fatalf("exit %d: %s", code, stderr)
			}
			sandboxtest.Check(t, out, c.want)
		})
	}

	t.Run("pids limit", func(t *testing.T) {
		_, stderr, code := runManyarch(t, "", "--root", root, "run", "--pids-limit", "8", "t/busybox:1", "sh", "-c",
			`i=0; while [ $i -lt 100 ]; do sleep 5 & i=$((i+1)); done`)
		if code == 0 || !strings.Contains(stderr, "reached its limit of 8 processes and threads") || !strings.Contains(stderr, "--pids-limit") {
			t.Errorf("fork loop under --pids-limit 8: exit %d, stderr %q; want a failure naming the limit and --pids-limit", code, stderr)
		}
	})

	zero := "/dev/zero"
	for _, c := range []struct {
		name string
		args []string
		want string
	}{
		{"hostname too long", []string{"--hostname", strings.Repeat("h", 65)}, `is 65 bytes long; a host name has at most 64`},
		{"env-file /dev/zero", []string{"--env-file", zero}, "--env-file /dev/zero:1: the line is longer than 128 KiB"},
		{"seccomp profile /dev/zero", []string{"--security-opt", "seccomp=" + zero}, "/dev/zero is larger than 4194304 bytes"},
		{"seccomp bad profile", []string{"--security-opt", "seccomp=" + badProfile}, "seccomp profile " + badProfile + `: seccomp defaultAction: action "SCMP_ACT_NOTIFY" is not supported`},
		{"unknown security-opt", []string{"--security-opt", "apparmor=x"}, `--security-opt "apparmor=x": apparmor is not supported`},
		{"unknown capability", []string{"--cap-add", "NET_FOO"}, `--cap-add "NET_FOO": unknown capability`},
	} {
		t.Run(c.name, func(t *testing.T) {
			args := append(append([]string{"--root", root, "run"}, c.args...), "t/busybox:1", "true")
			_, stderr, code := runManyarch(t, "", args...)
			if code != 125 || !strings.Contains(stderr, c.want) {
				t.Errorf("run %q: exit %d, stderr %q; want 125 and %q", c.args, code, stderr, c.want)
			}
		})
	}
}

// TestEnvFileBounds: an env file with an endless line or endless size is
// an error naming the file and line, not a hang or "token too long".
func TestEnvFileBounds(t *testing.T) {
	dir := t.TempDir()
	long := filepath.Join(dir, "long")
	if err := os.WriteFile(long, []byte("A=1\nB="+strings.Repeat("x", maxEnvLine+1)+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	big := filepath.Join(dir, "big")
	if err := os.WriteFile(big, []byte(strings.Repeat("A=1\n", maxEnvFile/4+1)), 0o644); err != nil {
		t.Fatal(err)
	}
	nul := filepath.Join(dir, "nul")
	if err := os.WriteFile(nul, []byte("A=1\nB=\x00\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for file, want := range map[string]string{
		long:        long + ":2: the line is longer than 128 KiB",
		big:         big + ": larger than 16 MiB",
		nul:         nul + ":2: the line has a NUL byte",
		"/dev/zero": "/dev/zero:1: the line is longer than 128 KiB",
	} {
		_, err := readEnvFile(file)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("readEnvFile(%s) = %v, want %q", file, err, want)
		}
	}
}

// TestIsolationInBuildAndTest: a Dockerfile RUN step and a `manyarch
// test` command test, native and emulated, have the isolation of
// sandboxtest's table too (all three start containers through sandbox.Run).
func TestIsolationInBuildAndTest(t *testing.T) {
	testutil.RequireCommand(t, "qemu-aarch64-static", "qemu-user-static")
	root := busyboxStore(t, "linux/amd64=amd64", "linux/arm64=arm64")
	fd, err := unix.Open("/", unix.O_RDONLY|unix.O_DIRECTORY, 0)
	if err != nil {
		t.Fatal(err)
	}
	const leaked = 98
	if err := unix.Dup3(fd, leaked, 0); err != nil {
		t.Fatal(err)
	}
	unix.Close(fd)
	defer unix.Close(leaked)

	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "probe.sh"), []byte(sandboxtest.Probe(leaked)), 0o644); err != nil {
		t.Fatal(err)
	}
	df := "FROM t/busybox:1\nCOPY probe.sh /probe.sh\nRUN sh /probe.sh > /probe.out\n"
	if _, stderr, code := runManyarch(t, df, "--root", root, "build", "-f", "-", "-q", "--platform", "linux/amd64,linux/arm64", "-t", "t/probe:1", dir); code != 0 {
		t.Fatalf("manyarch build: exit %d: %s", code, stderr)
	}
	want := sandboxtest.Default(leaked)
	for _, plat := range []string{"linux/amd64", "linux/arm64"} {
		t.Run("RUN "+plat, func(t *testing.T) {
			out, stderr, code := runManyarch(t, "", "--root", root, "run", "--platform", plat, "t/probe:1", "cat", "/probe.out")
			if code != 0 {
				t.Fatalf("reading the RUN step's probe: exit %d: %s", code, stderr)
			}
			sandboxtest.Check(t, out, want)
		})
	}

	t.Run("test command", func(t *testing.T) {
		var expected []string
		for k, v := range want {
			expected = append(expected, "(?m)^"+regexp.QuoteMeta(k+"="+v)+"$")
		}
		sort.Strings(expected)
		cfg, err := json.Marshal(map[string]any{
			"schemaVersion": "2.0.0",
			"commandTests": []map[string]any{{
				"name": "isolation", "command": "sh", "args": []string{"/probe.sh"}, "expectedOutput": expected,
			}},
		})
		if err != nil {
			t.Fatal(err)
		}
		file := filepath.Join(t.TempDir(), "isolation.json")
		if err := os.WriteFile(file, cfg, 0o644); err != nil {
			t.Fatal(err)
		}
		out, stderr, code := runManyarch(t, "", "--root", root, "test", "t/probe:1", "-c", file)
		if code != 0 || !strings.Contains(out, "PASS: 2 passed, 0 failed") {
			t.Errorf("manyarch test of the isolation on both platforms: exit %d\n%s\n%s", code, out, stderr)
		}
	})
}

// startManyarch starts the test binary as a manyarch process with args.
func startManyarch(t *testing.T, stderr *bytes.Buffer, args ...string) *exec.Cmd {
	t.Helper()
	c := exec.Command(os.Args[0], args...)
	c.Env = append(os.Environ(), cliMainEnv+"=1")
	c.Stdout, c.Stderr = stderr, stderr
	if err := c.Start(); err != nil {
		t.Fatal(err)
	}
	return c
}

// hostNetLinks lists the host's links made for private networks.
func hostNetLinks(t *testing.T) map[string]bool {
	t.Helper()
	ifs, err := net.Interfaces()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]bool{}
	for _, i := range ifs {
		if strings.HasPrefix(i.Name, netns.LinkPrefix) {
			out[i.Name] = true
		}
	}
	return out
}

func loopbackPort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// getUntil gets url until it answers 200, for at most 30 s.
func getUntil(url string) (string, error) {
	c := &http.Client{Timeout: 3 * time.Second}
	var err error
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		var resp *http.Response
		if resp, err = c.Get(url); err == nil {
			b, rerr := io.ReadAll(resp.Body)
			resp.Body.Close()
			if rerr == nil && resp.StatusCode == 200 {
				return string(b), nil
			}
			err = fmt.Errorf("status %s, %v", resp.Status, rerr)
		}
	}
	return "", err
}

// checkNetGone checks, for at most 5 s (the kernel tears a network
// namespace down in the background), that link, its addresses and its
// slot's lock are gone from the host.
func checkNetGone(t *testing.T, link string, wantLock bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for hostNetLinks(t)[link] && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	if hostNetLinks(t)[link] {
		t.Errorf("%s is left on the host", link)
	}
	if out, _ := exec.Command("ip", "-4", "-o", "addr").CombinedOutput(); strings.Contains(string(out), link) {
		t.Errorf("an address of %s is left on the host:\n%s", link, out)
	}
	lock := filepath.Join(netns.StateDir, "slot-"+strings.TrimPrefix(link, netns.LinkPrefix)+".lock")
	if _, err := os.Stat(lock); (err == nil) != wantLock {
		t.Errorf("lock file %s exists: %v, want %v", lock, err == nil, wantLock)
	}
}

// TestRunPublish serves HTTP from busybox httpd in a container, natively
// and under QEMU, published with -p on a loopback port, and checks that
// the veth pair, its addresses and the slot lock are gone after manyarch
// exits, after a SIGKILL of manyarch (the next manyarch removes the lock),
// and after the service crashes.
func TestRunPublish(t *testing.T) {
	root := busyboxStore(t, "linux/amd64=amd64", "linux/arm64=arm64")
	testutil.RequireCommand(t, "ip", "iproute2")
	testutil.RequireCommand(t, "nsenter", "util-linux")
	serve := func(t *testing.T, plat string) (*exec.Cmd, *bytes.Buffer, string, string) {
		t.Helper()
		if plat == "linux/arm64" {
			testutil.RequireCommand(t, "qemu-aarch64-static", "qemu-user-static")
		}
		port := loopbackPort(t)
		var stderr bytes.Buffer
		c := startManyarch(t, &stderr, "--root", root, "run", "-p", fmt.Sprintf("127.0.0.1:%d:8080", port), "--platform", plat, "t/busybox:1",
			"sh", "-c", `mkdir /tmp/w && uname -m > /tmp/w/index.html && ip -4 -o addr show dev eth0 | sed 's/.*inet \([0-9.]*\).*/\1/' > /tmp/w/addr &&
				exec httpd -f -p 8080 -h /tmp/w`)
		body, err := getUntil(fmt.Sprintf("http://127.0.0.1:%d/", port))
		var addr string
		if err == nil {
			addr, err = getUntil(fmt.Sprintf("http://127.0.0.1:%d/addr", port))
		}
		// Its own link, found by its address: other tests may make
		// links meanwhile.
		var link string
		if a, perr := netip.ParseAddr(strings.TrimSpace(addr)); perr == nil {
			link = netns.LinkOf(a)
		}
		if err != nil || link == "" || !hostNetLinks(t)[link] {
			c.Process.Kill()
			c.Wait()
			t.Fatalf("GET 127.0.0.1:%d: %q, %v; container address %q, its link %q on the host: %v\nmanyarch: %s", port, body, err, addr, link, hostNetLinks(t)[link], stderr.String())
		}
		return c, &stderr, strings.TrimSpace(body), link
	}
	want := map[string]string{"linux/amd64": "x86_64", "linux/arm64": "aarch64"}

	for _, plat := range []string{"linux/amd64", "linux/arm64"} {
		t.Run("exit "+plat, func(t *testing.T) {
			c, stderr, body, link := serve(t, plat)
			if body != want[plat] {
				t.Errorf("served %q, want %q", body, want[plat])
			}
			c.Process.Signal(syscall.SIGTERM) // forwarded: httpd exits
			var ee *exec.ExitError
			if err := c.Wait(); err != nil && (!errors.As(err, &ee) || ee.ExitCode() != 128+int(syscall.SIGTERM)) {
				t.Errorf("manyarch after SIGTERM: %v, want exit 143\n%s", err, stderr)
			}
			checkNetGone(t, link, false)
		})
	}

	plat := "linux/arm64"
	if _, err := exec.LookPath("qemu-aarch64-static"); err != nil {
		plat = "linux/amd64"
	}
	t.Run("SIGKILL of manyarch "+plat, func(t *testing.T) {
		c, _, _, link := serve(t, plat)
		c.Process.Signal(syscall.SIGKILL)
		c.Wait()
		// The namespace dies with the init (killed with its parent), and
		// the pair with it; only the lock file stays, unlocked.
		checkNetGone(t, link, true)
		// The next manyarch run removes it, whatever its network (a
		// private one would reuse the free slot anyway).
		var stderr bytes.Buffer
		next := startManyarch(t, &stderr, "--root", root, "run", "--network", "none", "t/busybox:1", "true")
		if err := next.Wait(); err != nil {
			t.Fatalf("next run: %v\n%s", err, stderr.String())
		}
		checkNetGone(t, link, false)
	})

	t.Run("crash of the service "+plat, func(t *testing.T) {
		c, stderr, _, link := serve(t, plat)
		// Kill the container's command (the init's only child) as a crash
		// would; SIGKILL dumps no core.
		init := childPids(c.Process.Pid)
		var svc []int
		for _, p := range init {
			svc = append(svc, childPids(p)...)
		}
		if len(svc) == 0 {
			c.Process.Kill()
			c.Wait()
			t.Fatal("no container process found")
		}
		for _, p := range svc {
			unix.Kill(p, syscall.SIGKILL)
		}
		err := c.Wait()
		var ee *exec.ExitError
		if !errors.As(err, &ee) || ee.ExitCode() != 137 {
			t.Errorf("manyarch after the service was killed: %v, want exit status 137\n%s", err, stderr)
		}
		checkNetGone(t, link, false)
	})
}

// childPids lists the children of pid.
func childPids(pid int) []int {
	var out []int
	tasks, _ := filepath.Glob(fmt.Sprintf("/proc/%d/task/*/children", pid))
	for _, f := range tasks {
		b, _ := os.ReadFile(f)
		for _, s := range strings.Fields(string(b)) {
			if n, err := strconv.Atoi(s); err == nil {
				out = append(out, n)
			}
		}
	}
	return out
}

// TestRunPublishBadInput: a port in use, a bad -p and -p with another
// network fail before the container starts, naming the value (and the
// platform), and leave no link behind.
func TestRunPublishBadInput(t *testing.T) {
	root := busyboxStore(t, "linux/amd64=amd64", "linux/arm64=arm64")
	testutil.RequireCommand(t, "ip", "iproute2")
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	port := busy.Addr().(*net.TCPAddr).Port
	for _, tc := range []struct {
		args []string
		want []string
	}{
		{[]string{"-p", fmt.Sprintf("%d:80", port), "--platform", "linux/arm64"}, []string{"linux/arm64", fmt.Sprintf("127.0.0.1:%d is already in use", port), "the container was not started"}},
		{[]string{"-p", "8080:80/udp"}, []string{`-p "8080:80/udp"`, "TCP ports only"}},
		{[]string{"-p", "80"}, []string{`-p "80"`, "HOSTPORT:CONTAINERPORT"}},
		{[]string{"--network", "host", "-p", "18099:80"}, []string{`-p "18099:80"`, "--network private"}},
		{[]string{"--network", "none", "-p", "18099:80"}, []string{"not --network none"}},
	} {
		args := append(append([]string{"--root", root, "run"}, tc.args...), "t/busybox:1", "true")
		_, stderr, code := runManyarch(t, "", args...)
		if code != 125 {
			t.Errorf("%v: exit %d, want 125 (%s)", tc.args, code, stderr)
		}
		for _, w := range tc.want {
			if !strings.Contains(stderr, w) {
				t.Errorf("%v: error %q does not say %q", tc.args, stderr, w)
			}
		}
	}
	// Nothing is made before these checks: they stop run before
	// sandbox.Run, the only maker of links (netns tests check Listen
	// leaves no port open on an error).
}

// TestRunNetworkPrivate: the default network stays the host's; --network
// private gives lo and eth0 in manyarch's subnet with a route to the host.
func TestRunNetworkPrivate(t *testing.T) {
	root := busyboxStore(t, "linux/amd64=amd64")
	testutil.RequireCommand(t, "ip", "iproute2")
	out, stderr, code := runManyarch(t, "", "--root", root, "run", "--network", "private", "t/busybox:1", "sh", "-c", "ls /sys/class/net; ip -4 -o addr show dev eth0; ip route")
	if code != 0 || !strings.Contains(out, "eth0\nlo\n") || !strings.Contains(out, "inet 10.231.") || !strings.Contains(out, "default via 10.231.") {
		t.Errorf("--network private: exit %d, output:\n%s\n%s", code, out, stderr)
	}
	out, stderr, code = runManyarch(t, "", "--root", root, "run", "t/busybox:1", "ls", "/sys/class/net")
	hostIfs, _ := net.Interfaces()
	for _, i := range hostIfs {
		if !strings.HasPrefix(i.Name, netns.LinkPrefix) && !strings.Contains("\n"+out, "\n"+i.Name+"\n") {
			t.Errorf("default network: exit %d, %q (%s), want the host's interfaces (%s missing)", code, out, stderr, i.Name)
		}
	}
}

// TestRunPublishRootless: as another user than root, -p and --network
// private are a clear error saying what to use instead.
func TestRunPublishRootless(t *testing.T) {
	testutil.RequireRoot(t) // to become another user
	dir := t.TempDir()
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(filepath.Dir(dir), 0o755); err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(dir, "manyarch.test")
	data, err := os.ReadFile(os.Args[0])
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(bin, data, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{{"-p", "18098:80"}, {"--network", "private"}} {
		c := exec.Command(bin, append(append([]string{"--root", filepath.Join(dir, "store"), "run"}, args...), "t/busybox:1", "true")...)
		c.Env = []string{cliMainEnv + "=1", "HOME=" + dir, "PATH=" + os.Getenv("PATH")}
		c.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
		out, err := c.CombinedOutput()
		var ee *exec.ExitError
		if !errors.As(err, &ee) || ee.ExitCode() != 125 || !strings.Contains(string(out), args[1]) || !strings.Contains(string(out), "needs root") || !strings.Contains(string(out), "--network host") {
			t.Errorf("%v as nobody: %v, %s; want exit 125 naming it, that it needs root and what to use instead", args, err, out)
		}
	}
}
