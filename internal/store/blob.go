package store

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"io/fs"
	"os"
	"sync"
	"sync/atomic"
	"unsafe"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"golang.org/x/sync/errgroup"

	"github.com/manyarch/manyarch/internal/prefault"
)

// copyBufSize is the buffer for streaming blobs: large enough that syscalls
// and hashing calls stay cheap for gigabyte layers.
const copyBufSize = 1 << 20

func checkHash(h v1.Hash) error {
	if h.Algorithm != "sha256" {
		return fmt.Errorf("digest %s: %w", h, ErrUnsupportedDigest)
	}
	if len(h.Hex) != 64 {
		return fmt.Errorf("digest %s: hex part must be 64 characters", h)
	}
	if _, err := hex.DecodeString(h.Hex); err != nil {
		return fmt.Errorf("digest %s: %w", h, err)
	}
	return nil
}

// WriteBlob streams r into the store and returns its descriptor (digest and
// size; no media type). want is the expected digest (zero: compute it) and
// size the expected size (-1: unknown).
//
// Atomic: the blob appears under blobs/ complete and verified, or not at all;
// a mismatch with want or size is a *MismatchError and leaves nothing behind.
// Idempotent: when want names a blob already present with the expected size,
// WriteBlob returns without reading r (unless WithVerifyExisting). A nil error
// promises the blob is on disk (fsync'd unless WithFsync(false)) under its digest.
func (s *Store) WriteBlob(ctx context.Context, r io.Reader, want v1.Hash, size int64) (v1.Descriptor, error) {
	unlock, err := s.shared(ctx)
	if err != nil {
		return v1.Descriptor{}, fmt.Errorf("writing blob %s: %w", want, err)
	}
	defer unlock()
	d, err := s.writeBlob(ctx, r, want, size)
	if err != nil {
		if want == (v1.Hash{}) {
			return v1.Descriptor{}, fmt.Errorf("writing blob: %w", err)
		}
		return v1.Descriptor{}, fmt.Errorf("writing blob %s: %w", want, err)
	}
	return d, nil
}

func (s *Store) writeBlob(ctx context.Context, r io.Reader, want v1.Hash, size int64) (v1.Descriptor, error) {
	st, err := s.stageBlob(ctx, r, want, size)
	if err != nil || st.tmp == "" {
		return st.desc, err
	}
	if err := s.publishBlobs(ctx, []stagedBlob{st}); err != nil {
		return v1.Descriptor{}, err
	}
	s.opts.logger.DebugContext(ctx, "wrote blob", "digest", st.desc.Digest.String(), "size", st.desc.Size)
	return st.desc, nil
}

// stagedBlob is a blob written and verified under ROOT/ingest (tmp), not yet
// durable nor under its name. tmp is empty when the store has the blob.
type stagedBlob struct {
	desc v1.Descriptor
	tmp  string
	// synced, when set, gives the result of an fsync of tmp started
	// already (BlobBatch.Write); publishBlobs waits for it instead.
	synced <-chan error
}

// stageBlob streams r into a new file under ROOT/ingest and checks it
// against want and size; on any error the file is gone. The file is closed,
// not synced: publishBlobs makes it durable and names it.
func (s *Store) stageBlob(ctx context.Context, r io.Reader, want v1.Hash, size int64) (stagedBlob, error) {
	if want != (v1.Hash{}) {
		if err := checkHash(want); err != nil {
			return stagedBlob{}, err
		}
		if !s.opts.verifyExisting {
			if got, ok, err := s.hasBlob(want); err != nil {
				return stagedBlob{}, err
			} else if ok && (size < 0 || got == size) {
				return stagedBlob{desc: v1.Descriptor{Digest: want, Size: got}}, nil
			}
		}
	}
	if err := ctx.Err(); err != nil {
		return stagedBlob{}, err
	}
	f, err := s.tempFile("blob-")
	if err != nil {
		return stagedBlob{}, err
	}
	tmp := f.Name()
	done := false
	defer func() {
		if !done {
			f.Close()
			_ = os.Remove(tmp)
		}
	}()

	src := r
	if size >= 0 {
		src = io.LimitReader(r, size+1) // one extra byte reveals a too-long input
	}
	var dst io.Writer = f
	if s.opts.fsync {
		dst = newBlobFile(f, size) // the fsync in publishBlobs then waits for little
	}
	var n int64
	var got v1.Hash
	if vr, ok := r.(*verifyReader); ok && want != (v1.Hash{}) && vr.want == want && vr.n == 0 {
		// A verified read of the same digest from a store (a store-to-store
		// copy): the source hashes every byte we write and fails at its end on
		// a mismatch, so hashing again here would only halve the throughput.
		if n, err = copyCtx(ctx, dst, src); err != nil {
			return stagedBlob{}, err
		}
		if vr.err != io.EOF {
			// Stopped before the source's end (a size mismatch): unverified.
			return stagedBlob{}, &MismatchError{Want: want, WantSize: size, GotSize: n}
		}
		got = want
	} else {
		hw := sha256.New()
		if overlapWrites(dst) {
			n, err = copyOverlapped(ctx, dst, hw, src)
		} else {
			n, err = copyCtx(ctx, io.MultiWriter(dst, hw), src)
		}
		if err != nil {
			return stagedBlob{}, err
		}
		got = v1.Hash{Algorithm: "sha256", Hex: hex.EncodeToString(hw.Sum(nil))}
	}
	if size >= 0 && n != size {
		return stagedBlob{}, &MismatchError{Want: want, WantSize: size, GotSize: n}
	}
	if want != (v1.Hash{}) && got != want {
		return stagedBlob{}, &MismatchError{Want: want, Got: got, WantSize: size, GotSize: n}
	}
	desc := v1.Descriptor{Digest: got, Size: n}
	if fi, err := os.Stat(s.blobPath(got)); err == nil && fi.Size() == n && !s.opts.verifyExisting {
		return stagedBlob{desc: desc}, nil // someone else wrote it meanwhile; drop our copy
	}
	if err := f.Close(); err != nil {
		return stagedBlob{}, fmt.Errorf("closing %s: %w", tmp, err)
	}
	done = true
	return stagedBlob{desc: desc, tmp: tmp}, nil
}

// publishBlobs makes staged blobs durable and names them: every file is
// fsync'd (syncJobs at once, so the file system can commit them together),
// then each is renamed to blobs/ALG/HEX, then each blobs/ALG directory is
// fsync'd once. A name therefore never appears before its content is on disk.
// On error, the staged files not yet renamed are removed.
func (s *Store) publishBlobs(ctx context.Context, staged []stagedBlob) (err error) {
	renamed := 0
	defer func() {
		if err != nil {
			for _, st := range staged[renamed:] {
				if st.tmp != "" {
					_ = os.Remove(st.tmp)
				}
			}
		}
	}()
	if s.opts.fsync {
		g, _ := errgroup.WithContext(ctx)
		g.SetLimit(syncJobs)
		for _, st := range staged {
			if st.tmp == "" {
				continue
			}
			g.Go(func() error {
				if st.synced != nil {
					return <-st.synced
				}
				return syncFile(st.tmp)
			})
		}
		if err := g.Wait(); err != nil {
			return err
		}
	}
	dirs := map[string]bool{}
	for i, st := range staged {
		renamed = i
		if st.tmp == "" {
			continue
		}
		final := s.blobPath(st.desc.Digest)
		dir := s.path(blobsDir, st.desc.Digest.Algorithm)
		err := os.Rename(st.tmp, final)
		if errors.Is(err, fs.ErrNotExist) {
			// blobs/ALG missing (a foreign layout may lack it): create and retry.
			if err := os.MkdirAll(dir, 0o755); err != nil {
				return err
			}
			err = os.Rename(st.tmp, final)
		}
		if err != nil {
			return err
		}
		dirs[dir] = true
	}
	renamed = len(staged)
	for dir := range dirs {
		if err := s.syncDir(dir); err != nil {
			return err
		}
	}
	return nil
}

// syncJobs bounds the fsyncs publishBlobs, or a BlobBatch's writes, run at
// once.
const syncJobs = 8

// syncFile fsyncs a staged file (a variable: tests watch when it runs).
var syncFile = func(name string) error {
	f, err := os.OpenFile(name, os.O_WRONLY, 0) // Windows flushes only writable handles
	if err != nil {
		return fmt.Errorf("syncing %s: %w", name, err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return fmt.Errorf("syncing %s: %w", name, err)
	}
	return f.Close()
}

// copyBufs holds the copy buffers of copyCtx and verifyReader.WriteTo, so
// a store writing or reading many small blobs does not allocate (and clear)
// a megabyte for each.
// The buffers start at a 4 KiB boundary, so that a chunk can be written
// with O_DIRECT (newBlobFile).
var copyBufs = sync.Pool{New: func() any { return alignedBuf(copyBufSize) }}

// directBufs holds copyOverlapped's buffers, directChunk bytes each: each
// chunk is one O_DIRECT write that waits for the device, and fewer, larger
// writes made a 2 GiB pull faster. 4 MiB was faster still for large
// images but slowed a pull of 4 × 48 MiB by ~6% and cost ~70 ms more CPU
// there (each stream's chunks no longer fit the CPU's cache); 2 MiB left
// that pull as it was (bench/README.md, "Registry: overlapped direct
// writes").
var directBufs = sync.Pool{New: func() any { return alignedBuf(directChunk) }}

const directChunk = 2 << 20

// alignedBuf returns a prefaulted buffer of n bytes at a bufAlign boundary.
func alignedBuf(n int) *[]byte {
	b := make([]byte, n+bufAlign)
	off := (bufAlign - int(uintptr(unsafe.Pointer(unsafe.SliceData(b)))%bufAlign)) % bufAlign
	b = b[off : off+n : off+n]
	prefault.Buffer(b)
	return &b
}

const bufAlign = 4096

// copyCtx copies with a large buffer, checking ctx between chunks.
func copyCtx(ctx context.Context, dst io.Writer, src io.Reader) (int64, error) {
	bp := copyBufs.Get().(*[]byte)
	defer copyBufs.Put(bp)
	buf := *bp
	var n int64
	for {
		if err := ctx.Err(); err != nil {
			return n, err
		}
		m, rerr := io.ReadFull(src, buf)
		if m > 0 {
			if _, werr := dst.Write(buf[:m]); werr != nil {
				return n, werr
			}
			n += int64(m)
		}
		if rerr == io.EOF || rerr == io.ErrUnexpectedEOF {
			return n, nil
		}
		if rerr != nil {
			return n, rerr
		}
	}
}

// copyOverlapped copies src to dst and hashes what it copies into hw, like
// copyCtx with io.MultiWriter(dst, hw), but writes to dst from a second
// goroutine: while one chunk is written, the next is read and the last one
// hashed. It is for a writer that waits for the device (O_DIRECT), so that a
// download keeps its connection, the CPU and the disk busy at once. Chunks
// grow from copyBufSize to directChunk, so that the first write starts
// early. Chunk sizes stay multiples of copyBufSize, as O_DIRECT needs.
func copyOverlapped(ctx context.Context, dst io.Writer, hw hash.Hash, src io.Reader) (n int64, err error) {
	type chunk struct {
		bp *[]byte
		n  int
	}
	const nbufs = 2
	free := make(chan *[]byte, nbufs)
	for range nbufs {
		free <- directBufs.Get().(*[]byte)
	}
	full := make(chan chunk, nbufs-1)
	werrc := make(chan error, 1)
	var failed atomic.Bool
	go func() {
		var werr error
		for c := range full {
			if werr == nil {
				if _, werr = dst.Write((*c.bp)[:c.n]); werr != nil {
					failed.Store(true)
				}
			}
			free <- c.bp
		}
		werrc <- werr
	}()
	size := copyBufSize
	for !failed.Load() {
		if err = ctx.Err(); err != nil {
			break
		}
		bp := <-free
		m, rerr := io.ReadFull(src, (*bp)[:size])
		size = min(2*size, directChunk)
		if m > 0 {
			full <- chunk{bp, m}
			hw.Write((*bp)[:m]) // while the writer has it: both only read it
			n += int64(m)
		} else {
			free <- bp
		}
		if rerr == io.EOF || rerr == io.ErrUnexpectedEOF {
			break
		}
		if rerr != nil {
			err = rerr
			break
		}
	}
	close(full)
	if werr := <-werrc; err == nil {
		err = werr
	}
	for range nbufs {
		directBufs.Put(<-free)
	}
	return n, err
}

// HasBlob reports whether blob h is present and its size on disk. It does not
// read or verify the content.
func (s *Store) HasBlob(ctx context.Context, h v1.Hash) (int64, bool, error) {
	if err := checkHash(h); err != nil {
		return 0, false, fmt.Errorf("checking blob: %w", err)
	}
	n, ok, err := s.hasBlob(h)
	if err != nil {
		return 0, false, fmt.Errorf("checking blob %s: %w", h, err)
	}
	return n, ok, nil
}

func (s *Store) hasBlob(h v1.Hash) (int64, bool, error) {
	fi, err := os.Stat(s.blobPath(h))
	if errors.Is(err, fs.ErrNotExist) {
		return 0, false, nil
	}
	if err != nil {
		return 0, false, err
	}
	if !fi.Mode().IsRegular() {
		return 0, false, fmt.Errorf("%s is not a regular file", s.blobPath(h))
	}
	return fi.Size(), true, nil
}

// OpenBlob opens blob h for reading. The reader hashes what it returns; at the
// end of the blob a digest mismatch is returned as a *CorruptBlobError instead
// of io.EOF, so a caller reading to EOF never accepts damaged content. A
// missing blob is a *MissingBlobError (errors.Is ErrNotFound).
func (s *Store) OpenBlob(ctx context.Context, h v1.Hash) (io.ReadCloser, error) {
	return s.openBlob(ctx, h, -1)
}

// openBlob is OpenBlob with an expected size (-1: unknown); a blob whose size
// on disk differs is reported at once.
func (s *Store) openBlob(ctx context.Context, h v1.Hash, size int64) (io.ReadCloser, error) {
	return s.openBlobFrom(ctx, h, size, nil)
}

// openBlobFrom is openBlob for a foreign layer served from urls, which the
// error for a missing blob names.
func (s *Store) openBlobFrom(ctx context.Context, h v1.Hash, size int64, urls []string) (io.ReadCloser, error) {
	if err := checkHash(h); err != nil {
		return nil, fmt.Errorf("opening blob: %w", err)
	}
	p := s.blobPath(h)
	f, err := openRead(p)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("opening blob: %w", &MissingBlobError{Digest: h, Path: p, Foreign: urls})
	}
	if err != nil {
		return nil, fmt.Errorf("opening blob %s: %w", h, err)
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("opening blob %s: %w", h, err)
	}
	if size >= 0 && fi.Size() != size {
		f.Close()
		return nil, fmt.Errorf("opening blob: %w", s.corrupt(&CorruptBlobError{Digest: h, Path: p, WantSize: size, GotSize: fi.Size()}))
	}
	return &verifyReader{s: s, f: f, h: sha256.New(), want: h, path: p, size: fi.Size(), wantSize: size}, nil
}

type verifyReader struct {
	s        *Store // names the images that use a corrupt blob
	f        *os.File
	h        hash.Hash
	want     v1.Hash
	path     string
	size     int64 // size at open
	wantSize int64
	n        int64
	err      error // sticky final error
}

func (v *verifyReader) Read(p []byte) (int, error) {
	if v.err != nil {
		return 0, v.err
	}
	n, err := v.f.Read(p)
	if n > 0 {
		v.h.Write(p[:n])
		v.n += int64(n)
	}
	if err == io.EOF {
		got := v1.Hash{Algorithm: v.want.Algorithm, Hex: hex.EncodeToString(v.h.Sum(nil))}
		if got != v.want || (v.wantSize >= 0 && v.n != v.wantSize) {
			v.err = v.s.corrupt(&CorruptBlobError{Digest: v.want, Path: v.path, WantSize: v.wantSize, GotSize: v.n, Got: got})
			return n, v.err
		}
		v.err = io.EOF
		return n, io.EOF
	}
	if err != nil {
		return n, fmt.Errorf("reading blob %s: %w", v.want, err)
	}
	return n, nil
}

func (v *verifyReader) Close() error { return v.f.Close() }

// WriteTo lets io.Copy use a large buffer and still verify.
func (v *verifyReader) WriteTo(w io.Writer) (int64, error) {
	bp := copyBufs.Get().(*[]byte)
	defer copyBufs.Put(bp)
	buf := *bp
	var total int64
	for {
		n, err := v.Read(buf)
		if n > 0 {
			if _, werr := w.Write(buf[:n]); werr != nil {
				return total, werr
			}
			total += int64(n)
		}
		if err == io.EOF {
			return total, nil
		}
		if err != nil {
			return total, err
		}
	}
}

// maxSmallBlob bounds ReadBlob, which holds the whole blob in memory.
const maxSmallBlob = 64 << 20

// MaxManifestSize bounds the manifests and indexes the store reads or copies
// (containerd's bound, and the registry client's): a manifest is read whole.
const MaxManifestSize = 4 << 20

// readManifest is readBlob for a manifest or index: at most MaxManifestSize.
func (s *Store) readManifest(ctx context.Context, h v1.Hash, size int64) ([]byte, error) {
	if err := checkManifestSize(h, size); err != nil {
		return nil, err
	}
	if n, ok, err := s.hasBlob(h); err == nil && ok {
		if err := checkManifestSize(h, n); err != nil {
			return nil, err
		}
	}
	return s.readBlob(ctx, h, size)
}

func checkManifestSize(h v1.Hash, size int64) error {
	if size > MaxManifestSize {
		return fmt.Errorf("manifest %s is %d bytes, over the %d-byte (4 MiB) limit for a manifest: the image is broken or hostile", h, size, MaxManifestSize)
	}
	return nil
}

// ReadBlob returns the whole content of blob h, verified. It is meant for small
// blobs (manifests, configs) and refuses blobs over 64 MiB.
func (s *Store) ReadBlob(ctx context.Context, h v1.Hash) ([]byte, error) {
	return s.readBlob(ctx, h, -1)
}

func (s *Store) readBlob(ctx context.Context, h v1.Hash, size int64) ([]byte, error) {
	rc, err := s.openBlob(ctx, h, size)
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	vr := rc.(*verifyReader)
	if vr.size > maxSmallBlob {
		return nil, fmt.Errorf("reading blob %s: %d bytes is too large to read whole (limit %d); stream it with OpenBlob", h, vr.size, maxSmallBlob)
	}
	// A buffer of the size at open, and room to see the end: the read that
	// meets it verifies (a file that grew since is read on, and fails).
	buf := make([]byte, vr.size+512)
	n := 0
	for {
		m, err := vr.Read(buf[n:])
		n += m
		if err == io.EOF {
			return buf[:n], nil
		}
		if err != nil {
			return nil, fmt.Errorf("reading blob %s: %w", h, err)
		}
		if n == len(buf) {
			buf = append(buf, make([]byte, len(buf))...)
		}
	}
}
