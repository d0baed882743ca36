package imagetest

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	specs "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/manyarch/manyarch/internal/platform"
)

// The service runner: each service test runs on one platform at a time
// (so loads do not compete for the CPU), in this order: start, readiness,
// checks, consistency requests, load, faults; then the service is stopped.
// The consistency answers of every platform are compared at the end.

// serviceHoster starts service containers; SandboxExecutor is one on
// Linux (service_linux.go), tests use fakes.
type serviceHoster interface {
	// hostService publishes a service's containerPort on the host's
	// loopback (hostPort, or a free port when 0) and returns the host
	// its containers start on. Close the host after the last container
	// has ended.
	hostService(ctx context.Context, t Target, containerPort, hostPort int) (serviceHost, error)
}

// serviceHost is the published address of a service and the way to
// start its container, several times when a restart policy restarts it.
type serviceHost interface {
	Address() netip.AddrPort
	// Start starts spec's command in a new container of the target,
	// with the published port forwarded to it, and returns once the
	// command runs. Ending ctx stops it (SIGTERM, then SIGKILL).
	Start(ctx context.Context, spec serviceSpec) (serviceProcess, error)
	Close() error
}

// serviceSpec is the command of a service container.
type serviceSpec struct {
	Args   []string
	Env    []string // complete, KEY=value
	User   string
	Dir    string
	Cgroup string    // "" none
	Output io.Writer // standard output and error
}

// serviceProcess is one started service container.
type serviceProcess interface {
	Pid() int
	Done() <-chan struct{}
	// Wait returns the exit status once the container has ended (-1
	// when it was stopped) and the error that ended it abnormally.
	Wait() (int, error)
}

// stopGrace is how long a stopped service has between SIGTERM and SIGKILL.
const stopGrace = 5 * time.Second

// serviceRows are the rows of one service test in the report, in order.
type serviceRows struct {
	ready       int
	checks      []int
	consistency []int
	load        int // -1: none
	faults      []int
}

// serviceUnit is one service test of a configuration.
type serviceUnit struct {
	cfg  *Config
	t    *ServiceTest
	rows serviceRows
}

// serviceUnits appends the rows of c's service tests to tests.
func serviceUnits(c *Config, tests []Test) ([]*serviceUnit, []Test) {
	var us []*serviceUnit
	for i := range c.ServiceTests {
		t := &c.ServiceTests[i]
		u := &serviceUnit{cfg: c, t: t, rows: serviceRows{load: -1}}
		prefix := "Service Test: " + t.Name + ": "
		add := func(name string, k Kind, p Pos) int {
			tests = append(tests, Test{Name: prefix + name, Kind: k, Pos: p})
			return len(tests) - 1
		}
		u.rows.ready = add("ready", KindService, t.Pos)
		for _, ch := range t.Checks {
			u.rows.checks = append(u.rows.checks, add(ch.Name, KindHTTP, ch.Pos))
		}
		for _, cc := range t.Consistency {
			u.rows.consistency = append(u.rows.consistency, add("consistency: "+cc.Name, KindServiceConsistency, cc.Pos))
		}
		if t.Load != nil {
			u.rows.load = add(t.Load.Name, KindLoad, t.Load.Pos)
		}
		for _, f := range t.Faults {
			u.rows.faults = append(u.rows.faults, add("fault "+f.Name, KindFault, f.Pos))
		}
		us = append(us, u)
	}
	return us, tests
}

// runsOn reports whether a test limited to platforms runs on col.
func runsOn(platforms []specs.Platform, col *column) bool {
	if len(platforms) == 0 {
		return true
	}
	for _, w := range platforms {
		if platform.Match(w, col.platform) {
			return true
		}
	}
	return false
}

// runServices runs every service test on every platform, one platform at
// a time, filling their rows of r.Results and r.Services.
func runServices(ctx context.Context, o *options, us []*serviceUnit, cols []*column, r *Report, progress func(Test, int, Result)) error {
	for _, u := range us {
		sr := ServiceReport{Name: u.t.Name, Pos: u.t.Pos, Results: make([]ServiceResult, len(cols))}
		answers := make([][]httpAnswer, len(u.t.Consistency))
		for k := range answers {
			answers[k] = make([]httpAnswer, len(cols))
		}
		for j, col := range cols {
			if !runsOn(u.t.Platforms, col) {
				skipRows(r, u, j, "the test's platforms leave out "+platform.Format(col.platform))
				continue
			}
			if err := ctx.Err(); err != nil {
				return err
			}
			res, rows := runServiceOn(ctx, o, u, col)
			if err := ctx.Err(); err != nil {
				return err
			}
			sr.Results[j] = res
			for i, row := range rows.results {
				r.Results[rows.index[i]][j] = row
			}
			for k := range u.t.Consistency {
				answers[k][j] = rows.answers[k]
			}
		}
		for k, cc := range u.t.Consistency {
			i := u.rows.consistency[k]
			compareHTTPConsistency(&cc, cols, r.Results[i], answers[k])
			for j := range cols {
				if sr.Results[j].Status != "" && k < len(sr.Results[j].Consistency) {
					c := &sr.Results[j].Consistency[k]
					c.Status, c.Failures = r.Results[i][j].Status, r.Results[i][j].Failures
				}
			}
		}
		for j := range cols {
			res := &sr.Results[j]
			if res.Status == "" {
				continue
			}
			res.Status = StatusPass
			for _, i := range u.rowIndexes() {
				if r.Results[i][j].Status == StatusFail {
					res.Status = StatusFail
				}
			}
		}
		if progress != nil {
			for _, i := range u.rowIndexes() {
				for j := range cols {
					progress(r.Tests[i], j, r.Results[i][j])
				}
			}
		}
		r.Services = append(r.Services, sr)
	}
	return nil
}

func (u *serviceUnit) rowIndexes() []int {
	out := []int{u.rows.ready}
	out = append(out, u.rows.checks...)
	out = append(out, u.rows.consistency...)
	if u.rows.load >= 0 {
		out = append(out, u.rows.load)
	}
	return append(out, u.rows.faults...)
}

func skipRows(r *Report, u *serviceUnit, j int, reason string) {
	for _, i := range u.rowIndexes() {
		r.Results[i][j] = Result{Status: StatusSkip, SkipReason: reason}
	}
}

// platformRows are one platform's row results of a service test.
type platformRows struct {
	index   []int
	results []Result
	answers []httpAnswer
}

func (p *platformRows) set(i int, res Result) {
	p.index = append(p.index, i)
	p.results = append(p.results, finish(res))
}

// runServiceOn runs one service test on one platform.
func runServiceOn(ctx context.Context, o *options, u *serviceUnit, col *column) (ServiceResult, platformRows) {
	t := u.t
	name := platform.Format(col.platform)
	res := ServiceResult{Platform: col.platform, Status: StatusFail, ExitCode: -1}
	rows := platformRows{answers: make([]httpAnswer, len(t.Consistency))}
	t0 := time.Now()

	// failAll fails the rows that did not run, because the service could
	// not be tested at all.
	failAll := func(err string) (ServiceResult, platformRows) {
		failServiceRows(u, col, &res, &rows, t0, err)
		return res, rows
	}
	if len(t.Invalid) > 0 {
		return failAll("invalid test: " + strings.Join(t.Invalid, "; invalid test: "))
	}
	timeout := t.Timeout
	if timeout <= 0 {
		timeout = o.timeout
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()

	prep, err := col.prepare()
	if err != nil {
		return failAll(err.Error())
	}
	res.Emulation, res.Emulated = prep.Emulation, prep.Emulated
	hoster, ok := o.exec.(serviceHoster)
	if !ok {
		return failAll(name + ": " + errNoServices.Error())
	}
	img, err := col.image()
	if err != nil {
		return failAll(err.Error())
	}
	cf, err := col.config()
	if err != nil {
		return failAll(err.Error())
	}
	spec, err := serviceCommand(o, col, cf, u.cfg, t)
	if err != nil {
		return failAll(fmt.Sprintf("%s: %v", name, err))
	}
	target := Target{Platform: col.platform, Image: img}

	// Fault sessions come first: the container starts in their cgroup.
	var faults []FaultTest
	for _, f := range t.Faults {
		if runsOn(f.Platforms, col) {
			faults = append(faults, f)
		}
	}
	var session FaultSession
	var sessionErr error
	if len(faults) > 0 {
		fr := o.faults
		if fr == nil && DefaultFaultRunner != nil {
			fr = DefaultFaultRunner(o.logger)
		}
		if fr == nil {
			sessionErr = fmt.Errorf("%s: %w", name, ErrNoFaultRunner)
		} else if session, sessionErr = fr.Session(ctx, col.platform, faults); sessionErr == nil {
			spec.Cgroup = session.CgroupDir()
			defer func() {
				if err := session.Close(); err != nil {
					o.logger.Warn("releasing the fault session", "platform", name, "test", t.Name, "err", err)
				}
			}()
		}
	}

	host, err := hoster.hostService(ctx, target, t.Port, t.HostPort)
	if err != nil {
		return failAll(fmt.Sprintf("%s: publishing port %d: %v", name, t.Port, err))
	}
	logs := newLineTail(t.LogLines)
	spec.Output = logs
	s := &service{o: o, t: t, col: col, host: host, spec: spec, logs: logs, target: target, addr: host.Address(),
		emulation: prep.Emulation, emulated: prep.Emulated}
	res.Address = s.addr.String()
	defer func() {
		code := s.stop()
		if res.ExitCode == -1 {
			res.ExitCode = code
		}
		if err := host.Close(); err != nil {
			o.logger.Warn("closing the published port", "platform", name, "err", err)
		}
	}()
	if err := s.start(ctx); err != nil {
		res.Logs = logs.Lines()
		return failAll(fmt.Sprintf("%s: starting the service %s: %v", name, quoteArgs(spec.Args), err))
	}

	rr := s.waitReady(ctx, t.Readiness.Timeout)
	res.Readiness = rr
	if !rr.Ready {
		res.Logs = logs.Lines()
		if code, exited := s.exited(); exited {
			res.ExitCode = code
		}
		return failAll(notReadyMessage(name, t, rr, s))
	}
	rows.set(u.rows.ready, Result{Status: StatusPass, Duration: rr.Took, Stdout: fmt.Sprintf("%s ready after %s (%d attempts)\n", rr.Probe, rr.Took.Round(time.Millisecond), rr.Attempts)})

	runServiceChecks(ctx, s, u, col, &res, &rows)
	runServiceConsistency(ctx, s, u, col, &res, &rows)
	runServiceLoad(ctx, s, u, name, &res, &rows)
	running := &RunningService{Platform: col.platform, Vars: col.vars, Emulation: prep.Emulation, Emulated: prep.Emulated,
		Address: s.addr, CgroupDir: spec.Cgroup, Test: t, svc: s}
	runServiceFaults(ctx, u, col, running, session, sessionErr, &res, &rows)
	res.Restarts = s.restartCount()
	res.Logs = logs.Lines()
	res.Duration = time.Since(t0)
	return res, rows
}

// failServiceRows fails the rows of a service test that did not run on
// col because the service could not be tested at all (err says why).
func failServiceRows(u *serviceUnit, col *column, res *ServiceResult, rows *platformRows, t0 time.Time, err string) {
	t, name := u.t, platform.Format(col.platform)
	res.Err = err
	res.Duration = time.Since(t0)
	ready := Result{Status: StatusFail, Failures: []Failure{{Message: err}}, Duration: res.Duration}
	if len(res.Logs) > 0 {
		ready.Stderr = strings.Join(res.Logs, "\n") + "\n"
	}
	rows.set(u.rows.ready, ready)
	notRun := Result{Status: StatusFail, Failures: []Failure{{Message: "not run: the service was not ready on " + name + " (see the ready row)"}}}
	for k, i := range u.rows.checks {
		rows.set(i, invalidOrNotRun(t.Checks[k].Invalid, notRun))
	}
	for k, i := range u.rows.consistency {
		rows.set(i, invalidOrNotRun(t.Consistency[k].Invalid, notRun))
	}
	if u.rows.load >= 0 {
		rows.set(u.rows.load, invalidOrNotRun(t.Load.Invalid, notRun))
	}
	for k, i := range u.rows.faults {
		if !runsOn(t.Faults[k].Platforms, col) {
			rows.set(i, Result{Status: StatusSkip, SkipReason: "the fault's platforms leave out " + name})
			continue
		}
		rows.set(i, invalidOrNotRun(t.Faults[k].Invalid, notRun))
	}
}

// runServiceChecks runs a ready service's HTTP checks on one platform.
func runServiceChecks(ctx context.Context, s *service, u *serviceUnit, col *column, res *ServiceResult, rows *platformRows) {
	t, name := u.t, platform.Format(col.platform)
	for k := range t.Checks {
		ch := &t.Checks[k]
		if !runsOn(ch.Platforms, col) {
			rows.set(u.rows.checks[k], Result{Status: StatusSkip, SkipReason: "the check's platforms leave out " + name})
			res.Checks = append(res.Checks, CheckResult{Name: ch.Name, Pos: ch.Pos, Status: StatusSkip})
			continue
		}
		cr := s.check(ctx, ch)
		res.Checks = append(res.Checks, cr)
		rows.set(u.rows.checks[k], Result{Status: cr.Status, Failures: cr.Failures, Duration: cr.Duration, Stdout: cr.Body})
	}
}

// runServiceConsistency asks a ready service the consistency requests;
// their statuses are set once every platform has answered.
func runServiceConsistency(ctx context.Context, s *service, u *serviceUnit, col *column, res *ServiceResult, rows *platformRows) {
	t, name := u.t, platform.Format(col.platform)
	for k := range t.Consistency {
		cc := &t.Consistency[k]
		i := u.rows.consistency[k]
		if !runsOn(cc.Platforms, col) {
			rows.set(i, Result{Status: StatusSkip, SkipReason: "the test's platforms leave out " + name})
			res.Consistency = append(res.Consistency, CheckResult{Name: cc.Name, Pos: cc.Pos, Status: StatusSkip})
			continue
		}
		if len(cc.Invalid) > 0 {
			rows.set(i, invalidResult(cc.Invalid))
			res.Consistency = append(res.Consistency, CheckResult{Name: cc.Name, Pos: cc.Pos, Status: StatusFail})
			continue
		}
		ans, cr := s.answer(ctx, cc)
		rows.answers[k] = ans
		res.Consistency = append(res.Consistency, cr)
		// The status is set when every platform has answered.
		rows.set(i, Result{Status: StatusPass, Failures: cr.Failures, Duration: cr.Duration, Stdout: cr.Body})
		if len(cr.Failures) > 0 {
			rows.results[len(rows.results)-1].Status = StatusFail
		}
	}
}

// runServiceLoad runs a ready service's load test.
func runServiceLoad(ctx context.Context, s *service, u *serviceUnit, name string, res *ServiceResult, rows *platformRows) {
	t := u.t
	if lt := t.Load; lt != nil {
		if len(lt.Invalid) > 0 {
			rows.set(u.rows.load, invalidResult(lt.Invalid))
		} else {
			t1 := time.Now()
			st, err := s.load(ctx, lt)
			row := Result{Duration: time.Since(t1)}
			if err != nil {
				row.fail(Failure{Message: fmt.Sprintf("%s: the load could not run: %v", name, err)})
			} else {
				res.Load = st
				res.LoadFailures = loadFailures(lt.MinSuccessRate, lt.MaxP95, lt.MaxP99, lt.MinRPS, st)
				row.Failures = res.LoadFailures
				row.Stdout = loadSummary(st)
			}
			rows.set(u.rows.load, row)
		}
	}
}

// runServiceFaults injects the service test's faults on one platform,
// through session (or says why it could not: sessionErr).
func runServiceFaults(ctx context.Context, u *serviceUnit, col *column, running *RunningService, session FaultSession, sessionErr error, res *ServiceResult, rows *platformRows) {
	t, name := u.t, platform.Format(col.platform)
	for k := range t.Faults {
		f := &t.Faults[k]
		i := u.rows.faults[k]
		if !runsOn(f.Platforms, col) {
			rows.set(i, Result{Status: StatusSkip, SkipReason: "the fault's platforms leave out " + name})
			continue
		}
		var fr FaultResult
		switch {
		case len(f.Invalid) > 0:
			fr = FaultResult{Status: StatusFail, Failures: invalidResult(f.Invalid).Failures}
		case sessionErr != nil:
			fr = FaultResult{Err: sessionErr.Error()}
			if f.IfUnsupported == "skip" && unsupportedFault(sessionErr) {
				fr.Status = StatusSkip
			}
		default:
			t1 := time.Now()
			fr = session.Inject(ctx, running, f)
			if fr.Duration == 0 {
				fr.Duration = time.Since(t1)
			}
		}
		fr = finishFault(fr, f)
		res.Faults = append(res.Faults, fr)
		row := Result{Status: fr.Status, Failures: fr.Failures, Duration: fr.Duration}
		if fr.Status == StatusSkip {
			row = Result{Status: StatusSkip, SkipReason: "not injected (ifUnsupported: skip): " + fr.Err}
		} else if fr.Err != "" {
			row.Failures = append([]Failure{{Message: fr.Err}}, row.Failures...)
		}
		rows.set(i, row)
	}
}

func invalidOrNotRun(invalid []string, notRun Result) Result {
	if len(invalid) > 0 {
		return invalidResult(invalid)
	}
	return notRun
}

// finishFault fills what a fault session may leave empty.
func finishFault(fr FaultResult, f *FaultTest) FaultResult {
	if fr.Name == "" {
		fr.Name = f.Name
	}
	if fr.Pos == (Pos{}) {
		fr.Pos = f.Pos
	}
	if fr.Kind == "" {
		fr.Kind = f.Kind
	}
	if fr.Status == "" {
		fr.Status = StatusPass
		if fr.Err != "" || len(fr.Failures) > 0 {
			fr.Status = StatusFail
		}
	}
	return fr
}

func notReadyMessage(name string, t *ServiceTest, rr ReadinessResult, s *service) string {
	var b strings.Builder
	if code, exited := s.exited(); exited {
		fmt.Fprintf(&b, "%s: the service exited with status %d before it was ready (%s)", name, code, rr.Probe)
		if rr.LastErr != "" {
			fmt.Fprintf(&b, "; last probe: %s", rr.LastErr)
		}
		b.WriteString(": check its command and environment in its last lines below")
	} else {
		fmt.Fprintf(&b, "%s: the service was not ready after %s (%s, %d attempts", name, rr.Took.Round(time.Millisecond), rr.Probe, rr.Attempts)
		if rr.LastErr != "" {
			fmt.Fprintf(&b, ", last: %s", rr.LastErr)
		}
		fmt.Fprintf(&b, "): check that it listens on port %d of all addresses (0.0.0.0, not 127.0.0.1), or raise readiness.timeout (emulated platforms start slower)", t.Port)
	}
	if lines := s.logs.Lines(); len(lines) > 0 {
		fmt.Fprintf(&b, "; its last %d lines:\n    %s", len(lines), strings.Join(lines, "\n    "))
	} else {
		b.WriteString("; it wrote nothing")
	}
	return b.String()
}

// serviceCommand is the service's container command, as docker run would
// make it from the image's config and the test's overrides.
func serviceCommand(o *options, col *column, cf *v1.ConfigFile, c *Config, t *ServiceTest) (serviceSpec, error) {
	entry, cmd := cf.Config.Entrypoint, cf.Config.Cmd
	if t.Entrypoint != nil {
		entry, cmd = *t.Entrypoint, nil
	}
	if t.Cmd != nil {
		cmd = *t.Cmd
	}
	args := append(append([]string(nil), entry...), cmd...)
	if len(args) == 0 {
		return serviceSpec{}, errors.New("the image has neither an entrypoint nor a cmd, and the test gives none: give entrypoint: or cmd:")
	}
	var err error
	if args, err = expandAll(args, col.vars); err != nil {
		return serviceSpec{}, err
	}
	env, err := expansionEnv(imageEnv(cf), col.vars, c.GlobalEnvVars, t.EnvVars)
	if err != nil {
		return serviceSpec{}, err
	}
	spec := serviceSpec{Args: args, User: cf.Config.User, Dir: cf.Config.WorkingDir}
	for k, v := range env {
		spec.Env = append(spec.Env, k+"="+v)
	}
	slices.Sort(spec.Env)
	if t.User != nil {
		spec.User = *t.User
	}
	if t.Workdir != nil {
		spec.Dir = *t.Workdir
	}
	return spec, nil
}

// service is a service test's service on one platform: its published
// address, its container (restarted by the policy) and its output.
type service struct {
	o         *options
	t         *ServiceTest
	col       *column
	host      serviceHost
	spec      serviceSpec
	logs      *lineTail
	target    Target
	addr      netip.AddrPort
	emulation string
	emulated  bool

	mu       sync.Mutex
	proc     serviceProcess
	restarts int
	exitCode int
	gone     bool           // exited and not restarted
	stopping bool           // stop was called
	cancel   func()         // stops the current container
	watchers sync.WaitGroup // the supervisor
}

// start starts the first container and the supervisor that applies the
// restart policy.
func (s *service) start(ctx context.Context) error {
	p, cancel, err := s.startOne(ctx)
	if err != nil {
		return err
	}
	s.mu.Lock()
	s.proc, s.cancel = p, cancel
	s.mu.Unlock()
	s.watchers.Add(1)
	go s.supervise(ctx)
	return nil
}

func (s *service) startOne(ctx context.Context) (serviceProcess, func(), error) {
	cctx, cancel := context.WithCancel(ctx)
	p, err := s.host.Start(cctx, s.spec)
	if err != nil {
		cancel()
		return nil, nil, err
	}
	return p, cancel, nil
}

// maxRestarts is the restart policy's bound.
func (s *service) maxRestarts() int {
	if s.t.MaxRestarts > 0 {
		return s.t.MaxRestarts
	}
	return 3
}

func (s *service) supervise(ctx context.Context) {
	defer s.watchers.Done()
	for {
		s.mu.Lock()
		p := s.proc
		s.mu.Unlock()
		<-p.Done()
		code, err := p.Wait()
		s.mu.Lock()
		s.exitCode = code
		if s.stopping || ctx.Err() != nil {
			s.gone = true
			s.mu.Unlock()
			return
		}
		restart := false
		switch s.t.Restart {
		case "always":
			restart = true
		case "on-failure":
			restart = code != 0 || err != nil
		}
		if !restart || s.restarts >= s.maxRestarts() {
			s.gone = true
			s.mu.Unlock()
			fmt.Fprintf(s.logs, "[manyarch: the service exited with status %d]\n", code)
			return
		}
		s.restarts++
		n := s.restarts
		s.mu.Unlock()
		fmt.Fprintf(s.logs, "[manyarch: the service exited with status %d; restart %d of %d (restart: %s)]\n", code, n, s.maxRestarts(), s.t.Restart)
		np, cancel, serr := s.startOne(ctx)
		s.mu.Lock()
		if serr != nil {
			s.gone = true
			s.mu.Unlock()
			fmt.Fprintf(s.logs, "[manyarch: restarting the service: %v]\n", serr)
			return
		}
		if s.cancel != nil {
			s.cancel()
		}
		s.proc, s.cancel = np, cancel
		stopping := s.stopping
		s.mu.Unlock()
		if stopping {
			cancel()
		}
	}
}

// stop stops the container (SIGTERM, SIGKILL stopGrace later), waits for
// it and the supervisor, and returns the exit status it had when it ended
// on its own (-1 when it was stopped).
func (s *service) stop() int {
	s.mu.Lock()
	wasGone := s.gone
	code := s.exitCode
	s.stopping = true
	p, cancel := s.proc, s.cancel
	s.mu.Unlock()
	if cancel != nil {
		cancel()
	}
	if p != nil {
		<-p.Done()
	}
	s.watchers.Wait()
	if wasGone {
		return code
	}
	return -1
}

// exited reports whether the service has ended for good, and its status.
func (s *service) exited() (int, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.exitCode, s.gone
}

func (s *service) pid() int {
	s.mu.Lock()
	p, gone := s.proc, s.gone
	s.mu.Unlock()
	if p == nil || gone {
		return 0
	}
	select {
	case <-p.Done():
		return 0
	default:
		return p.Pid()
	}
}

func (s *service) restartCount() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.restarts
}

// client returns an HTTP client that connects to the service's published
// address only (whatever the URL's host), follows no redirect and reads
// no proxy settings.
func (s *service) client(timeout time.Duration) *http.Client {
	addr := s.addr.String()
	return &http.Client{
		Timeout: timeout,
		Transport: &http.Transport{
			DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
				var d net.Dialer
				return d.DialContext(ctx, "tcp", addr)
			},
			DisableKeepAlives: true,
			Proxy:             nil,
		},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}

// lineTail keeps the last n lines written to it (and the partial line
// being written), for failure messages; each line is cut at 4 KiB.
type lineTail struct {
	mu      sync.Mutex
	n       int
	lines   []string
	partial []byte
}

const maxLogLine = 4 << 10

func newLineTail(n int) *lineTail {
	if n <= 0 {
		n = DefaultLogLines
	}
	return &lineTail{n: n}
}

func (l *lineTail) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, b := range p {
		if b == '\n' {
			l.push(string(l.partial))
			l.partial = l.partial[:0]
			continue
		}
		if len(l.partial) < maxLogLine {
			l.partial = append(l.partial, b)
		}
	}
	return len(p), nil
}

func (l *lineTail) push(s string) {
	s = strings.TrimRight(s, "\r")
	if len(l.lines) == l.n {
		copy(l.lines, l.lines[1:])
		l.lines = l.lines[:l.n-1]
	}
	l.lines = append(l.lines, s)
}

// Lines returns the kept lines, the partial last one included.
func (l *lineTail) Lines() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := append([]string(nil), l.lines...)
	if len(l.partial) > 0 {
		out = append(out, string(l.partial))
		if len(out) > l.n {
			out = out[1:]
		}
	}
	return out
}

// portString is a port for SERVICE_PORT.
func portString(a netip.AddrPort) string { return strconv.Itoa(int(a.Port())) }

// errNoServices fails service tests where containers cannot be started.
var errNoServices = errors.New("service tests need Linux and root (a private network namespace per service): run manyarch test as root on Linux")

// offset moves u's rows by n (the rows of the other tests before them).
func (u *serviceUnit) offset(n int) {
	u.rows.ready += n
	for k := range u.rows.checks {
		u.rows.checks[k] += n
	}
	for k := range u.rows.consistency {
		u.rows.consistency[k] += n
	}
	if u.rows.load >= 0 {
		u.rows.load += n
	}
	for k := range u.rows.faults {
		u.rows.faults[k] += n
	}
}
