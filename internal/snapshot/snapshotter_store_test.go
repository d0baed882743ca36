//go:build linux

package snapshot_test

import (
	"archive/tar"
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/random"

	"github.com/manyarch/manyarch/internal/layer/layertest"
	"github.com/manyarch/manyarch/internal/snapshot"
	"github.com/manyarch/manyarch/internal/store"
)

// Issue #25 item 9: unpacking a corrupt layer from the store says which
// layer (position, digest) is damaged and which images use it, not only
// what the tar or gzip reader tripped on.
func TestPrepareNamesCorruptStoreLayer(t *testing.T) {
	ctx := t.Context()
	st, err := store.Open(ctx, filepath.Join(t.TempDir(), "store"))
	if err != nil {
		t.Fatal(err)
	}
	img, err := random.Image(64<<10, 3)
	if err != nil {
		t.Fatal(err)
	}
	d, err := st.WriteImage(ctx, img)
	if err != nil {
		t.Fatal(err)
	}
	if err := st.Tag(ctx, "app:1", d); err != nil {
		t.Fatal(err)
	}
	stored, err := st.Image(ctx, d.Digest)
	if err != nil {
		t.Fatal(err)
	}
	layers, err := stored.Layers()
	if err != nil {
		t.Fatal(err)
	}
	bad, _ := layers[1].Digest()
	p := filepath.Join(st.Root(), "blobs", "sha256", bad.Hex)
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	for i := len(b) / 3; i < len(b)/3+64; i++ {
		b[i] ^= 0x5a
	}
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
	snap, err := snapshot.NewSnapshotter(filepath.Join(st.Root(), "snapshots"))
	if err != nil {
		t.Fatal(err)
	}
	defer snap.Close()
	_, err = snap.Prepare(ctx, layers)
	var le *snapshot.LayerError
	var ce *store.CorruptBlobError
	if !errors.As(err, &le) || !errors.As(err, &ce) {
		t.Fatalf("Prepare of a corrupt stored layer = %v, want a *LayerError wrapping a *store.CorruptBlobError", err)
	}
	for _, want := range []string{"layer 2 of 3", bad.String(), "used by app:1", "manyarch check --repair"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("Prepare = %q, want it to name %q", err, want)
		}
	}
	t.Log(err)
}

// Issue #17 item 5: the snapshotter reads layers through internal/layer: a
// zstd frame asking for a huge window is refused, a truncated gzip blob is
// named, and nothing is left unpacked.
func TestPrepareHostileLayers(t *testing.T) {
	raw := tarBytes(t, "etc/hello", "hello\n")
	for _, tc := range layertest.Hostile(t, raw) {
		t.Run(tc.Name, func(t *testing.T) {
			snap, err := snapshot.NewSnapshotter(filepath.Join(t.TempDir(), "snapshots"))
			if err != nil {
				t.Fatal(err)
			}
			defer snap.Close()
			_, err = snap.Prepare(t.Context(), []v1.Layer{tc.Layer})
			d, _ := tc.Layer.Digest()
			var le *snapshot.LayerError
			if !errors.As(err, &le) {
				t.Fatalf("Prepare = %v, want a *LayerError", err)
			}
			for _, s := range []string{"layer 1 of 1", d.String(), tc.Want} {
				if !strings.Contains(err.Error(), s) {
					t.Errorf("Prepare = %q, want it to name %q", err, s)
				}
			}
			diffID, _ := tc.Layer.DiffID()
			if _, err := os.Stat(snap.Dir(diffID)); !os.IsNotExist(err) {
				t.Errorf("the refused layer's directory exists (stat: %v)", err)
			}
		})
	}
	// Normalize (user rootfs tarballs) uses the same zstd limit.
	err := snapshot.Normalize(t.Context(), bytes.NewReader(layertest.HugeWindowZstd(raw)), io.Discard, snapshot.TarOptions{Name: "rootfs.tar.zst"})
	if err == nil || !strings.Contains(err.Error(), "window") {
		t.Errorf("Normalize of a zstd stream with a 256 MiB window = %v, want the window refused", err)
	}
}

func tarBytes(t *testing.T, name, body string) []byte {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	if err := tw.WriteHeader(&tar.Header{Name: name, Mode: 0o644, Size: int64(len(body)), Typeflag: tar.TypeReg}); err != nil {
		t.Fatal(err)
	}
	if _, err := io.WriteString(tw, body); err != nil {
		t.Fatal(err)
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}
