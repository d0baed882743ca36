package fault

import (
	"errors"
	"fmt"
)

// ErrUnsupported is returned outside Linux, where no fault can be injected.
var ErrUnsupported = errors.New("fault injection needs Linux (network namespaces, tc, cgroups): run manyarch test on a Linux host")

// ErrNotRunning is returned when the container has no process left to
// inject a fault into (it exited, or is between restarts).
var ErrNotRunning = errors.New("the service is not running")

// UnsupportedError says that this host cannot inject a kind of fault:
// what is missing and what to do.
type UnsupportedError struct {
	Platform string // "linux/arm64"
	Kind     Kind   // "" : every kind
	Missing  string // "tc (iproute2)", "the netem qdisc", "the cpu cgroup controller"
	Fix      string // what to do
	Err      error  // the underlying error, if any
}

func (e *UnsupportedError) Error() string {
	what := "faults"
	if e.Kind != "" {
		what = "a " + string(e.Kind) + " fault"
	}
	s := fmt.Sprintf("%s: cannot inject %s: this host has no %s", e.Platform, what, e.Missing)
	if e.Err != nil {
		s += " (" + e.Err.Error() + ")"
	}
	if e.Fix != "" {
		s += "; " + e.Fix
	}
	return s
}

func (e *UnsupportedError) Unwrap() error { return e.Err }
