package engine

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"strings"
	"time"

	"github.com/manyarch/manyarch/internal/cgroup"
)

// Limits of ADD <url> downloads (Request.DownloadMaxSize and
// Request.DownloadTimeout change them).
const (
	// DefaultDownloadMaxSize bounds the bytes of one download.
	DefaultDownloadMaxSize = 1 << 30
	// DefaultDownloadTimeout is how long a download waits for the server
	// (to connect, to answer, or for the next bytes of the body).
	DefaultDownloadTimeout = 60 * time.Second
	// maxRedirects is the redirects one download follows (as Go's client
	// and curl's default of 50 would allow; BuildKit follows Go's 10).
	maxRedirects = 10
)

// errStalled is the cause of a download's cancellation when the server
// sent nothing for the timeout.
var errStalled = errors.New("the server stalled")

func (x *executor) downloadLimits() (maxSize int64, timeout time.Duration) {
	maxSize, timeout = DefaultDownloadMaxSize, DefaultDownloadTimeout
	if x.req != nil {
		if x.req.DownloadMaxSize != 0 {
			maxSize = x.req.DownloadMaxSize
		}
		if x.req.DownloadTimeout > 0 {
			timeout = x.req.DownloadTimeout
		}
	}
	return maxSize, timeout
}

// idleReader resets the stall timer on every read that returns bytes.
type idleReader struct {
	r     io.Reader
	timer *time.Timer
	idle  time.Duration
}

func (r *idleReader) Read(p []byte) (int, error) {
	n, err := r.r.Read(p)
	if n > 0 {
		r.timer.Reset(r.idle)
	}
	return n, err
}

// download fetches an ADD URL into tmp, checking --checksum. It fails when
// the server sends nothing for the timeout (connecting, before the
// headers, or in the body), when the body exceeds the size limit, after
// maxRedirects redirects, and on a non-2xx answer; every error names the
// URL and what to do.
func (x *executor) download(ctx context.Context, u, checksum, tmp string) (copySource, error) {
	maxSize, idle := x.downloadLimits()
	pu, err := url.Parse(u)
	if err != nil {
		return copySource{}, fmt.Errorf("ADD %s: the URL does not parse: %w", u, err)
	}
	name, err := downloadName(pu)
	if err != nil {
		return copySource{}, fmt.Errorf("ADD %s: %w", u, err)
	}

	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	timer := time.AfterFunc(idle, func() { cancel(errStalled) })
	defer timer.Stop()

	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.DialContext = (&net.Dialer{Timeout: idle, KeepAlive: 30 * time.Second}).DialContext
	tr.TLSHandshakeTimeout = idle
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr, CheckRedirect: checkRedirect}

	fail := func(err error) error {
		var ne net.Error
		if errors.Is(context.Cause(ctx), errStalled) || (errors.As(err, &ne) && ne.Timeout()) {
			return fmt.Errorf("ADD %s: the server sent nothing for %s: check that the URL is right and the server is up, or give it longer with --add-timeout", u, idle)
		}
		var ue *url.Error
		if errors.As(err, &ue) && ue.Err != nil {
			err = ue.Err
		}
		return fmt.Errorf("ADD %s: %w", u, err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return copySource{}, fmt.Errorf("ADD %s: %w", u, err)
	}
	resp, err := client.Do(req)
	if err != nil {
		return copySource{}, fail(err)
	}
	defer resp.Body.Close()
	timer.Reset(idle)
	if resp.StatusCode/100 != 2 {
		at := ""
		if final := resp.Request.URL.String(); final != u {
			at = " (redirected to " + final + ")"
		}
		hint := "check the URL"
		if resp.StatusCode/100 == 5 {
			hint = "the server failed; try again later, or use another source"
		}
		return copySource{}, fmt.Errorf("ADD %s: the server answered %s%s: %s", u, resp.Status, at, hint)
	}
	tooLarge := func() error {
		return fmt.Errorf("ADD %s: the download is larger than the limit of %s: raise it with --add-max-size (e.g. --add-max-size %s), or unlimited", u, cgroup.FormatSize(maxSize), cgroup.FormatSize(4*maxSize))
	}
	if maxSize > 0 && resp.ContentLength > maxSize {
		return copySource{}, tooLarge()
	}

	dir, err := os.MkdirTemp(tmp, "url-")
	if err != nil {
		return copySource{}, err
	}
	p := filepath.Join(dir, name)
	f, err := os.OpenFile(p, os.O_CREATE|os.O_WRONLY|os.O_EXCL, 0o600)
	if err != nil {
		return copySource{}, err
	}
	var body io.Reader = &idleReader{r: resp.Body, timer: timer, idle: idle}
	if maxSize > 0 {
		body = io.LimitReader(body, maxSize+1)
	}
	h := sha256.New()
	n, err := io.Copy(io.MultiWriter(f, h), body)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return copySource{}, fail(err)
	}
	if maxSize > 0 && n > maxSize {
		return copySource{}, tooLarge()
	}
	if checksum != "" {
		alg, want, ok := strings.Cut(checksum, ":")
		if !ok || alg != "sha256" {
			return copySource{}, fmt.Errorf("ADD --checksum=%s: want sha256:HEX", checksum)
		}
		if got := hex.EncodeToString(h.Sum(nil)); got != want {
			return copySource{}, fmt.Errorf("ADD %s: checksum mismatch: --checksum says sha256:%s, the download is sha256:%s", u, want, got)
		}
	}
	x.recordDownload(u, hex.EncodeToString(h.Sum(nil)))
	mt := time.Unix(0, 0)
	if lm := resp.Header.Get("Last-Modified"); lm != "" {
		if t, err := http.ParseTime(lm); err == nil {
			mt = t
		}
	}
	if err := os.Chtimes(p, mt, mt); err != nil {
		return copySource{}, err
	}
	return copySource{host: p, name: name, rel: name, resetOwner: true, url: true, modTime: mt}, nil
}

// checkRedirect follows up to maxRedirects redirects to http(s) URLs.
func checkRedirect(req *http.Request, via []*http.Request) error {
	if len(via) >= maxRedirects {
		return fmt.Errorf("stopped after %d redirects, the last to %s: the server redirects in a loop or too often; give ADD the final URL", len(via), req.URL)
	}
	if s := req.URL.Scheme; s != "http" && s != "https" {
		return fmt.Errorf("redirected to %s: ADD follows only http and https redirects", req.URL)
	}
	return nil
}

// downloadName is the file name of a download, as BuildKit derives it:
// the last element of the URL's path ("/a/../b" is b), index.html when
// there is none ("/", "/..", "").
func downloadName(u *url.URL) (string, error) {
	name := path.Base(path.Clean("/" + u.Path))
	if name == "/" || name == "." || name == ".." {
		name = "index.html"
	}
	if strings.ContainsRune(name, 0) || len(name) > 255 {
		return "", fmt.Errorf("the URL path %q does not give a usable file name: ADD it to a destination file name instead of a directory", u.Path)
	}
	return name, nil
}
