package remote_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/manyarch/manyarch/internal/remote"
)

// Blobs.Retry restarts a whole operation with the schedule every request
// uses (the one uploads use too): transient failures are retried, up to
// WithRetry's count, reported before each retry; others end it at once.
func TestBlobsRetry(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {})) // /v2/: no auth
	t.Cleanup(srv.Close)
	ref := strings.TrimPrefix(srv.URL, "http://") + "/repo:1"
	blobs, err := remote.OpenBlobs(t.Context(), ref, anonymous, remote.WithRetry(3, time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	notFound := errors.New("no such blob")
	for _, tt := range []struct {
		name      string
		errs      []error // op's results, in turn; then nil
		wantCalls int
		want      error
	}{
		{"success", nil, 1, nil},
		{"cut twice", []error{io.ErrUnexpectedEOF, syscall.ECONNRESET}, 3, nil},
		{"not transient", []error{notFound}, 1, notFound},
		{"retries spent", []error{io.ErrUnexpectedEOF, io.ErrUnexpectedEOF, io.ErrUnexpectedEOF, io.ErrUnexpectedEOF, io.ErrUnexpectedEOF}, 4, io.ErrUnexpectedEOF},
	} {
		t.Run(tt.name, func(t *testing.T) {
			calls, reported := 0, 0
			err := blobs.Retry(t.Context(), func() error {
				calls++
				if calls <= len(tt.errs) {
					return tt.errs[calls-1]
				}
				return nil
			}, func(error) { reported++ })
			if !errors.Is(err, tt.want) || (tt.want == nil && err != nil) {
				t.Errorf("Retry = %v, want %v", err, tt.want)
			}
			if calls != tt.wantCalls || reported != calls-1 {
				t.Errorf("Retry made %d calls and reported %d retries, want %d and %d", calls, reported, tt.wantCalls, tt.wantCalls-1)
			}
		})
	}

	// Cancelling during the wait ends it with the cause, without another call.
	slow, err := remote.OpenBlobs(t.Context(), ref, anonymous, remote.WithRetry(3, time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	calls := 0
	done := make(chan error, 1)
	go func() {
		done <- slow.Retry(ctx, func() error { calls++; return io.ErrUnexpectedEOF }, func(error) { cancel() })
	}()
	select {
	case err := <-done:
		if !errors.Is(err, context.Canceled) || calls != 1 {
			t.Errorf("Retry cancelled in its wait = %v after %d calls, want context.Canceled after 1", err, calls)
		}
	case <-time.After(time.Minute):
		t.Fatal("Retry did not end when its context was cancelled")
	}
}
