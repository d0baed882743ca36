package layer

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zstd"
)

const (
	// MaxZstdWindow is the largest window a zstd frame may ask for.
	MaxZstdWindow = 128 << 20
	// DefaultMaxSize is the default bound on a layer's uncompressed bytes:
	// four times the largest blob a registry read accepts (remote.MaxBlobSize).
	DefaultMaxSize int64 = 256 << 30
)

// Compression is how a layer's blob is compressed.
type Compression string

const (
	Uncompressed Compression = "uncompressed"
	Gzip         Compression = "gzip"
	Zstd         Compression = "zstd"
)

var (
	magicGzip = []byte{0x1f, 0x8b}
	magicZstd = []byte{0x28, 0xb5, 0x2f, 0xfd}
)

// uncompressedTypes are the layer media types whose blob is a plain tar.
var uncompressedTypes = map[types.MediaType]bool{
	types.OCIUncompressedLayer:                     true,
	types.OCIUncompressedRestrictedLayer:           true,
	"application/vnd.docker.image.rootfs.diff.tar": true,
}

type options struct {
	maxSize int64
	tee     io.Writer
}

// Option configures Open.
type Option func(*options) error

// WithMaxSize bounds the uncompressed bytes read (default DefaultMaxSize);
// a layer longer than n fails with ErrTooLarge. n must be positive.
func WithMaxSize(n int64) Option {
	return func(o *options) error {
		if n <= 0 {
			return fmt.Errorf("layer size bound %d: must be positive", n)
		}
		o.maxSize = n
		return nil
	}
}

// WithBlobWriter writes every byte read from the layer's blob (compressed,
// as stored) to w as well, for a caller that hashes or counts the blob
// (default none). Errors of w fail the read.
func WithBlobWriter(w io.Writer) Option {
	return func(o *options) error {
		if w == nil {
			return errors.New("layer blob writer: nil")
		}
		o.tee = w
		return nil
	}
}

// Reader is a layer's uncompressed tar stream. It is not safe for
// concurrent use.
type Reader struct {
	ctx     context.Context
	digest  v1.Hash
	blob    io.ReadCloser // the stream Open opened (Compressed or Uncompressed)
	src     *bufio.Reader // blob, checked for ctx, teed
	dec     io.Reader     // uncompressed stream (src itself when uncompressed)
	release func()        // frees the decompressor
	comp    Compression
	n, max  int64
	err     error // sticky: once failed, every Read returns it
}

var _ io.ReadCloser = (*Reader)(nil)

// Open opens l's uncompressed tar stream. Closing the Reader closes the
// blob; it must be closed.
func Open(ctx context.Context, l v1.Layer, opts ...Option) (*Reader, error) {
	o := options{maxSize: DefaultMaxSize}
	for _, opt := range opts {
		if err := opt(&o); err != nil {
			return nil, err
		}
	}
	digest, _ := l.Digest() // names the layer in errors; a layer that cannot say fails below
	fail := func(op string, err error) (*Reader, error) {
		return nil, &Error{Digest: digest, Op: op, Err: err}
	}
	if err := ctx.Err(); err != nil {
		return fail("opening", err)
	}
	mt, err := l.MediaType()
	if err != nil {
		return fail("reading media type", err)
	}
	var blob io.ReadCloser
	if uncompressedTypes[mt] {
		blob, err = l.Uncompressed()
	} else {
		blob, err = l.Compressed()
	}
	if err != nil {
		return fail("opening", err)
	}
	var in io.Reader = ctxReader{ctx, blob}
	if o.tee != nil {
		in = io.TeeReader(in, o.tee)
	}
	r := &Reader{ctx: ctx, digest: digest, blob: blob, src: bufio.NewReaderSize(in, 256<<10), max: o.maxSize}
	r.dec, r.release, r.comp, err = decoder(r.src)
	if err != nil {
		blob.Close()
		return fail("opening "+string(r.comp)+" stream", explain(err, r.comp))
	}
	return r, nil
}

// Compression says how the blob was compressed.
func (r *Reader) Compression() Compression { return r.comp }

// Size is the number of uncompressed bytes read so far.
func (r *Reader) Size() int64 { return r.n }

// Read reads the uncompressed stream. The gzip and zstd decoders read their
// blob to its end (looking for a next member or frame) before they return
// io.EOF, so a verifying blob reader below checks there; a plain tar's
// reader stops at its end-of-archive marker, and callers that want the
// padding after it (diff IDs) read on to io.EOF.
func (r *Reader) Read(p []byte) (int, error) {
	if r.err != nil {
		return 0, r.err
	}
	if err := r.ctx.Err(); err != nil {
		return 0, r.fail("reading", err)
	}
	if room := r.max - r.n + 1; int64(len(p)) > room {
		p = p[:room] // one byte more than allowed shows the bound is passed
	}
	n, err := r.dec.Read(p)
	r.n += int64(n)
	if r.n > r.max {
		return n - int(r.n-r.max), r.fail("reading", fmt.Errorf("%w (%d bytes): if the layer is genuine, raise the bound", ErrTooLarge, r.max))
	}
	switch {
	case err == io.EOF:
		r.err = io.EOF
		return n, io.EOF
	case err != nil:
		op := "decompressing " + string(r.comp)
		if r.comp == Uncompressed {
			op = "reading"
		}
		return n, r.fail(op, explain(err, r.comp))
	}
	return n, nil
}

func (r *Reader) fail(op string, err error) error {
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		op = "reading"
	}
	r.err = &Error{Digest: r.digest, Op: op, Err: err}
	return r.err
}

// Close frees the decompressor and closes the blob.
func (r *Reader) Close() error {
	if r.release != nil {
		r.release()
		r.release = nil
	}
	if r.blob == nil {
		return nil
	}
	err := r.blob.Close()
	r.blob = nil
	if err != nil {
		return &Error{Digest: r.digest, Op: "closing", Err: err}
	}
	return nil
}

// Decompress returns the decompressed stream of r: gzip and zstd (with the
// MaxZstdWindow limit) by their magic, anything else as it is. Close frees
// the decompressor; it does not close r. It does not bound the size.
func Decompress(r io.Reader) (io.ReadCloser, Compression, error) {
	br := bufio.NewReaderSize(r, 64<<10)
	dec, release, comp, err := decoder(br)
	if err != nil {
		return nil, comp, fmt.Errorf("opening %s stream: %w", comp, explain(err, comp))
	}
	return decompressed{dec, comp, release}, comp, nil
}

type decompressed struct {
	io.Reader
	comp    Compression
	release func()
}

func (d decompressed) Read(p []byte) (int, error) {
	n, err := d.Reader.Read(p)
	if err != nil && err != io.EOF {
		err = fmt.Errorf("decompressing %s: %w", d.comp, explain(err, d.comp))
	}
	return n, err
}

func (d decompressed) Close() error {
	d.release()
	return nil
}

// decoder sniffs br's first bytes and returns the decompressed stream.
func decoder(br *bufio.Reader) (io.Reader, func(), Compression, error) {
	magic, err := br.Peek(len(magicZstd))
	if err != nil && !errors.Is(err, io.EOF) {
		return nil, nil, Uncompressed, err
	}
	switch {
	case bytes.HasPrefix(magic, magicGzip):
		zr, err := gzip.NewReader(br)
		if err != nil {
			return nil, nil, Gzip, err
		}
		return zr, func() { zr.Close() }, Gzip, nil
	case bytes.HasPrefix(magic, magicZstd):
		zr, err := zstd.NewReader(br, zstd.WithDecoderConcurrency(1), zstd.WithDecoderMaxWindow(MaxZstdWindow), zstd.WithDecoderLowmem(true))
		if err != nil {
			return nil, nil, Zstd, err
		}
		return zr, zr.Close, Zstd, nil
	}
	return br, func() {}, Uncompressed, nil
}

// explain adds what to do to the decompressors' terse errors.
func explain(err error, c Compression) error {
	switch {
	case errors.Is(err, zstd.ErrWindowSizeExceeded):
		return fmt.Errorf("%w: a zstd frame may ask for a window of at most %d MiB; recompress the layer with a smaller window (no --long)", err, MaxZstdWindow>>20)
	case errors.Is(err, io.ErrUnexpectedEOF) && c != Uncompressed:
		return fmt.Errorf("the %s stream is truncated (%w): the blob is incomplete; pull or build the image again", c, err)
	}
	return err
}

// ctxReader fails reads once ctx is done, so a long layer stops promptly.
type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}

// CheckBlob reads l's compressed blob to its end and returns what the blob
// reader said: nil when it read whole (a blob reader that verifies, as the
// store's and a registry's do, found its digest and size right), else its
// error (the store's *CorruptBlobError names the images that use the blob).
// A reader whose content failed calls it to tell a damaged blob from a
// malformed layer. A done ctx stops it with ctx's error.
func CheckBlob(ctx context.Context, l v1.Layer) error {
	rc, err := l.Compressed()
	if err != nil {
		return err
	}
	_, err = io.Copy(io.Discard, ctxReader{ctx, rc})
	if cerr := rc.Close(); err == nil {
		err = cerr
	}
	return err
}
