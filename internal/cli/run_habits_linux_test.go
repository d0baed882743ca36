//go:build linux

package cli

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/manyarch/manyarch/internal/testutil"
)

// ptyPair opens a pseudo-terminal as the test's "user terminal".
func ptyPair(t *testing.T) (master, peer *os.File) {
	t.Helper()
	master, err := os.OpenFile("/dev/ptmx", os.O_RDWR|unix.O_NOCTTY|unix.O_CLOEXEC, 0)
	if err != nil {
		t.Skipf("no pseudo-terminals here: %v", err)
	}
	peer, err = openPeer(master)
	if err != nil {
		master.Close()
		t.Fatal(err)
	}
	t.Cleanup(func() { master.Close(); peer.Close() })
	return master, peer
}

// testutil.SyncBuffer is a bytes.Buffer safe for one writer and one reader.

// TestRunTTYInteractive runs `run -it` from a terminal, as a user at a
// shell would: the container's shell has the terminal as its controlling
// terminal (tty_nr in /proc/self/stat), the user's window size, ^C
// interrupts its foreground command (raw mode on the user's side, the line
// discipline on the container's), the exit status is the shell's, and the
// user's terminal is back in its mode afterwards.
func TestRunTTYInteractive(t *testing.T) {
	root := busyboxStore(t, "linux/amd64=amd64")
	master, peer := ptyPair(t)
	if err := unix.IoctlSetWinsize(int(master.Fd()), unix.TIOCSWINSZ, &unix.Winsize{Row: 33, Col: 111}); err != nil {
		t.Fatal(err)
	}
	before, err := unix.IoctlGetTermios(int(peer.Fd()), unix.TCGETS)
	if err != nil {
		t.Fatal(err)
	}
	c := exec.Command(os.Args[0], "--root", root, "run", "-it", "t/busybox:1", "sh")
	c.Env = append(os.Environ(), cliMainEnv+"=1")
	c.Stdin, c.Stdout, c.Stderr = peer, peer, peer
	c.SysProcAttr = &syscall.SysProcAttr{Setsid: true, Setctty: true, Ctty: 0}
	if err := c.Start(); err != nil {
		t.Fatal(err)
	}
	out := &testutil.SyncBuffer{}
	go func() { _, _ = bytesCopy(out, master) }()
	waitFor := func(what string, within time.Duration) {
		t.Helper()
		deadline := time.Now().Add(within)
		for !strings.Contains(out.String(), what) {
			if time.Now().After(deadline) {
				c.Process.Kill()
				t.Fatalf("waiting for %q; the terminal shows:\n%s", what, out.String())
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	waitFor("# ", 30*time.Second) // the prompt
	master.WriteString("stty size; echo ctty=$(cut -d' ' -f7 /proc/self/stat); echo $((6*7))\n")
	waitFor("42", 30*time.Second)
	// ^C ends the sleep (and, as in any interactive shell, the rest of
	// its line): the next command runs long before the 60 s are up.
	master.WriteString("sleep 60; echo sleep-not-interrupted\n")
	time.Sleep(500 * time.Millisecond)
	master.WriteString("\x03")
	master.WriteString("echo after-$((1+1))-interrupt\n") // the terminal echoes the command, not "after-2"
	waitFor("after-2-interrupt\r\n", 20*time.Second)
	if strings.Contains(out.String(), "\nsleep-not-interrupted") {
		t.Errorf("^C did not interrupt the container's sleep:\n%s", out.String())
	}
	master.WriteString("exit 3\n")
	err = c.Wait()
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 3 {
		t.Errorf("run -it ... sh, exit 3: %v, want exit status 3; the terminal shows:\n%s", err, out.String())
	}
	got := out.String()
	if !strings.Contains(got, "33 111") {
		t.Errorf("stty size in the container did not give the user's 33 111:\n%s", got)
	}
	if strings.Contains(got, "ctty=0\r") || !strings.Contains(got, "ctty=") {
		t.Errorf("the container's shell has no controlling terminal (tty_nr 0):\n%s", got)
	}
	after, err := unix.IoctlGetTermios(int(peer.Fd()), unix.TCGETS)
	if err != nil {
		t.Fatal(err)
	}
	if after.Lflag != before.Lflag || after.Iflag != before.Iflag || after.Oflag != before.Oflag {
		t.Errorf("the user's terminal was left changed: lflag %#x iflag %#x oflag %#x, was %#x %#x %#x",
			after.Lflag, after.Iflag, after.Oflag, before.Lflag, before.Iflag, before.Oflag)
	}
}

func bytesCopy(dst *testutil.SyncBuffer, src *os.File) (int64, error) {
	buf := make([]byte, 4096)
	var n int64
	for {
		k, err := src.Read(buf)
		if k > 0 {
			dst.Write(buf[:k])
			n += int64(k)
		}
		if err != nil {
			return n, err
		}
	}
}

// TestRunTTYOutput: -t without a terminal of the caller still gives the
// command one, whose output (stdout and stderr, as docker run -t merges
// them) reaches manyarch's stdout; -it without a terminal is refused.
func TestRunTTYOutput(t *testing.T) {
	root := busyboxStore(t, "linux/amd64=amd64")
	out, stderr, code := runManyarch(t, "", "--root", root, "run", "-t", "t/busybox:1", "sh", "-c", "test -t 0 && test -t 1 && echo on-a-tty; echo to-stderr >&2; exit 4")
	if code != 4 || out != "on-a-tty\r\nto-stderr\r\n" {
		t.Errorf("run -t: exit %d, stdout %q, stderr %q; want 4, %q", code, out, stderr, "on-a-tty\r\nto-stderr\r\n")
	}
	_, stderr, code = runManyarch(t, "hello\n", "--root", root, "run", "-it", "t/busybox:1", "cat")
	if code != runFailed || !strings.Contains(stderr, "not a terminal") {
		t.Errorf("run -it with a pipe as stdin: exit %d, %q; want %d naming the missing terminal", code, stderr, runFailed)
	}
}

// TestRunReadOnly: --read-only makes the root read-only, while volumes,
// /dev and a created working directory work, as in docker run --read-only.
func TestRunReadOnly(t *testing.T) {
	root := busyboxStore(t, "linux/amd64=amd64")
	host := t.TempDir()
	script := "touch /x 2>&1; echo touch=$?; echo v > /vol/f && echo vol-ok; echo > /dev/null && echo dev-ok; pwd"
	out, stderr, code := runManyarch(t, "", "--root", root, "run", "--read-only", "-v", host+":/vol", "-w", "/made/here", "t/busybox:1", "sh", "-c", script)
	want := "touch: /x: Read-only file system\ntouch=1\nvol-ok\ndev-ok\n/made/here\n"
	if code != 0 || out != want {
		t.Errorf("run --read-only: exit %d, stdout %q, stderr %q; want %q", code, out, stderr, want)
	}
	if b, err := os.ReadFile(filepath.Join(host, "f")); err != nil || string(b) != "v\n" {
		t.Errorf("the volume (given with -v, docker's shorthand) got %q, %v", b, err)
	}
	// Without --read-only the same root is writable.
	out, _, _ = runManyarch(t, "", "--root", root, "run", "t/busybox:1", "sh", "-c", "touch /x; echo touch=$?")
	if out != "touch=0\n" {
		t.Errorf("run without --read-only: %q, want touch=0", out)
	}
}

// TestRunName: a name is held while its container runs, as docker refuses
// a name in use, and is free again after it ends.
func TestRunName(t *testing.T) {
	root := busyboxStore(t, "linux/amd64=amd64")
	var first bytes.Buffer
	c := startManyarch(t, &first, "--root", root, "run", "--name", "web.1", "t/busybox:1", "sh", "-c", "echo up; sleep 20")
	deadline := time.Now().Add(30 * time.Second)
	for !strings.Contains(first.String(), "up") && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	_, stderr, code := runManyarch(t, "", "--root", root, "run", "--name", "web.1", "t/busybox:1", "true")
	if code != runFailed || !strings.Contains(stderr, `"web.1" is in use`) || !strings.Contains(stderr, "pid") {
		t.Errorf("a second run --name web.1: exit %d, %q; want %d naming the name in use and its pid", code, stderr, runFailed)
	}
	c.Process.Kill() // even killed, the name goes with the process
	c.Wait()
	if _, stderr, code := runManyarch(t, "", "--root", root, "run", "--name", "web.1", "t/busybox:1", "true"); code != 0 {
		t.Errorf("run --name web.1 after the first ended: exit %d, %s", code, stderr)
	}
	if _, stderr, code := runManyarch(t, "", "--root", root, "run", "--name", "../x", "t/busybox:1", "true"); code != runFailed || !strings.Contains(stderr, `--name "../x"`) {
		t.Errorf("run --name ../x: exit %d, %q; want a refused name", code, stderr)
	}
}

// TestRunWarnsWrongArch: an image labelled linux/arm64 that holds amd64
// programs runs them natively on an amd64 host; run says so before it
// runs, naming the program, and says nothing when the programs match.
func TestRunWarnsWrongArch(t *testing.T) {
	root := busyboxStore(t, "linux/amd64=amd64", "linux/arm64=amd64") // arm64 holds amd64's busybox
	out, stderr, code := runManyarch(t, "", "--root", root, "run", "--platform", "linux/arm64", "t/busybox:1", "echo", "ran")
	if code != 0 || out != "ran\n" || !strings.Contains(stderr, "warning: t/busybox:1 (linux/arm64): /bin/echo is an amd64 program, not arm64") {
		t.Errorf("run --platform linux/arm64 of amd64 programs: exit %d, stdout %q, stderr %q; want it run, with a warning naming /bin/echo", code, out, stderr)
	}
	_, stderr, code = runManyarch(t, "", "--root", root, "run", "--platform", "linux/amd64", "t/busybox:1", "true")
	if code != 0 || strings.Contains(stderr, "warning") {
		t.Errorf("run --platform linux/amd64 of amd64 programs: exit %d, stderr %q; want no warning", code, stderr)
	}
}

// TestCompletionImageNames: image arguments complete to the store's names;
// after run's image, a command (files) follows.
func TestCompletionImageNames(t *testing.T) {
	root := busyboxStore(t, "linux/amd64=amd64")
	if got := complete(t, "--root", root, "run", "t/"); strings.Join(got, " ") != "t/busybox:1" {
		t.Errorf("run t/<TAB> offers %q, want t/busybox:1", got)
	}
	if got := complete(t, "--root", root, "run", "t/busybox:1", ""); len(got) != 0 {
		t.Errorf("run t/busybox:1 <TAB> offers %q, want files (no names)", got)
	}
	if got := complete(t, "--root", root, "inspect", ""); strings.Join(got, " ") != "t/busybox:1" {
		t.Errorf("inspect <TAB> offers %q", got)
	}
}

// TestColor: manyarch's error and warning prefixes are coloured on a
// terminal, and never with NO_COLOR set or into a pipe or file.
func TestColor(t *testing.T) {
	master, peer := ptyPair(t)
	t.Setenv("TERM", "xterm")
	t.Setenv("NO_COLOR", "")
	ExitCode(errors.New("boom"), peer)
	buf := make([]byte, 256)
	n, _ := master.Read(buf)
	if got := string(buf[:n]); !strings.Contains(got, "\x1b[31mmanyarch:\x1b[0m boom") {
		t.Errorf("an error on a terminal reads %q; want a red manyarch: prefix", got)
	}
	t.Setenv("NO_COLOR", "1")
	if colorOn(peer) {
		t.Error("NO_COLOR=1: colour is still on")
	}
	t.Setenv("NO_COLOR", "")
	var b bytes.Buffer
	ExitCode(errors.New("boom"), &b)
	if b.String() != "manyarch: boom\n" {
		t.Errorf("an error into a buffer reads %q; want no escapes", b.String())
	}
}

// TestBuildCheckLoadRawjson: buildx's --check, --load and --progress
// rawjson habits (issue #22 item 3).
func TestBuildCheckLoadRawjson(t *testing.T) {
	root := t.TempDir()
	dir := t.TempDir()
	write := func(name, text string) {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("a", "a\n")
	write("Dockerfile", "FROM scratch\nCOPY a /a\n")
	write("Lint.Dockerfile", "from scratch\nCOPY a /a\nmaintainer me\n")

	_, stderr, code := runManyarch(t, "", "--root", root, "build", "--check", dir)
	if code != 0 || !strings.Contains(stderr, "Check complete, no warnings found.") {
		t.Errorf("build --check of a clean Dockerfile: exit %d, %q", code, stderr)
	}
	_, stderr, code = runManyarch(t, "", "--root", root, "build", "--check", "-f", filepath.Join(dir, "Lint.Dockerfile"), dir)
	if code != 1 || !strings.Contains(stderr, "(ConsistentInstructionCasing)") || !strings.Contains(stderr, "(MaintainerDeprecated)") ||
		!strings.Contains(stderr, "check complete, 2 warnings have been found") {
		t.Errorf("build --check with two lint warnings: exit %d, %q; want 1 and both named", code, stderr)
	}
	if out, _, _ := runManyarch(t, "", "--root", root, "images", "--format", "{{.Name}}"); out != "" {
		t.Errorf("build --check stored images: %q", out)
	}

	_, stderr, code = runManyarch(t, "", "--root", root, "build", "--progress", "rawjson", dir)
	if code != 2 || !strings.Contains(stderr, "--progress json") {
		t.Errorf("build --progress rawjson: exit %d, %q; want a usage error pointing at json", code, stderr)
	}

	_, stderr, code = runManyarch(t, "", "--root", root, "build", "--load", "--platform", "linux/amd64,linux/arm64", dir)
	if code == 0 || !strings.Contains(stderr, "one platform") {
		t.Errorf("build --load of two platforms: exit %d, %q; want a refusal", code, stderr)
	}
	t.Run("no engine", func(t *testing.T) {
		t.Setenv("PATH", t.TempDir())
		_, stderr, code := runManyarch(t, "", "--root", root, "build", "--load", "-t", "l:1", dir)
		if code == 0 || !strings.Contains(stderr, "docker: not installed") || !strings.Contains(stderr, "-o type=docker,dest=FILE") {
			t.Errorf("build --load with no engine: exit %d, %q; want what to do instead", code, stderr)
		}
	})
	t.Run("docker", func(t *testing.T) {
		docker := testutil.RequireCommand(t, "docker", "docker.io")
		if err := exec.Command(docker, "info").Run(); err != nil {
			t.Skipf("no docker daemon answers (start dockerd to run this): %v", err)
		}
		name := fmt.Sprintf("manyarch-load-test:%d", os.Getpid())
		defer exec.Command(docker, "rmi", "-f", name).Run()
		if _, stderr, code := runManyarch(t, "", "--root", root, "build", "--load", "--platform", "linux/arm64", "-t", name, dir); code != 0 {
			t.Fatalf("build --load: exit %d, %s", code, stderr)
		}
		out, err := exec.Command(docker, "image", "inspect", "--format", "{{.Os}}/{{.Architecture}}", name).Output()
		if err != nil || strings.TrimSpace(string(out)) != "linux/arm64" {
			t.Errorf("docker image inspect %s: %q, %v; want linux/arm64", name, out, err)
		}
	})
}

// TestBuildProgressLabels: a cross-compiling stage's steps are labelled
// per target as buildx does, with no cache keys unless -v, and the build
// ends with a per-platform summary (issue #22 item 2).
func TestBuildProgressLabels(t *testing.T) {
	root := busyboxStore(t, "linux/amd64=amd64", "linux/arm64=arm64")
	dir := t.TempDir()
	df := "FROM --platform=$BUILDPLATFORM t/busybox:1 AS build\nARG TARGETARCH\nRUN echo $TARGETARCH > /out\n" +
		"FROM t/busybox:1\nCOPY --from=build /out /out\nRUN cat /out\n"
	if err := os.WriteFile(filepath.Join(dir, "Dockerfile"), []byte(df), 0o644); err != nil {
		t.Fatal(err)
	}
	_, stderr, code := runManyarch(t, "", "--root", root, "build", "--progress", "plain", "--platform", "linux/amd64,linux/arm64", "-t", "x:1", dir)
	if code != 0 {
		t.Fatalf("build: exit %d\n%s", code, stderr)
	}
	for _, want := range []string{"linux/amd64->arm64  build 2/2", "built 2 platform(s) in", "  linux/arm64    3 step(s) ran (1 emulated, "} {
		if !strings.Contains(stderr, want) {
			t.Errorf("build progress lacks %q:\n%s", want, stderr)
		}
	}
	if regexp.MustCompile(`@[0-9a-f]{12}`).MatchString(stderr) {
		t.Errorf("build progress shows cache keys without -v:\n%s", stderr)
	}
	_, stderr, _ = runManyarch(t, "", "--root", root, "build", "-v", "--progress", "plain", "--platform", "linux/amd64,linux/arm64", "-t", "x:1", dir)
	if !regexp.MustCompile(`build/2@[0-9a-f]{12}`).MatchString(stderr) {
		t.Errorf("build -v progress lacks the cache keys:\n%s", stderr)
	}
	if regexp.MustCompile(`cached .*\(emulated\)`).MatchString(stderr) {
		t.Errorf("a cached step is marked emulated:\n%s", stderr)
	}
}

// TestContainerLimitFlags: --add-host, --ulimit and --shm-size on run and
// build, and build --network none, as docker run and buildx give them.
func TestContainerLimitFlags(t *testing.T) {
	root := busyboxStore(t, "linux/amd64=amd64")
	script := "tail -1 /etc/hosts; ulimit -n; ulimit -Hn; df -k /dev/shm | tail -1 | awk '{print $2}'"
	out, stderr, code := runManyarch(t, "", "--root", root, "run", "--add-host", "reg.local:10.1.2.3", "--ulimit", "nofile=512:1024",
		"--shm-size", "128m", "t/busybox:1", "sh", "-c", script)
	if want := "10.1.2.3\treg.local\n512\n1024\n131072\n"; code != 0 || out != want {
		t.Errorf("run with --add-host, --ulimit, --shm-size: exit %d, %q (%s); want %q", code, out, stderr, want)
	}
	if _, stderr, code := runManyarch(t, "", "--root", root, "run", "--ulimit", "nofile=1:x", "t/busybox:1", "true"); code != runFailed || !strings.Contains(stderr, "--ulimit") {
		t.Errorf("run --ulimit nofile=1:x: exit %d, %q", code, stderr)
	}

	dir := t.TempDir()
	df := "FROM t/busybox:1\nRUN (tail -1 /etc/hosts; ulimit -n; df -k /dev/shm | tail -1 | awk '{print $2}'; ip -o link | wc -l) > /out\n"
	if err := os.WriteFile(filepath.Join(dir, "Dockerfile"), []byte(df), 0o644); err != nil {
		t.Fatal(err)
	}
	dest := filepath.Join(t.TempDir(), "out")
	_, stderr, code = runManyarch(t, "", "--root", root, "build", "--add-host", "reg.local:10.1.2.3", "--ulimit", "nofile=256:512",
		"--shm-size", "32m", "--network", "none", "-o", "type=local,dest="+dest, dir)
	got, _ := os.ReadFile(filepath.Join(dest, "out"))
	if want := "10.1.2.3\treg.local\n256\n32768\n1\n"; code != 0 || string(got) != want {
		t.Errorf("build with --add-host, --ulimit, --shm-size, --network none: exit %d, /out %q (%s); want %q", code, got, stderr, want)
	}
	// Without the flags the same Dockerfile runs again (they are part of
	// the step's cache key) and sees none of them.
	dest2 := filepath.Join(t.TempDir(), "out")
	if _, stderr, code := runManyarch(t, "", "--root", root, "build", "-o", "type=local,dest="+dest2, dir); code != 0 {
		t.Fatalf("build: exit %d, %s", code, stderr)
	}
	if got2, _ := os.ReadFile(filepath.Join(dest2, "out")); strings.Contains(string(got2), "reg.local") || strings.HasSuffix(string(got2), "\n1\n") {
		t.Errorf("a build without the flags got the cached step of one with them: %q", got2)
	}
}

// TestImageIDReferences: the digest build and images print (whole, or its
// first 12 hex digits) names the store's image wherever a reference goes,
// as docker's image IDs do; an unknown ID never goes to Docker Hub
// (issue #22 item 4).
func TestImageIDReferences(t *testing.T) {
	root := busyboxStore(t, "linux/amd64=amd64")
	out, _, _ := runManyarch(t, "", "--root", root, "inspect", "--format", "{{.Digest}}", "t/busybox:1")
	digest := strings.TrimSpace(out)
	if !strings.HasPrefix(digest, "sha256:") || len(digest) != 71 {
		t.Fatalf("inspect --format {{.Digest}} = %q", out)
	}
	for _, id := range []string{digest, digest[7:], digest[7:19]} {
		if out, stderr, code := runManyarch(t, "", "--root", root, "run", id, "echo", "ran"); code != 0 || out != "ran\n" {
			t.Errorf("run %s: exit %d, %q, %s", id, code, out, stderr)
		}
	}
	if out, _, code := runManyarch(t, "", "--root", root, "inspect", "--format", "{{.Digest}}", digest[7:19]); code != 0 || strings.TrimSpace(out) != digest {
		t.Errorf("inspect %s: exit %d, %q; want %s", digest[7:19], code, out, digest)
	}
	_, stderr, code := runManyarch(t, "", "--root", root, "run", "0123456789ab", "true")
	if code != runFailed || !strings.Contains(stderr, "has the ID or name 0123456789ab") || strings.Contains(stderr, "docker.io") {
		t.Errorf("run of an unknown ID: exit %d, %q; want the store named, no registry", code, stderr)
	}
}
