package sandboxinit

import (
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"strconv"
	"syscall"
	"unsafe"
)

// decodeFilter reads a filter as the parent sends it: struct sock_filter
// entries in native byte order.
func decodeFilter(b []byte) ([]syscall.SockFilter, error) {
	if len(b)%8 != 0 {
		return nil, fmt.Errorf("seccomp filter of %d bytes is not a whole number of instructions", len(b))
	}
	f := make([]syscall.SockFilter, len(b)/8)
	for i := range f {
		r := b[8*i:]
		f[i] = syscall.SockFilter{Code: binary.NativeEndian.Uint16(r), Jt: r[2], Jf: r[3], K: binary.NativeEndian.Uint32(r[4:])}
	}
	return f, nil
}

// MaskedPaths are hidden from containers as runc's default spec and Docker
// hide them: files under /dev/null, directories under an empty read-only
// tmpfs.
var MaskedPaths = []string{
	"/proc/acpi", "/proc/asound", "/proc/kcore", "/proc/keys",
	"/proc/latency_stats", "/proc/timer_list", "/proc/timer_stats", "/proc/sched_debug",
	"/proc/scsi", "/sys/firmware", "/sys/devices/virtual/powercap",
}

// installSeccomp applies the filter (decodeFilter's input) to the calling
// thread; the processes it forks inherit it. The caller needs
// CAP_SYS_ADMIN in its user namespace or no_new_privs set, and must have
// locked its OS thread.
func installSeccomp(b []byte) error {
	filter, err := decodeFilter(b)
	if err != nil {
		return err
	}
	if len(filter) == 0 {
		return errors.New("seccomp: empty filter")
	}
	prog := syscall.SockFprog{Len: uint16(len(filter)), Filter: &filter[0]}
	// prctl(PR_SET_SECCOMP) is seccomp(SECCOMP_SET_MODE_FILTER) without
	// flags, under one number on every architecture.
	if _, err := prctl(prSetSeccomp, seccompModeFilter, uintptr(unsafe.Pointer(&prog)), 0, 0); err != nil {
		return fmt.Errorf("seccomp: installing a filter of %d instructions: %w", len(filter), err)
	}
	return nil
}

// ReadonlyPaths are read-only in containers, as in runc's default spec and
// Docker.
var ReadonlyPaths = []string{"/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"}

// protectPaths masks and write-protects the paths above; it runs in the
// init after /proc and /sys are attached. Missing paths are skipped.
func protectPaths() error {
	for _, p := range MaskedPaths {
		var st syscall.Stat_t
		if err := syscall.Stat(p, &st); err != nil {
			if errors.Is(err, syscall.ENOENT) {
				continue
			}
			return step("masking "+p, err)
		}
		var err error
		if st.Mode&syscall.S_IFMT == syscall.S_IFDIR {
			err = syscall.Mount("tmpfs", p, "tmpfs", syscall.MS_RDONLY|syscall.MS_NOSUID|syscall.MS_NODEV|syscall.MS_NOEXEC, "size=0,nr_inodes=1")
		} else {
			err = syscall.Mount("/dev/null", p, "", syscall.MS_BIND, "")
		}
		if err != nil {
			return step("masking "+p, err)
		}
	}
	for _, p := range ReadonlyPaths {
		if err := syscall.Mount(p, p, "", syscall.MS_BIND|syscall.MS_REC, ""); err != nil {
			if errors.Is(err, syscall.ENOENT) {
				continue
			}
			return step("making "+p+" read-only", err)
		}
		if err := mountSetattr(-1, p, atRecursive, &mountAttr{attrSet: uint64(mountAttrRdonly)}); err != nil {
			return step("making "+p+" read-only", err)
		}
	}
	return nil
}

// closeExtraFDs marks every descriptor from first up close-on-exec, so
// none the caller inherited (CVE-2024-21626's class) reaches the
// container; close_range (Linux 5.11) or, before it, one by one.
func closeExtraFDs(first int) error {
	err := closeRange(uint(first), ^uint(0), closeRangeCloexec)
	if err == nil {
		return nil
	}
	if !errors.Is(err, syscall.ENOSYS) && !errors.Is(err, syscall.EINVAL) {
		return fmt.Errorf("close_range: %w", err)
	}
	entries, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		return fmt.Errorf("listing open descriptors: %w", err)
	}
	for _, e := range entries {
		if fd, err := strconv.Atoi(e.Name()); err == nil && fd >= first {
			syscall.CloseOnExec(fd)
		}
	}
	return nil
}

// pidsMax is an open pids.max of the sandbox's pids cgroup, and of the
// parent's cgroup.procs and tasks when the init can leave the cgroup (v1).
// The init starts in the cgroup, so that nothing of the container is ever
// outside; its own threads (the Go runtime's) must not count against the
// container's limit, and the command must never have more than the limit,
// not even for a moment after it starts.
//
// cgroup v1 places threads, not processes: right before the command starts
// the init moves all its threads but the one that forks to the parent
// and sets pids.max to the limit plus that one thread, so the command,
// forked into the cgroup, can never have more than the limit; once it
// runs, the init moves that thread out too and sets pids.max to the
// limit. cgroup v2 keeps a process's threads together: there pids.max is
// the limit plus the init's thread count and initThreadMargin (room for
// threads the Go runtime starts later), for as long as the container
// runs.
type pidsMax struct {
	f, leaveTo, tasks *os.File
	limit             int64
}

// initThreadMargin is room for threads the init starts after it counted
// its own (the Go runtime aborts when it cannot make one).
const initThreadMargin = 4

func openPidsMax(file, leave string, limit int64) (*pidsMax, error) {
	f, err := os.OpenFile(file, os.O_WRONLY, 0)
	if err != nil {
		return nil, err
	}
	p := &pidsMax{f: f, limit: limit}
	if leave != "" {
		if p.leaveTo, err = os.OpenFile(leave, os.O_WRONLY, 0); err == nil {
			dir, _, _ := cutLast(leave, "/")
			p.tasks, err = os.OpenFile(dir+"/tasks", os.O_WRONLY, 0)
		}
		if err != nil {
			p.close()
			return nil, err
		}
	}
	return p, nil
}

func (p *pidsMax) close() {
	for _, f := range []*os.File{p.f, p.leaveTo, p.tasks} {
		if f != nil {
			f.Close()
		}
	}
}

// cutLast is cut at the last sep.
func cutLast(s, sep string) (before, after string, found bool) {
	for i := len(s) - len(sep); i >= 0; i-- {
		if s[i:i+len(sep)] == sep {
			return s[:i], s[i+len(sep):], true
		}
	}
	return s, "", false
}

// allowInit sets the limit for the command's start (see pidsMax). It runs
// on the thread that forks the command.
func (p *pidsMax) allowInit() error {
	if p.tasks != nil {
		return p.onlyThisThread()
	}
	threads := 0
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return err
	}
	for _, line := range split(string(b), "\n") {
		if v, ok := cutPrefix(line, "Threads:"); ok {
			threads, _ = strconv.Atoi(trimSpace(v))
		}
	}
	if threads == 0 {
		return fmt.Errorf("no Threads line in /proc/self/status")
	}
	_, err = p.f.WriteString(strconv.FormatInt(p.limit+int64(threads)+initThreadMargin, 10))
	return err
}

// onlyThisThread (cgroup v1) moves the init's other threads to the parent
// cgroup and sets pids.max to the limit plus this thread. A thread made
// meanwhile by one still in the cgroup is moved on the next pass; one
// this thread makes stays, and takes room from the command, never adds
// to it.
func (p *pidsMax) onlyThisThread() error {
	self := strconv.Itoa(syscall.Gettid())
	moved := map[string]bool{self: true}
	for pass := 0; ; pass++ {
		d, err := os.Open("/proc/self/task")
		if err != nil {
			return err
		}
		names, err := d.Readdirnames(-1)
		d.Close()
		if err != nil {
			return err
		}
		n := 0
		for _, tid := range names {
			if moved[tid] {
				continue
			}
			if _, err := p.tasks.WriteString(tid); err != nil && !errors.Is(err, syscall.ESRCH) {
				return fmt.Errorf("moving thread %s of the init out of the pids cgroup: %w", tid, err)
			}
			moved[tid] = true
			n++
		}
		if n == 0 {
			break
		}
		if pass == 10 {
			return errors.New("the init keeps starting threads")
		}
	}
	_, err := p.f.WriteString(strconv.FormatInt(p.limit+1, 10))
	return err
}

// leave sets the limit to the container's own and then moves the init
// (all its threads: "0" is the writer) to the parent cgroup. In that
// order: the other way round the container could fill the room the init
// left before the limit is lowered.
func (p *pidsMax) leave() error {
	defer p.close()
	if p.leaveTo == nil {
		return nil
	}
	if _, err := p.f.WriteString(strconv.FormatInt(p.limit, 10)); err != nil {
		return err
	}
	_, err := p.leaveTo.WriteString("0")
	return err
}
