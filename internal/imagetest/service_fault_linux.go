package imagetest

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	specs "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/manyarch/manyarch/internal/fault"
	"github.com/manyarch/manyarch/internal/platform"
)

// This file is internal/fault's side of the FaultRunner hook: a session
// is a fault.Container (the cgroup the service runs in), and each fault
// test is three loads (before, during, after) around one injected fault.

func init() {
	DefaultFaultRunner = func(logger *slog.Logger) FaultRunner { return &faultRunner{logger: logger} }
}

type faultRunner struct{ logger *slog.Logger }

var _ FaultRunner = (*faultRunner)(nil)

// Session makes the container's cgroup and checks each fault against the
// host now, before the service starts: a fault the host cannot inject
// fails its own row only.
func (r *faultRunner) Session(ctx context.Context, p specs.Platform, faults []FaultTest) (FaultSession, error) {
	name := platform.Format(p)
	c, err := fault.NewContainer(name)
	if err != nil {
		return nil, err
	}
	s := &faultSession{c: c, platform: name, logger: r.logger, checks: map[Pos]error{}}
	for i := range faults {
		if len(faults[i].Invalid) > 0 {
			continue
		}
		if err := c.Check(faultSpec(&faults[i])); err != nil {
			s.checks[faults[i].Pos] = err
		}
	}
	return s, nil
}

type faultSession struct {
	c        *fault.Container
	platform string
	logger   *slog.Logger
	checks   map[Pos]error // what Check said of each fault, by position
}

var _ FaultSession = (*faultSession)(nil)

func (s *faultSession) CgroupDir() string { return s.c.CgroupDir() }

func (s *faultSession) Close() error { return s.c.Close() }

// faultSpec is a fault test as internal/fault takes it.
func faultSpec(t *FaultTest) fault.Spec {
	return fault.Spec{Kind: fault.Kind(t.Kind), Duration: t.Duration, Delay: t.Delay, Jitter: t.Jitter, Loss: t.Loss,
		CPUs: t.CPUs, Memory: t.Memory, Signal: t.Signal}
}

// phaseLoad is the load of a fault test's phases: the fault's own, or the
// service test's, or a small default (as RunningService.Load); during a
// fault that lasts d it runs at most d, so it measures the fault only.
func phaseLoad(svc *RunningService, t *FaultTest, d time.Duration) *LoadTest {
	lt := t.Load
	if lt == nil {
		lt = svc.Test.Load
	}
	if lt == nil {
		lt = &LoadTest{Name: "load", Request: HTTPRequest{Method: "GET", Path: "/", Timeout: DefaultRequestTime}, Requests: 200, Concurrency: 4}
	}
	c := *lt
	c.Warmup = 0
	if d > 0 && (c.Duration == 0 || c.Duration > d) {
		c.Duration = d
	}
	return &c
}

// Inject runs one fault test: load, inject, load during the fault, wait
// for it to lift, wait for the service to be ready again, load after.
func (s *faultSession) Inject(ctx context.Context, svc *RunningService, t *FaultTest) FaultResult {
	t0 := time.Now()
	res := FaultResult{Name: t.Name, Pos: t.Pos, Kind: t.Kind}
	defer func() { res.Duration = time.Since(t0) }()
	if err := s.checks[t.Pos]; err != nil {
		res.Err = err.Error()
		if t.IfUnsupported == "skip" && unsupportedFault(err) {
			res.Status = StatusSkip
		}
		return res
	}
	spec := faultSpec(t)
	var err error
	if res.Before, err = svc.Load(ctx, phaseLoad(svc, t, 0)); err != nil {
		res.Err = fmt.Sprintf("%s: the load before the fault could not run: %v", s.platform, err)
		return res
	}
	restarts := svc.Restarts()
	ooms, _ := s.c.OOMKills()

	in, err := s.c.Inject(ctx, spec)
	if err != nil {
		res.Err = err.Error()
		if t.IfUnsupported == "skip" && unsupportedFault(err) {
			res.Status = StatusSkip
		}
		if errors.Is(err, fault.ErrNotRunning) {
			res.Err += ": the service exited before the fault (see its last lines)"
		}
		return res
	}
	s.logger.Info("fault injected", "platform", s.platform, "fault", spec.String(), "method", in.Method, "pid", in.Pid)
	res.During, err = svc.Load(ctx, phaseLoad(svc, t, spec.Duration))
	if err != nil {
		in.Lift()
		res.Err = fmt.Sprintf("%s: the load during the fault could not run: %v", s.platform, err)
		return res
	}
	select { // the fault lasts its duration, then lifts itself
	case <-in.Done():
	case <-ctx.Done():
	}
	if err := in.Lift(); err != nil {
		res.Err = err.Error()
		return res
	}
	lifted := time.Now()

	_, rerr := svc.WaitReady(ctx, t.RecoverWithin)
	res.Recovered, res.RecoveryTime = rerr == nil, time.Since(lifted)
	if res.After, err = svc.Load(ctx, phaseLoad(svc, t, 0)); err != nil {
		res.Err = fmt.Sprintf("%s: the load after the fault could not run: %v", s.platform, err)
	}
	res.Restarts = svc.Restarts() - restarts

	var note string
	if n, err := s.c.OOMKills(); err == nil && n > ooms {
		note = fmt.Sprintf(" (the out-of-memory killer killed %d process(es) of the service)", n-ooms)
	}
	if res.Restarts > 0 {
		note += fmt.Sprintf(" (the service was restarted %d time(s))", res.Restarts)
	}
	phase := func(name string, e *PhaseExpect, st *LoadStats) {
		if e == nil || st == nil {
			return
		}
		for _, f := range loadFailures(e.MinSuccessRate, e.MaxP95, 0, 0, st) {
			f.Message = fmt.Sprintf("%s: %s %s: %s%s", s.platform, name, spec, f.Message, note)
			res.Failures = append(res.Failures, f)
		}
	}
	phase("during", t.During, res.During)
	if !res.Recovered {
		within := t.RecoverWithin
		if within <= 0 {
			within = svc.Test.Readiness.Timeout
		}
		msg := fmt.Sprintf("%s: the service did not recover within %s after %s was lifted%s: %v", s.platform, within, spec, note, rerr)
		if code, gone := svc.svc.exited(); gone {
			msg += fmt.Sprintf("; it exited with status %d (a restart policy, restart: on-failure, brings it back)", code)
		}
		if lines := svc.svc.logs.Lines(); len(lines) > 0 {
			msg += "; its last lines:\n    " + strings.Join(lines, "\n    ")
		}
		res.Failures = append(res.Failures, Failure{Message: msg})
	}
	phase("after", t.After, res.After)
	return res
}
