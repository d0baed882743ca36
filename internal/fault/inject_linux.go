package fault

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/manyarch/manyarch/internal/netns"
)

// liftTimeout bounds the commands that lift a fault, whatever the
// injecting context says: a fault is lifted even after a cancel.
const liftTimeout = 30 * time.Second

// Injected is a fault in place. Lift removes it; it lifts itself when its
// Spec.Duration has passed.
type Injected struct {
	Spec    Spec
	Started time.Time
	// Pid is the process the fault was injected into: the main process
	// (kill), or the container's init (the others).
	Pid int
	// Method is how the fault was injected: "netem", "iptables",
	// "pidfd", "cgroup v1", "cgroup v2".
	Method string

	c     *Container
	undo  func(ctx context.Context) error
	once  sync.Once
	err   error
	done  chan struct{}
	timer *time.Timer
}

// Lift removes the fault (it is idempotent: later calls return the first
// call's error). After it the container is as before the fault.
func (in *Injected) Lift() error {
	in.once.Do(func() {
		if in.timer != nil {
			in.timer.Stop()
		}
		ctx, cancel := context.WithTimeout(context.Background(), liftTimeout)
		defer cancel()
		if in.undo != nil {
			if err := in.undo(ctx); err != nil {
				in.err = fmt.Errorf("%s: lifting the %s fault: %w", in.c.platform, in.Spec.Kind, err)
			}
		}
		in.c.mu.Lock()
		delete(in.c.active, in)
		in.c.mu.Unlock()
		close(in.done)
	})
	return in.err
}

// Done is closed once the fault has been lifted (by Lift, or by itself
// after Spec.Duration); a kill is done as soon as the signal is sent.
func (in *Injected) Done() <-chan struct{} { return in.done }

// Check is the package's Check for this container's platform.
func (c *Container) Check(s Spec) error {
	if c.forceIPTables && (s.Kind == KindLoss || s.Kind == KindPartition) {
		if err := haveIPTables(); err != nil {
			return &UnsupportedError{Platform: c.platform, Kind: s.Kind, Missing: "iptables statistic match", Err: err}
		}
	}
	return check(c.platform, s, c.cpuAvailable)
}

// cpuAvailable says whether a cpu fault can limit this container: on
// cgroup v2 its parent offers the cpu controller; on v1 manyarch's own cpu
// cgroup is mounted and has a CFS quota.
func (c *Container) cpuAvailable() error {
	if c.v2 {
		return v2Offers(filepath.Dir(c.dir), "cpu")
	}
	_, v2, err := cpuParent()
	if err == nil && v2 {
		err = fmt.Errorf("the container's memory cgroup %s is cgroup v1 but this host's cpu controller is in cgroup v2", c.dir)
	}
	return err
}

// Inject injects s into the running container (Check first: a fault the
// host cannot inject is an *UnsupportedError, with nothing changed). The
// fault lifts itself after s.Duration; Lift lifts it sooner. A kill is
// lifted as soon as the signal is sent.
func (c *Container) Inject(ctx context.Context, s Spec) (*Injected, error) {
	if err := c.Check(s); err != nil {
		return nil, err
	}
	c.mu.Lock()
	closed := c.closed
	c.mu.Unlock()
	if closed {
		return nil, fmt.Errorf("%s: injecting %s: the container's cgroup was closed", c.platform, s)
	}
	init, main, mainStart, err := c.target()
	if err != nil {
		return nil, err
	}
	in := &Injected{Spec: s, Started: time.Now(), Pid: init, c: c, done: make(chan struct{})}
	switch s.Kind {
	case KindLatency, KindLoss, KindPartition:
		err = c.network(ctx, in, init)
	case KindKill:
		in.Pid = main
		err = c.kill(in, main, mainStart)
	case KindCPU:
		err = c.cpu(in)
	case KindMemory:
		err = c.memory(in)
	}
	if err != nil {
		return nil, fmt.Errorf("%s: injecting %s: %w", c.platform, s, err)
	}
	c.mu.Lock()
	c.active[in] = struct{}{}
	c.mu.Unlock()
	if s.Kind == KindKill {
		in.Lift()
	} else {
		in.timer = time.AfterFunc(s.Duration, func() { in.Lift() })
	}
	return in, nil
}

// network adds a netem qdisc or iptables rules on eth0 inside the network
// namespace of init.
func (c *Container) network(ctx context.Context, in *Injected, init int) error {
	ns, err := os.Open("/proc/" + strconv.Itoa(init) + "/ns/net")
	if err != nil {
		return fmt.Errorf("opening the network namespace of the container's init (pid %d): %w", init, err)
	}
	var a, b unix.Stat_t
	if err := unix.Fstat(int(ns.Fd()), &a); err != nil {
		ns.Close()
		return err
	}
	if err := unix.Stat("/proc/self/ns/net", &b); err != nil || (a.Ino == b.Ino && a.Dev == b.Dev) {
		ns.Close()
		return errors.New("the container runs in the host's network namespace (network: host): a network fault would change the host's interfaces, so it is refused; run the service with a private network")
	}
	dev := netns.ContainerLink
	if err := nsRun(ctx, ns, "", "ip", "link", "show", "dev", dev); err != nil {
		ns.Close()
		return fmt.Errorf("the container has no %s (network: none?): network faults need a private network: %w", dev, err)
	}
	useNetem := !c.forceIPTables && haveNetem() == nil
	var undo func(context.Context) error
	if useNetem {
		in.Method = "netem"
		args := []string{"tc", "qdisc", "replace", "dev", dev, "root", "netem"}
		switch in.Spec.Kind {
		case KindLatency:
			args = append(args, "delay", usec(in.Spec.Delay))
			if in.Spec.Jitter > 0 {
				args = append(args, usec(in.Spec.Jitter))
			}
		case KindLoss:
			args = append(args, "loss", strconv.FormatFloat(in.Spec.Loss, 'f', -1, 64)+"%")
		case KindPartition:
			args = append(args, "loss", "100%")
		}
		err = nsRun(ctx, ns, "", args...)
		undo = func(ctx context.Context) error {
			return nsRun(ctx, ns, "", "tc", "qdisc", "del", "dev", dev, "root")
		}
	} else {
		in.Method = "iptables"
		rules := "*filter\n:" + chain + " - [0:0]\n"
		switch in.Spec.Kind {
		case KindLoss:
			rules += fmt.Sprintf("-A %s -m statistic --mode random --probability %s -j DROP\n", chain, strconv.FormatFloat(in.Spec.Loss/100, 'f', 6, 64))
			rules += fmt.Sprintf("-I OUTPUT -o %s -j %s\n", dev, chain)
		case KindPartition:
			rules += fmt.Sprintf("-A %s -j DROP\n", chain)
			rules += fmt.Sprintf("-I OUTPUT -o %s -j %s\n-I INPUT -i %s -j %s\n", dev, chain, dev, chain)
		}
		rules += "COMMIT\n"
		removeChain(ctx, ns, dev) // a leftover of an earlier fault
		err = nsRun(ctx, ns, rules, "iptables-restore", "-w", "5", "--noflush")
		undo = func(ctx context.Context) error { return removeChain(ctx, ns, dev) }
	}
	if err != nil {
		undo(ctx)
		ns.Close()
		return err
	}
	in.undo = func(ctx context.Context) error {
		defer ns.Close()
		return undo(ctx)
	}
	return nil
}

// chain is the iptables chain of a network fault, in the container's own
// namespace.
const chain = "MANYARCH-FAULT"

// removeChain deletes the jumps to chain and chain itself; a missing
// rule or chain is no error.
func removeChain(ctx context.Context, ns *os.File, dev string) error {
	var errs []error
	for _, jump := range [][]string{{"OUTPUT", "-o"}, {"INPUT", "-i"}} {
		for {
			if nsRun(ctx, ns, "", "iptables", "-w", "5", "-C", jump[0], jump[1], dev, "-j", chain) != nil {
				break
			}
			if err := nsRun(ctx, ns, "", "iptables", "-w", "5", "-D", jump[0], jump[1], dev, "-j", chain); err != nil {
				errs = append(errs, err)
				break
			}
		}
	}
	if nsRun(ctx, ns, "", "iptables", "-w", "5", "-n", "-L", chain) == nil {
		if err := nsRun(ctx, ns, "", "iptables", "-w", "5", "-F", chain); err != nil {
			errs = append(errs, err)
		}
		if err := nsRun(ctx, ns, "", "iptables", "-w", "5", "-X", chain); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// nsRun runs args inside the network namespace ns (nsenter on the
// descriptor, so the namespace is the one opened, whatever happened to the
// pid since), with stdin when not empty.
func nsRun(ctx context.Context, ns *os.File, stdin string, args ...string) error {
	const nsPath = "/proc/self/fd/3" // ns is the command's fd 3
	cmd := exec.CommandContext(ctx, "nsenter", append([]string{"--net=" + nsPath, "--"}, args...)...)
	cmd.ExtraFiles = []*os.File{ns}
	if stdin != "" {
		cmd.Stdin = strings.NewReader(stdin)
	}
	out, err := cmd.CombinedOutput()
	if err != nil {
		return fmt.Errorf("%s: %w: %s", strings.Join(args, " "), err, bytes.TrimSpace(out))
	}
	return nil
}

func usec(d time.Duration) string { return strconv.FormatInt(d.Microseconds(), 10) + "us" }

// kill signals the main process through a pidfd opened while the process
// is known to be the one found (same start time), so a reused pid is
// never signalled.
func (c *Container) kill(in *Injected, main int, start uint64) error {
	sig, err := signalNumber(in.Spec.Signal)
	if err != nil {
		return err
	}
	in.Method = "pidfd"
	fd, err := unix.PidfdOpen(main, 0)
	if err != nil {
		if errors.Is(err, syscall.ESRCH) {
			return fmt.Errorf("the main process (pid %d) exited: %w", main, ErrNotRunning)
		}
		return fmt.Errorf("pidfd_open of the main process (pid %d): %w", main, err)
	}
	defer unix.Close(fd)
	if st, err := readStat(main); err != nil || st.start != start {
		return fmt.Errorf("the main process (pid %d) exited: %w", main, ErrNotRunning)
	}
	if err := unix.PidfdSendSignal(fd, sig, nil, 0); err != nil {
		return fmt.Errorf("signalling the main process (pid %d): %w", main, err)
	}
	return nil
}

var cpuSeq atomic.Int64

// cpuPeriod is the CFS period of a cpu fault, in microseconds.
const cpuPeriod = 100000

// cpu sets a CFS quota of Spec.CPUs on the container's processes.
func (c *Container) cpu(in *Injected) error {
	quota := int64(in.Spec.CPUs * cpuPeriod)
	if quota < 1000 {
		quota = 1000 // the kernel's minimum, 1ms
	}
	if c.v2 {
		// The container's own cgroup gets cpu.max, once its parent (the
		// memory cgroup's parent, manyarch's own) gives it the cpu
		// controller.
		in.Method = "cgroup v2"
		dir := c.dir
		if err := v2Offers(filepath.Dir(dir), "cpu"); err != nil {
			return err
		}
		if err := enableV2(filepath.Dir(dir), "cpu"); err != nil {
			return err
		}
		old, err := os.ReadFile(filepath.Join(dir, "cpu.max"))
		if err != nil {
			return fmt.Errorf("reading cpu.max of %s: %w", dir, err)
		}
		if err := writeCg(dir, "cpu.max", fmt.Sprintf("%d %d", quota, cpuPeriod)); err != nil {
			return err
		}
		in.undo = func(context.Context) error { return writeCg(dir, "cpu.max", strings.TrimSpace(string(old))) }
		return nil
	}
	parent, v2, err := cpuParent()
	if err != nil {
		return err
	}
	if v2 {
		return fmt.Errorf("the container's memory cgroup %s is cgroup v1 but this host's cpu controller is in cgroup v2: a mixed hierarchy cannot limit the container's CPU", c.dir)
	}
	in.Method = "cgroup v1"
	c.mu.Lock()
	dir := c.cpuDir
	if dir == "" {
		removeStaleCPU(parent)
		dir = filepath.Join(parent, fmt.Sprintf("%s%d-%d", cpuPrefix, os.Getpid(), cpuSeq.Add(1)))
		if err := os.Mkdir(dir, 0o755); err != nil {
			c.mu.Unlock()
			return fmt.Errorf("creating cpu cgroup %s: %w", dir, err)
		}
		c.cpuDir = dir
	}
	c.mu.Unlock()
	if err := writeCg(dir, "cpu.cfs_period_us", strconv.Itoa(cpuPeriod)); err != nil {
		return err
	}
	if err := writeCg(dir, "cpu.cfs_quota_us", strconv.FormatInt(quota, 10)); err != nil {
		return err
	}
	in.undo = func(context.Context) error { return writeCg(dir, "cpu.cfs_quota_us", "-1") }
	// Every process of the container moves in; its children follow.
	pids, err := c.procs()
	if err != nil {
		in.undo(context.Background())
		return err
	}
	for _, p := range pids {
		if err := os.WriteFile(filepath.Join(dir, "cgroup.procs"), []byte(strconv.Itoa(p)), 0); err != nil && !errors.Is(err, syscall.ESRCH) {
			in.undo(context.Background())
			return fmt.Errorf("moving process %d into cpu cgroup %s: %w", p, dir, err)
		}
	}
	return nil
}

// cpuPrefix names the v1 cpu cgroups of containers.
const cpuPrefix = "manyarch-fault-"

// removeStaleCPU removes the cpu cgroups that a manyarch no longer
// running made below parent (busy ones stay).
func removeStaleCPU(parent string) {
	entries, err := os.ReadDir(parent)
	if err != nil {
		return
	}
	for _, e := range entries {
		pidStr, _, ok := strings.Cut(strings.TrimPrefix(e.Name(), cpuPrefix), "-")
		if !e.IsDir() || !strings.HasPrefix(e.Name(), cpuPrefix) || !ok {
			continue
		}
		pid, err := strconv.Atoi(pidStr)
		if err != nil || pid <= 0 || syscall.Kill(pid, 0) == nil || errors.Is(syscall.Kill(pid, 0), syscall.EPERM) {
			continue
		}
		_ = os.Remove(filepath.Join(parent, e.Name()))
	}
}

// v2Offers checks that the cgroup v2 directory dir has controller (its
// cgroup.controllers lists it), so dir can give it to its children.
func v2Offers(dir, controller string) error {
	b, err := os.ReadFile(filepath.Join(dir, "cgroup.controllers"))
	if err != nil {
		return fmt.Errorf("reading the controllers of cgroup %s: %w", dir, err)
	}
	if !hasOpt(strings.Join(strings.Fields(string(b)), ","), controller) {
		return fmt.Errorf("cgroup v2 %s offers no %s controller (its cgroup.controllers: %q): its parent does not delegate it", dir, controller, strings.TrimSpace(string(b)))
	}
	return nil
}

func enableV2(dir, controller string) error {
	b, err := os.ReadFile(filepath.Join(dir, "cgroup.subtree_control"))
	if err != nil {
		return fmt.Errorf("reading cgroup %s: %w", dir, err)
	}
	for _, f := range strings.Fields(string(b)) {
		if f == controller {
			return nil
		}
	}
	if err := os.WriteFile(filepath.Join(dir, "cgroup.subtree_control"), []byte("+"+controller), 0); err != nil {
		return fmt.Errorf("enabling the %s controller below cgroup %s: %w", controller, dir, err)
	}
	return nil
}

func writeCg(dir, name, value string) error {
	if err := os.WriteFile(filepath.Join(dir, name), []byte(value), 0); err != nil {
		return fmt.Errorf("setting %s of cgroup %s to %s: %w", name, dir, value, err)
	}
	return nil
}

// memory sets the container cgroup's memory limit (swap included); Lift
// restores the previous values.
func (c *Container) memory(in *Injected) error {
	dir := c.dir
	limit := strconv.FormatInt(in.Spec.Memory, 10)
	if c.v2 {
		in.Method = "cgroup v2"
		old, err := os.ReadFile(filepath.Join(dir, "memory.max"))
		if err != nil {
			return fmt.Errorf("reading memory.max of %s: %w", dir, err)
		}
		if err := writeCg(dir, "memory.max", limit); err != nil {
			return err
		}
		in.undo = func(context.Context) error { return writeCg(dir, "memory.max", strings.TrimSpace(string(old))) }
		return nil
	}
	in.Method = "cgroup v1"
	// memory.memsw.limit_in_bytes >= memory.limit_in_bytes at every step:
	// lowering sets the memory limit first, raising the memsw one.
	files := []string{"memory.limit_in_bytes"}
	if _, err := os.Stat(filepath.Join(dir, "memory.memsw.limit_in_bytes")); err == nil {
		files = append(files, "memory.memsw.limit_in_bytes")
	}
	old := make([]string, len(files))
	for i, f := range files {
		b, err := os.ReadFile(filepath.Join(dir, f))
		if err != nil {
			return fmt.Errorf("reading %s of %s: %w", f, dir, err)
		}
		old[i] = strings.TrimSpace(string(b))
	}
	restore := func(context.Context) error {
		var errs []error
		for i := len(files) - 1; i >= 0; i-- {
			if err := writeCg(dir, files[i], old[i]); err != nil {
				errs = append(errs, err)
			}
		}
		return errors.Join(errs...)
	}
	for _, f := range files {
		if err := writeCg(dir, f, limit); err != nil {
			restore(context.Background())
			if errors.Is(err, syscall.EBUSY) {
				usage, _ := os.ReadFile(filepath.Join(dir, "memory.usage_in_bytes"))
				return fmt.Errorf("the container already uses %s bytes, more than the limit, and cgroup v1 refuses a limit below what it cannot reclaim: raise the memory limit above that (or run on a cgroup v2 host, where the limit OOM-kills it): %w",
					strings.TrimSpace(string(usage)), err)
			}
			return err
		}
	}
	in.undo = restore
	return nil
}
