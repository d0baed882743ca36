package main

import (
	"bytes"
	"crypto/rand"
	"encoding/json"
	"fmt"
	mrand "math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/manyarch/manyarch/internal/emulation"
	"github.com/manyarch/manyarch/internal/sandbox"
	"github.com/manyarch/manyarch/internal/testutil"
)

// The test binary is manyarch itself when MANYARCH_TEST_MAIN is set, so
// these tests run the real command as separate processes (and can kill them);
// main also handles the re-execs as sandbox init and emulation helper.
func TestMain(m *testing.M) {
	emulation.Init()
	if os.Getenv("MANYARCH_TEST_MAIN") == "1" || sandbox.IsInit() {
		main()
		return
	}
	os.Exit(m.Run())
}

// command returns an exec.Cmd running manyarch with the store at root.
func command(root string, args ...string) *exec.Cmd {
	cmd := exec.Command(os.Args[0], args...)
	cmd.Env = append(os.Environ(), "MANYARCH_TEST_MAIN=1", "MANYARCH_ROOT="+root, "SOURCE_DATE_EPOCH=1672531200")
	return cmd
}

func manyarch(t *testing.T, root string, args ...string) string {
	t.Helper()
	var out, errb bytes.Buffer
	cmd := command(root, args...)
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		t.Fatalf("manyarch %s: %v\n%s", strings.Join(args, " "), err, errb.String())
	}
	return out.String()
}

// sourceLayout imports a 3-platform image of a few MiB of incompressible
// data into an OCI layout and returns the layout's reference.
func sourceLayout(t *testing.T, mib int) string {
	t.Helper()
	dir := t.TempDir()
	args := []string{"import", "-t", "oci:" + filepath.Join(dir, "layout") + ":src"}
	for _, p := range []string{"linux/amd64", "linux/arm64", "linux/arm/v7"} {
		rootfs := filepath.Join(dir, strings.ReplaceAll(p, "/", "-"))
		if err := os.MkdirAll(rootfs, 0o755); err != nil {
			t.Fatal(err)
		}
		for i := 0; i < 4; i++ {
			b := make([]byte, mib<<20/4)
			rand.Read(b)
			if err := os.WriteFile(filepath.Join(rootfs, fmt.Sprintf("blob%d", i)), b, 0o644); err != nil {
				t.Fatal(err)
			}
		}
		args = append(args, "--platform", p+"="+rootfs)
	}
	manyarch(t, t.TempDir(), args...)
	return "oci:" + filepath.Join(dir, "layout") + ":src"
}

// checkStore asserts that every name in the store at root resolves and
// every blob it references reads back with the right digest.
func checkStore(t *testing.T, root string) {
	t.Helper()
	var names []struct{ Name, Tag string }
	if err := json.Unmarshal([]byte(manyarch(t, root, "images", "--format", "json")), &names); err != nil {
		t.Fatal(err)
	}
	// images skips (with a warning) a name it cannot read: none may be skipped.
	var index struct {
		Manifests []struct{ Annotations map[string]string }
	}
	if b, err := os.ReadFile(filepath.Join(root, "index.json")); err != nil || json.Unmarshal(b, &index) != nil {
		t.Fatalf("reading %s/index.json: %v", root, err)
	}
	named := map[string]bool{}
	for _, m := range index.Manifests {
		if n := m.Annotations["org.opencontainers.image.ref.name"]; n != "" {
			named[n] = true
		}
	}
	if len(names) != len(named) {
		t.Fatalf("images lists %d names, index.json holds %d: %v", len(names), len(named), named)
	}
	for _, n := range names {
		// Copying reads and verifies every blob.
		manyarch(t, root, "copy", "-q", n.Name+":"+n.Tag, "oci:"+t.TempDir())
	}
}

func TestKilledCopyLeavesStoreUsable(t *testing.T) {
	testutil.Short(t, "copies a 24 MiB image many times")
	src := sourceLayout(t, 8)
	root := t.TempDir()
	killed := 0
	for i := 0; i < 12; i++ {
		cmd := command(root, "copy", src, fmt.Sprintf("victim:%d", i))
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		time.Sleep(time.Duration(mrand.IntN(120)) * time.Millisecond)
		if cmd.Process.Signal(syscall.SIGKILL) == nil {
			killed++
		}
		cmd.Wait()
		checkStore(t, root)
	}
	t.Logf("%d of 12 copies killed mid-way (others had finished)", killed)
	manyarch(t, root, "copy", src, "final:1")
	manyarch(t, root, "gc")
	checkStore(t, root)
	if out := manyarch(t, root, "inspect", "--format", "{{len .Manifests}}", "final:1"); strings.TrimSpace(out) != "3" {
		t.Errorf("final:1 has %q platforms, want 3", out)
	}
}

func TestConcurrentCopies(t *testing.T) {
	testutil.Short(t, "runs several copies at once")
	srcA, srcB := sourceLayout(t, 4), sourceLayout(t, 4)
	root := t.TempDir()
	runAtOnce(t, root, []string{"copy", srcA, "a:1"}, []string{"copy", srcB, "b:1"}, []string{"copy", srcA, "a:2"}, []string{"gc"})
	checkStore(t, root)
	out := manyarch(t, root, "images", "--format", "{{.Name}}:{{.Tag}}")
	if got := strings.Join(strings.Fields(out), " "); got != "a:1 a:2 b:1" {
		t.Errorf("images after concurrent copies = %q, want a:1 a:2 b:1", out)
	}
}

func TestSkopeoInterop(t *testing.T) {
	skopeo := testutil.RequireCommand(t, "skopeo", "skopeo")
	src := sourceLayout(t, 1)
	root := t.TempDir()
	manyarch(t, root, "copy", src, "img:1")
	digest := strings.TrimSpace(manyarch(t, root, "inspect", "--format", "{{.Digest}}", "img:1"))

	dir := t.TempDir()
	archive := filepath.Join(dir, "img.tar")
	manyarch(t, root, "copy", "img:1", "oci-archive:"+archive)
	raw, err := exec.Command(skopeo, "inspect", "--raw", "oci-archive:"+archive).Output()
	if err != nil {
		t.Fatalf("skopeo inspect --raw: %v", err)
	}
	if got := sha256Hex(raw); "sha256:"+got != digest {
		t.Errorf("skopeo reads an index with digest sha256:%s, want %s", got, digest)
	}
	// skopeo copies it whole, keeping the index digest.
	layout := filepath.Join(dir, "copy")
	if out, err := exec.Command(skopeo, "copy", "-q", "--all", "oci-archive:"+archive, "oci:"+layout+":x").CombinedOutput(); err != nil {
		t.Fatalf("skopeo copy --all: %v\n%s", err, out)
	}
	var idx struct{ Manifests []struct{ Digest string } }
	b, _ := os.ReadFile(filepath.Join(layout, "index.json"))
	if json.Unmarshal(b, &idx) != nil || len(idx.Manifests) != 1 || idx.Manifests[0].Digest != digest {
		t.Errorf("skopeo's copy has index.json %s, want one entry %s", b, digest)
	}
	// And the layout skopeo wrote comes back into the store unchanged.
	manyarch(t, root, "copy", "oci:"+layout+":x", "img:back")
	if back := strings.TrimSpace(manyarch(t, root, "inspect", "--format", "{{.Digest}}", "img:back")); back != digest {
		t.Errorf("skopeo's layout copied into the store has digest %s, want %s", back, digest)
	}
}
