package sandboxinit

import (
	"errors"
	"fmt"

	"golang.org/x/sys/unix"
)

var rlimitNumbers = map[string]int{
	"cpu": unix.RLIMIT_CPU, "fsize": unix.RLIMIT_FSIZE, "data": unix.RLIMIT_DATA, "stack": unix.RLIMIT_STACK,
	"core": unix.RLIMIT_CORE, "rss": unix.RLIMIT_RSS, "nproc": unix.RLIMIT_NPROC, "nofile": unix.RLIMIT_NOFILE,
	"memlock": unix.RLIMIT_MEMLOCK, "as": unix.RLIMIT_AS, "locks": unix.RLIMIT_LOCKS,
	"sigpending": unix.RLIMIT_SIGPENDING, "msgqueue": unix.RLIMIT_MSGQUEUE, "nice": unix.RLIMIT_NICE,
	"rtprio": unix.RLIMIT_RTPRIO, "rttime": unix.RLIMIT_RTTIME,
}

// RlimitNumber is the RLIMIT_ number of a resource as --ulimit names it
// (nofile, nproc, ...), which differs between architectures.
func RlimitNumber(name string) (int, bool) {
	n, ok := rlimitNumbers[name]
	return n, ok
}

// setUlimits applies us to this process (the init), whose command
// inherits them.
func setUlimits(us []Ulimit) error {
	for _, u := range us {
		n, ok := rlimitNumbers[u.Name]
		if !ok {
			return fmt.Errorf("ulimit %s: unknown resource", u.Name)
		}
		if err := unix.Setrlimit(n, &unix.Rlimit{Cur: u.Soft, Max: u.Hard}); err != nil {
			if errors.Is(err, unix.EPERM) {
				return fmt.Errorf("ulimit %s: %w (a hard limit above manyarch's own needs root on the host)", u, err)
			}
			return fmt.Errorf("ulimit %s: %w", u, err)
		}
	}
	return nil
}
