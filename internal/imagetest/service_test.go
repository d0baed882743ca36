package imagetest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	specs "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/manyarch/manyarch/internal/fault"
	"github.com/manyarch/manyarch/internal/platform"
)

// fakeServices runs "services" in this process instead of containers: the
// image's /service file ("#!service GOARCH [FIELD] [MODE]") decides what
// the service answers, as the real examples/service does with GOARCH, so
// a planted image changes the answers of its platform only. FIELD is the
// JSON name of the architecture ("goarch"; a planted defect says "arch");
// MODE "never" never listens, "exit" exits with status 3 at once, "slow"
// answers /status after 30ms.
type fakeServices struct {
	fakeExec
	starts   atomic.Int32
	mu       sync.Mutex
	listened []string // addresses, for the port-in-use test
}

var _ serviceHoster = (*fakeServices)(nil)

func serviceImage(t testing.TB, p, goarch, field, mode string) v1.Image {
	return image(t, p, v1.Config{Entrypoint: []string{"/service"}, Env: []string{"PORT=8080"}},
		layer(t, file("service", strings.TrimSpace(fmt.Sprintf("#!service %s %s %s", goarch, field, mode))+"\n", 0o755)))
}

func (f *fakeServices) hostService(ctx context.Context, t Target, containerPort, hostPort int) (serviceHost, error) {
	fs, err := newFlatFS(ctx, t.Image)
	if err != nil {
		return nil, err
	}
	data, _, err := fs.readFiles(ctx, []string{"/service"})
	if err != nil {
		return nil, err
	}
	words := strings.Fields(strings.TrimPrefix(string(data["/service"]), "#!service "))
	ln, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", hostPort))
	if err != nil {
		return nil, fmt.Errorf("hostPort %d: %w", hostPort, err)
	}
	h := &fakeHost{f: f, ln: ln, words: words}
	f.mu.Lock()
	f.listened = append(f.listened, ln.Addr().String())
	f.mu.Unlock()
	go h.serve()
	return h, nil
}

// fakeHost is the published port: like netns's proxy, it accepts every
// connection and closes it at once when no service listens.
type fakeHost struct {
	f       *fakeServices
	ln      net.Listener
	words   []string
	current atomic.Pointer[fakeProcess]
}

func (h *fakeHost) Address() netip.AddrPort { return netip.MustParseAddrPort(h.ln.Addr().String()) }

func (h *fakeHost) serve() {
	for {
		c, err := h.ln.Accept()
		if err != nil {
			return
		}
		p := h.current.Load()
		if p == nil || p.ended() {
			c.Close()
			continue
		}
		p.conns <- c
	}
}

func (h *fakeHost) Close() error { return h.ln.Close() }

func (h *fakeHost) Start(ctx context.Context, spec serviceSpec) (serviceProcess, error) {
	n := h.f.starts.Add(1)
	goarch, field, mode := h.words[0], "goarch", ""
	if len(h.words) > 1 {
		field = h.words[1]
	}
	if len(h.words) > 2 {
		mode = h.words[2]
	}
	p := &fakeProcess{conns: make(chan net.Conn), done: make(chan struct{}), code: -1, pid: 1000 + int(n)}
	fmt.Fprintf(spec.Output, "service %s starting\nlistening on :8080 env %s\n", goarch, strings.Join(spec.Env, " "))
	if mode == "exit" {
		fmt.Fprintln(spec.Output, "fatal: no config")
		p.code = 3
		close(p.done)
		return p, nil
	}
	start := time.Now()
	mux := http.NewServeMux()
	mux.HandleFunc("/status", func(w http.ResponseWriter, r *http.Request) {
		if mode == "slow" {
			time.Sleep(30 * time.Millisecond)
		}
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(map[string]any{"version": "1.0.0", field: goarch, "uptimeSeconds": time.Since(start).Seconds()})
	})
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok\n") })
	mux.HandleFunc("/crash", func(w http.ResponseWriter, r *http.Request) { p.exit(2) })
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) { http.Error(w, "not found", http.StatusNotFound) })
	srv := &http.Server{Handler: mux}
	ln := &chanListener{conns: p.conns, done: p.done}
	if mode != "never" {
		h.current.Store(p)
		go srv.Serve(ln)
	}
	go func() {
		select {
		case <-ctx.Done():
			p.exit(-1)
		case <-p.done:
		}
		srv.Close()
	}()
	return p, nil
}

type fakeProcess struct {
	conns chan net.Conn
	done  chan struct{}
	once  sync.Once
	code  int
	pid   int
}

func (p *fakeProcess) exit(code int) {
	p.once.Do(func() { p.code = code; close(p.done) })
}
func (p *fakeProcess) ended() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}
func (p *fakeProcess) Pid() int              { return p.pid }
func (p *fakeProcess) Done() <-chan struct{} { return p.done }
func (p *fakeProcess) Wait() (int, error)    { <-p.done; return p.code, nil }

type chanListener struct {
	conns chan net.Conn
	done  chan struct{}
}

func (l *chanListener) Accept() (net.Conn, error) {
	select {
	case c := <-l.conns:
		return c, nil
	case <-l.done:
		return nil, net.ErrClosed
	}
}
func (l *chanListener) Close() error   { return nil }
func (l *chanListener) Addr() net.Addr { return &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1)} }

const serviceTestsYAML = `schemaVersion: 2.0.0
serviceTests:
- name: api
  port: 8080
  readiness: {http: /healthz, status: 200, timeout: 5s, interval: 20ms}
  checks:
  - name: status
    path: /status
    expectedHeaders: {Content-Type: "^application/json"}
    json:
    - {path: version, equals: "1.0.0"}
    - {path: goarch, equals: "{{.GOARCH}}"}
    - {path: uptimeSeconds, type: number}
    - {path: arch, absent: true}
  - name: not found
    path: /nope
    status: 404
    expectedBody: ["not found"]
  consistency:
  - name: status
    path: /status
    compareHeaders: [Content-Type]
    ignore: [uptimeSeconds]
  load:
    path: /status
    requests: 100
    concurrency: 4
    minSuccessRate: "99%"
    maxP95: 5s
`

func threePlatforms(t *testing.T, plantArm64 bool) v1.ImageIndex {
	field := "goarch"
	if plantArm64 {
		field = "arch"
	}
	return index(t,
		serviceImage(t, "linux/amd64", "amd64", "goarch", ""),
		serviceImage(t, "linux/arm64", "arm64", field, ""),
		serviceImage(t, "linux/s390x", "s390x", "goarch", ""),
	)
}

// TestServiceEveryPlatformAndPlantedField: the service answers its API the
// same way on every platform; an index whose arm64 build answers "arch"
// instead of "goarch" fails the arm64 column only, in the check and in the
// consistency row.
func TestServiceEveryPlatformAndPlantedField(t *testing.T) {
	c := mustParse(t, serviceTestsYAML)
	x := &fakeServices{fakeExec: fakeExec{emulated: map[string]bool{"linux/arm64": true, "linux/s390x": true}}}
	r := run(t, threePlatforms(t, false), x, []*Config{c})
	names := make([]string, len(r.Tests))
	for i, tt := range r.Tests {
		names[i] = tt.Name + " (" + string(tt.Kind) + ")"
	}
	wantNames := []string{"Service Test: api: ready (service)", "Service Test: api: status (http)", "Service Test: api: not found (http)",
		"Service Test: api: consistency: status (serviceConsistency)", "Service Test: api: load (load)"}
	if !slices.Equal(names, wantNames) {
		t.Fatalf("rows = %q, want %q", names, wantNames)
	}
	if got, want := statuses(r), []string{"pass pass pass", "pass pass pass", "pass pass pass", "pass pass pass", "pass pass pass"}; !slices.Equal(got, want) {
		t.Fatalf("good image: statuses = %q, want %q\n%s", got, want, textReport(t, r))
	}
	if len(r.Services) != 1 || len(r.Services[0].Results) != 3 {
		t.Fatalf("Services = %+v, want one with 3 results", r.Services)
	}
	for j, res := range r.Services[0].Results {
		if res.Status != StatusPass || res.Load == nil || res.Load.Requests != 100 || res.Load.SuccessRate != 1 || !res.Readiness.Ready {
			t.Errorf("platform %d: result = %+v, want pass, ready, 100 requests all successful", j, res)
		}
		if want := j > 0; res.Emulated != want || res.Load.Emulated != want {
			t.Errorf("platform %d: Emulated = %v (load %v), want %v", j, res.Emulated, res.Load.Emulated, want)
		}
		if !strings.HasPrefix(res.Address, "127.0.0.1:") {
			t.Errorf("platform %d: Address = %q, want a loopback address", j, res.Address)
		}
	}
	if r.Failed() {
		t.Fatal("good image: Failed() = true")
	}

	r = run(t, threePlatforms(t, true), &fakeServices{}, []*Config{c})
	if got, want := statuses(r), []string{"pass pass pass", "pass fail pass", "pass pass pass", "pass fail pass", "pass pass pass"}; !slices.Equal(got, want) {
		t.Fatalf("planted image: statuses = %q, want %q\n%s", got, want, textReport(t, r))
	}
	var msgs []string
	for _, f := range r.Results[1][1].Failures {
		msgs = append(msgs, f.Message)
	}
	if want := []string{"JSON goarch is missing", "JSON arch is present, expected absent"}; !slices.Equal(msgs, want) {
		t.Errorf("planted check failures = %q, want %q", msgs, want)
	}
	cf := r.Results[3][1].Failures
	if len(cf) != 1 || !strings.Contains(cf[0].Message, "differs from the answer of linux/amd64, linux/s390x") ||
		!strings.Contains(cf[0].Expected, `"goarch": "{{.GOARCH}}"`) || !strings.Contains(cf[0].Actual, `"arch": "{{.GOARCH}}"`) {
		t.Errorf("planted consistency failure = %+v, want a difference from amd64 and s390x showing goarch vs arch", cf)
	}
	if r.Services[0].Results[1].Status != StatusFail || r.Services[0].Results[0].Status != StatusPass {
		t.Errorf("service statuses = %s %s, want pass fail", r.Services[0].Results[0].Status, r.Services[0].Results[1].Status)
	}
}

func textReport(t *testing.T, r *Report) string {
	var b strings.Builder
	if err := r.WriteText(&b); err != nil {
		t.Fatal(err)
	}
	return b.String()
}

// TestServiceNeverReady: a service that never listens fails its ready row
// after the readiness timeout, naming the platform, the probe and what to
// do, with its last log lines; its other rows fail as not run, and the
// other platforms pass.
func TestServiceNeverReady(t *testing.T) {
	c := mustParse(t, strings.Replace(serviceTestsYAML, "timeout: 5s", "timeout: 300ms", 1))
	idx := index(t, serviceImage(t, "linux/amd64", "amd64", "goarch", ""), serviceImage(t, "linux/arm64", "arm64", "goarch", "never"))
	t0 := time.Now()
	r := run(t, idx, &fakeServices{}, []*Config{c})
	if d := time.Since(t0); d > 5*time.Second {
		t.Errorf("the run took %s, want the 300ms readiness timeout to bound it", d)
	}
	if got, want := statuses(r), []string{"pass fail", "pass fail", "pass fail", "pass fail", "pass fail"}; !slices.Equal(got, want) {
		t.Fatalf("statuses = %q, want %q", got, want)
	}
	msg := r.Results[0][1].Failures[0].Message
	for _, want := range []string{"linux/arm64: the service was not ready after", "GET /healthz -> 200", "last: GET /healthz: connection ",
		"listens on port 8080", "raise readiness.timeout", "its last 2 lines:", "service arm64 starting"} {
		if !strings.Contains(msg, want) {
			t.Errorf("ready failure %q does not say %q", msg, want)
		}
	}
	if m := r.Results[1][1].Failures[0].Message; m != "not run: the service was not ready on linux/arm64 (see the ready row)" {
		t.Errorf("check failure = %q", m)
	}
	if res := r.Services[0].Results[1]; res.Err != msg || res.Readiness.Ready || res.Readiness.Attempts < 3 {
		t.Errorf("arm64 result: Err %q, readiness %+v; want the ready message and several attempts", res.Err, res.Readiness)
	}
}

// TestServiceExitsBeforeReady: a service that exits at once is reported
// at once, with its status and output, not after the readiness timeout.
func TestServiceExitsBeforeReady(t *testing.T) {
	c := mustParse(t, strings.Replace(serviceTestsYAML, "timeout: 5s", "timeout: 1m", 1))
	idx := index(t, serviceImage(t, "linux/amd64", "amd64", "goarch", "exit"))
	t0 := time.Now()
	r := run(t, idx, &fakeServices{}, []*Config{c})
	if d := time.Since(t0); d > 10*time.Second {
		t.Errorf("the run took %s, want the exit noticed at once", d)
	}
	msg := r.Results[0][0].Failures[0].Message
	for _, want := range []string{"linux/amd64: the service exited with status 3 before it was ready", "fatal: no config"} {
		if !strings.Contains(msg, want) {
			t.Errorf("ready failure %q does not say %q", msg, want)
		}
	}
	if res := r.Services[0].Results[0]; res.ExitCode != 3 {
		t.Errorf("ExitCode = %d, want 3", res.ExitCode)
	}
}

// TestServiceLoadThresholds: thresholds are assertions on the numbers.
func TestServiceLoadThresholds(t *testing.T) {
	y := strings.NewReplacer("maxP95: 5s", "maxP95: 1ms\n    maxP99: 2ms\n    minRPS: 1000000", "requests: 100", "requests: 20").Replace(serviceTestsYAML)
	c := mustParse(t, y)
	r := run(t, index(t, serviceImage(t, "linux/amd64", "amd64", "goarch", "slow")), &fakeServices{}, []*Config{c})
	res := r.Results[4][0]
	if res.Status != StatusFail {
		t.Fatalf("load row = %+v, want fail", res)
	}
	var msgs []string
	for _, f := range res.Failures {
		msgs = append(msgs, f.Message)
	}
	joined := strings.Join(msgs, "\n")
	for _, want := range []string{"p95 latency", "is above maxP95 1.00ms", "is above maxP99 2.00ms", "is below minRPS 1000000.0"} {
		if !strings.Contains(joined, want) {
			t.Errorf("load failures %q do not say %q", joined, want)
		}
	}
	if strings.Contains(joined, "success rate") {
		t.Errorf("load failures %q: the success rate was met", joined)
	}
	st := r.Services[0].Results[0].Load
	if st.Requests != 20 || st.P50 < 30*time.Millisecond || st.StatusCodes[200] != 20 {
		t.Errorf("load = %+v, want 20 requests of at least 30ms, all 200", st)
	}
}

// TestServiceSuccessRate: a load against a path that answers 404 fails
// minSuccessRate, counting the errors by kind.
func TestServiceSuccessRate(t *testing.T) {
	c := mustParse(t, strings.Replace(serviceTestsYAML, "path: /status\n    requests", "path: /missing\n    requests", 1))
	r := run(t, index(t, serviceImage(t, "linux/amd64", "amd64", "goarch", "")), &fakeServices{}, []*Config{c})
	res := r.Results[4][0]
	if res.Status != StatusFail || len(res.Failures) != 1 || !strings.Contains(res.Failures[0].Message, "success rate 0.0% is below minSuccessRate 99.0% (100 of 100 requests failed: status 404 x100)") {
		t.Fatalf("load row = %+v, want one success-rate failure counting the 404s", res)
	}
}

// fakeFaults records what the runner hands to a fault session.
type fakeFaults struct {
	mu       sync.Mutex
	sessions []string
	closed   int
	injected []string
	pids     []int
	restarts []int
	failOn   string // platform whose Session fails
	failErr  error  // its error (default: a plain error)
}

func (f *fakeFaults) Session(ctx context.Context, p specs.Platform, faults []FaultTest) (FaultSession, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if platform.Format(p) == f.failOn {
		if f.failErr != nil {
			return nil, f.failErr
		}
		return nil, errors.New(platform.Format(p) + ": cannot inject a memory fault: this host has no memory cgroup controller; enable it")
	}
	var names []string
	for _, ft := range faults {
		names = append(names, ft.Name)
	}
	f.sessions = append(f.sessions, platform.Format(p)+" "+strings.Join(names, ","))
	return &fakeSession{f: f, dir: "/sys/fs/cgroup/fake-" + p.Architecture}, nil
}

type fakeSession struct {
	f   *fakeFaults
	dir string
}

func (s *fakeSession) CgroupDir() string { return s.dir }
func (s *fakeSession) Close() error {
	s.f.mu.Lock()
	s.f.closed++
	s.f.mu.Unlock()
	return nil
}

// Inject "kills" the service through its /crash endpoint and measures the
// load after the restart, as internal/fault's kill does with a signal.
func (s *fakeSession) Inject(ctx context.Context, rs *RunningService, t *FaultTest) FaultResult {
	pid := rs.Pid()
	resp, err := http.Get("http://" + rs.Address.String() + "/crash")
	if err == nil {
		resp.Body.Close()
	}
	took, err := rs.WaitReady(ctx, 0)
	if err != nil {
		return FaultResult{Err: err.Error()}
	}
	for rs.Pid() == pid || rs.Pid() == 0 {
		time.Sleep(5 * time.Millisecond)
	}
	after, err := rs.Load(ctx, t.Load)
	if err != nil {
		return FaultResult{Err: err.Error()}
	}
	s.f.mu.Lock()
	s.f.injected = append(s.f.injected, platform.Format(rs.Platform)+" "+t.Name+" "+rs.CgroupDir+" "+rs.Address.Addr().String())
	s.f.pids = append(s.f.pids, pid, rs.Pid())
	s.f.restarts = append(s.f.restarts, rs.Restarts())
	s.f.mu.Unlock()
	fr := FaultResult{After: after, Recovered: true, RecoveryTime: took, Restarts: rs.Restarts()}
	if after.SuccessRate < 1 {
		fr.Failures = append(fr.Failures, Failure{Message: "requests failed after the restart"})
	}
	return fr
}

// TestServiceFaultHook: the runner calls the fault session per platform
// with the running service (its address, cgroup, pid, load and readiness),
// restarts a killed service by its policy, closes every session, and
// fails the fault rows of a platform whose session cannot be made with
// the session's message.
func TestServiceFaultHook(t *testing.T) {
	y := serviceTestsYAML + `  restart: on-failure
  faults:
  - {name: crash, kind: kill, load: {path: /status, requests: 20, concurrency: 2}}
  - {name: only arm64, kind: kill, platforms: [linux/arm64]}
`
	c := mustParse(t, y)
	ff := &fakeFaults{failOn: "linux/s390x"}
	x := &fakeServices{}
	r := run(t, threePlatforms(t, false), x, []*Config{c}, WithFaultRunner(ff))
	if got, want := statuses(r)[5:], []string{"pass pass fail", "skip pass skip"}; !slices.Equal(got, want) {
		t.Fatalf("fault rows = %q, want %q\n%s", got, want, textReport(t, r))
	}
	if want := []string{"linux/amd64 crash", "linux/arm64 crash,only arm64"}; !slices.Equal(ff.sessions, want) {
		t.Errorf("sessions = %q, want %q", ff.sessions, want)
	}
	if ff.closed != 2 {
		t.Errorf("%d sessions closed, want 2", ff.closed)
	}
	want := []string{"linux/amd64 crash /sys/fs/cgroup/fake-amd64 127.0.0.1", "linux/arm64 crash /sys/fs/cgroup/fake-arm64 127.0.0.1", "linux/arm64 only arm64 /sys/fs/cgroup/fake-arm64 127.0.0.1"}
	if !slices.Equal(ff.injected, want) {
		t.Errorf("injected = %q, want %q", ff.injected, want)
	}
	if !slices.Equal(ff.restarts, []int{1, 1, 2}) {
		t.Errorf("restarts seen = %v, want 1 1 2", ff.restarts)
	}
	for k := 0; k < len(ff.pids); k += 2 {
		if ff.pids[k] == ff.pids[k+1] || ff.pids[k] == 0 {
			t.Errorf("pids before/after fault %d = %d, %d: want the restarted container's new pid", k/2, ff.pids[k], ff.pids[k+1])
		}
	}
	if m := r.Results[5][2].Failures[0].Message; !strings.Contains(m, "linux/s390x: cannot inject a memory fault") {
		t.Errorf("s390x fault failure = %q, want the session's error", m)
	}
	res := r.Services[0].Results[1]
	if len(res.Faults) != 2 || res.Faults[0].Name != "crash" || res.Faults[0].Kind != "kill" || res.Faults[0].Status != StatusPass || res.Faults[0].After.Requests != 20 || res.Restarts != 2 {
		t.Errorf("arm64 faults = %+v, restarts %d; want crash (kill, pass, 20 requests after) and 2 restarts", res.Faults, res.Restarts)
	}
	// Without a fault runner the fault rows fail, saying so; the rest run.
	saved := DefaultFaultRunner
	DefaultFaultRunner = nil
	defer func() { DefaultFaultRunner = saved }()
	r = run(t, index(t, serviceImage(t, "linux/amd64", "amd64", "goarch", "")), &fakeServices{}, []*Config{c})
	if got, want := statuses(r), []string{"pass", "pass", "pass", "pass", "pass", "fail", "skip"}; !slices.Equal(got, want) {
		t.Fatalf("no fault runner: statuses = %q, want %q", got, want)
	}
	if m := r.Results[5][0].Failures[0].Message; !strings.Contains(m, ErrNoFaultRunner.Error()) {
		t.Errorf("no fault runner: failure %q", m)
	}
}

// TestServiceFaultIfUnsupported: a fault this host cannot inject fails its
// row by default; with ifUnsupported: skip the row is skipped on that
// platform only, and the text report says why.
func TestServiceFaultIfUnsupported(t *testing.T) {
	y := serviceTestsYAML + `  restart: on-failure
  faults:
  - {name: must, kind: kill, load: {path: /status, requests: 10, concurrency: 2}}
  - {name: may, kind: kill, ifUnsupported: skip, load: {path: /status, requests: 10, concurrency: 2}}
`
	c := mustParse(t, y)
	ff := &fakeFaults{failOn: "linux/s390x", failErr: &fault.UnsupportedError{Platform: "linux/s390x", Kind: fault.KindKill,
		Missing: "pidfd_open(2) (Linux 5.3 or later)", Fix: "run on Linux 5.3 or later"}}
	r := run(t, threePlatforms(t, false), &fakeServices{}, []*Config{c}, WithFaultRunner(ff))
	if got, want := statuses(r)[5:], []string{"pass pass fail", "pass pass skip"}; !slices.Equal(got, want) {
		t.Fatalf("fault rows = %q, want %q\n%s", got, want, textReport(t, r))
	}
	if reason := r.Results[6][2].SkipReason; !strings.Contains(reason, "ifUnsupported: skip") || !strings.Contains(reason, "linux/s390x: cannot inject a kill fault: this host has no pidfd_open") {
		t.Errorf("skip reason = %q, want the unsupported error", reason)
	}
	text := textReport(t, r)
	if !strings.Contains(text, "fault may skipped on s390x (ifUnsupported: skip): linux/s390x: cannot inject a kill fault") {
		t.Errorf("the text report does not say why the fault was skipped:\n%s", text)
	}
	// A failure that is not the host's lack of a capability still fails.
	ff = &fakeFaults{failOn: "linux/s390x"}
	r = run(t, threePlatforms(t, false), &fakeServices{}, []*Config{c}, WithFaultRunner(ff))
	if got, want := statuses(r)[5:], []string{"pass pass fail", "pass pass fail"}; !slices.Equal(got, want) {
		t.Errorf("a session error that is no UnsupportedError: fault rows = %q, want %q", got, want)
	}
}

// TestServiceNoHoster: an executor that cannot start services (not Linux)
// fails the service rows with what to do.
func TestServiceNoHoster(t *testing.T) {
	c := mustParse(t, serviceTestsYAML)
	r := run(t, index(t, serviceImage(t, "linux/amd64", "amd64", "goarch", "")), &fakeExec{}, []*Config{c})
	if m := r.Results[0][0].Failures[0].Message; !strings.Contains(m, "linux/amd64: service tests need Linux and root") {
		t.Errorf("ready failure = %q", m)
	}
}

// TestServicePlatformsAndTemplates: platforms: limits a service test and a
// check; requests use the platform's template variables.
func TestServicePlatformsAndTemplates(t *testing.T) {
	c := mustParse(t, `schemaVersion: 2.0.0
serviceTests:
- name: only arm64
  platforms: [arm64]
  port: 8080
  readiness: {tcp: true, timeout: 5s, interval: 20ms}
  checks:
  - name: templated path answers 404
    path: /{{.GOARCH}}/x
    status: 404
- name: everywhere
  port: 8080
  checks:
  - {name: amd64 only, path: /status, platforms: [linux/amd64], json: [{path: goarch, equals: amd64}]}
`)
	r := run(t, index(t, serviceImage(t, "linux/amd64", "amd64", "goarch", ""), serviceImage(t, "linux/arm64", "arm64", "goarch", "")), &fakeServices{}, []*Config{c})
	if got, want := statuses(r), []string{"skip pass", "skip pass", "pass pass", "pass skip"}; !slices.Equal(got, want) {
		t.Fatalf("statuses = %q, want %q", got, want)
	}
	if got := r.Services[0].Results[1].Checks[0].URL; got != "/arm64/x" {
		t.Errorf("URL = %q, want /arm64/x", got)
	}
	if p := r.Services[0].Results[1].Readiness.Probe; !strings.HasPrefix(p, "tcp 127.0.0.1:") {
		t.Errorf("probe = %q, want tcp", p)
	}
}

// TestServiceReports: the text report shows each service test side by
// side (platforms as columns: emulation, readiness, load numbers, faults),
// JSON carries the details and JUnit the numbers as suite properties.
func TestServiceReports(t *testing.T) {
	y := serviceTestsYAML + `  restart: always
  faults:
  - {name: crash, kind: kill, load: {path: /status, requests: 20, concurrency: 2}}
`
	c := mustParse(t, y)
	x := &fakeServices{fakeExec: fakeExec{emulated: map[string]bool{"linux/arm64": true, "linux/s390x": true}}}
	r := run(t, threePlatforms(t, true), x, []*Config{c}, WithFaultRunner(&fakeFaults{}))
	text := textReport(t, r)
	t.Log("\n" + text)
	lines := strings.Split(text, "\n")
	find := func(prefix string) []string {
		for _, l := range lines {
			if strings.HasPrefix(l, prefix) {
				return strings.Fields(strings.TrimPrefix(l, prefix))
			}
		}
		t.Fatalf("no line starts with %q in\n%s", prefix, text)
		return nil
	}
	if got := find("Service Test: api (tests.yaml:3)"); len(got) != 0 {
		t.Errorf("service header has %q after it", got)
	}
	if got, want := find("    "), []string{"amd64", "arm64", "s390x"}; !slices.Equal(got, want) {
		t.Errorf("service columns = %q, want %q", got, want)
	}
	if got, want := find("  status "), []string{"ok", "FAIL", "ok"}; !slices.Equal(got, want) {
		t.Errorf("status row = %q, want %q", got, want)
	}
	if got := find("  emulation "); !slices.Equal(got, []string{"native", "fake", "qemu", "fake", "qemu"}) {
		t.Errorf("emulation row = %q", got)
	}
	if got := find("    success "); !slices.Equal(got, []string{"100.0%", "100.0%", "100.0%"}) {
		t.Errorf("success row = %q", got)
	}
	for _, p := range []string{"    req/s ", "    p50 ", "    p95 ", "    p99 ", "  fault crash ", "    after ", "  restarts "} {
		if got := find(p); len(got) < 3 {
			t.Errorf("row %q = %q, want a cell per platform", p, got)
		}
	}

	var js JSON
	var b strings.Builder
	if err := r.WriteJSON(&b); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal([]byte(b.String()), &js); err != nil {
		t.Fatal(err)
	}
	if len(js.Services) != 1 || len(js.Services[0].Results) != 3 || js.Services[0].Results[1].Load.Requests != 100 ||
		js.Services[0].Results[1].Faults[0].After.Requests != 20 || js.Services[0].Results[1].Status != StatusFail {
		t.Errorf("JSON Services = %+v", js.Services)
	}
	b.Reset()
	if err := r.WriteJUnit(&b); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`<property name="service.api.load.rps" value="`, `<property name="service.api.fault.crash.after.requests" value="20">`,
		`<testcase name="Service Test: api: status" classname="linux/arm64"`} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("JUnit lacks %s", want)
		}
	}
}

// TestServiceReadinessCommand: a readiness command runs in a throwaway
// container of the platform's image on the host network, with
// SERVICE_HOST and SERVICE_PORT naming the published address; exit 0 is
// ready, and a command that keeps failing fails the ready row with its
// exit status and output.
func TestServiceReadinessCommand(t *testing.T) {
	y := `schemaVersion: 2.0.0
serviceTests:
- name: probe
  port: 8080
  readiness: {command: [%s], timeout: 2s, interval: 50ms}
  checks: [{name: status, path: /status}]
`
	idx := index(t, serviceImage(t, "linux/amd64", "amd64", "goarch", ""))
	x := &fakeServices{}
	r := run(t, idx, x, []*Config{mustParse(t, fmt.Sprintf(y, `echo, "{{.Arch}}"`))})
	if got, want := statuses(r), []string{"pass", "pass"}; !slices.Equal(got, want) {
		t.Fatalf("statuses = %q, want %q", got, want)
	}
	if len(x.runs) != 1 {
		t.Fatalf("%d readiness commands ran, want 1", len(x.runs))
	}
	e := x.runs[0]
	addr := r.Services[0].Results[0].Address
	host, port, _ := strings.Cut(addr, ":")
	if !slices.Equal(e.Args, []string{"echo", "amd64"}) || e.Network != "host" || !slices.Contains(e.Env, "SERVICE_HOST="+host) ||
		!slices.Contains(e.Env, "SERVICE_PORT="+port) || !slices.Contains(e.Env, "PORT=8080") {
		t.Errorf("readiness Exec = %+v, want echo amd64 on the host network with SERVICE_HOST=%s SERVICE_PORT=%s and the image's env", e, host, port)
	}
	if p := r.Services[0].Results[0].Readiness.Probe; p != `command "echo" "amd64"` && !strings.HasPrefix(p, "command ") {
		t.Errorf("probe = %q", p)
	}

	r = run(t, idx, &fakeServices{}, []*Config{mustParse(t, fmt.Sprintf(y, `fail, "7"`))})
	msg := r.Results[0][0].Failures[0].Message
	for _, want := range []string{"linux/amd64: the service was not ready after", "exited with 7: failing with 7"} {
		if !strings.Contains(msg, want) {
			t.Errorf("ready failure %q does not say %q", msg, want)
		}
	}
}
