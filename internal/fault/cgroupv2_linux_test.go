package fault

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// fakeV2 makes a fake cgroup v2 tree: parent (manyarch's own cgroup,
// offering controllers) and below it the container's cgroup with the
// files a cpu or memory fault reads and writes, holding process pid. The
// kernel's cgroupfs is not there, so writes land as plain file contents:
// the test sees exactly what the fault wrote.
func fakeV2(t *testing.T, controllers string, pid int) *Container {
	t.Helper()
	parent := filepath.Join(t.TempDir(), "manyarch.slice")
	dir := filepath.Join(parent, "manyarch-1-1")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	for name, content := range map[string]string{
		filepath.Join(parent, "cgroup.controllers"):     controllers + "\n",
		filepath.Join(parent, "cgroup.subtree_control"): "memory pids\n",
		filepath.Join(dir, "cgroup.controllers"):        "memory pids\n",
		filepath.Join(dir, "cgroup.procs"):              strconv.Itoa(pid) + "\n",
		filepath.Join(dir, "cpu.max"):                   "max 100000\n",
		filepath.Join(dir, "memory.max"):                "max\n",
	} {
		if err := os.WriteFile(name, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return &Container{platform: "linux/test", dir: dir, v2: true, active: map[*Injected]struct{}{}}
}

func readFile(t *testing.T, name string) string {
	t.Helper()
	b, err := os.ReadFile(name)
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(string(b))
}

// TestCgroupV2FakeTree: the cgroup v2 side of the cpu and memory faults,
// on a fake tree. This host's cpu and memory controllers may be bound to
// cgroup v1 hierarchies (TestCgroupV2Live says whether), and a controller
// lives in one hierarchy only, so no real cgroup2 mount can have them
// there; the fake tree checks which files are written with what, the
// controller delegation, and that Lift restores every value.
func TestCgroupV2FakeTree(t *testing.T) {
	c := fakeV2(t, "cpuset cpu io memory pids", os.Getpid())
	parent := filepath.Dir(c.dir)

	cpu := &Injected{Spec: Spec{Kind: KindCPU, CPUs: 0.25, Duration: time.Minute}, c: c, done: make(chan struct{})}
	if err := c.cpu(cpu); err != nil {
		t.Fatalf("cpu fault on cgroup v2 = %v", err)
	}
	if cpu.Method != "cgroup v2" {
		t.Errorf("cpu fault Method = %q, want cgroup v2", cpu.Method)
	}
	if got := readFile(t, filepath.Join(parent, "cgroup.subtree_control")); got != "+cpu" {
		t.Errorf("the parent's cgroup.subtree_control = %q, want +cpu written (the cpu controller given to the container)", got)
	}
	if got, want := readFile(t, filepath.Join(c.dir, "cpu.max")), "25000 100000"; got != want {
		t.Errorf("cpu.max under a 0.25 CPU fault = %q, want %q", got, want)
	}
	if _, err := os.Stat(filepath.Join(c.dir, "cpu.cfs_quota_us")); err == nil {
		t.Error("the cpu fault wrote the cgroup v1 cpu.cfs_quota_us on cgroup v2")
	}
	if err := cpu.Lift(); err != nil {
		t.Fatalf("Lift() = %v", err)
	}
	if got, want := readFile(t, filepath.Join(c.dir, "cpu.max")), "max 100000"; got != want {
		t.Errorf("cpu.max after Lift = %q, want the previous %q", got, want)
	}

	mem := &Injected{Spec: Spec{Kind: KindMemory, Memory: 32 << 20, Duration: time.Minute}, c: c, done: make(chan struct{})}
	if err := c.memory(mem); err != nil {
		t.Fatalf("memory fault on cgroup v2 = %v", err)
	}
	if got, want := readFile(t, filepath.Join(c.dir, "memory.max")), strconv.Itoa(32<<20); got != want {
		t.Errorf("memory.max under a 32MiB fault = %q, want %q", got, want)
	}
	for _, v1 := range []string{"memory.limit_in_bytes", "memory.memsw.limit_in_bytes"} {
		if _, err := os.Stat(filepath.Join(c.dir, v1)); err == nil {
			t.Errorf("the memory fault wrote the cgroup v1 %s on cgroup v2", v1)
		}
	}
	if err := mem.Lift(); err != nil {
		t.Fatalf("Lift() = %v", err)
	}
	if got := readFile(t, filepath.Join(c.dir, "memory.max")); got != "max" {
		t.Errorf("memory.max after Lift = %q, want the previous max", got)
	}

	// The container is found through its v2 cgroup: this process is its
	// init and, with no child there, its main process.
	init, main, _, err := c.target()
	if err != nil || init != os.Getpid() || main != os.Getpid() {
		t.Errorf("target() = %d, %d, %v; want this process (%d) as init and main", init, main, err, os.Getpid())
	}
}

// TestCgroupV2FakeTreeNoCPU: a parent that does not offer the cpu
// controller (not delegated) is an error naming the cgroup and its
// controllers, with nothing written.
func TestCgroupV2FakeTreeNoCPU(t *testing.T) {
	c := fakeV2(t, "memory pids", os.Getpid())
	parent := filepath.Dir(c.dir)
	err := c.cpuAvailable()
	if err == nil || !strings.Contains(err.Error(), parent) || !strings.Contains(err.Error(), "no cpu controller") {
		t.Errorf("cpuAvailable() = %v, want an error naming %s and the missing cpu controller", err, parent)
	}
	in := &Injected{Spec: Spec{Kind: KindCPU, CPUs: 0.5, Duration: time.Minute}, c: c, done: make(chan struct{})}
	if err := c.cpu(in); err == nil {
		t.Error("cpu fault with no cpu controller offered = nil error")
	}
	if got := readFile(t, filepath.Join(c.dir, "cpu.max")); got != "max 100000" {
		t.Errorf("cpu.max = %q after a refused cpu fault, want it unchanged", got)
	}
	if got := readFile(t, filepath.Join(parent, "cgroup.subtree_control")); got != "memory pids" {
		t.Errorf("cgroup.subtree_control = %q after a refused cpu fault, want it unchanged", got)
	}
	if os.Geteuid() == 0 {
		// As root, Check gets that far and says what to do.
		var ue *UnsupportedError
		if err := c.Check(Spec{Kind: KindCPU, CPUs: 0.5, Duration: time.Second}); !errors.As(err, &ue) || ue.Kind != KindCPU {
			t.Errorf("Check(cpu) = %v, want an *UnsupportedError for the cpu fault", err)
		}
	}
}

// TestCgroupV2Live injects cpu and memory faults into a real cgroup v2
// container where this host's memory cgroup is v2 (CI), and checks the
// kernel's cpu.max and memory.max during and after. On a cgroup v1 host it
// mounts a cgroup2 hierarchy in a private mount namespace to show what it
// offers, and skips with that reason.
func TestCgroupV2Live(t *testing.T) {
	requireRoot(t)
	c := newContainer(t)
	if !c.v2 {
		c.Close()
		t.Skipf("this host's memory cgroup is cgroup v1: %s; TestCgroupV2FakeTree covers the v2 files here", v2Here(t))
	}
	helper(t, c, "sleep", false, nil)
	for _, tc := range []struct {
		spec       Spec
		file, want string
	}{
		{Spec{Kind: KindCPU, CPUs: 0.5, Duration: time.Minute}, "cpu.max", "50000 100000"},
		{Spec{Kind: KindMemory, Memory: 64 << 20, Duration: time.Minute}, "memory.max", strconv.Itoa(64 << 20)},
	} {
		before := readFile(t, filepath.Join(c.dir, tc.file))
		in, err := c.Inject(context.Background(), tc.spec)
		if err != nil {
			t.Fatalf("Inject(%s) = %v", tc.spec, err)
		}
		if in.Method != "cgroup v2" {
			t.Errorf("Inject(%s).Method = %q, want cgroup v2", tc.spec, in.Method)
		}
		if got := readFile(t, filepath.Join(c.dir, tc.file)); got != tc.want {
			t.Errorf("%s under %s = %q, want %q", tc.file, tc.spec, got, tc.want)
		}
		if err := in.Lift(); err != nil {
			t.Fatalf("Lift() = %v", err)
		}
		if got := readFile(t, filepath.Join(c.dir, tc.file)); got != before {
			t.Errorf("%s after Lift = %q, want %q", tc.file, got, before)
		}
	}
}

// v2Here mounts a cgroup2 hierarchy in a private mount namespace (so the
// host's mounts do not change) and says which controllers it offers.
func v2Here(t *testing.T) string {
	t.Helper()
	if _, err := exec.LookPath("unshare"); err != nil {
		return "unshare (util-linux) is missing, so no cgroup2 mount was tried"
	}
	mnt := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, "unshare", "--mount", "--propagation", "private", "sh", "-c",
		`mount -t cgroup2 none "$1" && cat "$1/cgroup.controllers"`, "sh", mnt).CombinedOutput()
	if err != nil {
		return "a cgroup2 mount in a private mount namespace failed: " + strings.TrimSpace(string(out))
	}
	offers := strings.Fields(string(out))
	for _, want := range []string{"cpu", "memory"} {
		if !hasOpt(strings.Join(offers, ","), want) {
			return "a cgroup2 mount (made in a private mount namespace) offers only " + strings.Join(offers, " ") +
				": the cpu and memory controllers are bound to their cgroup v1 hierarchies, and a controller can be in one hierarchy only"
		}
	}
	return "a cgroup2 mount offers cpu and memory here, but manyarch's memory cgroup is the v1 one"
}
