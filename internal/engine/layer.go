package engine

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"runtime"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"github.com/klauspost/compress/zstd"
	"github.com/klauspost/pgzip"

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

// gzipBlockSize is the block size of the parallel gzip compressor: blocks
// are compressed at once on every CPU, each with the previous block's last
// 32 KiB as its dictionary, so the output depends on the block size alone
// (not on the number of CPUs) and a layer's digest is the same everywhere.
// 256 KiB rather than pgzip's 1 MiB: each block in flight holds an input
// and an output buffer of about the block size, and a cold 3-platform COPY
// build touched ~25 MB of fresh heap for them (a quarter of its CPU was
// page faults); with 256 KiB blocks it faults ~1,000 pages less, for layers
// of the same size (a 2.4 MB Go binary: 1,536,419 bytes at 1 MiB, 1,536,655
// at 256 KiB; a 47 MB one 0.05% smaller), and a small layer is spread over
// both CPUs too (bench/README.md).
const gzipBlockSize = 256 << 10

// gzipLevel is the gzip level of built layers: level 1 (BestSpeed). The
// profile of a cold COPY build (bench/README.md) had level 6's compression
// at two thirds of the build's CPU time; level 1 takes a third of that CPU
// for layers about 5% larger (2.40 MB Go binary: 1.43 MB at 6, 1.49 MB at 1).
// Changing it changes every built layer's digest, so compressorID names it.
const gzipLevel = pgzip.BestSpeed

// compressorID names the compressor of each Compression in cache keys: a
// step cached with another compressor's bytes must not be reused, or a
// cached build would not give the digests of a clean one. The gzip ID names
// the block size and level, so changing either changes the keys.
func (c Compression) compressorID() string {
	if c == CompressionGzip {
		return gzipCompressorID
	}
	return string(c)
}

// gzipCompressorID is the gzip compressor's ID: the block size in KiB and
// the level (a constant, so no start-up work; TestGzipCompressorID holds it
// to gzipBlockSize and gzipLevel).
const gzipCompressorID = "gzip/pgzip-256KiB-l1"

// writeLayer runs fill to produce an uncompressed layer tar and streams it,
// hashed for the diff ID and compressed on every CPU, into the store; it
// returns the layer (backed by the store blob). Nothing is spooled to disk.
// A tar with no entries is a layer too (BuildKit keeps such layers, for
// example of a WORKDIR that exists).
func writeLayer(ctx context.Context, st *store.Store, comp Compression, fill func(w io.Writer) error) (v1.Layer, error) {
	pr, pw := io.Pipe()
	diff := sha256.New()
	filled := make(chan error, 1)
	go func() {
		err := compressTo(pw, comp, func(cw io.Writer) error {
			bw := bufio.NewWriterSize(io.MultiWriter(cw, diff), 256<<10)
			if err := fill(bw); err != nil {
				return err
			}
			return bw.Flush()
		})
		pw.CloseWithError(err)
		filled <- err
	}()
	desc, err := st.WriteBlob(ctx, pr, v1.Hash{}, -1)
	pr.CloseWithError(errStoreFailed) // stops fill when the store gave up first
	if ferr := <-filled; ferr != nil && !errors.Is(ferr, errStoreFailed) {
		return nil, ferr // fill's own error says more than the store's
	}
	if err != nil {
		return nil, fmt.Errorf("storing layer: %w", err)
	}
	diffID := v1.Hash{Algorithm: "sha256", Hex: hex.EncodeToString(diff.Sum(nil))}
	return &storeLayer{st: st, digest: desc.Digest, diffID: diffID, size: desc.Size, mt: comp.mediaType()}, nil
}

// errStoreFailed ends a layer's fill when the store write stopped.
var errStoreFailed = errors.New("the store stopped reading the layer")

// compressTo runs fill with a writer that compresses into w, and closes the
// compressor when fill succeeds.
func compressTo(w io.Writer, comp Compression, fill func(io.Writer) error) error {
	var cw io.WriteCloser
	switch comp {
	case CompressionUncompressed:
		return fill(w)
	case CompressionZstd:
		zw, err := zstd.NewWriter(w, zstd.WithEncoderConcurrency(1))
		if err != nil {
			return err
		}
		cw = zw
	default:
		gw, err := pgzip.NewWriterLevel(w, gzipLevel)
		if err != nil {
			return err
		}
		if err := gw.SetConcurrency(gzipBlockSize, max(runtime.GOMAXPROCS(0), 2)); err != nil {
			return err
		}
		cw = gw
	}
	if err := fill(cw); err != nil {
		cw.Close()
		return err
	}
	return cw.Close()
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
