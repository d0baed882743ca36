package cli

import (
	"testing"

	"github.com/manyarch/manyarch/internal/container/containertest"
)

// TestRunOverlayRefused: with the temporary directory on an overlay, the
// container's overlay root is refused and run runs on a copy of the
// layers instead, with the same result (package container's fallback).
func TestRunOverlayRefused(t *testing.T) {
	root := busyboxStore(t, "linux/amd64=amd64")
	t.Setenv("TMPDIR", containertest.OverlayRefusingDir(t, ""))
	out, stderr, code := runManyarch(t, "", "--root", root, "run", "t/busybox:1", "sh", "-c", "echo written > /etc/f && cat /etc/f && uname -m")
	if code != 0 || out != "written\nx86_64\n" {
		t.Fatalf("run with TMPDIR on an overlay = %q, exit %d, stderr:\n%s\nwant it to run on a copy of the layers", out, code, stderr)
	}
}
