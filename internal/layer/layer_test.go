package layer_test

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"io"
	"strings"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"github.com/klauspost/compress/zstd"

	"github.com/manyarch/manyarch/internal/layer"
	"github.com/manyarch/manyarch/internal/layer/layertest"
)

func tarOf(t *testing.T, files map[string]string) []byte {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for name, body := range files {
		if err := tw.WriteHeader(&tar.Header{Name: name, Mode: 0o644, Size: int64(len(body)), Typeflag: tar.TypeReg}); err != nil {
			t.Fatal(err)
		}
		if _, err := io.WriteString(tw, body); err != nil {
			t.Fatal(err)
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func zst(t *testing.T, b []byte) []byte {
	t.Helper()
	zw, err := zstd.NewWriter(nil)
	if err != nil {
		t.Fatal(err)
	}
	return zw.EncodeAll(b, nil)
}

func readAll(ctx context.Context, l v1.Layer, opts ...layer.Option) ([]byte, layer.Compression, error) {
	r, err := layer.Open(ctx, l, opts...)
	if err != nil {
		return nil, "", err
	}
	defer r.Close()
	b, err := io.ReadAll(r)
	return b, r.Compression(), err
}

func TestOpen(t *testing.T) {
	raw := tarOf(t, map[string]string{"etc/hello": "hello\n"})
	for _, tc := range []struct {
		name string
		blob []byte
		mt   types.MediaType
		want layer.Compression
	}{
		{"gzip", layertest.Gzip(t, raw), types.OCILayer, layer.Gzip},
		{"zstd", zst(t, raw), types.OCILayerZStd, layer.Zstd},
		{"zstd under a gzip media type", zst(t, raw), types.DockerLayer, layer.Zstd},
		{"plain tar under a gzip media type", raw, types.DockerLayer, layer.Uncompressed},
		{"uncompressed media type", raw, types.OCIUncompressedLayer, layer.Uncompressed},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var blob bytes.Buffer
			got, c, err := readAll(context.Background(), layertest.NewLayer(tc.blob, raw, tc.mt), layer.WithBlobWriter(&blob))
			if err != nil {
				t.Fatalf("reading: %v", err)
			}
			if !bytes.Equal(got, raw) {
				t.Errorf("uncompressed stream differs from the tar (%d bytes, want %d)", len(got), len(raw))
			}
			if c != tc.want {
				t.Errorf("Compression() = %q, want %q", c, tc.want)
			}
			if !bytes.Equal(blob.Bytes(), tc.blob) {
				t.Errorf("blob writer got %d bytes, want the whole blob (%d)", blob.Len(), len(tc.blob))
			}
		})
	}
}

func TestHugeZstdWindowRefused(t *testing.T) {
	raw := tarOf(t, map[string]string{"a": "a"})
	l := layertest.NewLayer(layertest.HugeWindowZstd(raw), raw, types.OCILayerZStd)
	_, _, err := readAll(context.Background(), l)
	if !errors.Is(err, zstd.ErrWindowSizeExceeded) {
		t.Fatalf("reading a zstd layer with a 256 MiB window = %v, want ErrWindowSizeExceeded", err)
	}
	d, _ := l.Digest()
	for _, s := range []string{d.String(), "128 MiB", "recompress"} {
		if !strings.Contains(err.Error(), s) {
			t.Errorf("error %q does not say %q", err, s)
		}
	}
	rc, _, err := layer.Decompress(bytes.NewReader(l.Blob))
	if err == nil {
		_, err = io.ReadAll(rc)
		rc.Close()
	}
	if !errors.Is(err, zstd.ErrWindowSizeExceeded) {
		t.Errorf("Decompress of the same frame = %v, want ErrWindowSizeExceeded", err)
	}
}

func TestTruncatedGzipNamesLayer(t *testing.T) {
	raw := tarOf(t, map[string]string{"big": strings.Repeat("x", 1<<20)})
	full := layertest.Gzip(t, raw)
	l := layertest.NewLayer(full[:len(full)/2], raw, types.OCILayer)
	_, _, err := readAll(context.Background(), l)
	var le *layer.Error
	if !errors.As(err, &le) || !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Fatalf("reading a truncated gzip layer = %v, want a *layer.Error wrapping io.ErrUnexpectedEOF", err)
	}
	d, _ := l.Digest()
	for _, s := range []string{d.String(), "decompressing gzip", "truncated"} {
		if !strings.Contains(err.Error(), s) {
			t.Errorf("error %q does not say %q", err, s)
		}
	}
}

func TestMaxSize(t *testing.T) {
	raw := tarOf(t, map[string]string{"big": strings.Repeat("x", 64<<10)})
	l := layertest.NewLayer(zst(t, raw), raw, types.OCILayerZStd)
	got, _, err := readAll(context.Background(), l, layer.WithMaxSize(int64(len(raw))))
	if err != nil || len(got) != len(raw) {
		t.Fatalf("reading with a bound of exactly its size = %d bytes, %v; want all, no error", len(got), err)
	}
	got, _, err = readAll(context.Background(), l, layer.WithMaxSize(int64(len(raw)-1)))
	if !errors.Is(err, layer.ErrTooLarge) {
		t.Fatalf("reading a layer one byte over the bound = %v, want ErrTooLarge", err)
	}
	if len(got) != len(raw)-1 {
		t.Errorf("read %d bytes before ErrTooLarge, want the bound (%d)", len(got), len(raw)-1)
	}
	if _, err := layer.Open(context.Background(), l, layer.WithMaxSize(0)); err == nil {
		t.Error("WithMaxSize(0) accepted")
	}
}

// endless is a blob that never ends (zeros: a plain stream, read slowly).
type endless struct{}

func (endless) Read(p []byte) (int, error) {
	time.Sleep(time.Millisecond)
	n := min(len(p), 4096)
	clear(p[:n])
	return n, nil
}

func TestCancelStopsRead(t *testing.T) {
	l := &streamLayer{open: func() io.ReadCloser { return io.NopCloser(endless{}) }}
	ctx, cancel := context.WithCancel(context.Background())
	r, err := layer.Open(ctx, l)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	done := make(chan error, 1)
	go func() {
		_, err := io.Copy(io.Discard, r)
		done <- err
	}()
	time.Sleep(50 * time.Millisecond)
	cancel()
	select {
	case err := <-done:
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("read after cancel = %v, want context.Canceled", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("read still running 5s after cancel")
	}
	if _, err := layer.Open(ctx, l); !errors.Is(err, context.Canceled) {
		t.Errorf("Open after cancel = %v, want context.Canceled", err)
	}
}

// TestBlobReadToEnd: the rest of the blob after the compressed stream is
// read, so a verifying blob reader below reports a damaged blob.
func TestBlobReadToEnd(t *testing.T) {
	raw := tarOf(t, map[string]string{"a": "a"})
	blob := layertest.Gzip(t, raw)
	bad := errors.New("blob sha256:x is corrupt")
	l := &streamLayer{open: func() io.ReadCloser {
		return io.NopCloser(io.MultiReader(bytes.NewReader(blob), errReader{bad}))
	}}
	if _, _, err := readAll(context.Background(), l); !errors.Is(err, bad) {
		t.Fatalf("reading a layer whose blob fails at its end = %v, want that failure", err)
	}
}

type errReader struct{ err error }

func (e errReader) Read([]byte) (int, error) { return 0, e.err }

type streamLayer struct{ open func() io.ReadCloser }

func (l *streamLayer) Digest() (v1.Hash, error) {
	return v1.Hash{Algorithm: "sha256", Hex: strings.Repeat("0", 64)}, nil
}
func (l *streamLayer) DiffID() (v1.Hash, error)             { return v1.Hash{}, errors.New("no diff ID") }
func (l *streamLayer) Compressed() (io.ReadCloser, error)   { return l.open(), nil }
func (l *streamLayer) Uncompressed() (io.ReadCloser, error) { return nil, errors.New("not used") }
func (l *streamLayer) Size() (int64, error)                 { return -1, nil }
func (l *streamLayer) MediaType() (types.MediaType, error)  { return types.OCILayer, nil }
