package imagetest

import (
	"context"
	"errors"
	"log/slog"
	"net/netip"
	"time"

	specs "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/manyarch/manyarch/internal/fault"
)

// This file is the seam between the service runner (service.go) and fault
// injection (internal/fault, through a FaultRunner): the runner starts the
// service, and for each fault test calls the FaultSession with the running
// service; everything about injecting the fault is the session's.

// FaultRunner injects the fault tests of service tests. The runner calls
// Session on each platform before it starts the service there, when the
// service test has fault tests for that platform; the service's container
// is put in the session's cgroup, and after the checks, consistency and
// load rows the runner calls Inject once per fault test, in file order,
// then Close once the service has stopped (also when it never became
// ready).
type FaultRunner interface {
	// Session prepares the faults of one service test on one platform:
	// faults are the ones that run on p (a copy: the session may keep
	// them). An error fails every fault row of the platform with its
	// message (which names the platform and what to do); the service
	// still starts and its other rows run.
	Session(ctx context.Context, p specs.Platform, faults []FaultTest) (FaultSession, error)
}

// FaultSession is the faults of one service test on one platform.
type FaultSession interface {
	// CgroupDir is the cgroup directory the service's container is put
	// in (sandbox.Spec.Cgroup); "" puts it in none of the session's.
	CgroupDir() string
	// Inject injects t into the running service s, with load before,
	// during and after it (s.Load), and waits for it to recover
	// (s.WaitReady). A fault that cannot be injected is a FaultResult
	// with Err set (naming the platform, what is missing and what to do),
	// never a panic; when Inject returns, the fault is lifted. The runner
	// fills Name, Pos and Kind when they are empty, and Status from
	// Failures and Err when it is empty.
	Inject(ctx context.Context, s *RunningService, t *FaultTest) FaultResult
	// Close releases what the session made (its cgroup), after the
	// service has stopped.
	Close() error
}

// unsupportedFault says whether err means that this host cannot inject a
// fault (what ifUnsupported: skip skips), rather than that it failed.
func unsupportedFault(err error) bool {
	var ue *fault.UnsupportedError
	return errors.As(err, &ue) || errors.Is(err, fault.ErrUnsupported) || errors.Is(err, ErrNoFaultRunner)
}

// DefaultFaultRunner makes the FaultRunner that Run uses when no
// WithFaultRunner option gives one; nil (the default in a build without
// fault injection) fails fault rows with ErrNoFaultRunner. It is set by
// internal/fault's side of this package (service_fault_*.go) at init.
var DefaultFaultRunner func(logger *slog.Logger) FaultRunner

// ErrNoFaultRunner fails fault rows when no fault runner is available.
var ErrNoFaultRunner = errors.New("fault tests need fault injection, which this build of manyarch lacks: run them with manyarch on Linux")

// WithFaultRunner sets the fault runner of service tests' faults.
// Default: DefaultFaultRunner's, if set.
func WithFaultRunner(f FaultRunner) Option {
	return func(o *options) error {
		if f == nil {
			return errors.New("WithFaultRunner: nil fault runner")
		}
		o.faults = f
		return nil
	}
}

// RunningService is a service test's service while it runs on one
// platform, as fault sessions see it. Its methods are safe for concurrent
// use.
type RunningService struct {
	Platform specs.Platform
	Vars     Vars
	// Emulation is how the service runs ("native", "host binfmt_misc
	// qemu-aarch64 (...)").
	Emulation string
	Emulated  bool
	// Address is the published loopback address of the service's port;
	// it stays the same across restarts.
	Address netip.AddrPort
	// CgroupDir is the session's CgroupDir, where the container runs.
	CgroupDir string
	// Test is the service test.
	Test *ServiceTest

	svc *service
}

// Pid returns the host pid of the container's init (its network
// namespace is /proc/PID/ns/net; the service's main process is its only
// child), or 0 when the service is not running (exited, or between
// restarts).
func (s *RunningService) Pid() int { return s.svc.pid() }

// Restarts returns how many times the runner has restarted the service
// (its restart policy) so far.
func (s *RunningService) Restarts() int { return s.svc.restartCount() }

// Load sends t's load (nil: the service test's load, or 200 requests at
// concurrency 4) to the service and measures it, as the load row does; an
// error means the load could not run at all (a bad option).
func (s *RunningService) Load(ctx context.Context, t *LoadTest) (*LoadStats, error) {
	if t == nil {
		t = s.Test.Load
	}
	if t == nil {
		t = &LoadTest{Name: "load", Request: HTTPRequest{Method: "GET", Path: "/", Timeout: DefaultRequestTime}, Requests: 200, Concurrency: 4}
	}
	return s.svc.load(ctx, t)
}

// WaitReady waits until the service answers its readiness probe again,
// at most timeout (0: the test's readiness timeout), and returns how long
// that took.
func (s *RunningService) WaitReady(ctx context.Context, timeout time.Duration) (time.Duration, error) {
	if timeout <= 0 {
		timeout = s.Test.Readiness.Timeout
	}
	rr := s.svc.waitReady(ctx, timeout)
	if !rr.Ready {
		return rr.Took, errors.New(rr.LastErr)
	}
	return rr.Took, nil
}
