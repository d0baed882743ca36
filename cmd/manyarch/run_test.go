package main

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/manyarch/manyarch/internal/platform"
	"github.com/manyarch/manyarch/internal/testutil"
)

// fixtureStore copies the fixture images into a new store.
func fixtureStore(t *testing.T) string {
	t.Helper()
	testutil.RequireRoot(t)
	testutil.RequireCommand(t, "qemu-aarch64-static", "qemu-user-static")
	f := testutil.RequireFixtures(t)
	root := t.TempDir()
	manyarch(t, root, "copy", "-q", "oci-archive:"+f.Busybox, "fixtures/busybox:1.35")
	manyarch(t, root, "copy", "-q", "oci-archive:"+f.Hello, "fixtures/hello:1.0")
	return root
}

func arch(t *testing.T, p string) platform.Arch {
	t.Helper()
	sp, err := platform.Parse(p)
	if err != nil {
		t.Fatal(err)
	}
	a, ok := platform.Lookup(sp)
	if !ok {
		t.Fatalf("%s is not in the architecture table", p)
	}
	return a
}

// TestRunEveryPlatform is the seed workflow: every platform's image runs with
// no daemon and nothing registered on the host, and says what it is.
func TestRunEveryPlatform(t *testing.T) {
	root := fixtureStore(t)
	for _, p := range []string{"linux/amd64", "linux/386", "linux/arm64", "linux/arm/v7", "linux/arm/v5", "linux/ppc64le", "linux/s390x", "linux/mips64le"} {
		t.Run(strings.ReplaceAll(p, "/", "_"), func(t *testing.T) {
			out := manyarch(t, root, "run", "--platform", p, "fixtures/busybox:1.35", "uname", "-m")
			if want := arch(t, p).UnameMachine; strings.TrimSpace(out) != want {
				t.Errorf("run --platform %s fixtures/busybox:1.35 uname -m = %q, want %q", p, out, want)
			}
		})
	}
	// Platforms with no busybox: a static Go program in a scratch-style image.
	for _, p := range []string{"linux/riscv64", "linux/loong64", "linux/arm/v6"} {
		t.Run(strings.ReplaceAll(p, "/", "_"), func(t *testing.T) {
			out := manyarch(t, root, "run", "--platform", p, "fixtures/hello:1.0")
			if want := "Hello, " + arch(t, p).GOARCH + "!"; strings.TrimSpace(out) != want {
				t.Errorf("run --platform %s fixtures/hello:1.0 = %q, want %q", p, out, want)
			}
		})
	}
}

// TestRunHostHandlerDisabled registers manyarch's host handler for arm64,
// disables it, and checks that run falls back to private emulation and
// leaves the host's registrations as they were.
func TestRunHostHandlerDisabled(t *testing.T) {
	root := fixtureStore(t)
	const dir = "/proc/sys/fs/binfmt_misc"
	mounted := fileExists(dir + "/register")
	before := listDir(t, dir)
	manyarch(t, root, "binfmt", "install", "arm64")
	t.Cleanup(func() {
		cmd := command(root, "binfmt", "uninstall", "arm64")
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Errorf("binfmt uninstall arm64: %v\n%s", err, out)
		}
		if after := listDir(t, dir); mounted && after != before {
			t.Errorf("host binfmt_misc after the test:\n%s\nwant as before:\n%s", after, before)
		}
	})
	var handler string
	for _, name := range strings.Fields(listDir(t, dir)) {
		if b, err := os.ReadFile(filepath.Join(dir, name)); err == nil && strings.Contains(string(b), "aarch64") {
			handler = filepath.Join(dir, name)
		}
	}
	if handler == "" {
		t.Fatalf("binfmt install arm64 registered no aarch64 handler in %s: %s", dir, listDir(t, dir))
	}
	if err := os.WriteFile(handler, []byte("0"), 0); err != nil {
		t.Fatal(err)
	}
	registered := listDir(t, dir)
	state, _ := os.ReadFile(handler)

	out := manyarch(t, root, "run", "--platform", "linux/arm64", "fixtures/busybox:1.35", "uname", "-m")
	if strings.TrimSpace(out) != "aarch64" {
		t.Errorf("run with the host handler disabled = %q, want aarch64 (private emulation)", out)
	}
	if after := listDir(t, dir); after != registered {
		t.Errorf("host handlers changed by run: %s, want %s", after, registered)
	}
	if now, _ := os.ReadFile(handler); !bytes.Equal(now, state) {
		t.Errorf("host handler %s changed by run:\n%s\nwant\n%s", handler, now, state)
	}
	// And --emulation host refuses, naming the fix.
	cmd := command(root, "run", "--emulation", "host", "--platform", "linux/arm64", "fixtures/busybox:1.35", "true")
	if b, err := cmd.CombinedOutput(); err == nil || !strings.Contains(string(b), "binfmt") {
		t.Errorf("run --emulation host with the handler disabled = %v, %s; want an error that says how to fix it", err, b)
	}
}

func TestRunNoSuchPlatform(t *testing.T) {
	root := fixtureStore(t)
	b, err := command(root, "run", "--platform", "linux/riscv64", "fixtures/busybox:1.35", "true").CombinedOutput()
	if err == nil || !strings.Contains(string(b), "linux/riscv64") || !strings.Contains(string(b), "linux/s390x") {
		t.Errorf("run of a platform the image lacks = %v, %s; want an error listing the platforms it has", err, b)
	}
	b, err = command(root, "run", "--platform", "linux/arm64", "fixtures/busybox:1.35", "no-such-command").CombinedOutput()
	if err == nil || !strings.Contains(string(b), `"no-such-command": executable file not found`) {
		t.Errorf("run of a missing command = %v, %s; want executable file not found", err, b)
	}
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 127 {
		t.Errorf("run of a missing command exited %v, want 127", err)
	}
}

func fileExists(p string) bool { _, err := os.Stat(p); return err == nil }

func listDir(t *testing.T, dir string) string {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		return ""
	}
	var names []string
	for _, e := range ents {
		names = append(names, e.Name())
	}
	return strings.Join(names, " ")
}
