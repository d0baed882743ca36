package build

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"hash"
	"io"
	"os"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zstd"

	"github.com/manyarch/manyarch/internal/snapshot"
	"github.com/manyarch/manyarch/internal/store"
)

// Compression is how the layers a build writes are compressed
// (-o ...,compression=gzip|zstd|uncompressed).
type Compression string

const (
	CompressionGzip         Compression = "gzip"
	CompressionZstd         Compression = "zstd"
	CompressionUncompressed Compression = "uncompressed"
)

// ParseCompression checks a compression= value; "" is gzip.
func ParseCompression(s string) (Compression, error) {
	switch Compression(s) {
	case "", CompressionGzip:
		return CompressionGzip, nil
	case CompressionZstd, CompressionUncompressed:
		return Compression(s), nil
	}
	return "", fmt.Errorf("%w: compression=%s: want gzip, zstd or uncompressed", ErrBadOutput, s)
}

func (c Compression) mediaType() types.MediaType {
	switch c {
	case CompressionZstd:
		return types.OCILayerZStd
	case CompressionUncompressed:
		return types.OCIUncompressedLayer
	}
	return types.OCILayer
}

// writeLayer runs fill to produce an uncompressed layer tar, compresses it
// into the store and returns the layer (backed by the store blob). A tar with
// with no entries is a layer too (BuildKit keeps such layers, for example of
// a WORKDIR that exists). tmp is a directory for the spool file.
func writeLayer(ctx context.Context, st *store.Store, tmp string, comp Compression, fill func(w io.Writer) error) (v1.Layer, error) {
	f, err := os.CreateTemp(tmp, "layer-*.tar")
	if err != nil {
		return nil, fmt.Errorf("creating layer spool file: %w", err)
	}
	defer func() {
		f.Close()
		os.Remove(f.Name())
	}()
	diff := sha256.New()
	bw := bufio.NewWriterSize(io.MultiWriter(f, diff), 1<<20)
	if err := fill(bw); err != nil {
		return nil, err
	}
	if err := bw.Flush(); err != nil {
		return nil, fmt.Errorf("writing layer spool file: %w", err)
	}
	diffID := v1.Hash{Algorithm: "sha256", Hex: hex.EncodeToString(diff.Sum(nil))}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return nil, err
	}
	pr, pw := io.Pipe()
	go func() {
		pw.CloseWithError(compress(pw, f, comp))
	}()
	desc, err := st.WriteBlob(ctx, pr, v1.Hash{}, -1)
	pr.CloseWithError(err)
	if err != nil {
		return nil, fmt.Errorf("storing layer %s: %w", diffID, err)
	}
	return &storeLayer{st: st, digest: desc.Digest, diffID: diffID, size: desc.Size, mt: comp.mediaType()}, nil
}

func compress(w io.Writer, r io.Reader, comp Compression) error {
	switch comp {
	case CompressionUncompressed:
		_, err := io.Copy(w, r)
		return err
	case CompressionZstd:
		zw, err := zstd.NewWriter(w, zstd.WithEncoderConcurrency(1))
		if err != nil {
			return err
		}
		if _, err := io.Copy(zw, r); err != nil {
			zw.Close()
			return err
		}
		return zw.Close()
	}
	gw, err := gzip.NewWriterLevel(w, gzip.DefaultCompression)
	if err != nil {
		return err
	}
	if _, err := io.Copy(gw, r); err != nil {
		gw.Close()
		return err
	}
	return gw.Close()
}

// storeLayer is a layer whose compressed blob is in the store.
type storeLayer struct {
	st     *store.Store
	digest v1.Hash
	diffID v1.Hash
	size   int64
	mt     types.MediaType
}

var _ v1.Layer = (*storeLayer)(nil)

func (l *storeLayer) Digest() (v1.Hash, error)            { return l.digest, nil }
func (l *storeLayer) DiffID() (v1.Hash, error)            { return l.diffID, nil }
func (l *storeLayer) Size() (int64, error)                { return l.size, nil }
func (l *storeLayer) MediaType() (types.MediaType, error) { return l.mt, nil }
func (l *storeLayer) Compressed() (io.ReadCloser, error) {
	return l.st.OpenBlob(context.Background(), l.digest)
}

func (l *storeLayer) Uncompressed() (io.ReadCloser, error) {
	rc, err := l.Compressed()
	if err != nil {
		return nil, err
	}
	dr, err := snapshot.Decompress(rc)
	if err != nil {
		rc.Close()
		return nil, err
	}
	return &readCloser{Reader: dr, close: func() error { dr.Close(); return rc.Close() }}, nil
}

type readCloser struct {
	io.Reader
	close func() error
}

func (r *readCloser) Close() error { return r.close() }

// ociLayer presents a base image layer with its OCI media type, since the
// images a build writes are OCI images (as BuildKit's are).
type ociLayer struct {
	v1.Layer
	mt types.MediaType
}

func (l *ociLayer) MediaType() (types.MediaType, error) { return l.mt, nil }

func asOCILayer(l v1.Layer) v1.Layer {
	mt, err := l.MediaType()
	if err != nil {
		return l
	}
	switch mt {
	case types.DockerLayer:
		return &ociLayer{Layer: l, mt: types.OCILayer}
	case types.DockerUncompressedLayer:
		return &ociLayer{Layer: l, mt: types.OCIUncompressedLayer}
	case types.DockerForeignLayer:
		return &ociLayer{Layer: l, mt: types.OCIRestrictedLayer}
	}
	return l
}

// hashWriter is an io.Writer computing a sha256 digest.
type hashWriter struct{ h hash.Hash }

func newHashWriter() *hashWriter                  { return &hashWriter{h: sha256.New()} }
func (w *hashWriter) Write(p []byte) (int, error) { return w.h.Write(p) }
func (w *hashWriter) sum() string                 { return hex.EncodeToString(w.h.Sum(nil)) }
