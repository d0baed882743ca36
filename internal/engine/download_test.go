//go:build unix

package engine

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/manyarch/manyarch/internal/dockerfile"
)

// evilServer is a loopback HTTP server whose handlers can stall; the
// stalls end when the test does.
func evilServer(t *testing.T) (*httptest.Server, *http.ServeMux, <-chan struct{}) {
	t.Helper()
	mux := http.NewServeMux()
	srv := httptest.NewServer(mux) // 127.0.0.1
	release := make(chan struct{})
	t.Cleanup(srv.Close)
	t.Cleanup(func() { close(release) }) // runs first: unblocks the handlers
	return srv, mux, release
}

// stall blocks a handler until the client goes, the test ends, or 10s.
func stall(r *http.Request, release <-chan struct{}) {
	select {
	case <-r.Context().Done():
	case <-release:
	case <-time.After(10 * time.Second):
	}
}

// TestDownloadEvilServer: every way a server can misbehave ends an ADD
// <url> quickly with an error naming the URL and what to do (issue #25).
func TestDownloadEvilServer(t *testing.T) { // long: one table of hostile servers, one case a few lines
	srv, mux, release := evilServer(t)
	mux.HandleFunc("/ok/file.txt", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Last-Modified", "Tue, 01 Jun 2021 10:00:00 GMT")
		fmt.Fprint(w, "hello\n")
	})
	mux.HandleFunc("/no-headers", func(w http.ResponseWriter, r *http.Request) {
		stall(r, release)
	})
	mux.HandleFunc("/after-headers", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", "100")
		w.WriteHeader(http.StatusOK)
		w.(http.Flusher).Flush()
		stall(r, release)
	})
	mux.HandleFunc("/mid-body", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", "100000")
		w.Write(make([]byte, 10000))
		w.(http.Flusher).Flush()
		stall(r, release)
	})
	mux.HandleFunc("/slow-but-steady", func(w http.ResponseWriter, r *http.Request) {
		// a byte every 100ms for 600ms: longer than the timeout in all,
		// never idle for it
		for range 6 {
			w.Write([]byte("x"))
			w.(http.Flusher).Flush()
			time.Sleep(100 * time.Millisecond)
		}
	})
	mux.HandleFunc("/endless", func(w http.ResponseWriter, r *http.Request) {
		buf := make([]byte, 64<<10)
		for range 1024 { // 64 MiB at most
			if _, err := w.Write(buf); err != nil {
				return
			}
		}
	})
	mux.HandleFunc("/announced-large", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", fmt.Sprint(8<<20))
		w.WriteHeader(http.StatusOK)
		w.(http.Flusher).Flush()
		stall(r, release)
	})
	mux.HandleFunc("/loop/a", func(w http.ResponseWriter, r *http.Request) { http.Redirect(w, r, "/loop/b", http.StatusFound) })
	mux.HandleFunc("/loop/b", func(w http.ResponseWriter, r *http.Request) { http.Redirect(w, r, "/loop/a", http.StatusFound) })
	mux.HandleFunc("/to-ftp", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "ftp://127.0.0.1/x", http.StatusFound)
	})
	mux.HandleFunc("/fail", func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "down", http.StatusServiceUnavailable)
	})
	mux.HandleFunc("/moved", func(w http.ResponseWriter, r *http.Request) { http.Redirect(w, r, "/gone", http.StatusFound) })
	mux.HandleFunc("/gone", func(w http.ResponseWriter, r *http.Request) { http.NotFound(w, r) })

	x := &executor{req: &Request{DownloadMaxSize: 1 << 20, DownloadTimeout: 300 * time.Millisecond}}
	for _, tc := range []struct {
		path string
		want []string // in the error; none: it succeeds
	}{
		{"/ok/file.txt", nil},
		{"/slow-but-steady", nil},
		{"/no-headers", []string{"the server sent nothing for 300ms", "--add-timeout"}},
		{"/after-headers", []string{"the server sent nothing for 300ms"}},
		{"/mid-body", []string{"the server sent nothing for 300ms"}},
		{"/endless", []string{"larger than the limit of 1MiB", "--add-max-size"}},
		{"/announced-large", []string{"larger than the limit of 1MiB", "--add-max-size"}},
		{"/loop/a", []string{"stopped after 10 redirects", "/loop/", "final URL"}},
		{"/to-ftp", []string{"redirected to ftp://127.0.0.1/x", "only http and https"}},
		{"/fail", []string{"503 Service Unavailable", "the server failed"}},
		{"/moved", []string{"404 Not Found", "redirected to " + srv.URL + "/gone"}},
	} {
		t.Run(strings.Trim(tc.path, "/"), func(t *testing.T) {
			u := srv.URL + tc.path
			// The bound of the old code's endless wait: a test that hangs
			// fails here instead.
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			start := time.Now()
			src, err := x.download(ctx, u, "", t.TempDir())
			if took := time.Since(start); took > 3*time.Second {
				t.Errorf("download(%s) took %s, want it to end within the timeout", u, took)
			}
			if tc.want == nil {
				if err != nil {
					t.Fatalf("download(%s) = %v, want success", u, err)
				}
				if _, err := os.Stat(src.host); err != nil {
					t.Errorf("download(%s): %v", u, err)
				}
				return
			}
			if err == nil {
				t.Fatalf("download(%s) succeeded, want an error containing %q", u, tc.want)
			}
			for _, w := range append([]string{"ADD " + u}, tc.want...) {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("download(%s) = %q, want it to contain %q", u, err, w)
				}
			}
		})
	}

	t.Run("ok content", func(t *testing.T) {
		src, err := x.download(context.Background(), srv.URL+"/ok/file.txt", "", t.TempDir())
		if err != nil {
			t.Fatal(err)
		}
		b, _ := os.ReadFile(src.host)
		if string(b) != "hello\n" || src.name != "file.txt" || !src.modTime.Equal(time.Date(2021, 6, 1, 10, 0, 0, 0, time.UTC)) {
			t.Errorf("download = %q named %q at %v, want \"hello\\n\" named file.txt at 2021-06-01 10:00", b, src.name, src.modTime)
		}
	})
	t.Run("unlimited", func(t *testing.T) {
		x := &executor{req: &Request{DownloadMaxSize: -1, DownloadTimeout: 300 * time.Millisecond}}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		src, err := x.download(ctx, srv.URL+"/endless", "", t.TempDir())
		if err != nil {
			t.Fatalf("download with no limit = %v, want the 64 MiB", err)
		}
		if fi, err := os.Stat(src.host); err != nil || fi.Size() != 64<<20 {
			t.Errorf("download with no limit wrote %v (%v), want 64 MiB", fi.Size(), err)
		}
	})
}

// TestDownloadName: the file name of an ADD <url>, and a clear error for
// a path that names no file.
func TestDownloadName(t *testing.T) {
	for _, tc := range []struct {
		url, want string
		err       bool
	}{
		{"http://h/a/b.tar.gz?x=1", "b.tar.gz", false},
		{"http://h/", "index.html", false},
		{"http://h", "index.html", false},
		{"http://h/..", "index.html", false},
		{"http://h/../..", "index.html", false},
		{"http://h/a/../b", "b", false},
		{"http://h/a/..", "index.html", false},
		{"http://h/dir/", "dir", false},
		{"http://h/a%00b", "", true},
	} {
		u, err := url.Parse(tc.url)
		if err != nil {
			t.Fatal(err)
		}
		got, err := downloadName(u)
		if (err != nil) != tc.err || got != tc.want {
			t.Errorf("downloadName(%q) = %q, %v; want %q (error %t)", tc.url, got, err, tc.want, tc.err)
		}
	}
}

// TestBuildAddURLStalls: a stalled ADD fails the build with the
// Dockerfile line and the URL.
func TestBuildAddURLStalls(t *testing.T) {
	srv, mux, release := evilServer(t)
	mux.HandleFunc("/stall", func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusOK)
		w.(http.Flusher).Flush()
		stall(r, release)
	})
	env := e2eEnv(t)
	dir := t.TempDir()
	df := "FROM fixtures/busybox:1.35\nADD " + srv.URL + "/stall /x\n"
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	req := &Request{Dockerfile: []byte(df), DockerfileName: filepath.Join(dir, "Dockerfile"), ContextDir: dir,
		Platforms: parsePlatforms(t, "linux/amd64"), DownloadTimeout: 300 * time.Millisecond}
	_, err := NewNative(NativeOptions{Env: env}).Build(ctx, req)
	var de *dockerfile.Error
	if err == nil || !errors.As(err, &de) || de.Location.Line != 2 {
		t.Fatalf("Build = %v, want a *dockerfile.Error at line 2", err)
	}
	for _, w := range []string{"Dockerfile:2", "ADD " + srv.URL + "/stall", "sent nothing for 300ms"} {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("Build = %q, want it to contain %q", err, w)
		}
	}
}
