package loadgen

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httptrace"
	"net/netip"
	"os/exec"
	"regexp"
	"strconv"
	"sync/atomic"
	"testing"
	"time"
)

// server starts a loopback HTTP server counting requests and the most
// requests in flight at once.
func server(t testing.TB, h http.HandlerFunc) (netip.AddrPort, *atomic.Int64, *atomic.Int64) {
	var count, inflight, peak atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		count.Add(1)
		n := inflight.Add(1)
		defer inflight.Add(-1)
		for {
			p := peak.Load()
			if n <= p || peak.CompareAndSwap(p, n) {
				break
			}
		}
		if h != nil {
			h(w, r)
			return
		}
		w.Write([]byte("ok"))
	}))
	t.Cleanup(srv.Close)
	return netip.MustParseAddrPort(srv.Listener.Addr().String()), &count, &peak
}

func TestRunCountsAndConcurrency(t *testing.T) {
	addr, count, peak := server(t, func(w http.ResponseWriter, r *http.Request) {
		time.Sleep(2 * time.Millisecond)
		if r.Header.Get("X-Test") != "yes" || r.Method != http.MethodPost {
			w.WriteHeader(http.StatusBadRequest)
		}
	})
	res, err := Run(context.Background(), Options{Target: addr, Method: "POST", Path: "/x", Header: http.Header{"X-Test": {"yes"}},
		Body: []byte("b"), Requests: 200, Concurrency: 5, Warmup: 7})
	if err != nil {
		t.Fatal(err)
	}
	if res.Requests != 200 || res.Errors != 0 || len(res.Latencies) != 200 || res.StatusCodes[200] != 200 {
		t.Errorf("Run = %d requests, %d errors, %d latencies, codes %v; want 200, 0, 200, 200x200", res.Requests, res.Errors, len(res.Latencies), res.StatusCodes)
	}
	if got := count.Load(); got != 207 {
		t.Errorf("server saw %d requests, want 207 (200 + 7 warmup)", got)
	}
	if got := peak.Load(); got > 5 || got < 2 {
		t.Errorf("server saw %d requests at once, want 2..5 (concurrency 5)", got)
	}
	if res.SuccessRate() != 1 || res.RPS() <= 0 {
		t.Errorf("SuccessRate %v RPS %v", res.SuccessRate(), res.RPS())
	}
	s := res.Stats()
	if s.Min < 2*time.Millisecond || s.P50 < s.Min || s.P95 < s.P50 || s.P99 < s.P95 || s.Max < s.P99 {
		t.Errorf("Stats = %+v: not ordered, or faster than the server's 2ms", s)
	}
}

func TestRunErrorsCounted(t *testing.T) {
	var n atomic.Int64
	addr, _, _ := server(t, func(w http.ResponseWriter, r *http.Request) {
		switch n.Add(1) % 4 {
		case 0:
			w.WriteHeader(http.StatusServiceUnavailable)
		case 1:
			time.Sleep(300 * time.Millisecond) // beyond the timeout
		}
	})
	res, err := Run(context.Background(), Options{Target: addr, Requests: 40, Concurrency: 4, Timeout: 100 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	if res.Requests != 40 || res.Errors != 20 {
		t.Errorf("Run = %d requests, %d errors; want 40, 20", res.Requests, res.Errors)
	}
	if res.ErrorKinds["status 503"] != 10 || res.ErrorKinds["timeout"] != 10 {
		t.Errorf("ErrorKinds = %v, want 10 status 503 and 10 timeout", res.ErrorKinds)
	}
	if got := res.SuccessRate(); got != 0.5 {
		t.Errorf("SuccessRate = %v, want 0.5", got)
	}
}

func TestRunDurationBound(t *testing.T) {
	addr, _, _ := server(t, nil)
	t0 := time.Now()
	res, err := Run(context.Background(), Options{Target: addr, Duration: 300 * time.Millisecond, Concurrency: 2})
	if err != nil {
		t.Fatal(err)
	}
	if d := time.Since(t0); d > 2*time.Second || res.Duration < 250*time.Millisecond {
		t.Errorf("a 300ms load took %s (measured %s)", d, res.Duration)
	}
	if res.Requests == 0 || res.Errors != 0 {
		t.Errorf("Run = %d requests, %d errors", res.Requests, res.Errors)
	}
}

func TestRunRefusedConnections(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := netip.MustParseAddrPort(ln.Addr().String())
	ln.Close() // nothing listens there now
	res, err := Run(context.Background(), Options{Target: addr, Requests: 5})
	if err != nil {
		t.Fatal(err)
	}
	if res.Errors != 5 || res.ErrorKinds["connection refused"] != 5 {
		t.Errorf("Run = %d errors %v, want 5 connection refused", res.Errors, res.ErrorKinds)
	}
}

func TestRunRefusesOtherTargets(t *testing.T) {
	for _, tc := range []struct {
		target string
		want   error
	}{
		{"10.0.0.1:80", ErrNotLoopback},
		{"192.168.1.1:8080", ErrNotLoopback},
		{"[2001:db8::1]:80", ErrNotLoopback},
		{"0.0.0.0:80", ErrNotLoopback},
	} {
		_, err := Run(context.Background(), Options{Target: netip.MustParseAddrPort(tc.target), Requests: 1})
		if !errors.Is(err, tc.want) {
			t.Errorf("Run(%s) = %v, want %v", tc.target, err, tc.want)
		}
	}
	// A Host header does not move the target: the dialer connects to the
	// loopback address whatever the URL says.
	addr, count, _ := server(t, nil)
	res, err := Run(context.Background(), Options{Target: addr, Header: http.Header{"Host": {"example.com"}}, Requests: 3})
	if err != nil || res.Errors != 0 || count.Load() != 3 {
		t.Errorf("Run with Host: example.com = %v, %+v; server saw %d", err, res, count.Load())
	}
}

func TestRunRefusesBadOptions(t *testing.T) {
	addr := netip.MustParseAddrPort("127.0.0.1:9")
	for _, o := range []Options{
		{Target: addr}, // neither requests nor duration
		{Target: addr, Requests: MaxRequests + 1},
		{Target: addr, Requests: 1, Concurrency: MaxConcurrency + 1},
		{Target: addr, Duration: MaxDuration + time.Second},
		{Target: addr, Requests: 1, Path: "status"},
		{Requests: 1},
	} {
		if _, err := Run(context.Background(), o); err == nil {
			t.Errorf("Run(%+v) = nil error", o)
		}
	}
}

func TestPercentile(t *testing.T) {
	r := &Result{}
	for i := 100; i >= 1; i-- {
		r.Latencies = append(r.Latencies, time.Duration(i)*time.Millisecond)
	}
	for _, tc := range []struct {
		p    float64
		want time.Duration
	}{{50, 50 * time.Millisecond}, {95, 95 * time.Millisecond}, {99, 99 * time.Millisecond}, {100, 100 * time.Millisecond}, {1, time.Millisecond}} {
		if got := r.Percentile(tc.p); got != tc.want {
			t.Errorf("Percentile(%v) = %v, want %v", tc.p, got, tc.want)
		}
	}
}

// BenchmarkCeiling measures the load generator's own ceiling against a
// trivial native Go server on loopback, and ab (apache2-utils) with the same
// -n and -c, reporting both as req/s:
//
//	go test ./internal/loadgen -run '^$' -bench Ceiling -benchtime 5x
func BenchmarkCeiling(b *testing.B) {
	addr, _, _ := server(b, nil)
	const n, c = 20000, 8
	ab, abErr := exec.LookPath("ab")
	b.ResetTimer()
	for range b.N {
		res, err := Run(context.Background(), Options{Target: addr, Requests: n, Concurrency: c})
		if err != nil || res.Errors > 0 {
			b.Fatalf("Run = %v, %d errors", err, res.Errors)
		}
		b.ReportMetric(res.RPS(), "loadgen-req/s")
		if abErr != nil {
			continue
		}
		out, err := exec.Command(ab, "-q", "-k", "-n", strconv.Itoa(n), "-c", strconv.Itoa(c), "http://"+addr.String()+"/").CombinedOutput()
		if err != nil {
			b.Fatalf("ab: %v\n%s", err, out)
		}
		m := regexp.MustCompile(`Requests per second:\s+([0-9.]+)`).FindSubmatch(out)
		if m == nil {
			b.Fatalf("ab printed no requests per second:\n%s", out)
		}
		rps, _ := strconv.ParseFloat(string(m[1]), 64)
		b.ReportMetric(rps, "ab-req/s")
	}
}

// TestErrorKindServerClosedIdle: a connection closed at once (as the port
// proxy does when nothing listens in the container) is "connection
// closed" however the transport words it. Holding the new connection for
// a moment before the request is written makes net/http report the close
// as its "server closed idle connection", which is what a readiness probe
// met once on a loaded machine.
func TestErrorKindServerClosedIdle(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	client := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}, Timeout: 10 * time.Second}
	for _, wait := range []time.Duration{0, 50 * time.Millisecond} {
		trace := &httptrace.ClientTrace{GotConn: func(httptrace.GotConnInfo) { time.Sleep(wait) }}
		req, err := http.NewRequestWithContext(httptrace.WithClientTrace(context.Background(), trace), http.MethodGet, "http://"+ln.Addr().String()+"/healthz", nil)
		if err != nil {
			t.Fatal(err)
		}
		_, err = client.Do(req)
		if err == nil {
			t.Fatalf("wait %s: a closed connection answered", wait)
		}
		if k := ErrorKind(err); k != "connection closed" && k != "connection reset" {
			t.Errorf("wait %s: ErrorKind(%q) = %q, want connection closed (or reset)", wait, err, k)
		}
		if wait > 0 && !serverClosedIdle(err) {
			t.Logf("wait %s: net/http said %q, not server closed idle connection; the check above still holds", wait, err)
		}
	}
}
