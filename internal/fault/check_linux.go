package fault

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"golang.org/x/sys/unix"
)

// A probe is a capability of the host, found out once per process.
type probe struct {
	once sync.Once
	err  error
}

func (p *probe) do(f func() error) error {
	p.once.Do(func() { p.err = f() })
	return p.err
}

var (
	netemProbe    probe
	iptablesProbe probe
	pidfdProbe    probe
)

// probeTimeout bounds each probe command.
const probeTimeout = 10 * time.Second

// inThrowawayNetns runs args in a new network namespace of its own
// (unshare(1)), which vanishes with the command: a probe changes nothing
// of the host.
func inThrowawayNetns(args ...string) error {
	ctx, cancel := context.WithTimeout(context.Background(), probeTimeout)
	defer cancel()
	out, err := exec.CommandContext(ctx, "unshare", append([]string{"--net", "--"}, args...)...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("%s: %w: %s", strings.Join(args, " "), err, bytes.TrimSpace(out))
	}
	return nil
}

func haveNetem() error {
	return netemProbe.do(func() error {
		return inThrowawayNetns("tc", "qdisc", "add", "dev", "lo", "root", "netem", "delay", "1ms")
	})
}

func haveIPTables() error {
	return iptablesProbe.do(func() error {
		return inThrowawayNetns("iptables", "-w", "5", "-A", "OUTPUT", "-m", "statistic", "--mode", "random", "--probability", "0.5", "-j", "DROP")
	})
}

func havePidfd() error {
	return pidfdProbe.do(func() error {
		fd, err := unix.PidfdOpen(os.Getpid(), 0)
		if err != nil {
			return err
		}
		return unix.Close(fd)
	})
}

// Check tells whether this host can inject s into a container of
// platform: nil, or an *UnsupportedError naming what is missing and what
// to do. Faults are injected only after their Check passed.
func Check(platform string, s Spec) error {
	return check(platform, s, func() error { _, _, err := cpuParent(); return err })
}

// check is Check with cpuOK saying whether a cpu fault can be set.
func check(platform string, s Spec, cpuOK func() error) error {
	if err := s.Validate(); err != nil {
		return fmt.Errorf("%s: %w", platform, err)
	}
	unsupported := func(missing, fix string, err error) error {
		return &UnsupportedError{Platform: platform, Kind: s.Kind, Missing: missing, Fix: fix, Err: err}
	}
	if os.Geteuid() != 0 {
		return unsupported("root privileges", "run manyarch test as root (sudo), or leave this fault out on this host", nil)
	}
	switch s.Kind {
	case KindLatency, KindLoss, KindPartition:
		for _, tool := range []string{"nsenter", "unshare"} {
			if _, err := exec.LookPath(tool); err != nil {
				return unsupported(tool+" (util-linux)", "install util-linux (apt-get install util-linux)", err)
			}
		}
		_, tcErr := exec.LookPath("tc")
		if tcErr == nil {
			tcErr = haveNetem()
		}
		if s.Kind == KindLatency {
			if tcErr != nil {
				return unsupported("netem qdisc (tc qdisc ... netem: iproute2 and the kernel's sch_netem, CONFIG_NET_SCH_NETEM)",
					"install iproute2 and load the module (modprobe sch_netem; on Debian it ships in linux-image-*), or run on a kernel built with netem; "+
						"no other way adds latency", tcErr)
			}
			return nil
		}
		if tcErr == nil {
			return nil
		}
		if _, err := exec.LookPath("iptables"); err != nil {
			return unsupported("netem qdisc nor iptables", "install iproute2 with a kernel that has sch_netem (modprobe sch_netem), or iptables (apt-get install iptables)",
				errors.Join(tcErr, err))
		}
		if err := haveIPTables(); err != nil {
			return unsupported("netem qdisc nor a working iptables statistic match", "load sch_netem (modprobe sch_netem), or the xt_statistic module for iptables",
				errors.Join(tcErr, err))
		}
		return nil
	case KindKill:
		if err := havePidfd(); err != nil {
			return unsupported("pidfd_open(2) (Linux 5.3 or later)", "run on Linux 5.3 or later, where a signal cannot reach a reused pid", err)
		}
		return nil
	case KindCPU:
		if err := cpuOK(); err != nil {
			return unsupported("cpu cgroup controller", "run as root on a host whose cgroup hierarchy (v1 cpu, or v2 with cpu available) is writable", err)
		}
		return nil
	case KindMemory:
		return nil // the Container's cgroup is the memory one
	}
	return nil
}

// cpuParent finds where the cpu limit of a container goes: on cgroup v1
// the directory of manyarch's own cpu cgroup, below which a container's
// cpu cgroup is made; on v2 "" (the container's own cgroup, once the cpu
// controller is enabled for it).
func cpuParent() (dir string, v2 bool, err error) {
	cg, err := os.ReadFile("/proc/self/cgroup")
	if err != nil {
		return "", false, fmt.Errorf("reading this process's cgroups: %w", err)
	}
	mi, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		return "", false, fmt.Errorf("reading mounts: %w", err)
	}
	var v1Path string
	haveV1 := false
	for line := range strings.Lines(string(cg)) {
		f := strings.SplitN(strings.TrimSpace(line), ":", 3)
		if len(f) != 3 {
			continue
		}
		for _, c := range strings.Split(f[1], ",") {
			if c == "cpu" {
				v1Path, haveV1 = f[2], true
			}
		}
	}
	if !haveV1 {
		// cgroup v2: the limit is set on the container's own cgroup.
		if _, err := os.Stat("/sys/fs/cgroup/cgroup.controllers"); err != nil {
			return "", false, errors.New("no cgroup v1 cpu hierarchy and no cgroup v2 at /sys/fs/cgroup")
		}
		b, err := os.ReadFile("/sys/fs/cgroup/cgroup.controllers")
		if err != nil || !strings.Contains(" "+strings.TrimSpace(string(b))+" ", " cpu ") {
			return "", false, errors.New("the cgroup v2 hierarchy offers no cpu controller")
		}
		return "", true, nil
	}
	for line := range strings.Lines(string(mi)) {
		// id parent maj:min root mountpoint opts ... - fstype source superopts
		pre, post, ok := strings.Cut(strings.TrimSpace(line), " - ")
		if !ok {
			continue
		}
		a, b := strings.Fields(pre), strings.Fields(post)
		if len(a) < 5 || len(b) < 3 || b[0] != "cgroup" {
			continue
		}
		if !hasOpt(b[2], "cpu") {
			continue
		}
		root, mnt := a[3], a[4]
		rel, err := filepath.Rel(root, v1Path)
		if err != nil || strings.HasPrefix(rel, "..") {
			continue
		}
		dir := filepath.Join(mnt, rel)
		if _, err := os.Stat(filepath.Join(dir, "cpu.cfs_quota_us")); err != nil {
			return "", false, fmt.Errorf("cpu cgroup %s has no cpu.cfs_quota_us (kernel without CONFIG_CFS_BANDWIDTH): %w", dir, err)
		}
		return dir, false, nil
	}
	return "", false, fmt.Errorf("the cpu cgroup %s of this process is not mounted here", v1Path)
}

func hasOpt(opts, w string) bool {
	for _, o := range strings.Split(opts, ",") {
		if o == w {
			return true
		}
	}
	return false
}
