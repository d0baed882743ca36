//go:build linux

package snapshot_test

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/v1/random"

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
