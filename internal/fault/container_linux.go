package fault

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/manyarch/manyarch/internal/cgroup"
)

// unlimited is the memory limit of a Container until a memory fault sets
// one (the largest page-aligned value: the kernel's "no limit").
const unlimited = math.MaxInt64 &^ (1<<12 - 1)

// Container is the cgroup a service container runs in, and the faults
// injected into it. It is safe for concurrent use.
type Container struct {
	platform string
	dir      string         // the container's cgroup (v1: memory; v2: every controller)
	mem      *cgroup.Memory // the cgroup of dir (nil in tests on a fake tree)
	v2       bool

	// forceIPTables makes loss and partition faults use iptables even
	// where netem exists (tests of the fallback).
	forceIPTables bool

	mu     sync.Mutex
	cpuDir string // cgroup v1: the cpu cgroup made by the first cpu fault
	active map[*Injected]struct{}
	closed bool
}

// NewContainer makes the cgroup of a service container on platform (used
// in error messages, "linux/arm64"): a child of manyarch's own memory
// cgroup, v1 or v2, with no limit until a memory fault sets one. Close it
// after the container's processes have exited.
func NewContainer(platform string) (*Container, error) {
	if os.Geteuid() != 0 {
		return nil, &UnsupportedError{Platform: platform, Missing: "root privileges (faults change the container's cgroup and network namespace)",
			Fix: "run manyarch test as root (sudo), or leave the fault tests out (platforms: on each fault)"}
	}
	m, err := cgroup.NewMemory(unlimited)
	if err != nil {
		return nil, &UnsupportedError{Platform: platform, Missing: "writable memory cgroup", Err: err,
			Fix: "run manyarch test as root on a host with the cgroup memory controller (v1 or v2)"}
	}
	_, statErr := os.Stat(filepath.Join(m.Dir(), "memory.max"))
	c := &Container{platform: platform, dir: m.Dir(), mem: m, v2: statErr == nil, active: map[*Injected]struct{}{}}
	if !c.v2 {
		// The v1 cpu cgroups that killed manyarch processes left (a
		// later cpu fault would remove them too, but a later run may
		// have none).
		if parent, _, err := cpuParent(); err == nil && parent != "" {
			removeStaleCPU(parent)
		}
	}
	return c, nil
}

// CgroupDir is the cgroup directory the container's processes must run in
// (sandbox.Spec.Cgroup).
func (c *Container) CgroupDir() string { return c.dir }

// Platform is the platform the container was made for.
func (c *Container) Platform() string { return c.platform }

// OOMKills is how many of the container's processes the kernel's
// out-of-memory killer has killed so far.
func (c *Container) OOMKills() (uint64, error) {
	if c.mem == nil {
		return 0, fmt.Errorf("%s: cgroup %s: no memory cgroup", c.platform, c.dir)
	}
	return c.mem.OOMKills()
}

// Close lifts the faults still in place and removes the cgroups, waiting a
// few seconds for the container's processes to be gone.
func (c *Container) Close() error {
	c.mu.Lock()
	c.closed = true
	var act []*Injected
	for in := range c.active {
		act = append(act, in)
	}
	cpuDir := c.cpuDir
	c.mu.Unlock()
	var errs []error
	for _, in := range act {
		if err := in.Lift(); err != nil {
			errs = append(errs, err)
		}
	}
	if cpuDir != "" {
		if err := removeCgroup(cpuDir); err != nil {
			errs = append(errs, err)
		}
	}
	if c.mem != nil {
		if err := c.mem.Remove(); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

func removeCgroup(dir string) error {
	var err error
	for i := 0; i < 50; i++ {
		if err = os.Remove(dir); err == nil || errors.Is(err, fs.ErrNotExist) {
			return nil
		}
		time.Sleep(100 * time.Millisecond)
	}
	return fmt.Errorf("removing cgroup %s: %w (a process of the container is still in it)", dir, err)
}

// procs lists the processes of the container's cgroup and its children
// (cgroup v2 puts them in a pids cgroup below it).
func (c *Container) procs() ([]int, error) {
	var pids []int
	err := filepath.WalkDir(c.dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return nil // a child removed meanwhile
			}
			return err
		}
		if !d.IsDir() {
			return nil
		}
		b, err := os.ReadFile(filepath.Join(p, "cgroup.procs"))
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return nil
			}
			return err
		}
		for _, f := range strings.Fields(string(b)) {
			if n, err := strconv.Atoi(f); err == nil && n > 0 {
				pids = append(pids, n)
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("%s: listing the processes of cgroup %s: %w", c.platform, c.dir, err)
	}
	slices.Sort(pids)
	return slices.Compact(pids), nil
}

// procStat is what faults read of /proc/PID/stat.
type procStat struct {
	ppid  int
	start uint64 // start time in clock ticks since boot
}

func readStat(pid int) (procStat, error) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return procStat{}, err
	}
	// pid (comm) state ppid ... starttime(22): comm may hold spaces.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return procStat{}, fmt.Errorf("/proc/%d/stat: no command name", pid)
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 20 {
		return procStat{}, fmt.Errorf("/proc/%d/stat: %d fields", pid, len(f))
	}
	ppid, err1 := strconv.Atoi(f[1])
	start, err2 := strconv.ParseUint(f[19], 10, 64)
	if err1 != nil || err2 != nil {
		return procStat{}, fmt.Errorf("/proc/%d/stat: bad ppid or start time", pid)
	}
	return procStat{ppid: ppid, start: start}, nil
}

// target finds the container's init (the process of the cgroup whose
// parent is outside it) and its main process (the init's oldest child in
// the cgroup, or the init itself when it has none).
func (c *Container) target() (init, main int, mainStart uint64, err error) {
	pids, err := c.procs()
	if err != nil {
		return 0, 0, 0, err
	}
	stats := map[int]procStat{}
	for _, p := range pids {
		if st, err := readStat(p); err == nil {
			stats[p] = st
		}
	}
	for _, p := range pids {
		st, ok := stats[p]
		if !ok {
			continue
		}
		if _, inside := stats[st.ppid]; !inside && (init == 0 || st.start < stats[init].start) {
			init = p
		}
	}
	if init == 0 {
		return 0, 0, 0, fmt.Errorf("%s: %w (cgroup %s has no process)", c.platform, ErrNotRunning, c.dir)
	}
	main, mainStart = init, stats[init].start
	found := false
	for _, p := range pids {
		st, ok := stats[p]
		if ok && st.ppid == init && (!found || st.start < mainStart) {
			main, mainStart, found = p, st.start, true
		}
	}
	return init, main, mainStart, nil
}
