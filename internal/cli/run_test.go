package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"golang.org/x/sys/unix"

	"github.com/manyarch/manyarch/internal/emulation"
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
	os.Exit(m.Run())
}

// runCLI runs manyarch in-process and returns stdout, stderr and the exit
// status main would use.
func runManyarch(t *testing.T, stdin string, args ...string) (string, string, int) {
	t.Helper()
	var out, errb bytes.Buffer
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
