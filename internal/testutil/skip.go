package testutil

import (
	"os"
	"os/exec"
	"testing"
)

// RequireRoot skips t unless the test runs as root.
func RequireRoot(t testing.TB) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root (run the suite as root, as CI does)")
	}
}

// RequireCommand skips t unless name is on PATH, and returns its path.
// pkg names the Debian package that provides it, for the skip message.
func RequireCommand(t testing.TB, name, pkg string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		t.Skipf("needs %s (apt-get install %s; hack/deps.sh installs it)", name, pkg)
	}
	return p
}

// Short skips t in -short mode; reason says why the test is slow.
func Short(t testing.TB, reason string) {
	t.Helper()
	if testing.Short() {
		t.Skipf("slow (%s); runs without -short", reason)
	}
}
