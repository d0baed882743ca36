package cgroup

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"

	"github.com/manyarch/manyarch/internal/testutil"
)

// requireMemory returns a cgroup limited to limit bytes, or skips.
func requireMemory(t *testing.T, limit int64) *Memory {
	t.Helper()
	testutil.RequireRoot(t)
	m, err := NewMemory(limit)
	if errors.Is(err, ErrNoMemoryController) {
		t.Skipf("no memory cgroup: %v", err)
	}
	if err != nil {
		t.Fatalf("NewMemory(%d) = %v", limit, err)
	}
	t.Cleanup(func() {
		if err := m.Remove(); err != nil {
			t.Error(err)
		}
	})
	return m
}

// runIn starts a shell that waits for its stdin to close before running
// script, moves it into c, and waits for it.
func runIn(t *testing.T, c *Memory, script string) error {
	t.Helper()
	cmd := exec.Command("sh", "-c", "read x; "+script)
	pr, pw, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stdin = pr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	pr.Close()
	if err := c.Add(cmd.Process.Pid); err != nil {
		cmd.Process.Kill()
		cmd.Wait()
		t.Fatal(err)
	}
	pw.Write([]byte("go\n"))
	pw.Close()
	return cmd.Wait()
}

func TestMemoryLimitKills(t *testing.T) {
	m := requireMemory(t, 32<<20)
	if got := m.Limit(); got != 32<<20 {
		t.Errorf("Limit() = %d, want %d", got, 32<<20)
	}
	small, err := m.Child()
	if err != nil {
		t.Fatal(err)
	}
	// dd reads into a buffer of bs bytes: 4 MiB fits, 128 MiB does not.
	if err := runIn(t, small, "dd if=/dev/zero of=/dev/null bs=4M count=4 2>/dev/null"); err != nil {
		t.Fatalf("4 MiB under a 32 MiB limit: %v", err)
	}
	if n, err := small.OOMKills(); err != nil || n != 0 {
		t.Errorf("OOMKills() after a small run = %d, %v, want 0", n, err)
	}
	if p := small.Peak(); p <= 0 || p > 32<<20 {
		t.Errorf("Peak() = %d, want in (0, 32 MiB]", p)
	}
	big, err := m.Child()
	if err != nil {
		t.Fatal(err)
	}
	err = runIn(t, big, "exec dd if=/dev/zero of=/dev/null bs=128M count=1 2>/dev/null")
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.Sys().(syscall.WaitStatus).Signal() != syscall.SIGKILL {
		t.Fatalf("128 MiB under a 32 MiB limit: %v, want killed by SIGKILL", err)
	}
	if n, err := big.OOMKills(); err != nil || n != 1 {
		t.Errorf("OOMKills() of the killed child = %d, %v, want 1", n, err)
	}
	if n, err := small.OOMKills(); err != nil || n != 0 {
		t.Errorf("OOMKills() of the other child = %d, %v, want 0", n, err)
	}
	if err := big.Remove(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(big.Dir()); !os.IsNotExist(err) {
		t.Errorf("Stat(%s) after Remove = %v, want not exist", big.Dir(), err)
	}
}

func TestStaleCgroupsRemoved(t *testing.T) {
	m := requireMemory(t, 16<<20)
	parent := filepath.Dir(m.Dir())
	// A cgroup with a child, left by a process that no longer runs.
	cmd := exec.Command("true")
	if err := cmd.Run(); err != nil {
		t.Fatal(err)
	}
	stale := filepath.Join(parent, namePrefix+strconv.Itoa(cmd.Process.Pid)+"-1")
	if err := os.MkdirAll(filepath.Join(stale, namePrefix+"1-2"), 0o755); err != nil {
		t.Fatal(err)
	}
	// One of a live process (this one) stays.
	live, err := m.Child()
	if err != nil {
		t.Fatal(err)
	}
	m2 := requireMemory(t, 16<<20)
	if _, err := os.Stat(stale); !os.IsNotExist(err) {
		os.Remove(filepath.Join(stale, namePrefix+"1-2"))
		os.Remove(stale)
		t.Errorf("stale cgroup %s still there after NewMemory: %v", stale, err)
	}
	for _, d := range []string{m.Dir(), live.Dir(), m2.Dir()} {
		if _, err := os.Stat(d); err != nil {
			t.Errorf("live cgroup %s: %v", d, err)
		}
	}
}
