package remote

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"sync"
	"syscall"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	ggcr "github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
)

// retryStatusCodes are the HTTP statuses retried on any request.
var retryStatusCodes = []int{
	http.StatusRequestTimeout,
	http.StatusTooManyRequests,
	http.StatusInternalServerError,
	http.StatusBadGateway,
	http.StatusServiceUnavailable,
	http.StatusGatewayTimeout,
}

// parseReference parses a registry reference, marking the registry insecure
// (plain HTTP allowed) when o asks for it. Loopback hosts get plain HTTP anyway.
func (o *options) parseReference(ref string) (name.Reference, error) {
	var nopts []name.Option
	if o.insecure {
		nopts = append(nopts, name.Insecure)
	}
	r, err := name.ParseReference(ref, nopts...)
	if err != nil {
		return nil, fmt.Errorf("parsing registry reference %q: %w (want [HOST[:PORT]/]REPOSITORY[:TAG|@sha256:DIGEST])", ref, err)
	}
	return r, nil
}

// httpTransport is the transport under go-containerregistry's auth and retry
// layers: ggcr's defaults, TLS verification off with --insecure, and a
// watchdog that aborts silent connections.
func (o *options) httpTransport() http.RoundTripper {
	t := ggcr.DefaultTransport.(*http.Transport).Clone()
	t.MaxIdleConnsPerHost = 2 * o.jobs
	if t.MaxIdleConnsPerHost < 16 {
		t.MaxIdleConnsPerHost = 16
	}
	if o.insecure {
		if t.TLSClientConfig == nil {
			t.TLSClientConfig = &tls.Config{}
		}
		t.TLSClientConfig.InsecureSkipVerify = true //nolint:gosec // the user asked for --insecure
	}
	// Every wait is bounded: connecting, the TLS handshake, the response
	// header (the stall watchdog also covers it, ResponseHeaderTimeout is the
	// backstop) and idle pooled connections. A download that keeps moving
	// bytes is never cut: only silence is (stallTransport).
	t.DialContext = dialSendfile((&net.Dialer{Timeout: dialTimeout, KeepAlive: 30 * time.Second}).DialContext)
	t.TLSHandshakeTimeout = tlsHandshakeTimeout
	t.ResponseHeaderTimeout = 2 * afterBodyFactor * o.stallTimeout
	t.IdleConnTimeout = 90 * time.Second
	return &boundTransport{inner: &stallTransport{inner: t, idle: o.stallTimeout}, manifestDeadline: manifestDeadlineFactor * o.stallTimeout}
}

const (
	dialTimeout         = 30 * time.Second
	tlsHandshakeTimeout = 10 * time.Second
)

// boundTransport bounds what one request may cost: a redirect chain longer
// than MaxRedirects is refused (go-containerregistry's clients replace Go's
// default 10-redirect limit with their SSRF check, which has none, so a
// manifest redirecting to itself looped forever), and a manifest response
// longer than MaxManifestSize is refused from its Content-Length, or cut at
// the limit when the length is not declared.
type boundTransport struct {
	inner http.RoundTripper
	// manifestDeadline bounds a manifest request whole, redirects included:
	// the stall watchdog cuts silence, but a server could trickle a byte
	// just often enough, and a manifest is small.
	manifestDeadline time.Duration
}

// manifestDeadlineFactor: a manifest (4 MiB at most) arrives whole within
// this many stall timeouts (2 minutes by default).
const manifestDeadlineFactor = 2

// ManifestDeadlineError reports a manifest that did not arrive whole in time.
type ManifestDeadlineError struct {
	URL      string
	Deadline time.Duration
}

func (e *ManifestDeadlineError) Error() string {
	return fmt.Sprintf("%s: the manifest did not arrive whole within %v (the server sends it too slowly); check the network or the registry", e.URL, e.Deadline)
}

func (t *boundTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	hops, first := redirectHops(req)
	if hops > MaxRedirects {
		if req.Body != nil {
			req.Body.Close()
		}
		return nil, &RedirectError{URL: first.URL.Redacted(), Hops: hops - 1}
	}
	if !isManifestRequest(first) || t.manifestDeadline <= 0 {
		return t.inner.RoundTrip(req)
	}
	u := first.URL.Redacted()
	parent := req.Context()
	ctx, cancel := context.WithTimeout(parent, t.manifestDeadline)
	late := func(err error) error {
		if err != nil && ctx.Err() == context.DeadlineExceeded && parent.Err() == nil {
			return &ManifestDeadlineError{URL: u, Deadline: t.manifestDeadline}
		}
		return err
	}
	resp, err := t.inner.RoundTrip(req.WithContext(ctx))
	if err != nil {
		cancel()
		return nil, late(err)
	}
	resp.Body = &deadlineBody{rc: resp.Body, cancel: cancel, late: late}
	if resp.StatusCode != http.StatusOK {
		return resp, nil
	}
	tooLarge := func(n int64) error {
		return &SizeError{What: "manifest", Where: u, Size: n, Limit: MaxManifestSize, Source: "sends"}
	}
	if resp.ContentLength > MaxManifestSize {
		resp.Body.Close()
		return nil, tooLarge(resp.ContentLength)
	}
	resp.Body = &limitBody{rc: resp.Body, limit: MaxManifestSize, err: tooLarge}
	return resp, nil
}

// deadlineBody ends a manifest request's deadline when the body is closed,
// and names a read cut by it.
type deadlineBody struct {
	rc     io.ReadCloser
	cancel context.CancelFunc
	late   func(error) error
}

func (b *deadlineBody) Read(p []byte) (int, error) {
	n, err := b.rc.Read(p)
	if err != nil && err != io.EOF {
		err = b.late(err)
	}
	return n, err
}

func (b *deadlineBody) Close() error {
	err := b.rc.Close()
	b.cancel()
	return err
}

// remoteOptions translates o into go-containerregistry options.
func (o *options) remoteOptions(ctx context.Context) []ggcr.Option {
	return o.remoteOptionsWith(ctx, o.httpTransport())
}

// remoteOptionsWith is remoteOptions over transport t (from httpTransport).
func (o *options) remoteOptionsWith(ctx context.Context, t http.RoundTripper) []ggcr.Option {
	return []ggcr.Option{
		ggcr.WithContext(ctx),
		ggcr.WithAuthFromKeychain(o.keychain),
		ggcr.WithTransport(t),
		ggcr.WithJobs(o.jobs),
		ggcr.WithUserAgent(o.userAgent),
		ggcr.WithRetryBackoff(o.backoff()),
		ggcr.WithRetryPredicate(o.retryPredicate),
		ggcr.WithRetryStatusCodes(retryStatusCodes...),
	}
}

// backoff is the one schedule of retries, for every request this package
// makes and for the retries of whole operations (retry): o.retryBase, then
// twice as long each time, 10% jitter, at most maxRetryWait a wait; Steps
// counts the first attempt too, as go-containerregistry's retries do.
func (o *options) backoff() ggcr.Backoff {
	return ggcr.Backoff{Duration: o.retryBase, Factor: 2, Jitter: 0.1, Steps: o.retries + 1, Cap: maxRetryWait}
}

const maxRetryWait = 30 * time.Second

// retry runs op until it succeeds, fails with an error that is not
// Transient, or o.retries retries are spent, waiting by o.backoff() in
// between; before each retry it calls retrying (if not nil) with the error.
// It is for operations of several requests that must start over as a whole
// (an upload from its HEAD, a download whose body was cut); single requests
// are retried by the transport with the same schedule.
func (o *options) retry(ctx context.Context, op func() error, retrying func(error)) error {
	b := o.backoff()
	for attempt := 0; ; attempt++ {
		err := op()
		if err == nil || attempt >= o.retries || ctx.Err() != nil || !o.retryPredicate(err) {
			return err
		}
		if retrying != nil {
			retrying(err)
		}
		t := time.NewTimer(min(b.Step(), maxRetryWait))
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return context.Cause(ctx)
		}
	}
}

func (o *options) retryPredicate(err error) bool {
	if !Transient(err) {
		return false
	}
	o.logger.Warn("retrying after a transient error", "err", err)
	return true
}

// Transient reports whether err is worth retrying: a 5xx, 429 or 408 answer,
// a reset or dropped connection, a timeout or a stall. Unknown hosts, refused
// connections, authentication failures and 4xx answers are not transient, nor
// is the caller's own cancellation.
func Transient(err error) bool {
	if err == nil {
		return false
	}
	var stall *StallError
	if errors.As(err, &stall) {
		return true
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return false
	}
	var te *transport.Error
	if errors.As(err, &te) {
		return te.Temporary()
	}
	var dns *net.DNSError
	if errors.As(err, &dns) {
		return dns.IsTemporary || dns.IsTimeout
	}
	if errors.Is(err, syscall.ECONNREFUSED) {
		return false
	}
	if errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) ||
		errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE) ||
		errors.Is(err, net.ErrClosed) {
		return true
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return true
	}
	return false
}

// StallError is returned when a connection moved no bytes for too long.
type StallError struct {
	URL  string
	Idle time.Duration
}

func (e *StallError) Error() string {
	return fmt.Sprintf("%s: connection stalled (no data for %v)", e.URL, e.Idle)
}

// Timeout and Temporary make a stall look like the network timeout it is.
func (e *StallError) Timeout() bool   { return true }
func (e *StallError) Temporary() bool { return true }

// stallTransport cancels a request when neither its body nor its response
// body has moved a byte for idle. Once a request body has been sent whole,
// the server may legitimately think for a while before it answers (a
// registry checks the digest of a blob it has just received, and on object
// storage moves it), so that wait may last afterBodyFactor times longer.
type stallTransport struct {
	inner http.RoundTripper
	idle  time.Duration
}

const afterBodyFactor = 5

type watchdog struct {
	mu     sync.Mutex
	timer  *time.Timer
	fired  bool
	idle   time.Duration
	cancel context.CancelFunc
}

func (w *watchdog) kick() {
	w.mu.Lock()
	if !w.fired {
		w.timer.Reset(w.idle)
	}
	w.mu.Unlock()
}

func (w *watchdog) fire() {
	w.mu.Lock()
	w.fired = true
	w.mu.Unlock()
	w.cancel()
}

// bodySent lengthens the allowed silence while the server works on a body.
func (w *watchdog) bodySent() {
	w.mu.Lock()
	if !w.fired {
		w.idle *= afterBodyFactor
		w.timer.Reset(w.idle)
	}
	w.mu.Unlock()
}

func (w *watchdog) stop() bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.timer.Stop()
	return w.fired
}

func (t *stallTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	ctx, cancel := context.WithCancel(req.Context())
	w := &watchdog{idle: t.idle, cancel: cancel}
	w.mu.Lock()
	w.timer = time.AfterFunc(t.idle, w.fire)
	w.mu.Unlock()
	r := req.Clone(ctx)
	if req.Body != nil && req.Body != http.NoBody {
		r.Body = &kickReader{rc: req.Body, w: w}
	}
	resp, err := t.inner.RoundTrip(r)
	if err != nil {
		fired := w.stop()
		cancel()
		if fired {
			w.mu.Lock()
			idle := w.idle
			w.mu.Unlock()
			return nil, &StallError{URL: req.URL.Redacted(), Idle: idle}
		}
		return nil, err
	}
	w.mu.Lock()
	w.idle = t.idle // the answer streams: back to the short leash
	w.mu.Unlock()
	w.kick()
	resp.Body = &watchedBody{rc: resp.Body, w: w, cancel: cancel, url: req.URL.Redacted()}
	return resp, nil
}

type kickReader struct {
	rc   io.ReadCloser
	w    *watchdog
	done bool
}

func (k *kickReader) Read(p []byte) (int, error) {
	n, err := k.rc.Read(p)
	if n > 0 {
		k.w.kick()
	}
	if err == io.EOF && !k.done {
		k.done = true
		k.w.bodySent()
	}
	return n, err
}

func (k *kickReader) Close() error { return k.rc.Close() }

func (k *kickReader) sendFile() *os.File { return bodyFile(k.rc) }

func (k *kickReader) sent(n int64) {
	k.w.kick()
	bodySent(k.rc, n)
}

type watchedBody struct {
	rc     io.ReadCloser
	w      *watchdog
	cancel context.CancelFunc
	url    string
}

func (b *watchedBody) Read(p []byte) (int, error) {
	n, err := b.rc.Read(p)
	if n > 0 {
		b.w.kick()
	}
	if err != nil && err != io.EOF {
		b.w.mu.Lock()
		fired, idle := b.w.fired, b.w.idle
		b.w.mu.Unlock()
		if fired {
			return n, &StallError{URL: b.url, Idle: idle}
		}
	}
	return n, err
}

func (b *watchedBody) Close() error {
	b.w.stop()
	err := b.rc.Close()
	b.cancel()
	return err
}
