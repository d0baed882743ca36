package sandbox

import (
	"errors"
	"fmt"
	"os"

	"golang.org/x/sys/unix"

	"github.com/manyarch/manyarch/internal/sandbox/sandboxinit"
)

var rlimitNumbers = map[string]int{
	"cpu": unix.RLIMIT_CPU, "fsize": unix.RLIMIT_FSIZE, "data": unix.RLIMIT_DATA, "stack": unix.RLIMIT_STACK,
	"core": unix.RLIMIT_CORE, "rss": unix.RLIMIT_RSS, "nproc": unix.RLIMIT_NPROC, "nofile": unix.RLIMIT_NOFILE,
	"memlock": unix.RLIMIT_MEMLOCK, "as": unix.RLIMIT_AS, "locks": unix.RLIMIT_LOCKS,
	"sigpending": unix.RLIMIT_SIGPENDING, "msgqueue": unix.RLIMIT_MSGQUEUE, "nice": unix.RLIMIT_NICE,
	"rtprio": unix.RLIMIT_RTPRIO, "rttime": unix.RLIMIT_RTTIME,
}

// initUlimits are us with their RLIMIT_ numbers (which differ between
// architectures), for the init.
func initUlimits(us []Ulimit) ([]sandboxinit.Ulimit, error) {
	var out []sandboxinit.Ulimit
	for _, u := range us {
		n, ok := rlimitNumbers[u.Name]
		if !ok {
			return nil, fmt.Errorf("running sandbox: ulimit %s: unknown resource", u.Name)
		}
		out = append(out, sandboxinit.Ulimit{Name: u.Name, Resource: int64(n), Soft: u.Soft, Hard: u.Hard})
	}
	return out, nil
}

// checkUlimits refuses, before anything starts, a hard limit above this
// process's own when it may not raise one: that needs CAP_SYS_RESOURCE on
// the host (root has it, unless a container it runs in dropped it).
func checkUlimits(us []Ulimit) error {
	if CanRaiseLimits() {
		return nil
	}
	for _, u := range us {
		var own unix.Rlimit
		if n, ok := rlimitNumbers[u.Name]; ok && unix.Getrlimit(n, &own) == nil && u.Hard > own.Max {
			return fmt.Errorf("ulimit %s: the hard limit is above manyarch's own (%s), and raising one needs root with CAP_SYS_RESOURCE (which this process lacks%s): ask for at most %s, or run as root",
				u, limitString(own.Max), containerHint(), limitString(own.Max))
		}
	}
	return nil
}

// CanRaiseLimits reports whether this process may raise hard resource
// limits: it has CAP_SYS_RESOURCE in its effective set.
func CanRaiseLimits() bool {
	hdr := unix.CapUserHeader{Version: unix.LINUX_CAPABILITY_VERSION_3}
	var data [2]unix.CapUserData
	if err := unix.Capget(&hdr, &data[0]); err != nil {
		return false
	}
	return data[unix.CAP_SYS_RESOURCE/32].Effective&(1<<(unix.CAP_SYS_RESOURCE%32)) != 0
}

// containerHint says where the capability went when root lacks it.
func containerHint() string {
	if os.Geteuid() == 0 {
		return "; a container manyarch runs in drops it unless started with --cap-add SYS_RESOURCE"
	}
	return ""
}

// raiseHardLimits raises, from this process (root on the host), the hard
// limits of the sandbox's init (pid, waiting for its config) that us asks
// above the init's own: inside its user namespace the init cannot raise
// one itself (the kernel checks CAP_SYS_RESOURCE in the first namespace).
// The init then sets every limit as asked, which lowers nothing it needs.
func raiseHardLimits(pid int, us []Ulimit) error {
	for _, u := range us {
		n, ok := rlimitNumbers[u.Name]
		if !ok {
			return fmt.Errorf("ulimit %s: unknown resource", u.Name)
		}
		var cur unix.Rlimit
		if err := unix.Prlimit(pid, n, nil, &cur); err != nil {
			return fmt.Errorf("ulimit %s: reading the sandbox's limit: %w", u, err)
		}
		if u.Hard <= cur.Max {
			continue
		}
		if err := unix.Prlimit(pid, n, &unix.Rlimit{Cur: cur.Cur, Max: u.Hard}, nil); err != nil {
			if errors.Is(err, unix.EPERM) {
				return fmt.Errorf("ulimit %s: raising the hard limit above manyarch's own (%s): %w (it needs root with CAP_SYS_RESOURCE)", u, limitString(cur.Max), err)
			}
			return fmt.Errorf("ulimit %s: raising the hard limit: %w", u, err)
		}
	}
	return nil
}
