package container

import (
	"context"
	"errors"
	"net/netip"
	"os"
	"syscall"

	"github.com/manyarch/manyarch/internal/sandbox"
)

// Process is a command started in a container (Start): a service that
// runs until it exits, is killed, or the Start context is done.
type Process struct {
	started sandbox.Started
	sigs    chan os.Signal
	done    chan struct{}
	res     sandbox.Result
	err     error
}

// Start starts spec in the container and returns once its command has
// started (the root mounted, the network attached, the isolation in
// place), or with the error that kept it from starting: a
// *sandbox.SetupError, a *sandbox.ExecError (not found, not executable),
// or any other. The fallback of Run applies. spec's Network, Publish
// (started by the sandbox once the network is up; the caller closes it
// after Wait), Cgroup, Security, limits and streams pass through; its
// Signals must be nil (Kill sends signals) and its Started, if set, is
// called too.
//
// When ctx is done the process gets spec.StopSignal and is killed
// spec.StopTimeout later, as in sandbox.Run; Wait then reports
// Result.Stopped. The Timeout of spec applies as well.
func (c *Container) Start(ctx context.Context, spec sandbox.Spec) (*Process, error) {
	return c.start(ctx, spec, false)
}

// start starts spec; with own, the container is closed when the process
// has ended, before Wait returns.
func (c *Container) start(ctx context.Context, spec sandbox.Spec, own bool) (*Process, error) {
	if spec.Signals != nil {
		return nil, errors.New("starting a container: Spec.Signals must be nil (Process.Kill sends signals)")
	}
	if err := c.setup(ctx, &spec); err != nil {
		return nil, err
	}
	p := &Process{sigs: make(chan os.Signal, 8), done: make(chan struct{})}
	spec.Signals = p.sigs
	startedCh := make(chan sandbox.Started, 1)
	callerStarted := spec.Started
	spec.Started = func(s sandbox.Started) {
		if callerStarted != nil {
			callerStarted(s)
		}
		startedCh <- s
	}
	go func() {
		defer close(p.done)
		res, err := sandbox.Run(ctx, spec)
		if retry, ferr := c.afterRun(ctx, &spec, err); ferr != nil {
			err = ferr
		} else if retry {
			res, err = sandbox.Run(ctx, spec)
		}
		p.res, p.err = res, err
		if own {
			if cerr := c.Close(); p.err == nil && cerr != nil {
				p.err = cerr
			}
		}
	}()
	select {
	case s := <-startedCh:
		p.started = s
		return p, nil
	case <-p.done:
		select {
		case s := <-startedCh: // it started, and has already ended
			p.started = s
			return p, nil
		default:
		}
		// Ended before it started: the error says why.
		if p.err != nil {
			return nil, p.err
		}
		return nil, errors.New("starting a container: the sandbox ended before its command started")
	}
}

// Pid returns the host process ID of the container's init (PID 1 in the
// container): /proc/PID/ns/net is its network namespace, and its cgroup
// is the Spec's Cgroup (or the pids cgroup below it). The command is its
// only child. Valid until Wait returns.
func (p *Process) Pid() int { return p.started.Pid }

// Address returns the container's address with sandbox.NetworkPrivate,
// else the zero netip.Addr.
func (p *Process) Address() netip.Addr { return p.started.Address }

// Kill sends sig to the container's command (through its init); SIGKILL
// kills the whole container at once. SIGINT, SIGTERM, SIGHUP and SIGKILL
// count as a stop (Result.Stopped), and a process still running
// spec.StopTimeout after one of the first three is killed. It returns
// os.ErrProcessDone when the process has already ended.
func (p *Process) Kill(sig syscall.Signal) error {
	select {
	case <-p.done:
		return os.ErrProcessDone
	default:
	}
	select {
	case p.sigs <- sig:
		return nil
	case <-p.done:
		return os.ErrProcessDone
	}
}

// Done is closed when the process has ended and, for a container of
// Rootfs.Start, the container is removed.
func (p *Process) Done() <-chan struct{} { return p.done }

// Wait waits for the process to end and returns how it ended, as
// sandbox.Run does: every process of the container is dead when it
// returns.
func (p *Process) Wait() (sandbox.Result, error) {
	<-p.done
	return p.res, p.err
}
