package cgroup

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

func TestFindPidsCgroup(t *testing.T) {
	hybrid := hybridCgroup + "8:pids:/user.slice\n"
	mounts := hybridMounts + "30 25 0:27 / /sys/fs/cgroup/pids rw,relatime - cgroup cgroup rw,pids\n"
	dir, v2, err := findCgroup([]byte(hybrid), []byte(mounts), "pids", func(string) bool { return true })
	if err != nil || v2 || dir != "/sys/fs/cgroup/pids/user.slice" {
		t.Errorf("hybrid: %q, v2 %v, %v; want the v1 pids hierarchy", dir, v2, err)
	}
	dir, v2, err = findCgroup([]byte(v2Cgroup), []byte(v2Mounts), "pids", func(string) bool { return true })
	if err != nil || !v2 || dir != "/sys/fs/cgroup/user.slice/user-1000.slice/session-2.scope" {
		t.Errorf("v2: %q, v2 %v, %v", dir, v2, err)
	}
	_, _, err = findCgroup([]byte(v2Cgroup), []byte(v2Mounts), "pids", func(string) bool { return false })
	if !errors.Is(err, ErrNoPidsController) || !strings.Contains(err.Error(), "pids controller") {
		t.Errorf("v2 without pids: %v, want ErrNoPidsController naming it", err)
	}
}

// TestPidsLimit: a shell in a cgroup of 4 tasks cannot start 20 sleeps;
// the refused forks are counted, and a stale cgroup of a dead manyarch is
// removed by the next NewPids.
func TestPidsLimit(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root")
	}
	parent, _, err := ownCgroup("pids")
	if errors.Is(err, ErrNoPidsController) {
		t.Skipf("no pids cgroup: %v", err)
	}
	if err != nil {
		t.Fatal(err)
	}
	stale := filepath.Join(parent, namePrefix+"999999999-1")
	if err := os.Mkdir(stale, 0o755); err != nil {
		t.Fatal(err)
	}
	p, err := NewPids("", 4)
	if err != nil {
		os.Remove(stale)
		t.Fatal(err)
	}
	defer p.Remove()
	if _, err := os.Stat(stale); !errors.Is(err, os.ErrNotExist) {
		os.Remove(stale)
		t.Errorf("stale cgroup %s of a dead process was not removed", stale)
	}
	cmd := exec.Command("sh", "-c", `read x; n=0; for i in $(seq 20); do sleep 0.3 & done 2>/dev/null; wait`)
	in, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	if err := p.Add(cmd.Process.Pid); err != nil {
		cmd.Process.Kill()
		t.Fatal(err)
	}
	in.Write([]byte("go\n"))
	in.Close()
	cmd.Wait()
	n, err := p.Refused()
	if err != nil || n == 0 {
		t.Errorf("Refused() = %d, %v; want forks refused by the limit of 4", n, err)
	}
	if err := p.Remove(); err != nil {
		t.Error(err)
	}
	if _, err := os.Stat(p.Dir()); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("%s still exists after Remove", p.Dir())
	}
}
