package loadgen

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"os"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// Bounds of a load.
const (
	MaxRequests    = 1_000_000
	MaxConcurrency = 256
	MaxDuration    = 10 * time.Minute
	MaxBodyRead    = 16 << 20 // bytes read from one response
	// DefaultTimeout is a request's timeout when Options.Timeout is 0.
	DefaultTimeout = 10 * time.Second
)

// Options is one load.
type Options struct {
	// Target is the service's address: a loopback IP and port
	// ("127.0.0.1:41234"). Anything else is refused.
	Target netip.AddrPort
	Method string      // default GET
	Path   string      // starts with /; default /
	Header http.Header // request headers; a Host header sets the Host
	Body   []byte

	// Requests to send (ab -n); 0 with Duration: until Duration ends.
	Requests int
	// Concurrency is the number of workers, each with its own keep-alive
	// connection (ab -c). Default 1.
	Concurrency int
	// Duration bounds the sending (ab -t); 0: until Requests are sent.
	// With both, whichever comes first.
	Duration time.Duration
	// Timeout bounds each request, body included. Default DefaultTimeout.
	Timeout time.Duration
	// Warmup requests are sent first, one worker at a time, and not
	// counted.
	Warmup int
	// Success says whether a status is a success. Default: below 400.
	Success func(status int) bool
}

// Result is what a load measured.
type Result struct {
	Requests    int // finished (success or not)
	Errors      int // transport errors, timeouts and unsuccessful statuses
	Concurrency int
	Duration    time.Duration // from the first request to the last answer
	Latencies   []time.Duration
	StatusCodes map[int]int
	ErrorKinds  map[string]int
	// BytesRead counts response body bytes.
	BytesRead int64
}

// SuccessRate is the share of finished requests that succeeded (1 with
// no request).
func (r *Result) SuccessRate() float64 {
	if r.Requests == 0 {
		return 0
	}
	return float64(r.Requests-r.Errors) / float64(r.Requests)
}

// RPS is finished requests per second.
func (r *Result) RPS() float64 {
	if r.Duration <= 0 {
		return 0
	}
	return float64(r.Requests) / r.Duration.Seconds()
}

// Percentile returns the p-th percentile latency (0 < p <= 100,
// nearest-rank) of every finished request, successful or not.
func (r *Result) Percentile(p float64) time.Duration {
	return percentile(r.sorted(), p)
}

// Stats are the summary numbers of a Result.
type Stats struct {
	Min, Max, Mean, P50, P95, P99 time.Duration
}

// Stats sorts the latencies once and returns the summary.
func (r *Result) Stats() Stats {
	s := r.sorted()
	if len(s) == 0 {
		return Stats{}
	}
	var sum time.Duration
	for _, d := range s {
		sum += d
	}
	return Stats{Min: s[0], Max: s[len(s)-1], Mean: sum / time.Duration(len(s)),
		P50: percentile(s, 50), P95: percentile(s, 95), P99: percentile(s, 99)}
}

func (r *Result) sorted() []time.Duration {
	s := slices.Clone(r.Latencies)
	slices.Sort(s)
	return s
}

func percentile(sorted []time.Duration, p float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	rank := int(float64(len(sorted))*p/100+0.999999999) - 1
	return sorted[min(max(rank, 0), len(sorted)-1)]
}

// ErrNotLoopback is returned for a target that is not a loopback address.
var ErrNotLoopback = errors.New("the load generator sends to a loopback address only")

func (o *Options) check() error {
	if !o.Target.IsValid() || o.Target.Port() == 0 {
		return fmt.Errorf("load target %q: want a loopback IP and port such as 127.0.0.1:8080", o.Target)
	}
	if !o.Target.Addr().Unmap().IsLoopback() {
		return fmt.Errorf("load target %s: %w (127.0.0.0/8 or ::1): it only loads a container's published port", o.Target, ErrNotLoopback)
	}
	if o.Method == "" {
		o.Method = http.MethodGet
	}
	if o.Path == "" {
		o.Path = "/"
	}
	if !strings.HasPrefix(o.Path, "/") {
		return fmt.Errorf("load path %q: want a path starting with /", o.Path)
	}
	switch {
	case o.Requests < 0 || o.Requests > MaxRequests:
		return fmt.Errorf("load of %d requests: want 1 to %d", o.Requests, MaxRequests)
	case o.Requests == 0 && o.Duration <= 0:
		return errors.New("load with neither requests nor a duration: give one (as ab -n or -t)")
	case o.Duration < 0 || o.Duration > MaxDuration:
		return fmt.Errorf("load duration %s: want at most %s", o.Duration, MaxDuration)
	case o.Concurrency < 0 || o.Concurrency > MaxConcurrency:
		return fmt.Errorf("load concurrency %d: want 1 to %d", o.Concurrency, MaxConcurrency)
	case o.Warmup < 0 || o.Warmup > MaxRequests:
		return fmt.Errorf("load warmup of %d requests: want 0 to %d", o.Warmup, MaxRequests)
	case o.Timeout < 0:
		return fmt.Errorf("load request timeout %s: must not be negative", o.Timeout)
	}
	if o.Concurrency == 0 {
		o.Concurrency = 1
	}
	if o.Requests > 0 && o.Concurrency > o.Requests {
		o.Concurrency = o.Requests
	}
	if o.Timeout == 0 {
		o.Timeout = DefaultTimeout
	}
	if o.Success == nil {
		o.Success = func(s int) bool { return s < 400 }
	}
	return nil
}

// Run sends the load and measures it. ctx ends it early (the requests
// finished by then are counted).
func Run(ctx context.Context, o Options) (*Result, error) {
	if err := o.check(); err != nil {
		return nil, err
	}
	target := o.Target.String()
	tr := &http.Transport{
		// The dialer ignores the URL's host: it connects to the target
		// only, whatever a Host header says.
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "tcp", target)
		},
		MaxIdleConnsPerHost: o.Concurrency,
		MaxConnsPerHost:     o.Concurrency,
		DisableCompression:  true,
		Proxy:               nil,
	}
	defer tr.CloseIdleConnections()
	client := &http.Client{
		Transport:     tr,
		Timeout:       o.Timeout,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	url := "http://" + target + o.Path
	host := o.Header.Get("Host")

	w := worker{client: client, url: url, host: host, o: &o}
	for i := 0; i < o.Warmup && ctx.Err() == nil; i++ {
		w.one(ctx)
	}

	runCtx := ctx
	if o.Duration > 0 {
		var cancel context.CancelFunc
		runCtx, cancel = context.WithTimeout(ctx, o.Duration)
		defer cancel()
	} else {
		// Requests alone: still bounded, by MaxDuration plus one timeout.
		var cancel context.CancelFunc
		runCtx, cancel = context.WithTimeout(ctx, MaxDuration+o.Timeout)
		defer cancel()
	}
	var next atomic.Int64 // requests handed out
	limit := int64(o.Requests)
	results := make([]workerResult, o.Concurrency)
	var wg sync.WaitGroup
	start := time.Now()
	for i := range results {
		wg.Add(1)
		go func() {
			defer wg.Done()
			wr := &results[i]
			wr.codes, wr.kinds = map[int]int{}, map[string]int{}
			for runCtx.Err() == nil {
				if limit > 0 && next.Add(1) > limit {
					return
				}
				s := w.one(runCtx)
				if s.aborted {
					return // the run's time ended during the request: not counted
				}
				wr.add(s)
			}
		}()
	}
	wg.Wait()
	res := &Result{Concurrency: o.Concurrency, Duration: time.Since(start), StatusCodes: map[int]int{}, ErrorKinds: map[string]int{}}
	for _, wr := range results {
		res.Requests += wr.requests
		res.Errors += wr.errors
		res.BytesRead += wr.bytes
		res.Latencies = append(res.Latencies, wr.latencies...)
		for k, v := range wr.codes {
			res.StatusCodes[k] += v
		}
		for k, v := range wr.kinds {
			res.ErrorKinds[k] += v
		}
	}
	return res, nil
}

type worker struct {
	client *http.Client
	url    string
	host   string
	o      *Options
}

type sample struct {
	latency time.Duration
	status  int
	err     string // error kind; "" for a response
	ok      bool
	bytes   int64
	aborted bool
}

func (w *worker) one(ctx context.Context) sample {
	var body io.Reader
	if w.o.Body != nil {
		body = bytes.NewReader(w.o.Body)
	}
	req, err := http.NewRequestWithContext(ctx, w.o.Method, w.url, body)
	if err != nil {
		return sample{err: "bad request"}
	}
	for k, vs := range w.o.Header {
		req.Header[k] = vs
	}
	if w.host != "" {
		req.Host = w.host
	}
	t0 := time.Now()
	resp, err := w.client.Do(req)
	if err != nil {
		if ctx.Err() != nil {
			return sample{aborted: true}
		}
		return sample{latency: time.Since(t0), err: ErrorKind(err)}
	}
	n, rerr := io.Copy(io.Discard, io.LimitReader(resp.Body, MaxBodyRead))
	resp.Body.Close()
	d := time.Since(t0)
	if rerr != nil {
		if ctx.Err() != nil {
			return sample{aborted: true}
		}
		return sample{latency: d, status: resp.StatusCode, err: ErrorKind(rerr), bytes: n}
	}
	s := sample{latency: d, status: resp.StatusCode, bytes: n, ok: w.o.Success(resp.StatusCode)}
	if !s.ok {
		s.err = fmt.Sprintf("status %d", resp.StatusCode)
	}
	return s
}

type workerResult struct {
	requests, errors int
	bytes            int64
	latencies        []time.Duration
	codes            map[int]int
	kinds            map[string]int
}

func (r *workerResult) add(s sample) {
	r.requests++
	r.latencies = append(r.latencies, s.latency)
	r.bytes += s.bytes
	if s.status != 0 {
		r.codes[s.status]++
	}
	if !s.ok {
		r.errors++
		r.kinds[s.err]++
	}
}

// ErrorKind names a request error for counting: "timeout", "connection
// refused", "connection reset", "connection closed", or the error's text.
func ErrorKind(err error) string {
	var ne net.Error
	switch {
	case serverClosedIdle(err):
		return "connection closed"
	case errors.Is(err, context.DeadlineExceeded), errors.As(err, &ne) && ne.Timeout(), errors.Is(err, os.ErrDeadlineExceeded):
		return "timeout"
	case errors.Is(err, syscall.ECONNREFUSED):
		return "connection refused"
	case errors.Is(err, syscall.ECONNRESET), errors.Is(err, syscall.EPIPE):
		return "connection reset"
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return "connection closed"
	}
	return err.Error()
}

// serverClosedIdle reports whether err is net/http's unexported
// errServerClosedIdle. A server (or manyarch's port proxy, when nothing
// listens in the container) that closes a new connection at once may be
// seen closing it before the request was written, and the transport then
// says "server closed idle connection" even with keep-alives off; it is
// the same closed connection as the io.EOF of a slower close.
func serverClosedIdle(err error) bool {
	for ; err != nil; err = errors.Unwrap(err) {
		if err.Error() == "http: server closed idle connection" {
			return true
		}
	}
	return false
}
