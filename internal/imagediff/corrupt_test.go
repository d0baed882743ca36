package imagediff

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/random"

	"github.com/manyarch/manyarch/internal/layer/layertest"
	"github.com/manyarch/manyarch/internal/store"
)

// Issue #25 item 9: diff on a corrupt stored layer says which layer of which
// image, and that the blob is damaged, not only "invalid tar header".
func TestCompareNamesCorruptLayer(t *testing.T) {
	ctx := t.Context()
	st, err := store.Open(ctx, filepath.Join(t.TempDir(), "store"))
	if err != nil {
		t.Fatal(err)
	}
	var digests [2]string
	for i, name := range []string{"a:1", "b:1"} {
		img, err := random.Image(32<<10, 2)
		if err != nil {
			t.Fatal(err)
		}
		d, err := st.WriteImage(ctx, img)
		if err != nil {
			t.Fatal(err)
		}
		if err := st.Tag(ctx, name, d); err != nil {
			t.Fatal(err)
		}
		digests[i] = d.Digest.String()
	}
	rd, _ := st.Resolve(ctx, "a:1")
	ra, _ := st.Image(ctx, rd.Digest)
	rd, _ = st.Resolve(ctx, "b:1")
	rb, _ := st.Image(ctx, rd.Digest)
	ls, _ := ra.Layers()
	bad, _ := ls[0].Digest()
	p := filepath.Join(st.Root(), "blobs", "sha256", bad.Hex)
	b, _ := os.ReadFile(p)
	for i := len(b) / 2; i < len(b)/2+32; i++ {
		b[i] ^= 0x5a
	}
	os.WriteFile(p, b, 0o644)

	_, err = Compare(ctx, ra, rb)
	var ce *store.CorruptBlobError
	if !errors.As(err, &ce) {
		t.Fatalf("Compare with a corrupt layer = %v, want a *store.CorruptBlobError", err)
	}
	for _, want := range []string{"layer 1 of the first image (" + bad.String() + ")", "used by a:1", "manyarch check --repair"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("Compare = %q, want it to name %q", err, want)
		}
	}
	t.Log(err)
}

// Issue #17 item 5: layers read through internal/layer: a zstd frame asking
// for a huge window is refused, and a truncated gzip blob is named.
func TestCompareHostileLayers(t *testing.T) {
	raw := tarOf(t, append(baseFiles(), reg("extra", "x"))) // another diff ID: compared by content
	for _, tc := range layertest.Hostile(t, raw) {
		t.Run(tc.Name, func(t *testing.T) {
			a := imageOf(t, "linux/amd64", v1.Config{}, layerOf(t, baseFiles()...))
			b := imageOf(t, "linux/amd64", v1.Config{}, tc.Layer)
			_, err := Compare(t.Context(), a, b)
			d, _ := tc.Layer.Digest()
			for _, s := range []string{"layer 1 of the second image", d.String(), tc.Want} {
				if err == nil || !strings.Contains(err.Error(), s) {
					t.Errorf("Compare = %v, want an error naming %q", err, s)
				}
			}
		})
	}
}
