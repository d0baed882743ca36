package imagetest

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/manyarch/manyarch/internal/container/containertest"
	"github.com/manyarch/manyarch/internal/emulation"
	"github.com/manyarch/manyarch/internal/testutil"
)

// TestSandboxOverlayRefused: with the containers' directory on an overlay
// (manyarch in a container), the overlay root is refused and command
// tests run on a copy of the layers, setup, command and teardown sharing
// it, and the next test getting a fresh copy.
func TestSandboxOverlayRefused(t *testing.T) {
	tmp := containertest.OverlayRefusingDir(t, "")
	x, err := NewSandboxExecutor(filepath.Join(t.TempDir(), "snapshots"), tmp, emulation.ModeAuto, nil)
	if err != nil {
		t.Fatal(err)
	}
	cfg := v1.Config{Env: []string{"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"}, Cmd: []string{"sh"}}
	img := image(t, "linux/amd64", cfg, dirLayer(t, testutil.BusyboxRootfs(t, "amd64")))
	c := mustParse(t, `schemaVersion: 2.0.0
commandTests:
  - name: shared
    setup: [["sh", "-c", "echo from-setup > /etc/marker"]]
    command: cat
    args: ["/etc/marker"]
    expectedOutput: ["from-setup"]
  - name: fresh
    command: sh
    args: ["-c", "cat /etc/marker 2>&1 || echo absent"]
    expectedOutput: ["absent"]
`)
	r := run(t, img, x, []*Config{c})
	if got := strings.Join(statuses(r), ","); got != "pass,pass" {
		var b bytes.Buffer
		r.WriteText(&b)
		t.Fatalf("command tests with the overlay refused = %s, want pass,pass\n%s", got, b.String())
	}
	if ents, _ := os.ReadDir(tmp); len(ents) != 0 {
		t.Errorf("the tests left %d entries in the containers' directory", len(ents))
	}
}
