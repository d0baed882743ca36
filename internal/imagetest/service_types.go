package imagetest

import (
	"time"

	specs "github.com/opencontainers/image-spec/specs-go/v1"
)

// This file holds the serviceTests section of a test file (a manyarch
// extension beside CST's schema, docs/service-tests.md) and the results of
// running it. The runner is service.go; the fault injection that fills
// ServiceResult.Faults is internal/fault's (service_fault*.go).

// Service test limits: what a file may ask for, so a typo cannot make a run
// take a day or a million connections.
const (
	DefaultReadyTimeout  = 60 * time.Second
	DefaultReadyInterval = 250 * time.Millisecond
	DefaultRequestTime   = 10 * time.Second // one HTTP request of a check or of a load
	DefaultLogLines      = 20               // service log lines kept for failures
	MaxLoadRequests      = 1_000_000
	MaxLoadConcurrency   = 256
	MaxLoadDuration      = 10 * time.Minute
	MaxFaultDuration     = 10 * time.Minute
	MaxLogLines          = 1000
	// DefaultLoadRequests is a load's count when it gives neither
	// requests nor duration.
	DefaultLoadRequests = 1000
	// DefaultLoadConcurrency is a load's concurrency when not given.
	DefaultLoadConcurrency = 4
)

// ServiceTest is one serviceTests entry: the image started as a service on
// each platform (its entrypoint and cmd, or the given ones), in a private
// network namespace with Port published on the host's loopback, waited for
// (Readiness), then checked (Checks), compared across platforms
// (Consistency), loaded (Load) and disturbed (Faults). The service is
// stopped and its network removed afterwards, whatever happened.
type ServiceTest struct {
	// Invalid lists problems that fail this test alone (as in other
	// tests; Strict refuses the file instead).
	Invalid   []string
	Pos       Pos
	Name      string
	Platforms []specs.Platform // empty: every platform

	// Entrypoint and Cmd replace the image's, as docker run
	// --entrypoint and its arguments do: nil keeps the image's (a given
	// entrypoint drops the image's cmd, as in docker).
	Entrypoint *[]string
	Cmd        *[]string
	EnvVars    []EnvVar // added to the image's environment; templates expanded
	User       *string  // nil: the image's user
	Workdir    *string  // nil: the image's working directory

	// Port is the container port the service listens on (required).
	Port int
	// HostPort is the loopback port it is published on; 0: a free port
	// chosen when the service starts.
	HostPort int

	Readiness Readiness
	// Timeout bounds the whole test on one platform (start, checks,
	// load, faults); 0: the run's timeout (WithTimeout).
	Timeout time.Duration
	// LogLines is how many of the service's last output lines are kept
	// for failures (DefaultLogLines when 0).
	LogLines int
	// Restart is the restart policy the runner applies when the service's
	// main process exits: "no" (default), "on-failure" or "always", at most
	// MaxRestarts times (0: 3). Fault tests of kind kill rely on it.
	Restart     string
	MaxRestarts int

	Checks      []HTTPCheck
	Consistency []HTTPConsistency
	Load        *LoadTest // nil: no load test
	Faults      []FaultTest
}

// Readiness says when a started service is ready. Exactly one of TCP,
// HTTPPath and Command is set (TCP when the file gives none).
type Readiness struct {
	Pos Pos
	// TCP: a connection to the published port is accepted and not reset
	// straight away (the proxy accepts before the service does, so a bare
	// connect proves nothing: a request byte must not be answered by a
	// reset).
	TCP bool
	// HTTPPath: GET of this path answers HTTPStatus (0: any status below
	// 500).
	HTTPPath   string
	HTTPStatus int
	// Command runs in a throwaway container of the same image and
	// platform on the host network, with SERVICE_HOST and SERVICE_PORT
	// naming the published address; exit status 0 is ready.
	Command []string
	// Timeout bounds the wait (DefaultReadyTimeout); Interval is the time
	// between attempts (DefaultReadyInterval).
	Timeout  time.Duration
	Interval time.Duration
}

// HTTPRequest is one request to the service: Path is relative to the
// published address ("/status?x=1"). Strings may use the template
// variables ({{.Arch}}).
type HTTPRequest struct {
	Method  string // default GET
	Path    string // required, starts with /
	Headers []Header
	Body    string
	Timeout time.Duration // DefaultRequestTime when 0
}

// Header is one HTTP header; in expectations Value is a regular expression.
type Header struct {
	Key   string
	Value string
	Pos   Pos
}

// HTTPCheck sends one request and checks the answer.
type HTTPCheck struct {
	Invalid   []string
	Pos       Pos
	Name      string
	Platforms []specs.Platform
	Request   HTTPRequest

	// Status is the expected status code (0: 200).
	Status int
	// Headers are expected response headers, values regular expressions
	// (matched against each value of the header; one must match).
	Headers []Header
	// JSON are expectations on fields of a JSON body.
	JSON []JSONExpect
	// Body are regular expressions the body must match; ExcludedBody
	// must not match.
	Body         []string
	ExcludedBody []string
}

// JSONExpect is one expectation on a JSON body: the value at Path (dotted,
// with [N] or .N for list items: "items[0].name"; "" is the whole body)
// must exist, and, for each of these that is given, equal Equals (a YAML
// value compared as JSON: 3 equals 3.0, "3" does not; strings expanded
// with the template variables), have Type (string, number, integer,
// boolean, null, object, array) and, as text (a string as it is, anything
// else as compact JSON), match the regular expression Matches.
type JSONExpect struct {
	Pos     Pos
	Path    string
	Equals  any // nil with HasEquals: null
	Type    string
	Matches string
	// HasEquals says Equals was given (so equals: null is a check).
	HasEquals bool
	// Absent: the path must not exist (with no other expectation).
	Absent bool
}

// HTTPConsistency sends the same request on every platform; the answers
// (status and body, with Headers' values too) must be the same after each
// platform's values of the template variables are replaced by their names,
// as consistency tests compare command output. Raw compares the body as it
// is; Ignore lists JSON paths removed before comparing (a timestamp, an
// uptime).
type HTTPConsistency struct {
	Invalid   []string
	Pos       Pos
	Name      string
	Platforms []specs.Platform
	Request   HTTPRequest
	Headers   []string // response headers compared too (names)
	Ignore    []string // JSON paths left out of the comparison
	Raw       bool
}

// LoadTest is a load generated against the service as ab -n N -c C does
// (Requests at Concurrency), or for Duration (ab -t), whichever ends
// first when both are given. Success is a response with a status below
// 400 (or SuccessStatus when given) within the request's timeout.
type LoadTest struct {
	Invalid []string
	Pos     Pos
	Name    string // "" : "load"
	Request HTTPRequest

	Requests    int           // DefaultLoadRequests when neither Requests nor Duration
	Concurrency int           // DefaultLoadConcurrency when 0
	Duration    time.Duration // 0: until Requests
	// Warmup requests are sent first and not counted (0: none).
	Warmup int
	// SuccessStatus, when not 0, is the only status counted a success.
	SuccessStatus int

	// Assertions; nil / 0: not checked.
	MinSuccessRate *float64 // 0..1 ("99%" in the file reads 0.99)
	MaxP95         time.Duration
	MaxP99         time.Duration
	MinRPS         float64
}

// FaultTest is one fault injected into the running service while load
// runs (internal/fault injects it; part B of issue #18): a load phase
// before, one during and one after the fault, each measured with the
// same LoadStats, with assertions per phase.
type FaultTest struct {
	Invalid   []string
	Pos       Pos
	Name      string
	Platforms []specs.Platform
	// Kind: latency, loss, partition, kill, cpu, memory.
	Kind string
	// Duration is how long the fault lasts (latency, loss, partition,
	// cpu, memory); kill is instantaneous.
	Duration time.Duration
	Delay    time.Duration // latency: added delay
	Jitter   time.Duration // latency: its variation
	Loss     float64       // loss: packets dropped, percent (0..100)
	CPUs     float64       // cpu: the quota in CPUs (0.5 = half a CPU)
	Memory   int64         // memory: the limit in bytes ("64m" in the file)
	Signal   string        // kill: the signal (default KILL)
	// Load is the load of each phase: nil uses the service test's Load
	// (or a small default: 200 requests at concurrency 4).
	Load *LoadTest
	// Per-phase assertions; nil: not checked.
	During *PhaseExpect
	After  *PhaseExpect
	// RecoverWithin: after the fault is lifted, the service must answer
	// the readiness probe again within this time (0: the readiness
	// timeout).
	RecoverWithin time.Duration
	// IfUnsupported is what a fault this host cannot inject (no netem
	// qdisc, no cgroup controller, not root) makes of its row: "fail"
	// (the default, "") or "skip" (skipped, with the reason in the
	// report).
	IfUnsupported string
}

// PhaseExpect are assertions on one load phase of a fault test.
type PhaseExpect struct {
	MinSuccessRate *float64
	MaxP95         time.Duration
}

// Kinds of the service tests' rows in a report.
const (
	KindService            Kind = "service"            // started and ready
	KindHTTP               Kind = "http"               // one HTTPCheck
	KindServiceConsistency Kind = "serviceConsistency" // one HTTPConsistency
	KindLoad               Kind = "load"
	KindFault              Kind = "fault"
)

// ServiceReport is one service test's results on every platform: Results
// are in Report.Platforms order (a zero Status: the test's platforms leave
// that platform out). The rows of the test (ready, each check, each
// consistency request, load, each fault) are also in Report.Tests and
// Report.Results, so the matrix, counts and exit status include them.
type ServiceReport struct {
	Name    string
	Pos     Pos
	Results []ServiceResult
}

// ServiceResult is one service test on one platform.
type ServiceResult struct {
	Platform specs.Platform
	Status   Status // pass when every row of the test passed on the platform
	// Emulation is how the service ran ("native", "host binfmt_misc
	// qemu-aarch64 (...)"); Emulated says it was not native.
	Emulation string
	Emulated  bool
	// Address is the published loopback address, "127.0.0.1:41234".
	Address string
	// Err is why the service could not be tested at all (it did not
	// start, the port was in use, it never became ready), naming the
	// platform and what to do.
	Err       string
	Readiness ReadinessResult
	Checks    []CheckResult // one per HTTPCheck, in file order
	// Consistency holds each HTTPConsistency's answer on this platform,
	// in file order, with Status set once every platform has answered.
	Consistency []CheckResult
	Load        *LoadStats // nil: no load test, or it could not run
	// LoadFailures are the load assertions that failed.
	LoadFailures []Failure
	// Faults are filled by the fault runner (internal/fault), one per
	// FaultTest that runs on this platform, in file order.
	Faults []FaultResult
	// Logs are the service's last output lines (stdout and stderr,
	// interleaved as written), at most LogLines.
	Logs []string
	// ExitCode is the service's exit status when it exited on its own
	// (-1: it was still running when stopped).
	ExitCode int
	Restarts int
	Duration time.Duration
}

// ReadinessResult says whether and when the service became ready.
type ReadinessResult struct {
	Ready    bool
	Probe    string        // "tcp 127.0.0.1:41234", "GET /status -> 200", "command [...]"
	Took     time.Duration // from start to ready
	Attempts int
	LastErr  string // the last failed attempt's error
}

// CheckResult is one request of a check or consistency test.
type CheckResult struct {
	Name       string
	Pos        Pos
	Status     Status
	Failures   []Failure
	Method     string
	URL        string // the request's path
	StatusCode int
	Headers    map[string][]string `json:",omitempty"`
	Body       string              // the body, cut at MaxBodyKept bytes
	Duration   time.Duration
}

// MaxBodyKept is how much of a response body results keep.
const MaxBodyKept = 64 << 10

// LoadStats are the numbers of one load run (a load test, or one phase of
// a fault test).
type LoadStats struct {
	Requests    int // sent and finished (success or error)
	Errors      int // transport errors, timeouts and unsuccessful statuses
	SuccessRate float64
	RPS         float64 // finished requests per second of the run
	Concurrency int
	Duration    time.Duration
	Min, Max    time.Duration
	Mean        time.Duration
	P50         time.Duration
	P95         time.Duration
	P99         time.Duration
	// StatusCodes counts the responses by status; ErrorKinds counts the
	// errors by kind ("timeout", "connection refused", "reset", "status
	// 503", ...).
	StatusCodes map[int]int    `json:",omitempty"`
	ErrorKinds  map[string]int `json:",omitempty"`
	// Emulation is how the service ran during the load (copied from the
	// platform, so a row of numbers carries its context).
	Emulation string
	Emulated  bool
}

// FaultPhase names a phase of a fault test.
type FaultPhase string

const (
	PhaseBefore FaultPhase = "before"
	PhaseDuring FaultPhase = "during"
	PhaseAfter  FaultPhase = "after"
)

// FaultResult is one fault test on one platform: the load before, during
// and after the fault, and whether the service recovered.
type FaultResult struct {
	Name     string
	Pos      Pos
	Kind     string
	Status   Status
	Failures []Failure
	// Err is why the fault could not be injected (no tc, no cgroup
	// controller), naming the platform and what to do; Status is fail,
	// or skip when the fault test says ifUnsupported: skip and the host
	// lacks what the fault needs.
	Err    string
	Before *LoadStats
	During *LoadStats
	After  *LoadStats
	// Recovered: the service answered its readiness probe after the
	// fault, RecoveryTime after the fault was lifted.
	Recovered    bool
	RecoveryTime time.Duration
	Restarts     int // restarts the fault caused (kill)
	Duration     time.Duration
}
