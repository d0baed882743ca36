package testutil

import (
	"os/exec"
	"strings"
	"testing"
)

// TestFixturesReproducible makes the fixture images twice from scratch and
// checks that both runs give the same index digests, as hack/fixtures.sh
// promises.
func TestFixturesReproducible(t *testing.T) {
	Short(t, "builds the fixture images twice")
	f := RequireFixtures(t)
	top, err := ModuleRoot()
	if err != nil {
		t.Fatal(err)
	}
	digests := func(root string) string {
		cmd := exec.Command("bash", "hack/fixtures.sh")
		cmd.Dir = top
		cmd.Env = append(cmd.Environ(), "MANYARCH="+f.Binary, "MANYARCH_ROOT="+root)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("hack/fixtures.sh: %v\n%s", err, out)
		}
		out, err := exec.Command(f.Binary, "--root", root, "images", "--format", `{{.Name}}:{{.Tag}} {{.Digest}}`).Output()
		if err != nil {
			t.Fatal(err)
		}
		return string(out)
	}
	a, b := digests(t.TempDir()), digests(t.TempDir())
	if a != b || strings.Count(a, "sha256:") != 2 {
		t.Errorf("two runs of hack/fixtures.sh gave\n%s\nand\n%s\nwant the same two digests", a, b)
	}
	// The exported archives hold the same images.
	out, err := exec.Command(f.Binary, "inspect", "--format", "{{.Digest}}", "oci-archive:"+f.Busybox).Output()
	if err != nil || !strings.Contains(a, strings.TrimSpace(string(out))) {
		t.Errorf("fixture archive %s has digest %s (%v), not one of\n%s", f.Busybox, out, err, a)
	}
}
