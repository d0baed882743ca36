package remote_test

import (
	"context"
	"errors"
	"io"
	"runtime"
	"strings"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/manyarch/manyarch/internal/image"
	"github.com/manyarch/manyarch/internal/remote"
	"github.com/manyarch/manyarch/internal/testutil"
)

// fetchAll reads everything a pulls: every manifest, config and layer.
func fetchAll(a image.Artifact) error {
	switch a := a.(type) {
	case v1.Image:
		if _, err := a.RawConfigFile(); err != nil {
			return err
		}
		ls, err := a.Layers()
		if err != nil {
			return err
		}
		for _, l := range ls {
			rc, err := l.Compressed()
			if err != nil {
				return err
			}
			_, err = io.Copy(io.Discard, rc)
			rc.Close()
			if err != nil {
				return err
			}
		}
	case v1.ImageIndex:
		im, err := a.IndexManifest()
		if err != nil {
			return err
		}
		for _, d := range im.Manifests {
			img, err := a.Image(d.Digest)
			if err != nil {
				return err
			}
			if err := fetchAll(img); err != nil {
				return err
			}
		}
	}
	return nil
}

// peakHeapDuring samples the heap while fn runs.
func peakHeapDuring(fn func()) uint64 {
	done := make(chan struct{})
	peak := make(chan uint64)
	go func() {
		var max uint64
		var ms runtime.MemStats
		for {
			runtime.ReadMemStats(&ms)
			if ms.HeapAlloc > max {
				max = ms.HeapAlloc
			}
			select {
			case <-done:
				peak <- max
				return
			case <-time.After(5 * time.Millisecond):
			}
		}
	}()
	fn()
	close(done)
	return <-peak
}

// Issue #25 items 6 and 7, and the evil registry cases: each attack ends
// quickly with an error that names it, reading no more than the bounds allow.
func TestEvilRegistry(t *testing.T) {
	img := testutil.PlatformImage(t, "linux/arm64", 2, 64<<10)
	fast := []remote.Option{anonymous, remote.WithRetry(2, 10*time.Millisecond), remote.WithStallTimeout(300 * time.Millisecond)}
	tests := []struct {
		attack  testutil.Attack
		name    string
		is      error
		want    []string
		maxReqs int64
		noBlobs bool
	}{
		{testutil.AttackNone, "none", nil, nil, 20, false},
		// Before the fix: one request per redirect, without end.
		{testutil.AttackRedirectLoop, "redirect loop", remote.ErrTooManyRedirects, []string{"stopped after 10 redirects", "/v2/evil/img/manifests/latest"}, 2 * (remote.MaxRedirects + 2), true},
		// Before the fix: read whole (go-containerregistry allows 100 MiB).
		{testutil.AttackHugeManifest, "huge manifest", remote.ErrTooLarge, []string{"manifest", "52428800 bytes (50.0 MiB)", "over the 4.0 MiB limit"}, 4, true},
		{testutil.AttackHugeManifestChunked, "huge manifest without length", remote.ErrTooLarge, []string{"manifest", "over the 4.0 MiB limit"}, 4, true},
		// Before the fix: the process grew towards 10 GiB.
		{testutil.AttackHugeConfig, "huge declared config", remote.ErrTooLarge, []string{"config sha256:", "declares 10737418240 bytes (10.0 GiB)", "32.0 MiB limit"}, 4, true},
		{testutil.AttackStallHeaders, "manifest stalls", nil, []string{"stalled"}, 8, true},
		{testutil.AttackStallBody, "blob stalls", nil, []string{"stalled"}, 20, false},
		{testutil.AttackReset, "blob connection reset", nil, []string{"connection reset"}, 20, false},
		{testutil.Attack5xx, "503", nil, []string{"UNAVAILABLE", "after 2 retries"}, 8, true},
		// Never silent for the stall timeout, but a manifest must arrive whole
		// within two of them.
		{testutil.AttackManifestTrickle, "manifest trickles", nil, []string{"did not arrive whole within 600ms"}, 4, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			reg := testutil.StartEvilRegistry(t, img, tt.attack)
			ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
			defer cancel()
			start := time.Now()
			var err error
			peak := peakHeapDuring(func() {
				var a image.Artifact
				a, _, err = remote.Read(ctx, reg.Ref(), fast...)
				if err == nil {
					err = fetchAll(a)
				}
			})
			took := time.Since(start)
			if tt.attack == testutil.AttackNone {
				if err != nil {
					t.Fatalf("Read from a well-behaved server = %v", err)
				}
				return
			}
			if err == nil {
				t.Fatalf("Read = nil error, want one (attack %s)", tt.name)
			}
			if ctx.Err() != nil || took > 10*time.Second {
				t.Errorf("Read took %v (context %v), want a quick end", took, ctx.Err())
			}
			if tt.is != nil && !errors.Is(err, tt.is) {
				t.Errorf("Read = %v, want errors.Is %v", err, tt.is)
			}
			for _, s := range tt.want {
				if !strings.Contains(err.Error(), s) {
					t.Errorf("Read = %q, want it to name %q", err, s)
				}
			}
			if n := reg.Requests(); n > tt.maxReqs {
				t.Errorf("the server had %d requests, want at most %d", n, tt.maxReqs)
			}
			if n := reg.BlobRequests(); tt.noBlobs && n > 0 {
				t.Errorf("%d blob requests, want none (refused before fetching)", n)
			}
			if peak > 64<<20 {
				t.Errorf("heap peaked at %d MiB, want the bounds to hold it low", peak>>20)
			}
			t.Logf("%s: %v after %v, %d requests, heap peak %d MiB", tt.name, err, took.Round(time.Millisecond), reg.Requests(), peak>>20)
		})
	}
}

// A blob longer than its descriptor declares is never read past that size.
func TestBlobLongerThanDeclared(t *testing.T) {
	img := testutil.PlatformImage(t, "linux/arm64", 1, 64<<10)
	reg := testutil.StartEvilRegistry(t, img, testutil.AttackLongBlob)
	ls, err := img.Layers()
	if err != nil {
		t.Fatal(err)
	}
	h, _ := ls[0].Digest()
	size, _ := ls[0].Size()
	blobs, err := remote.OpenBlobs(t.Context(), reg.Ref(), anonymous, remote.WithRetry(0, 0))
	if err != nil {
		t.Fatal(err)
	}
	rc, err := blobs.OpenSized(t.Context(), h, size)
	if err != nil {
		t.Fatal(err)
	}
	n, err := io.Copy(io.Discard, rc)
	rc.Close()
	if !errors.Is(err, remote.ErrTooLarge) || n > size+1 {
		t.Errorf("reading a blob that goes on = %d bytes, %v; want at most %d and ErrTooLarge", n, err, size+1)
	}
	if _, err := blobs.OpenSized(t.Context(), h, 100<<30); !errors.Is(err, remote.ErrTooLarge) || !strings.Contains(err.Error(), "declares 107374182400 bytes") {
		t.Errorf("OpenSized(100 GiB) = %v, want ErrTooLarge naming the size", err)
	}
	// -1 is "unknown"; any other negative size is a descriptor's lie.
	before := reg.BlobRequests()
	var se *remote.SizeError
	if _, err := blobs.OpenSized(t.Context(), h, -2); !errors.As(err, &se) || !strings.Contains(err.Error(), "negative size (-2)") {
		t.Errorf("OpenSized(-2) = %v, want a *SizeError naming the negative size", err)
	}
	if n := reg.BlobRequests(); n != before {
		t.Errorf("OpenSized(-2) sent %d blob requests, want none", n-before)
	}
	// Through a v1.Layer (go-containerregistry's verified reader) too: it
	// stops at the declared size, where the content is whole and verifies.
	a, _, err := remote.Read(t.Context(), reg.Ref(), anonymous, remote.WithRetry(0, 0))
	if err != nil {
		t.Fatal(err)
	}
	if err := fetchAll(a); err != nil {
		t.Errorf("fetching an image whose layers go on past their size = %v, want the declared bytes, verified", err)
	}
	if reg.Sent() > 8<<20 {
		t.Errorf("the server got %d bytes out, want the client to stop reading", reg.Sent())
	}
}

// The stall watchdog cuts silence, not slowness: a blob that trickles in for
// several times the stall timeout, never silent for long, arrives whole.
func TestSlowDownloadNotCut(t *testing.T) {
	img := testutil.PlatformImage(t, "linux/arm64", 1, 6<<10)
	reg := testutil.StartEvilRegistry(t, img, testutil.AttackTrickle)
	start := time.Now()
	a, _, err := remote.Read(t.Context(), reg.Ref(), anonymous, remote.WithRetry(0, 0), remote.WithStallTimeout(300*time.Millisecond))
	if err == nil {
		err = fetchAll(a)
	}
	if err != nil {
		t.Fatalf("a download slower than the stall timeout but never silent = %v, want it whole", err)
	}
	if took := time.Since(start); took < 500*time.Millisecond {
		t.Errorf("the trickle took %v, want it longer than the 300ms stall timeout for the test to mean anything", took)
	}
}
