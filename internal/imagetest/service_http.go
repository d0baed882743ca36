package imagetest

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"reflect"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/manyarch/manyarch/internal/loadgen"
	"github.com/manyarch/manyarch/internal/platform"
)

// maxBodyRead bounds the bytes read from one response of a check.
const maxBodyRead = 16 << 20

// probeWait is how long a TCP readiness probe waits for the connection
// to be closed: the proxy accepts at once and closes the connection when
// the container refuses it, so a connection still open after this is one
// the service accepted.
const probeWait = 300 * time.Millisecond

// probeName describes the readiness probe for messages.
func (s *service) probeName() string {
	r := s.t.Readiness
	switch {
	case r.HTTPPath != "":
		want := "any status below 500"
		if r.HTTPStatus != 0 {
			want = fmt.Sprint(r.HTTPStatus)
		}
		return fmt.Sprintf("GET %s -> %s", r.HTTPPath, want)
	case len(r.Command) > 0:
		return "command " + quoteArgs(r.Command)
	}
	return "tcp " + s.addr.String()
}

// waitReady probes the service every readiness interval until it is
// ready, it has exited for good, or timeout has passed.
func (s *service) waitReady(ctx context.Context, timeout time.Duration) ReadinessResult {
	rr := ReadinessResult{Probe: s.probeName()}
	start := time.Now()
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	interval := s.t.Readiness.Interval
	if interval <= 0 {
		interval = DefaultReadyInterval
	}
	for {
		rr.Attempts++
		err := s.probe(ctx)
		rr.Took = time.Since(start)
		if err == nil {
			rr.Ready, rr.LastErr = true, ""
			return rr
		}
		// An attempt a deadline cut short (the wait's own, or the
		// attempt's on a loaded machine) says less than the one before it.
		if rr.LastErr == "" || (ctx.Err() == nil && !errors.Is(err, context.DeadlineExceeded)) {
			rr.LastErr = err.Error()
		}
		if _, gone := s.exited(); gone {
			return rr
		}
		select {
		case <-ctx.Done():
			rr.Took = time.Since(start)
			return rr
		case <-time.After(interval):
		}
	}
}

// probe is one readiness attempt.
func (s *service) probe(ctx context.Context) error {
	r := s.t.Readiness
	switch {
	case r.HTTPPath != "":
		ctx, cancel := context.WithTimeout(ctx, max(2*time.Second, r.Interval))
		defer cancel()
		resp, _, _, err := s.do(ctx, HTTPRequest{Method: http.MethodGet, Path: r.HTTPPath, Timeout: DefaultRequestTime})
		if err != nil {
			return err
		}
		if (r.HTTPStatus != 0 && resp.StatusCode != r.HTTPStatus) || (r.HTTPStatus == 0 && resp.StatusCode >= 500) {
			return fmt.Errorf("GET %s answered %s", r.HTTPPath, resp.Status)
		}
		return nil
	case len(r.Command) > 0:
		return s.probeCommand(ctx)
	}
	return probeTCP(ctx, s.addr.String())
}

// probeTCP connects to addr and waits probeWait for the connection to be
// closed or reset: through the proxy, that is a container not listening.
func probeTCP(ctx context.Context, addr string) error {
	var d net.Dialer
	dctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	c, err := d.DialContext(dctx, "tcp", addr)
	if err != nil {
		return fmt.Errorf("connecting to %s: %w", addr, err)
	}
	defer c.Close()
	_ = c.SetReadDeadline(time.Now().Add(probeWait))
	var b [1]byte
	n, err := c.Read(b[:])
	var ne net.Error
	switch {
	case n > 0, errors.As(err, &ne) && ne.Timeout():
		return nil
	case errors.Is(err, io.EOF), errors.Is(err, syscall.ECONNRESET):
		return fmt.Errorf("%s: the connection was closed: nothing listens on the container's port yet", addr)
	}
	return fmt.Errorf("%s: %w", addr, err)
}

// probeCommand runs the readiness command in a throwaway container of the
// same image on the host network, with SERVICE_HOST and SERVICE_PORT.
func (s *service) probeCommand(ctx context.Context) error {
	r := s.t.Readiness
	args, err := expandAll(r.Command, s.col.vars)
	if err != nil {
		return err
	}
	env := append(append([]string(nil), s.spec.Env...), "SERVICE_HOST="+s.addr.Addr().String(), "SERVICE_PORT="+portString(s.addr))
	timeout := max(10*time.Second, r.Interval)
	if dl, ok := ctx.Deadline(); ok && time.Until(dl) < timeout {
		timeout = time.Until(dl)
	}
	if timeout <= 0 {
		return context.DeadlineExceeded
	}
	er, err := s.o.exec.Run(ctx, s.target, Exec{Args: args, Env: env, User: s.spec.User, Network: "host", Timeout: timeout})
	if err != nil {
		return fmt.Errorf("running %s: %w", quoteArgs(args), err)
	}
	if er.TimedOut {
		return fmt.Errorf("%s timed out after %s", quoteArgs(args), timeout)
	}
	if er.ExitCode != 0 {
		out := strings.TrimSpace(string(er.Stderr))
		if out == "" {
			out = strings.TrimSpace(string(er.Stdout))
		}
		if len(out) > 200 {
			out = out[len(out)-200:]
		}
		if out != "" {
			return fmt.Errorf("%s exited with %d: %s", quoteArgs(args), er.ExitCode, out)
		}
		return fmt.Errorf("%s exited with %d", quoteArgs(args), er.ExitCode)
	}
	return nil
}

// request builds req for the service, its strings expanded with the
// platform's template variables.
func (s *service) request(ctx context.Context, req HTTPRequest) (*http.Request, error) {
	v := s.col.vars
	path, err := expand(req.Path, v)
	if err != nil {
		return nil, err
	}
	body, err := expand(req.Body, v)
	if err != nil {
		return nil, err
	}
	method := req.Method
	if method == "" {
		method = http.MethodGet
	}
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	hr, err := http.NewRequestWithContext(ctx, method, "http://"+s.addr.String()+path, rd)
	if err != nil {
		return nil, fmt.Errorf("request %s %s: %w", method, path, err)
	}
	for _, h := range req.Headers {
		val, err := expand(h.Value, v)
		if err != nil {
			return nil, err
		}
		if strings.EqualFold(h.Key, "Host") {
			hr.Host = val
			continue
		}
		hr.Header.Add(h.Key, val)
	}
	return hr, nil
}

// do sends req and reads its answer (at most maxBodyRead bytes).
func (s *service) do(ctx context.Context, req HTTPRequest) (*http.Response, []byte, time.Duration, error) {
	timeout := req.Timeout
	if timeout <= 0 {
		timeout = DefaultRequestTime
	}
	hr, err := s.request(ctx, req)
	if err != nil {
		return nil, nil, 0, err
	}
	t0 := time.Now()
	resp, err := s.client(timeout).Do(hr)
	if err != nil {
		return nil, nil, time.Since(t0), fmt.Errorf("%s %s: %s", hr.Method, hr.URL.RequestURI(), requestError(err))
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxBodyRead))
	d := time.Since(t0)
	if err != nil {
		return resp, body, d, fmt.Errorf("%s %s: reading the body: %s", hr.Method, hr.URL.RequestURI(), requestError(err))
	}
	return resp, body, d, nil
}

// requestError shortens a client error: its kind as the load counts it.
func requestError(err error) string {
	var ue interface{ Unwrap() error }
	if errors.As(err, &ue) {
		if inner := ue.Unwrap(); inner != nil {
			return loadgen.ErrorKind(inner)
		}
	}
	return loadgen.ErrorKind(err)
}

func keepBody(b []byte) string {
	if len(b) > MaxBodyKept {
		return string(b[:MaxBodyKept]) + fmt.Sprintf("\n[manyarch: %d more bytes]", len(b)-MaxBodyKept)
	}
	return string(b)
}

// check sends one check's request and applies its expectations.
func (s *service) check(ctx context.Context, ch *HTTPCheck) CheckResult {
	cr := CheckResult{Name: ch.Name, Pos: ch.Pos, Method: ch.Request.Method, URL: ch.Request.Path}
	if len(ch.Invalid) > 0 {
		cr.Status, cr.Failures = StatusFail, invalidResult(ch.Invalid).Failures
		return cr
	}
	r := Result{}
	resp, body, d, err := s.do(ctx, ch.Request)
	cr.Duration = d
	if p, e := expand(ch.Request.Path, s.col.vars); e == nil {
		cr.URL = p
	}
	if resp == nil {
		r.fail(Failure{Message: err.Error()})
		cr.Status, cr.Failures = StatusFail, r.Failures
		return cr
	}
	cr.StatusCode, cr.Headers, cr.Body = resp.StatusCode, resp.Header, keepBody(body)
	if err != nil {
		r.fail(Failure{Message: err.Error()})
	}
	checkHTTP(&r, s.col.vars, ch, resp.StatusCode, resp.Header, body)
	r = finish(r)
	cr.Status, cr.Failures = r.Status, r.Failures
	return cr
}

// checkHTTP applies ch's expectations to an answer.
func checkHTTP(r *Result, v Vars, ch *HTTPCheck, status int, header http.Header, body []byte) {
	if status != ch.Status {
		r.fail(Failure{Message: fmt.Sprintf("status %d %s, expected %d", status, http.StatusText(status), ch.Status),
			Expected: fmt.Sprint(ch.Status), Actual: fmt.Sprintf("%d; body: %s", status, shortBody(body))})
	}
	for _, h := range ch.Headers {
		re, x, err := compile(h.Value, v)
		if err != nil {
			r.fail(Failure{Message: fmt.Sprintf("expectedHeaders.%s: %v", h.Key, err)})
			continue
		}
		vals := header.Values(h.Key)
		if len(vals) == 0 {
			r.fail(Failure{Message: fmt.Sprintf("header %s is missing", h.Key), Expected: h.Key + ": " + showPattern(x), Actual: headerNames(header)})
			continue
		}
		ok := false
		for _, val := range vals {
			ok = ok || re.MatchString(val)
		}
		if !ok {
			r.fail(Failure{Message: fmt.Sprintf("header %s does not match %s", h.Key, showPattern(x)), Expected: showPattern(x), Actual: strings.Join(vals, ", ")})
		}
	}
	if len(ch.JSON) > 0 {
		doc, err := decodeJSON(body)
		if err != nil {
			r.fail(Failure{Message: fmt.Sprintf("the body is not JSON (%v), so its fields cannot be checked", err), Actual: shortBody(body)})
		} else {
			for _, e := range ch.JSON {
				if e.Absent || !missingReported(r, e.Path) {
					checkJSON(r, v, e, doc)
				}
			}
		}
	}
	checkOutput(r, v, "body", string(body), ch.Body, ch.ExcludedBody)
}

// checkJSON applies one JSON expectation to a decoded body.
func checkJSON(r *Result, v Vars, e JSONExpect, doc any) {
	path, err := parseJSONPath(e.Path)
	if err != nil {
		r.fail(Failure{Message: err.Error()})
		return
	}
	where := "JSON " + showJSONPath(e.Path)
	got, found := lookupJSON(doc, path)
	if e.Absent {
		if found {
			r.fail(Failure{Message: where + " is present, expected absent", Expected: "absent", Actual: compactJSON(got)})
		}
		return
	}
	if !found {
		r.fail(Failure{Message: where + " is missing", Expected: e.Path, Actual: shortJSON(doc)})
		return
	}
	if e.HasEquals {
		want := expandJSON(e.Equals, v)
		if !reflect.DeepEqual(got, want) {
			r.fail(Failure{Message: where + " differs", Expected: compactJSON(want), Actual: compactJSON(got)})
		}
	}
	if e.Type != "" && !hasJSONType(got, e.Type) {
		r.fail(Failure{Message: fmt.Sprintf("%s is %s, expected %s", where, jsonType(got), e.Type), Expected: e.Type, Actual: compactJSON(got)})
	}
	if e.Matches != "" {
		re, x, err := compile(e.Matches, v)
		if err != nil {
			r.fail(Failure{Message: err.Error()})
		} else if t := jsonText(got); !re.MatchString(t) {
			r.fail(Failure{Message: fmt.Sprintf("%s does not match %s", where, showPattern(x)), Expected: showPattern(x), Actual: t})
		}
	}
}

// missingReported says whether r already fails for path being missing (a
// path with several expectations is reported missing once).
func missingReported(r *Result, path string) bool {
	return slices.ContainsFunc(r.Failures, func(f Failure) bool { return f.Message == "JSON "+showJSONPath(path)+" is missing" })
}

func showJSONPath(p string) string {
	if p == "" {
		return "body"
	}
	return p
}

// expandJSON expands the template variables in the strings of a value
// read from the test file.
func expandJSON(x any, v Vars) any {
	switch t := x.(type) {
	case string:
		s, _ := expand(t, v)
		return s
	case []any:
		out := make([]any, len(t))
		for i, e := range t {
			out[i] = expandJSON(e, v)
		}
		return out
	case map[string]any:
		out := make(map[string]any, len(t))
		for k, e := range t {
			out[k] = expandJSON(e, v)
		}
		return out
	}
	return x
}

func shortBody(b []byte) string {
	const n = 512
	if len(b) > n {
		return fmt.Sprintf("%s... (%d bytes)", b[:n], len(b))
	}
	if len(b) == 0 {
		return "(empty)"
	}
	return string(b)
}

func shortJSON(doc any) string { return shortBody([]byte(compactJSON(doc))) }

func headerNames(h http.Header) string {
	var names []string
	for k := range h {
		names = append(names, k)
	}
	if len(names) == 0 {
		return "no headers"
	}
	slices.Sort(names)
	return "headers: " + strings.Join(names, ", ")
}

// httpAnswer is one platform's answer to a consistency request.
type httpAnswer struct {
	ran  bool
	text string // normalized (unless raw): status, compared headers, body
}

// answer sends a consistency request and normalizes the answer.
func (s *service) answer(ctx context.Context, cc *HTTPConsistency) (httpAnswer, CheckResult) {
	cr := CheckResult{Name: cc.Name, Pos: cc.Pos, Method: cc.Request.Method, URL: cc.Request.Path}
	resp, body, d, err := s.do(ctx, cc.Request)
	cr.Duration = d
	if resp == nil || err != nil {
		msg := "no answer"
		if err != nil {
			msg = err.Error()
		}
		cr.Status, cr.Failures = StatusFail, []Failure{{Message: msg}}
		return httpAnswer{}, cr
	}
	cr.StatusCode, cr.Headers, cr.Body = resp.StatusCode, resp.Header, keepBody(body)
	var b strings.Builder
	fmt.Fprintf(&b, "status %d\n", resp.StatusCode)
	for _, h := range cc.Headers {
		fmt.Fprintf(&b, "%s: %s\n", http.CanonicalHeaderKey(h), strings.Join(resp.Header.Values(h), ", "))
	}
	text := string(body)
	if !cc.Raw {
		if doc, err := decodeJSON(body); err == nil {
			for _, p := range cc.Ignore {
				if path, err := parseJSONPath(p); err == nil {
					deleteJSON(doc, path)
				}
			}
			text = indentJSON(doc)
		} else if len(cc.Ignore) > 0 {
			cr.Status, cr.Failures = StatusFail, []Failure{{Message: fmt.Sprintf("ignore: needs a JSON body, and this one is not JSON (%v)", err), Actual: shortBody(body)}}
			return httpAnswer{}, cr
		}
	}
	b.WriteString(text)
	out := b.String()
	if !cc.Raw {
		out = normalizeOutput(out, s.col.vars)
	}
	return httpAnswer{ran: true, text: out}, cr
}

// indentJSON is v as indented JSON with sorted keys, so a difference
// shows on its own line.
func indentJSON(v any) string {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(v); err != nil {
		return fmt.Sprint(v)
	}
	return buf.String()
}

// compareHTTPConsistency fails the platforms whose answer differs from
// the most common one (ties go to the earlier platform).
func compareHTTPConsistency(cc *HTTPConsistency, cols []*column, results []Result, answers []httpAnswer) {
	same := func(a, b httpAnswer) bool {
		if cc.Raw {
			return a.text == b.text
		}
		return sameOutput(a.text, b.text)
	}
	ref, best := -1, 0
	for j, a := range answers {
		if !a.ran {
			continue
		}
		n := 0
		for _, b := range answers {
			if b.ran && same(a, b) {
				n++
			}
		}
		if n > best {
			ref, best = j, n
		}
	}
	if ref < 0 {
		return
	}
	var refPlatforms []string
	for j, a := range answers {
		if a.ran && same(a, answers[ref]) {
			refPlatforms = append(refPlatforms, platform.Format(cols[j].platform))
		}
	}
	show := func(s string) string {
		if cc.Raw {
			return s
		}
		return showOutput(s)
	}
	for j, a := range answers {
		r := &results[j]
		if r.Status == StatusSkip || !a.ran {
			continue
		}
		if !same(a, answers[ref]) {
			r.fail(Failure{Message: fmt.Sprintf("the answer to %s %s differs from the answer of %s", cc.Request.Method, cc.Request.Path, strings.Join(refPlatforms, ", ")),
				Expected: show(answers[ref].text), Actual: show(a.text)})
		}
	}
}

// load sends a load test's requests and summarizes them.
func (s *service) load(ctx context.Context, lt *LoadTest) (*LoadStats, error) {
	v := s.col.vars
	path, err := expand(lt.Request.Path, v)
	if err != nil {
		return nil, err
	}
	body, err := expand(lt.Request.Body, v)
	if err != nil {
		return nil, err
	}
	hdr := http.Header{}
	for _, h := range lt.Request.Headers {
		val, err := expand(h.Value, v)
		if err != nil {
			return nil, err
		}
		hdr.Add(h.Key, val)
	}
	o := loadgen.Options{Target: s.addr, Method: lt.Request.Method, Path: path, Header: hdr, Requests: lt.Requests,
		Concurrency: lt.Concurrency, Duration: lt.Duration, Timeout: lt.Request.Timeout, Warmup: lt.Warmup}
	if body != "" {
		o.Body = []byte(body)
	}
	if lt.SuccessStatus != 0 {
		want := lt.SuccessStatus
		o.Success = func(s int) bool { return s == want }
	}
	res, err := loadgen.Run(ctx, o)
	if err != nil {
		return nil, err
	}
	return s.stats(res), nil
}

// stats converts a loadgen result to the report's numbers.
func (s *service) stats(res *loadgen.Result) *LoadStats {
	st := res.Stats()
	return &LoadStats{Requests: res.Requests, Errors: res.Errors, SuccessRate: res.SuccessRate(), RPS: res.RPS(),
		Concurrency: res.Concurrency, Duration: res.Duration, Min: st.Min, Max: st.Max, Mean: st.Mean,
		P50: st.P50, P95: st.P95, P99: st.P99, StatusCodes: res.StatusCodes, ErrorKinds: res.ErrorKinds,
		Emulation: s.emulation, Emulated: s.emulated}
}

// loadFailures checks a load's numbers against its thresholds (nil / 0:
// not checked). Fault phases use it with their own thresholds.
func loadFailures(minSuccessRate *float64, maxP95, maxP99 time.Duration, minRPS float64, st *LoadStats) []Failure {
	var fs []Failure
	if st.Requests == 0 {
		return []Failure{{Message: "no request finished: the load measured nothing"}}
	}
	if minSuccessRate != nil && st.SuccessRate < *minSuccessRate {
		fs = append(fs, Failure{Message: fmt.Sprintf("success rate %s is below minSuccessRate %s (%d of %d requests failed: %s)",
			percent(st.SuccessRate), percent(*minSuccessRate), st.Errors, st.Requests, errorKinds(st.ErrorKinds)),
			Expected: ">= " + percent(*minSuccessRate), Actual: percent(st.SuccessRate)})
	}
	if maxP95 > 0 && st.P95 > maxP95 {
		fs = append(fs, Failure{Message: fmt.Sprintf("p95 latency %s is above maxP95 %s", fmtLatency(st.P95), fmtLatency(maxP95)),
			Expected: "<= " + fmtLatency(maxP95), Actual: fmtLatency(st.P95)})
	}
	if maxP99 > 0 && st.P99 > maxP99 {
		fs = append(fs, Failure{Message: fmt.Sprintf("p99 latency %s is above maxP99 %s", fmtLatency(st.P99), fmtLatency(maxP99)),
			Expected: "<= " + fmtLatency(maxP99), Actual: fmtLatency(st.P99)})
	}
	if minRPS > 0 && st.RPS < minRPS {
		fs = append(fs, Failure{Message: fmt.Sprintf("%.1f requests/s is below minRPS %.1f", st.RPS, minRPS),
			Expected: fmt.Sprintf(">= %.1f", minRPS), Actual: fmt.Sprintf("%.1f", st.RPS)})
	}
	return fs
}

func percent(f float64) string { return fmt.Sprintf("%.1f%%", f*100) }

func errorKinds(m map[string]int) string {
	if len(m) == 0 {
		return "none"
	}
	var ks []string
	for k := range m {
		ks = append(ks, k)
	}
	slices.Sort(ks)
	var parts []string
	for _, k := range ks {
		parts = append(parts, fmt.Sprintf("%s x%d", k, m[k]))
	}
	return strings.Join(parts, ", ")
}

// fmtLatency shows a latency with a precision that suits it.
func fmtLatency(d time.Duration) string {
	switch {
	case d <= 0:
		return "-"
	case d < 10*time.Millisecond:
		return fmt.Sprintf("%.2fms", float64(d)/float64(time.Millisecond))
	case d < time.Second:
		return fmt.Sprintf("%.1fms", float64(d)/float64(time.Millisecond))
	}
	return fmt.Sprintf("%.2fs", d.Seconds())
}

// loadSummary is a load's numbers on one line.
func loadSummary(st *LoadStats) string {
	return fmt.Sprintf("%d requests at concurrency %d: %s success, %.1f req/s, p50 %s, p95 %s, p99 %s\n",
		st.Requests, st.Concurrency, percent(st.SuccessRate), st.RPS, fmtLatency(st.P50), fmtLatency(st.P95), fmtLatency(st.P99))
}
