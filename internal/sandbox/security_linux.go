package sandbox

import (
	"cmp"
	"encoding/binary"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"

	"github.com/manyarch/manyarch/internal/sandbox/sandboxinit"
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

// MaskedPaths are hidden from containers as runc's default spec and Docker
// hide them: files under /dev/null, directories under an empty read-only
// tmpfs. The init (package sandboxinit) masks them.
var MaskedPaths = sandboxinit.MaskedPaths

// ReadonlyPaths are read-only in containers, as in runc's default spec and
// Docker.
var ReadonlyPaths = sandboxinit.ReadonlyPaths
