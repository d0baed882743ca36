package imagetest

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"golang.org/x/sys/unix"

	"github.com/manyarch/manyarch/internal/fault"
	"github.com/manyarch/manyarch/internal/netns"
	"github.com/manyarch/manyarch/internal/platform"
	"github.com/manyarch/manyarch/internal/testutil"
)

// TestListenLoopbackPortInUse: a hostPort something else listens on is an
// error naming the port and what to do; hostPort 0 picks a free port.
func TestListenLoopbackPortInUse(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	busy := ln.Addr().(*net.TCPAddr).Port
	_, err = listenLoopback(8080, busy)
	if err == nil {
		t.Fatalf("listenLoopback(8080, %d) on a port in use = nil error", busy)
	}
	for _, want := range []string{fmt.Sprintf("hostPort %d", busy), "already in use", "leave hostPort out (0) for a free port"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not say %q", err, want)
		}
	}
	px, err := listenLoopback(8080, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer px.Close()
	if a := px.Ports()[0].HostAddr(); !a.Addr().IsLoopback() || a.Port() == 0 || int(a.Port()) == busy {
		t.Errorf("free port = %s, want a loopback port other than %d", a, busy)
	}
}

// goService cross-compiles examples/service for goarch, with the source's
// old text replaced by new (a planted defect) when old is not "", and
// returns an image running it, as examples/service/Dockerfile makes it.
func goService(t *testing.T, p, goarch, old, new string) v1.Image {
	t.Helper()
	goBin := filepath.Join(os.Getenv("GOROOT"), "bin", "go")
	if _, err := os.Stat(goBin); err != nil {
		goBin = testutil.RequireCommand(t, "go", "golang")
	}
	src, err := os.ReadFile("../../examples/service/main.go")
	if err != nil {
		t.Fatal(err)
	}
	if old != "" {
		if !strings.Contains(string(src), old) {
			t.Fatalf("examples/service/main.go has no %q to plant a defect in", old)
		}
		src = []byte(strings.Replace(string(src), old, new, 1))
	}
	work, out := t.TempDir(), t.TempDir()
	if err := os.WriteFile(filepath.Join(work, "main.go"), src, 0o644); err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(out, "usr", "local", "bin")
	if err := os.MkdirAll(bin, 0o755); err != nil {
		t.Fatal(err)
	}
	arch, arm, _ := strings.Cut(goarch, "/")
	cmd := exec.Command(goBin, "build", "-trimpath", "-ldflags=-s -w -X main.version=1.0.0", "-o", filepath.Join(bin, "service"), "main.go")
	cmd.Dir = work
	cmd.Env = append(os.Environ(), "GOOS=linux", "GOARCH="+arch, "GOARM="+arm, "CGO_ENABLED=0", "GO111MODULE=off", "GOFLAGS=")
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("building examples/service for %s: %v\n%s", goarch, err, b)
	}
	return image(t, p, v1.Config{Entrypoint: []string{"/usr/local/bin/service"}, Env: []string{"PORT=8080"},
		ExposedPorts: map[string]struct{}{"8080/tcp": {}}}, dirLayer(t, out))
}

// TestSandboxService is the acceptance check on the real example:
// examples/service/tests.yaml, its faults included, passes on amd64
// (native), arm64 and s390x (QEMU) in real containers with private
// networks and cgroups; a fault this host cannot inject (latency on a
// kernel without netem) is skipped with the reason, and only where
// fault.Check says the host lacks it. An index whose arm64 build answers
// "arch" instead of "goarch" fails the arm64 column only. Afterwards
// nothing listens on the published addresses.
func TestSandboxService(t *testing.T) {
	testutil.Short(t, "cross-compiles examples/service and runs it under QEMU")
	x := requireSandbox(t)
	testutil.RequireCommand(t, "qemu-s390x-static", "qemu-user-static")
	testutil.RequireCommand(t, "ip", "iproute2")
	testutil.RequireCommand(t, "nsenter", "util-linux")
	c, err := Load("../../examples/service/tests.yaml")
	if err != nil {
		t.Fatal(err)
	}
	// The example's load is sized for the demo; a smaller one here.
	c.ServiceTests[0].Load.Requests = 60
	amd64, s390x := goService(t, "linux/amd64", "amd64", "", ""), goService(t, "linux/s390x", "s390x", "", "")
	good := index(t, amd64, goService(t, "linux/arm64", "arm64", "", ""), s390x)
	if len(c.ServiceTests[0].Faults) != len(fault.Kinds) {
		t.Fatalf("examples/service/tests.yaml has %d faults, want one of each kind (%v)", len(c.ServiceTests[0].Faults), fault.Kinds)
	}
	r := run(t, good, x, []*Config{c})
	text := textReport(t, r)
	t.Log("\n" + text)
	faults := map[string]*FaultTest{}
	for i := range c.ServiceTests[0].Faults {
		f := &c.ServiceTests[0].Faults[i]
		faults["Service Test: status API: fault "+f.Name] = f
	}
	for i, s := range statuses(r) {
		f := faults[r.Tests[i].Name]
		for j, res := range r.Results[i] {
			p := platform.Format(r.Platforms[j].Platform)
			switch {
			case res.Status == StatusFail:
				t.Errorf("%s on %s: %s, want every platform to pass", r.Tests[i].Name, p, s)
			case res.Status == StatusSkip && f == nil:
				t.Errorf("%s on %s skipped, want it run", r.Tests[i].Name, p)
			case res.Status == StatusSkip:
				// Skipped only where the host lacks what the fault needs,
				// saying what.
				cerr := fault.Check(p, faultSpec(f))
				if cerr == nil || f.IfUnsupported != "skip" {
					t.Errorf("%s on %s skipped (%s), but the host can inject it (Check = %v)", r.Tests[i].Name, p, res.SkipReason, cerr)
				} else if !strings.Contains(res.SkipReason, cerr.Error()) || !strings.Contains(text, "skipped on "+columnName(r.Platforms[j].Platform)) {
					t.Errorf("%s on %s: skip reason %q, want %q, and the text report to say it", r.Tests[i].Name, p, res.SkipReason, cerr)
				}
			case f != nil && fault.Check(p, faultSpec(f)) != nil:
				t.Errorf("%s on %s: %s, but Check says the host cannot inject it", r.Tests[i].Name, p, s)
			}
		}
	}
	checkClosed(t, r)

	// The planted defect needs no faults: they ran above.
	c.ServiceTests[0].Faults = nil
	planted := index(t, amd64, goService(t, "linux/arm64", "arm64", "`json:\"goarch\"`", "`json:\"arch\"`"), s390x)
	r = run(t, planted, x, []*Config{c})
	t.Log("\n" + textReport(t, r))
	var failed []string
	for i, s := range statuses(r) {
		if strings.Contains(s, "fail") {
			failed = append(failed, r.Tests[i].Name+": "+s)
		}
	}
	want := []string{
		"Service Test: status API: status answers its version and GOARCH: pass fail pass",
		"Service Test: status API: consistency: status is the same on every platform: pass fail pass",
	}
	if !slices.Equal(failed, want) {
		t.Errorf("planted arm64: failed rows = %q, want %q", failed, want)
	}
	checkClosed(t, r)
}

// checkClosed fails t when a service's published address still accepts
// connections after the run.
func checkClosed(t *testing.T, r *Report) {
	t.Helper()
	for _, s := range r.Services {
		for _, res := range s.Results {
			if res.Address == "" {
				continue
			}
			if c, err := net.DialTimeout("tcp", res.Address, time.Second); err == nil {
				c.Close()
				t.Errorf("%s: %s still accepts connections after the run", s.Name, res.Address)
			}
		}
	}
}

// TestServiceKilledRunLeavesNothing: a manyarch test killed with SIGKILL
// while its service runs under a fault leaves nothing behind that a later
// manyarch run does not remove, checked per kind of resource:
//
//   - the container's processes and its network namespace (by inode: no
//     process is left in it);
//   - the veth pair (by interface index: another run may reuse the name);
//   - the fault's iptables chain or netem qdisc, which lived in that
//     namespace, and no manyarch chain on the host;
//   - the container's cgroups (memory, and the v1 cpu cgroup of the cpu
//     fault) and the slot lock of its network: gone after a later run
//     (with a fault test, which makes a cgroup);
//   - mounts: none of the run's appears in the host's mount table;
//   - the run's state directories in its TMPDIR: unlocked at once, removed
//     by a later run once older than a minute (their times are set back).
//
// A later run is what removes leftovers: the test runs one rather than
// calling the sweeps itself, so another manyarch on the host sweeping
// first (or taking the same slot) cannot make it fail or pass.
func TestServiceKilledRunLeavesNothing(t *testing.T) { // long: one kill story, then each kind of resource checked by name
	testutil.Short(t, "builds examples/service and runs manyarch test as a child, twice")
	requireSandbox(t)
	testutil.RequireCommand(t, "ip", "iproute2")
	testutil.RequireCommand(t, "nsenter", "util-linux")
	testutil.RequireCommand(t, "iptables", "iptables")
	bin := testutil.RequireFixtures(t).Binary
	dir := t.TempDir()
	tmp := filepath.Join(dir, "tmp")
	if err := os.Mkdir(tmp, 0o755); err != nil {
		t.Fatal(err)
	}
	lp, err := layout.Write(filepath.Join(dir, "oci"), empty.Index)
	if err != nil {
		t.Fatal(err)
	}
	if err := lp.AppendImage(goService(t, "linux/amd64", "amd64", "", "")); err != nil {
		t.Fatal(err)
	}
	// A cpu fault (its v1 cgroup stays until the container's end), then a
	// loss fault that lasts two minutes: manyarch is killed while it is in
	// place.
	tests := filepath.Join(dir, "tests.yaml")
	if err := os.WriteFile(tests, []byte(`schemaVersion: 2.0.0
serviceTests:
- name: faulted
  port: 8080
  readiness: {http: /healthz}
  faults:
  - {name: cpu, kind: cpu, cpus: 0.5, duration: 1s, load: {path: /status, requests: 5, concurrency: 1}}
  - {name: loss, kind: loss, loss: 1, duration: 2m, load: {path: /status, requests: 5, concurrency: 1}}
`), 0o644); err != nil {
		t.Fatal(err)
	}
	manyarch := func(ctx context.Context, config string) *exec.Cmd {
		cmd := exec.CommandContext(ctx, bin, "test", "oci:"+filepath.Join(dir, "oci"), "-c", config, "-q")
		cmd.Env = append(os.Environ(), "MANYARCH_ROOT="+filepath.Join(dir, "root"), "TMPDIR="+tmp)
		return cmd
	}
	hostRules := func() string {
		out, err := exec.Command("iptables", "-w", "5", "-S").CombinedOutput()
		if err != nil {
			t.Fatalf("iptables -S: %v: %s", err, out)
		}
		return string(out)
	}
	if strings.Contains(hostRules(), "MANYARCH") {
		t.Skip("the host's iptables already has a MANYARCH chain: cannot tell this run's apart")
	}

	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	cmd := manyarch(ctx, tests)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			t.Log("manyarch: " + sc.Text())
		}
	}()
	killed := false
	defer func() {
		if !killed {
			cmd.Process.Kill()
			cmd.Wait()
		}
	}()

	// The service is up when manyarch holds a slot of the network; the
	// loss fault is in place when its chain (iptables) or qdisc (netem)
	// is in the container's namespace.
	var lock, link string
	var nsPid int
	inNS := func(args ...string) (string, error) {
		out, err := exec.Command("nsenter", append([]string{"--net=/proc/" + strconv.Itoa(nsPid) + "/ns/net", "--"}, args...)...).CombinedOutput()
		return string(out), err
	}
	faultInPlace := func() bool {
		if out, err := inNS("iptables", "-w", "5", "-S", "MANYARCH-FAULT"); err == nil && strings.Contains(out, "DROP") {
			return true
		}
		out, err := inNS("tc", "qdisc", "show", "dev", netns.ContainerLink)
		return err == nil && strings.Contains(out, "netem")
	}
	for deadline := time.Now().Add(2 * time.Minute); time.Now().Before(deadline); time.Sleep(200 * time.Millisecond) {
		if lock == "" {
			files, _ := filepath.Glob(filepath.Join(netns.StateDir, "slot-*.lock"))
			for _, f := range files {
				b, _ := os.ReadFile(f)
				var pid, np int
				var l string
				if _, err := fmt.Sscanf(string(b), "pid=%d link=%s netns-pid=%d", &pid, &l, &np); err == nil && pid == cmd.Process.Pid {
					lock, link, nsPid = f, l, np
				}
			}
		}
		if lock != "" && faultInPlace() {
			break
		}
	}
	if lock == "" || !faultInPlace() {
		t.Fatalf("manyarch test never had its service network (lock %q) with the loss fault in place", lock)
	}

	// What the killed run has made, by kind.
	var ns unix.Stat_t
	if err := unix.Stat(fmt.Sprintf("/proc/%d/ns/net", nsPid), &ns); err != nil {
		t.Fatal(err)
	}
	ifc, err := net.InterfaceByName(link)
	if err != nil {
		t.Fatalf("the run's link %s: %v", link, err)
	}
	cgroups := containerCgroups(t, nsPid)
	if len(cgroups) == 0 {
		t.Fatalf("found no manyarch cgroup of the container (pid %d)", nsPid)
	}
	states, _ := filepath.Glob(filepath.Join(tmp, "manyarch-*"))
	t.Logf("killing manyarch (pid %d): container init %d, netns inode %d, link %s (index %d), lock %s, cgroups %q, state dirs %q",
		cmd.Process.Pid, nsPid, ns.Ino, link, ifc.Index, lock, cgroups, states)
	mounted := func() []string {
		b, err := os.ReadFile("/proc/self/mountinfo")
		if err != nil {
			t.Fatal(err)
		}
		var ms []string
		for line := range strings.Lines(string(b)) {
			if strings.Contains(line, dir) {
				ms = append(ms, strings.TrimSpace(line))
			}
		}
		return ms
	}
	if m := mounted(); len(m) > 0 {
		t.Errorf("the run's mounts are in the host's mount table: %q", m)
	}

	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	cmd.Wait()
	killed = true

	// At once, with no later run: the container dies with manyarch (its
	// init has a parent-death signal), its namespace with it, and the
	// veth pair and the fault's rules with the namespace.
	nsUsed := func() []int {
		var pids []int
		entries, _ := os.ReadDir("/proc")
		for _, e := range entries {
			pid, err := strconv.Atoi(e.Name())
			if err != nil {
				continue
			}
			var st unix.Stat_t
			if unix.Stat("/proc/"+e.Name()+"/ns/net", &st) == nil && st.Ino == ns.Ino && st.Dev == ns.Dev {
				pids = append(pids, pid)
			}
		}
		return pids
	}
	linkUp := func() bool {
		ifs, _ := net.Interfaces()
		for _, i := range ifs {
			if i.Index == ifc.Index {
				return true
			}
		}
		return false
	}
	deadline := time.Now().Add(15 * time.Second)
	for (len(nsUsed()) > 0 || linkUp()) && time.Now().Before(deadline) {
		time.Sleep(100 * time.Millisecond)
	}
	if pids := nsUsed(); len(pids) > 0 {
		t.Errorf("processes %v are still in the container's network namespace (inode %d) after manyarch was killed", pids, ns.Ino)
	}
	if linkUp() {
		t.Errorf("the veth pair %s (index %d) outlived the container's namespace", link, ifc.Index)
	}
	if strings.Contains(hostRules(), "MANYARCH") {
		t.Errorf("the host's iptables has a manyarch chain:\n%s", hostRules())
	}
	if m := mounted(); len(m) > 0 {
		t.Errorf("mounts of the killed run are left in the host's mount table: %q", m)
	}
	for _, d := range states {
		f, err := os.Open(d)
		if err != nil {
			continue // removed already
		}
		if err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != nil {
			t.Errorf("state directory %s is still locked after manyarch was killed: %v", d, err)
		} else {
			unix.Flock(int(f.Fd()), unix.LOCK_UN)
		}
		f.Close()
		// A later run removes the ones older than a minute (younger ones
		// may be another run's, being made): make them so.
		old := time.Now().Add(-2 * time.Minute)
		os.Chtimes(d, old, old)
	}

	// A later run, with a fault (a memory one: the cpu cgroup goes
	// whatever the later faults are), removes the rest.
	later := filepath.Join(dir, "later.yaml")
	if err := os.WriteFile(later, []byte(`schemaVersion: 2.0.0
serviceTests:
- name: later
  port: 8080
  readiness: {http: /healthz}
  faults:
  - {name: memory, kind: memory, memory: 256m, duration: 1s, load: {path: /status, requests: 5, concurrency: 1}}
`), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := manyarch(ctx, later).CombinedOutput(); err != nil {
		t.Fatalf("the later manyarch test: %v\n%s", err, out)
	}
	for _, cg := range cgroups {
		if _, err := os.Stat(cg); !os.IsNotExist(err) {
			t.Errorf("cgroup %s of the killed run is still there after a later run (%v)", cg, err)
		}
	}
	if b, err := os.ReadFile(lock); err == nil && strings.Contains(string(b), fmt.Sprintf("pid=%d ", cmd.Process.Pid)) {
		t.Errorf("slot lock %s still names the killed manyarch after a later run: %s", lock, b)
	}
	for _, d := range states {
		if _, err := os.Stat(d); !os.IsNotExist(err) {
			t.Errorf("state directory %s of the killed run is still there after a later run (%v)", d, err)
		}
	}
	if left, _ := filepath.Glob(filepath.Join(tmp, "manyarch-*")); len(left) > 0 {
		t.Errorf("the runs left %q in their TMPDIR", left)
	}
}

// containerCgroups lists the cgroup directories of process pid whose
// names are manyarch's (the container's memory cgroup, a cpu fault's v1
// cgroup), in every cgroup v1 and v2 hierarchy mounted here.
func containerCgroups(t *testing.T, pid int) []string {
	t.Helper()
	cg, err := os.ReadFile(fmt.Sprintf("/proc/%d/cgroup", pid))
	if err != nil {
		t.Fatal(err)
	}
	mi, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		t.Fatal(err)
	}
	var mounts []string // mount points of cgroup hierarchies with root /
	for line := range strings.Lines(string(mi)) {
		pre, post, ok := strings.Cut(strings.TrimSpace(line), " - ")
		a, b := strings.Fields(pre), strings.Fields(post)
		if ok && len(a) >= 5 && len(b) >= 1 && (b[0] == "cgroup" || b[0] == "cgroup2") && a[3] == "/" {
			mounts = append(mounts, a[4])
		}
	}
	var dirs []string
	for line := range strings.Lines(string(cg)) {
		f := strings.SplitN(strings.TrimSpace(line), ":", 3)
		if len(f) != 3 || !strings.Contains(f[2], "/manyarch-") {
			continue
		}
		// The topmost manyarch cgroup of the path (the sandbox may make
		// children below it).
		parts := strings.Split(f[2], "/")
		k := slices.IndexFunc(parts, func(s string) bool { return strings.HasPrefix(s, "manyarch-") })
		p := strings.Join(parts[:k+1], "/")
		for _, m := range mounts {
			if d := filepath.Join(m, p); !slices.Contains(dirs, d) {
				if _, err := os.Stat(d); err == nil {
					dirs = append(dirs, d)
				}
			}
		}
	}
	return dirs
}
