package ref

import (
	"bytes"
	"context"
	"io"
	"os"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/random"

	"github.com/manyarch/manyarch/internal/store"
)

// TestLayoutFiles: a wrapped image's layers are read from the layout's blob
// files as they are (the registry checks them), and from the image itself
// when the layout lacks the file.
func TestLayoutFiles(t *testing.T) {
	ctx := context.Background()
	st, err := store.Open(ctx, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	img, err := random.Image(64, 2)
	if err != nil {
		t.Fatal(err)
	}
	d, err := st.WriteImage(ctx, img)
	if err != nil {
		t.Fatal(err)
	}
	stored, err := st.Image(ctx, d.Digest)
	if err != nil {
		t.Fatal(err)
	}
	ls, err := LayoutFiles(stored, st.Layout()).(v1.Image).Layers()
	if err != nil {
		t.Fatal(err)
	}
	h0, _ := ls[0].Digest()
	n0, _ := ls[0].Size()
	marker := bytes.Repeat([]byte{'x'}, int(n0))
	if err := os.Chmod(st.Layout().Blob(h0), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(st.Layout().Blob(h0), marker, 0o644); err != nil {
		t.Fatal(err)
	}
	rc, err := ls[0].Compressed()
	if err != nil {
		t.Fatal(err)
	}
	got, err := io.ReadAll(rc)
	rc.Close()
	if err != nil || !bytes.Equal(got, marker) {
		t.Errorf("layer 1 read %d bytes (%v), want the layout's file as it is", len(got), err)
	}

	// A layout without the blob: the image's own (verified) reader.
	other := store.NewLayout(t.TempDir())
	ls, err = LayoutFiles(img, other).(v1.Image).Layers()
	if err != nil {
		t.Fatal(err)
	}
	orig, _ := img.Layers()
	want, _ := orig[1].Compressed()
	wb, _ := io.ReadAll(want)
	rc, err = ls[1].Compressed()
	if err != nil {
		t.Fatal(err)
	}
	got, _ = io.ReadAll(rc)
	rc.Close()
	if !bytes.Equal(got, wb) {
		t.Errorf("layer 2 without a layout file read %d bytes, want the image's %d", len(got), len(wb))
	}
	if LayoutFiles(img) != img {
		t.Errorf("LayoutFiles(img) with no layout wrapped it")
	}
}
