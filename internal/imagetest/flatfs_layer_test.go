package imagetest

import (
	"context"
	"errors"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"

	"github.com/manyarch/manyarch/internal/layer/layertest"
)

// Issue #17 item 5: the flat file system reads layers through
// internal/layer: a zstd frame asking for a huge window is refused, a
// truncated gzip blob is named, a cancel stops the read.
func TestFlatFSHostileLayers(t *testing.T) {
	rc, err := layer(t, file("etc/hello", "hello\n", 0o644)).Uncompressed()
	if err != nil {
		t.Fatal(err)
	}
	raw, err := io.ReadAll(rc)
	rc.Close()
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range layertest.Hostile(t, raw) {
		t.Run(tc.Name, func(t *testing.T) {
			img, err := mutate.AppendLayers(empty.Image, tc.Layer)
			if err != nil {
				t.Fatal(err)
			}
			_, err = newFlatFS(t.Context(), img)
			d, _ := tc.Layer.Digest()
			for _, s := range []string{"layer 1", d.String(), tc.Want} {
				if err == nil || !strings.Contains(err.Error(), s) {
					t.Errorf("newFlatFS = %v, want an error naming %q", err, s)
				}
			}
		})
	}
	t.Run("cancel", func(t *testing.T) {
		img, err := mutate.AppendLayers(empty.Image, layer(t, file("a", "1", 0o644)))
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), time.Nanosecond)
		defer cancel()
		<-ctx.Done()
		if _, err := newFlatFS(ctx, img); !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("newFlatFS after the deadline = %v, want context.DeadlineExceeded", err)
		}
	})
}
