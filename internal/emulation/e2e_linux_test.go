package emulation

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/manyarch/manyarch/internal/testutil"
)

// TestForcedEmulated386EndToEnd runs linux/386 through QEMU with
// --emulation private on any amd64 host, one whose kernel runs i386
// natively too: run, a build's RUN step, and test, through the manyarch
// binary, so CI exercises the path a host without IA32 emulation takes.
func TestForcedEmulated386EndToEnd(t *testing.T) {
	if runtime.GOARCH != "amd64" {
		t.Skip("forcing emulation of 386 is an amd64 host's question")
	}
	testutil.RequireRoot(t)
	if err := PrivateSupported(); err != nil {
		t.Skip(err)
	}
	a := arch(t, "386")
	if _, err := staticInterpreter(a); err != nil {
		t.Skip(err)
	}
	f := testutil.RequireFixtures(t)
	root := t.TempDir()
	m := func(args ...string) (string, string) {
		t.Helper()
		cmd := exec.Command(f.Binary, args...)
		cmd.Env = append(os.Environ(), "MANYARCH_ROOT="+root)
		var out, errb bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &errb
		if err := cmd.Run(); err != nil {
			t.Fatalf("manyarch %s: %v\n%s%s", strings.Join(args, " "), err, out.String(), errb.String())
		}
		return out.String(), errb.String()
	}
	m("copy", "-q", "oci-archive:"+f.Busybox, "fixtures/busybox:1.35")
	m("copy", "-q", "oci-archive:"+f.Hello, "fixtures/hello:1.0")

	forced := []string{"--emulation", "private", "--platform", "linux/386"}
	// --verbose (-v is --volume on run) logs the decision: private, not native with linux32, which prints
	// the same greeting on a host that runs i386.
	out, logs := m(append(append([]string{"run", "--rm", "--verbose"}, forced...), "fixtures/hello:1.0")...)
	if out != "Hello, 386!\n" || !strings.Contains(logs, "kind=private") {
		t.Errorf("run --verbose --emulation private --platform linux/386 fixtures/hello:1.0 = %q, log %q; want %q, emulated privately", out, logs, "Hello, 386!\n")
	}
	// QEMU says i686 by itself; natively the kernel would say x86_64
	// without the linux32 personality.
	if out, _ := m(append(append([]string{"run", "--rm"}, forced...), "--entrypoint", "uname", "fixtures/busybox:1.35", "-m")...); out != "i686\n" {
		t.Errorf("run --emulation private linux/386 uname -m = %q, want i686", out)
	}

	ctxDir := t.TempDir()
	df := "FROM fixtures/busybox:1.35\nRUN uname -m > /machine && echo built > /built\n"
	if err := os.WriteFile(filepath.Join(ctxDir, "Dockerfile"), []byte(df), 0o644); err != nil {
		t.Fatal(err)
	}
	m(append(append([]string{"build", "-q"}, forced...), "-t", "forced386:1", ctxDir)...)
	if out, _ := m(append(append([]string{"run", "--rm"}, forced...), "forced386:1", "cat", "/machine", "/built")...); out != "i686\nbuilt\n" {
		t.Errorf("a RUN step built with --emulation private for linux/386 wrote %q, want i686 and built", out)
	}

	tests := filepath.Join(t.TempDir(), "tests.yaml")
	yaml := "schemaVersion: 2.0.0\ncommandTests:\n- name: greets\n  command: /hello\n  expectedOutput: [\"^Hello, {{.GOARCH}}!\\n$\"]\n"
	if err := os.WriteFile(tests, []byte(yaml), 0o644); err != nil {
		t.Fatal(err)
	}
	out, _ = m(append(append([]string{"test"}, forced...), "fixtures/hello:1.0", "-c", tests)...)
	if !strings.Contains(out, "linux/386") {
		t.Errorf("test --emulation private --platform linux/386 printed %q, want a report naming linux/386", out)
	}
}
