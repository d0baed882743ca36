package fault

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/http"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/manyarch/manyarch/internal/cgroup"
	"github.com/manyarch/manyarch/internal/netns"
)

// helperEnv makes the test binary a helper process (TestMain): a service
// in a network namespace, an init with a child, a CPU spinner or a memory
// hog.
const helperEnv = "_FAULT_TEST_HELPER"

const (
	helperTCP = 8080 // HTTP "ok"
	helperUDP = 9090 // UDP echo
)

func TestMain(m *testing.M) {
	switch os.Getenv(helperEnv) {
	case "":
		os.Exit(m.Run())
	case "server":
		go func() {
			pc, err := net.ListenPacket("udp", ":"+strconv.Itoa(helperUDP))
			if err != nil {
				fmt.Println("error:", err)
				os.Exit(1)
			}
			buf := make([]byte, 1500)
			for {
				n, addr, err := pc.ReadFrom(buf)
				if err != nil {
					os.Exit(1)
				}
				pc.WriteTo(buf[:n], addr)
			}
		}()
		err := http.ListenAndServe(":"+strconv.Itoa(helperTCP), http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { io.WriteString(w, "ok\n") }))
		fmt.Println("error:", err)
		os.Exit(1)
	case "init":
		// An init whose child is the main process: it reports the child's
		// end and stays. It forks only once told (a line on stdin), after
		// the test has moved it into the container's cgroup: a child forked
		// before that would stay outside the container.
		if _, err := bufio.NewReader(os.Stdin).ReadString('\n'); err != nil {
			fmt.Println("error: no go-ahead on stdin:", err)
			os.Exit(1)
		}
		child := exec.Command(os.Args[0])
		child.Env = append(os.Environ(), helperEnv+"=sleep")
		if err := child.Start(); err != nil {
			fmt.Println("error:", err)
			os.Exit(1)
		}
		fmt.Println("child", child.Process.Pid)
		err := child.Wait()
		fmt.Println("child ended:", err)
		time.Sleep(time.Minute)
		os.Exit(0)
	case "sleep":
		time.Sleep(time.Minute)
		os.Exit(0)
	case "spin":
		deadline := time.Now().Add(time.Minute)
		for n := 0; time.Now().Before(deadline); n++ {
		}
		os.Exit(0)
	case "hog":
		// Waits for a size in MiB on stdin, allocates and touches it,
		// says "done" and waits.
		var mib int
		if _, err := fmt.Fscan(os.Stdin, &mib); err != nil {
			os.Exit(2)
		}
		var keep [][]byte
		for i := 0; i < mib; i++ {
			b := make([]byte, 1<<20)
			for j := range b {
				b[j] = byte(j)
			}
			keep = append(keep, b)
		}
		fmt.Println("done", len(keep))
		time.Sleep(time.Minute)
		os.Exit(0)
	}
	os.Exit(3)
}

func requireRoot(t *testing.T, tools ...string) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("fault injection needs root (cgroups, network namespaces)")
	}
	for _, tool := range tools {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("needs %s: %v", tool, err)
		}
	}
}

func newContainer(t *testing.T) *Container {
	t.Helper()
	c, err := NewContainer("linux/test")
	if err != nil {
		t.Skipf("needs a memory cgroup: %v", err)
	}
	return c
}

// helper starts the test binary as a helper in c's cgroup (and a new
// network namespace when newNet); the test kills it at its end, then
// closes c.
func helper(t *testing.T, c *Container, mode string, newNet bool, stdin io.Reader) (*exec.Cmd, *bufio.Scanner) {
	t.Helper()
	cmd := exec.Command(os.Args[0])
	cmd.Env = append(os.Environ(), helperEnv+"="+mode)
	cmd.Stdin = stdin
	if newNet {
		cmd.SysProcAttr = &syscall.SysProcAttr{Cloneflags: syscall.CLONE_NEWNET}
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting helper %s: %v", mode, err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
		if err := c.Close(); err != nil {
			t.Errorf("Close() = %v", err)
		}
		if _, err := os.Stat(c.CgroupDir()); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("cgroup %s still there after Close: %v", c.CgroupDir(), err)
		}
	})
	if err := cgroup.AddProcess(c.CgroupDir(), cmd.Process.Pid); err != nil {
		t.Fatal(err)
	}
	return cmd, bufio.NewScanner(out)
}

// hostState is what a fault must never change: the host's qdiscs (but
// the test's own veth) and firewall rules.
func hostState(t *testing.T) string {
	t.Helper()
	var b strings.Builder
	if out, err := exec.Command("tc", "qdisc", "show").CombinedOutput(); err == nil {
		for line := range strings.Lines(string(out)) {
			if !strings.Contains(line, "dev "+netns.LinkPrefix) {
				b.WriteString(line)
			}
		}
	}
	for _, tool := range []string{"iptables-save", "ip6tables-save"} {
		if out, err := exec.Command(tool).CombinedOutput(); err == nil {
			for line := range strings.Lines(string(out)) {
				if !strings.HasPrefix(line, "#") {
					b.WriteString(line)
				}
			}
		}
	}
	return b.String()
}

// netService is the helper server in a network namespace of its own,
// linked to the host.
type netService struct {
	c    *Container
	addr netip.Addr // its eth0
	ns   *os.File
}

func startNetService(t *testing.T) *netService {
	t.Helper()
	requireRoot(t, "ip", "nsenter", "unshare", "tc", "iptables")
	c := newContainer(t)
	cmd, out := helper(t, c, "server", true, nil)
	_ = out
	l, err := netns.Attach(cmd.Process.Pid)
	if err != nil {
		t.Skipf("needs a private network: %v", err)
	}
	t.Cleanup(func() { l.Close() })
	ns, err := os.Open("/proc/" + strconv.Itoa(cmd.Process.Pid) + "/ns/net")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ns.Close() })
	s := &netService{c: c, addr: l.Container, ns: ns}
	deadline := time.Now().Add(10 * time.Second)
	for {
		if _, err := s.get(time.Second); err == nil {
			return s
		} else if time.Now().After(deadline) {
			t.Fatalf("the helper server never answered: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// get sends one HTTP request on a new connection and returns how long it
// took.
func (s *netService) get(timeout time.Duration) (time.Duration, error) {
	cl := &http.Client{Timeout: timeout, Transport: &http.Transport{DisableKeepAlives: true, Proxy: nil}}
	t0 := time.Now()
	resp, err := cl.Get("http://" + netip.AddrPortFrom(s.addr, helperTCP).String() + "/")
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	if _, err := io.ReadAll(resp.Body); err != nil {
		return 0, err
	}
	return time.Since(t0), nil
}

// medianGet is the median time of n requests.
func (s *netService) medianGet(t *testing.T, n int) time.Duration {
	t.Helper()
	var ds []time.Duration
	for i := 0; i < n; i++ {
		d, err := s.get(5 * time.Second)
		if err != nil {
			t.Fatalf("request %d: %v", i, err)
		}
		ds = append(ds, d)
	}
	slices.Sort(ds)
	return ds[len(ds)/2]
}

// echoed sends n UDP datagrams at once to the echo server and returns how
// many came back.
func (s *netService) echoed(t *testing.T, n int) int {
	t.Helper()
	conn, err := net.Dial("udp", netip.AddrPortFrom(s.addr, helperUDP).String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	got := map[string]bool{}
	done := make(chan struct{})
	go func() {
		defer close(done)
		buf := make([]byte, 64)
		for {
			conn.SetReadDeadline(time.Now().Add(700 * time.Millisecond))
			k, err := conn.Read(buf)
			if err != nil {
				return
			}
			got[string(buf[:k])] = true
		}
	}()
	for i := 0; i < n; i++ {
		conn.Write([]byte(strconv.Itoa(i)))
		if i%20 == 19 {
			time.Sleep(2 * time.Millisecond) // no drops in socket buffers
		}
	}
	<-done
	return len(got)
}

// inNS is a command's output inside the service's namespace.
func (s *netService) inNS(t *testing.T, args ...string) string {
	t.Helper()
	cmd := exec.Command("nsenter", append([]string{"--net=/proc/self/fd/3", "--"}, args...)...)
	cmd.ExtraFiles = []*os.File{s.ns}
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%s: %v: %s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

// assertClean checks that nothing of a fault is left in the namespace.
func (s *netService) assertClean(t *testing.T) {
	t.Helper()
	if q := s.inNS(t, "tc", "qdisc", "show", "dev", netns.ContainerLink); strings.Contains(q, "netem") {
		t.Errorf("after Lift, eth0 still has a netem qdisc: %s", q)
	}
	if r := s.inNS(t, "iptables-save"); strings.Contains(r, chain) {
		t.Errorf("after Lift, the namespace still has the %s chain:\n%s", chain, r)
	}
}

func TestFaultLoss(t *testing.T) {
	for _, method := range []string{"netem", "iptables"} {
		t.Run(method, func(t *testing.T) {
			host := hostState(t)
			s := startNetService(t)
			s.c.forceIPTables = method == "iptables"
			if method == "netem" {
				if err := haveNetem(); err != nil {
					t.Skipf("the kernel has no netem qdisc (CONFIG_NET_SCH_NETEM): %v", err)
				}
			}
			const n = 200
			if got := s.echoed(t, n); got < n*95/100 {
				t.Fatalf("before the fault %d of %d datagrams came back, want at least 95%%", got, n)
			}
			in, err := s.c.Inject(context.Background(), Spec{Kind: KindLoss, Loss: 50, Duration: time.Minute})
			if err != nil {
				t.Fatalf("Inject(loss 50%%) = %v", err)
			}
			if in.Method != method {
				t.Errorf("Method = %q, want %q", in.Method, method)
			}
			got := s.echoed(t, n)
			if now := hostState(t); now != host {
				t.Errorf("the host's qdiscs or firewall changed during the fault:\nbefore:\n%s\nduring:\n%s", host, now)
			}
			if got < n*20/100 || got > n*80/100 {
				t.Errorf("with 50%% loss %d of %d datagrams came back, want 20%% to 80%%", got, n)
			}
			if err := in.Lift(); err != nil {
				t.Fatalf("Lift() = %v", err)
			}
			s.assertClean(t)
			if got := s.echoed(t, n); got < n*95/100 {
				t.Errorf("after Lift %d of %d datagrams came back, want at least 95%%", got, n)
			}
			if now := hostState(t); now != host {
				t.Errorf("the host's qdiscs or firewall changed:\nbefore:\n%s\nafter:\n%s", host, now)
			}
		})
	}
}

// TestFaultPartitionLiftsItself also checks the self-lift after Duration.
func TestFaultPartitionLiftsItself(t *testing.T) {
	host := hostState(t)
	s := startNetService(t)
	s.c.forceIPTables = haveNetem() != nil
	in, err := s.c.Inject(context.Background(), Spec{Kind: KindPartition, Duration: 3 * time.Second})
	if err != nil {
		t.Fatalf("Inject(partition) = %v", err)
	}
	if _, err := s.get(500 * time.Millisecond); err == nil {
		t.Errorf("during the partition a request was answered")
	}
	if got := s.echoed(t, 50); got != 0 {
		t.Errorf("during the partition %d datagrams came back, want 0", got)
	}
	select {
	case <-in.Done():
	case <-time.After(10 * time.Second):
		t.Fatal("the partition did not lift itself 10s after its 3s duration")
	}
	if d := time.Since(in.Started); d < 3*time.Second {
		t.Errorf("the partition lifted itself after %s, before its duration of 3s", d)
	}
	s.assertClean(t)
	if _, err := s.get(5 * time.Second); err != nil {
		t.Errorf("after the partition: %v", err)
	}
	if now := hostState(t); now != host {
		t.Errorf("the host's qdiscs or firewall changed:\nbefore:\n%s\nafter:\n%s", host, now)
	}
}

func TestFaultLatency(t *testing.T) {
	s := startNetService(t)
	if err := s.c.Check(Spec{Kind: KindLatency, Delay: time.Millisecond, Duration: time.Second}); err != nil {
		t.Skipf("this host cannot add latency: %v", err)
	}
	host := hostState(t)
	const delay = 100 * time.Millisecond
	before := s.medianGet(t, 9)
	in, err := s.c.Inject(context.Background(), Spec{Kind: KindLatency, Delay: delay, Duration: time.Minute})
	if err != nil {
		t.Fatalf("Inject(latency) = %v", err)
	}
	during := s.medianGet(t, 9)
	if during < before+delay {
		t.Errorf("median request time %s during a %s latency fault, want at least %s (before: %s)", during, delay, before+delay, before)
	}
	if err := in.Lift(); err != nil {
		t.Fatalf("Lift() = %v", err)
	}
	s.assertClean(t)
	if after := s.medianGet(t, 9); after > before+delay/2 {
		t.Errorf("median request time %s after Lift, want below %s (before: %s)", after, before+delay/2, before)
	}
	if now := hostState(t); now != host {
		t.Errorf("the host's qdiscs or firewall changed:\nbefore:\n%s\nafter:\n%s", host, now)
	}
}

// TestFaultUnsupported: a fault the host cannot inject is an
// *UnsupportedError naming the platform, what is missing and what to do,
// and changes nothing.
func TestFaultUnsupported(t *testing.T) {
	s := startNetService(t)
	host := hostState(t)
	qdisc := s.inNS(t, "tc", "qdisc", "show")
	// A PATH without tc and iptables: only nsenter and unshare.
	bin := t.TempDir()
	for _, tool := range []string{"nsenter", "unshare"} {
		p, _ := exec.LookPath(tool)
		if err := os.Symlink(p, filepath.Join(bin, tool)); err != nil {
			t.Fatal(err)
		}
	}
	t.Setenv("PATH", bin)
	for _, spec := range []Spec{
		{Kind: KindLatency, Delay: 50 * time.Millisecond, Duration: time.Second},
		{Kind: KindLoss, Loss: 10, Duration: time.Second},
	} {
		in, err := s.c.Inject(context.Background(), spec)
		var ue *UnsupportedError
		if !errors.As(err, &ue) {
			if in != nil {
				in.Lift()
			}
			t.Fatalf("Inject(%s) with no tc = %v, want an *UnsupportedError", spec, err)
		}
		for _, want := range []string{"linux/test", string(spec.Kind), "netem", "install"} {
			if !strings.Contains(err.Error(), want) {
				t.Errorf("Inject(%s) = %q, want it to name %q", spec, err, want)
			}
		}
	}
	t.Setenv("PATH", "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin")
	if q := s.inNS(t, "tc", "qdisc", "show"); q != qdisc {
		t.Errorf("the container's qdiscs changed: %q, want %q", q, qdisc)
	}
	if r := s.inNS(t, "iptables-save"); strings.Contains(r, chain) {
		t.Errorf("the container got the %s chain:\n%s", chain, r)
	}
	if now := hostState(t); now != host {
		t.Errorf("the host's qdiscs or firewall changed:\nbefore:\n%s\nafter:\n%s", host, now)
	}
}

// TestFaultUnsupportedNetemHere: on a kernel without netem (as some CI and
// cloud kernels are), latency is an *UnsupportedError that says so.
func TestFaultUnsupportedNetemHere(t *testing.T) {
	requireRoot(t, "tc", "unshare", "nsenter")
	if haveNetem() == nil {
		t.Skip("this kernel has netem; TestFaultUnsupported covers a host without tc")
	}
	err := Check("linux/arm64", Spec{Kind: KindLatency, Delay: time.Millisecond, Duration: time.Second})
	var ue *UnsupportedError
	if !errors.As(err, &ue) || !strings.Contains(err.Error(), "linux/arm64") || !strings.Contains(err.Error(), "sch_netem") {
		t.Errorf("Check(latency) = %v, want an *UnsupportedError naming linux/arm64 and sch_netem", err)
	}
}

func TestFaultKill(t *testing.T) {
	requireRoot(t)
	if err := havePidfd(); err != nil {
		t.Skipf("needs pidfd_open: %v", err)
	}
	c := newContainer(t)
	goAhead, tell := io.Pipe()
	init, out := helper(t, c, "init", false, goAhead)
	go func() { io.WriteString(tell, "go\n"); tell.Close() }() // in the cgroup now
	if !out.Scan() {
		t.Fatal("the init said nothing")
	}
	var child int
	if _, err := fmt.Sscanf(out.Text(), "child %d", &child); err != nil {
		t.Fatalf("init said %q: %v", out.Text(), err)
	}
	in, err := c.Inject(context.Background(), Spec{Kind: KindKill})
	if err != nil {
		t.Fatalf("Inject(kill) = %v", err)
	}
	if in.Pid != child {
		t.Errorf("kill went to pid %d, want the init's child %d (the init is %d)", in.Pid, child, init.Process.Pid)
	}
	select {
	case <-in.Done():
	default:
		t.Error("a kill is not Done once sent")
	}
	lines := make(chan string, 1)
	go func() {
		if out.Scan() {
			lines <- out.Text()
		}
		close(lines)
	}()
	select {
	case l := <-lines:
		if l != "child ended: signal: killed" {
			t.Errorf("the init saw %q, want its child killed", l)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the main process was not killed within 10s")
	}
	if err := syscall.Kill(init.Process.Pid, 0); err != nil {
		t.Errorf("the init (pid %d) was hit too: %v", init.Process.Pid, err)
	}
	// Only the init is left: it is the main process now.
	if _, main, _, err := c.target(); err != nil || main != init.Process.Pid {
		t.Errorf("target() main = %d, %v; want the init %d", main, err, init.Process.Pid)
	}
}

func TestFaultKillNotRunning(t *testing.T) {
	requireRoot(t)
	c := newContainer(t)
	defer c.Close()
	_, err := c.Inject(context.Background(), Spec{Kind: KindKill})
	if !errors.Is(err, ErrNotRunning) || !strings.Contains(err.Error(), "linux/test") {
		t.Errorf("Inject(kill) into an empty cgroup = %v, want ErrNotRunning naming the platform", err)
	}
}

// cpuTime is the CPU time all of pid's threads used, from
// /proc/PID/task/*/schedstat (in nanoseconds, where /proc/PID/stat counts
// 10ms ticks). /proc/PID/schedstat alone is the main thread's: the
// spinner is a Go program, and once throttled its goroutine may go on
// on another thread, which read as the process using no CPU at all.
func cpuTime(t *testing.T, pid int) time.Duration {
	t.Helper()
	dir := "/proc/" + strconv.Itoa(pid) + "/task"
	tasks, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var sum time.Duration
	for _, task := range tasks {
		b, err := os.ReadFile(filepath.Join(dir, task.Name(), "schedstat"))
		if errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ESRCH) {
			continue // the thread exited
		}
		if err != nil {
			t.Fatal(err)
		}
		f := strings.Fields(string(b))
		if len(f) == 0 {
			t.Fatalf("%s/%s/schedstat is empty", dir, task.Name())
		}
		ns, err := strconv.ParseInt(f[0], 10, 64)
		if err != nil {
			t.Fatalf("%s/%s/schedstat %q: %v", dir, task.Name(), b, err)
		}
		sum += time.Duration(ns)
	}
	return sum
}

func cpuShare(t *testing.T, pid int, wall time.Duration) float64 {
	t.Helper()
	c0, t0 := cpuTime(t, pid), time.Now()
	time.Sleep(wall)
	return float64(cpuTime(t, pid)-c0) / float64(time.Since(t0))
}

func TestFaultCPU(t *testing.T) {
	requireRoot(t)
	c := newContainer(t)
	if err := c.Check(Spec{Kind: KindCPU, CPUs: 0.2, Duration: time.Second}); err != nil {
		t.Skipf("this host cannot limit CPU: %v", err)
	}
	spin, _ := helper(t, c, "spin", false, nil)
	pid := spin.Process.Pid
	// A quota far below what the spinner gets, so a busy host (other
	// tests, builds) still shows the difference.
	const quota = 0.01
	before := cpuShare(t, pid, time.Second)
	if before < 4*quota {
		t.Skipf("the host is too busy to observe a CPU quota: a spinning process got %.2f CPUs", before)
	}
	in, err := c.Inject(context.Background(), Spec{Kind: KindCPU, CPUs: quota, Duration: time.Minute})
	if err != nil {
		t.Fatalf("Inject(cpu %g) = %v", quota, err)
	}
	during := cpuShare(t, pid, 2*time.Second)
	if err := in.Lift(); err != nil {
		t.Fatalf("Lift() = %v", err)
	}
	after := cpuShare(t, pid, time.Second)
	t.Logf("CPU share of a spinning process: before %.3f, under a %g CPU quota %.3f, after Lift %.3f", before, quota, during, after)
	if during > 2*quota {
		t.Errorf("under a %g CPU quota the spinner used %.3f CPUs, want at most %g", quota, during, 2*quota)
	}
	if after < 2.5*quota {
		t.Errorf("after Lift the spinner used %.3f CPUs (%.3f under the quota), want the quota gone", after, during)
	}
}

func TestFaultMemoryOOMKills(t *testing.T) {
	requireRoot(t)
	c := newContainer(t)
	pr, pw, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer pw.Close()
	hog, out := helper(t, c, "hog", false, pr)
	pr.Close()
	in, err := c.Inject(context.Background(), Spec{Kind: KindMemory, Memory: 32 << 20, Duration: time.Minute})
	if err != nil {
		t.Fatalf("Inject(memory 32MiB) = %v", err)
	}
	fmt.Fprintln(pw, 128)
	err = hog.Wait()
	if out.Scan() {
		t.Errorf("the hog said %q under a 32MiB limit; want it OOM-killed", out.Text())
	}
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.Sys().(syscall.WaitStatus).Signal() != syscall.SIGKILL {
		t.Errorf("the hog allocating 128MiB under a 32MiB limit ended with %v, want SIGKILL", err)
	}
	if n, err := c.OOMKills(); err != nil || n == 0 {
		t.Errorf("OOMKills() = %d, %v; want at least 1", n, err)
	}
	if err := in.Lift(); err != nil {
		t.Fatalf("Lift() = %v", err)
	}
	// After Lift the same allocation succeeds.
	pr2, pw2, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer pw2.Close()
	_, out2 := helper(t, c, "hog", false, pr2)
	pr2.Close()
	fmt.Fprintln(pw2, 128)
	if !out2.Scan() || out2.Text() != "done 128" {
		t.Errorf("after Lift the hog said %q, want done 128", out2.Text())
	}
}

// TestFaultRefusesHostNetwork: a container in manyarch's own network
// namespace (network: host) gets no network fault: it would change the
// host's interfaces.
func TestFaultRefusesHostNetwork(t *testing.T) {
	requireRoot(t, "nsenter", "unshare", "tc", "iptables")
	host := hostState(t)
	c := newContainer(t)
	helper(t, c, "sleep", false, nil)
	c.forceIPTables = true
	// Were the refusal gone, this fault would reach the host: one that
	// drops almost nothing and lifts itself within a second.
	for _, spec := range []Spec{{Kind: KindLoss, Loss: 0.001, Duration: time.Second}} {
		in, err := c.Inject(context.Background(), spec)
		if err == nil {
			in.Lift()
			t.Fatalf("Inject(%s) into a container on the host's network = nil error, want a refusal", spec)
		}
		if !strings.Contains(err.Error(), "host's network namespace") || !strings.Contains(err.Error(), "linux/test") {
			t.Errorf("Inject(%s) = %q, want it to name the platform and the host's network namespace", spec, err)
		}
	}
	if now := hostState(t); now != host {
		t.Errorf("the host's qdiscs or firewall changed:\nbefore:\n%s\nafter:\n%s", host, now)
	}
}
