package sandbox

import (
	"cmp"
	"encoding/binary"
	"errors"
	"fmt"
	"maps"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"

	"golang.org/x/sys/unix"

	"github.com/manyarch/manyarch/internal/seccomp"
)

// capNames are the capabilities by number, as Docker and
// /usr/include/linux/capability.h name them (without CAP_).
var capNames = []string{
	"CHOWN", "DAC_OVERRIDE", "DAC_READ_SEARCH", "FOWNER", "FSETID", "KILL", "SETGID", "SETUID",
	"SETPCAP", "LINUX_IMMUTABLE", "NET_BIND_SERVICE", "NET_BROADCAST", "NET_ADMIN", "NET_RAW", "IPC_LOCK", "IPC_OWNER",
	"SYS_MODULE", "SYS_RAWIO", "SYS_CHROOT", "SYS_PTRACE", "SYS_PACCT", "SYS_ADMIN", "SYS_BOOT", "SYS_NICE",
	"SYS_RESOURCE", "SYS_TIME", "SYS_TTY_CONFIG", "MKNOD", "LEASE", "AUDIT_WRITE", "AUDIT_CONTROL", "SETFCAP",
	"MAC_OVERRIDE", "MAC_ADMIN", "SYSLOG", "WAKE_ALARM", "BLOCK_SUSPEND", "AUDIT_READ", "PERFMON", "BPF",
	"CHECKPOINT_RESTORE",
}

// DefaultCapabilityMask is Docker's default capability set as
// /proc/PID/status shows CapEff and CapBnd of a root process.
const DefaultCapabilityMask = "00000000a80425fb"

// defaultCapNames is Docker's default capability set.
var defaultCapNames = []string{
	"CHOWN", "DAC_OVERRIDE", "FSETID", "FOWNER", "MKNOD", "NET_RAW", "SETGID", "SETUID",
	"SETFCAP", "SETPCAP", "NET_BIND_SERVICE", "SYS_CHROOT", "KILL", "AUDIT_WRITE",
}

// capNumber parses a capability name as Docker accepts it: case
// insensitive, with or without CAP_.
func capNumber(name string) (int, bool) {
	n := strings.TrimPrefix(strings.ToUpper(strings.TrimSpace(name)), "CAP_")
	i := slices.Index(capNames, n)
	return i, i >= 0
}

// capabilities is the capability set of a container for sec: the numbers
// kept in the bounding set. Unknown names are errors naming the value.
func capabilities(sec Security) ([]int, error) {
	all := make([]int, len(capNames))
	for i := range all {
		all[i] = i
	}
	if sec.Privileged {
		return all, nil
	}
	isAll := func(n string) bool { return strings.EqualFold(strings.TrimSpace(n), "ALL") }
	parse := func(flag string, names []string) (map[int]bool, bool, error) {
		set, hasAll := map[int]bool{}, false
		for _, n := range names {
			if isAll(n) {
				hasAll = true
				continue
			}
			c, ok := capNumber(n)
			if !ok {
				return nil, false, fmt.Errorf("%s %q: unknown capability (use a name from capabilities(7) such as NET_ADMIN, with or without CAP_, or ALL)", flag, n)
			}
			set[c] = true
		}
		return set, hasAll, nil
	}
	add, addAll, err := parse("--cap-add", sec.CapAdd)
	if err != nil {
		return nil, err
	}
	drop, dropAll, err := parse("--cap-drop", sec.CapDrop)
	if err != nil {
		return nil, err
	}
	// As Docker: adding ALL starts from every capability and drops the
	// named ones; dropping ALL starts from none and adds the named ones;
	// otherwise the default set, plus the added, minus the dropped.
	set := map[int]bool{}
	switch {
	case addAll:
		for _, c := range all {
			set[c] = !drop[c]
		}
	case dropAll:
		maps.Copy(set, add)
	default:
		for _, n := range defaultCapNames {
			c, _ := capNumber(n)
			set[c] = true
		}
		maps.Copy(set, add)
		for c := range drop {
			delete(set, c)
		}
	}
	for c, on := range set {
		if !on {
			delete(set, c)
		}
	}
	out := make([]int, 0, len(set))
	for c := range set {
		out = append(out, c)
	}
	slices.Sort(out)
	return out, nil
}

// filterCache keeps compiled filters by profile and capability set: the
// default profile compiles in a few milliseconds, which every RUN step
// and test command would otherwise pay. A new process finds them in
// seccomp's disk cache.
var filterCache sync.Map // string -> []byte

// seccompFilter compiles the filter of sec for a container with caps, as
// bytes to send to the init (struct sock_filter, native byte order), or
// nil for no filter.
func seccompFilter(sec Security, caps []int) ([]byte, error) {
	// A profile read from a file (SeccompSource) is compiled whatever it
	// says: a file holding the word unconfined is no way to turn the
	// filter off.
	if sec.Privileged || (sec.Seccomp == "unconfined" && sec.SeccompSource == "") {
		return nil, nil
	}
	names := make([]string, len(caps))
	for i, c := range caps {
		names[i] = "CAP_" + capNames[c]
	}
	key := sec.Seccomp + "\x00" + strings.Join(names, ",")
	if b, ok := filterCache.Load(key); ok {
		return b.([]byte), nil
	}
	f, err := seccomp.DefaultCache().Filter(sec.Seccomp, cmp.Or(sec.SeccompSource, "given in Spec.Security.Seccomp"), names)
	if err != nil {
		return nil, err
	}
	b := make([]byte, 0, 8*len(f))
	for _, in := range f {
		b = binary.NativeEndian.AppendUint16(b, in.Code)
		b = append(b, in.Jt, in.Jf)
		b = binary.NativeEndian.AppendUint32(b, in.K)
	}
	filterCache.Store(key, b)
	return b, nil
}

// decodeFilter is the inverse of the encoding in seccompFilter.
func decodeFilter(b []byte) ([]unix.SockFilter, error) {
	if len(b)%8 != 0 {
		return nil, fmt.Errorf("seccomp filter of %d bytes is not a whole number of instructions", len(b))
	}
	f := make([]unix.SockFilter, len(b)/8)
	for i := range f {
		r := b[8*i:]
		f[i] = unix.SockFilter{Code: binary.NativeEndian.Uint16(r), Jt: r[2], Jf: r[3], K: binary.NativeEndian.Uint32(r[4:])}
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

// ReadonlyPaths are read-only in containers, as in runc's default spec and
// Docker.
var ReadonlyPaths = []string{"/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"}

// protectPaths masks and write-protects the paths above; it runs in the
// init after /proc and /sys are attached. Missing paths are skipped.
func protectPaths() error {
	for _, p := range MaskedPaths {
		var st unix.Stat_t
		if err := unix.Stat(p, &st); err != nil {
			if errors.Is(err, unix.ENOENT) {
				continue
			}
			return step("masking "+p, err)
		}
		var err error
		if st.Mode&unix.S_IFMT == unix.S_IFDIR {
			err = unix.Mount("tmpfs", p, "tmpfs", unix.MS_RDONLY|unix.MS_NOSUID|unix.MS_NODEV|unix.MS_NOEXEC, "size=0,nr_inodes=1")
		} else {
			err = unix.Mount("/dev/null", p, "", unix.MS_BIND, "")
		}
		if err != nil {
			return step("masking "+p, err)
		}
	}
	for _, p := range ReadonlyPaths {
		if err := unix.Mount(p, p, "", unix.MS_BIND|unix.MS_REC, ""); err != nil {
			if errors.Is(err, unix.ENOENT) {
				continue
			}
			return step("making "+p+" read-only", err)
		}
		if err := unix.MountSetattr(-1, p, unix.AT_RECURSIVE, &unix.MountAttr{Attr_set: unix.MOUNT_ATTR_RDONLY}); err != nil {
			return step("making "+p+" read-only", err)
		}
	}
	return nil
}

// closeExtraFDs marks every descriptor from first up close-on-exec, so
// none the caller inherited (CVE-2024-21626's class) reaches the
// container; close_range (Linux 5.11) or, before it, one by one.
func closeExtraFDs(first int) error {
	err := unix.CloseRange(uint(first), ^uint(0), unix.CLOSE_RANGE_CLOEXEC)
	if err == nil {
		return nil
	}
	if !errors.Is(err, unix.ENOSYS) && !errors.Is(err, unix.EINVAL) {
		return fmt.Errorf("close_range: %w", err)
	}
	entries, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		return fmt.Errorf("listing open descriptors: %w", err)
	}
	for _, e := range entries {
		if fd, err := strconv.Atoi(e.Name()); err == nil && fd >= first {
			unix.CloseOnExec(fd)
		}
	}
	return nil
}

// pidsMax is an open pids.max of the sandbox's pids cgroup, and of the
// parent's cgroup.procs when the init can leave the cgroup (v1). The init
// starts in the cgroup, so that nothing of the container is ever outside;
// its own threads (the Go runtime's) must not count against the container's
// limit: right before the command starts the init sets pids.max to the
// limit plus its thread count, and once the command runs it moves itself
// to the parent and sets pids.max to the limit.
type pidsMax struct {
	f, leaveTo *os.File
	limit      int64
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
		if p.leaveTo, err = os.OpenFile(leave, os.O_WRONLY, 0); err != nil {
			f.Close()
			return nil, err
		}
	}
	return p, nil
}

// allowInit sets the limit to the container's plus the init's threads and
// initThreadMargin.
func (p *pidsMax) allowInit() error {
	threads := 0
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return err
	}
	for line := range strings.Lines(string(b)) {
		if v, ok := strings.CutPrefix(line, "Threads:"); ok {
			threads, _ = strconv.Atoi(strings.TrimSpace(v))
		}
	}
	if threads == 0 {
		return fmt.Errorf("no Threads line in /proc/self/status")
	}
	_, err = p.f.WriteString(strconv.FormatInt(p.limit+int64(threads)+initThreadMargin, 10))
	return err
}

// leave moves the init (all its threads: "0" is the writer) to the parent
// cgroup and sets the limit to the container's own.
func (p *pidsMax) leave() error {
	defer p.f.Close()
	if p.leaveTo == nil {
		return nil
	}
	defer p.leaveTo.Close()
	if _, err := p.leaveTo.WriteString("0"); err != nil {
		return err
	}
	_, err := p.f.WriteString(strconv.FormatInt(p.limit, 10))
	return err
}
