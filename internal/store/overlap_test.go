package store

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
)

// chunkRecorder is a writer that keeps what it is given and the size of
// each write.
type chunkRecorder struct {
	buf    bytes.Buffer
	writes []int
}

func (w *chunkRecorder) Write(p []byte) (int, error) {
	w.writes = append(w.writes, len(p))
	return w.buf.Write(p)
}

// TestCopyOverlapped: every byte reaches the writer in order and the hash,
// chunks grow from copyBufSize to directChunk, and every chunk but the
// last is a multiple of copyBufSize (O_DIRECT needs whole blocks).
func TestCopyOverlapped(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for _, size := range []int{0, 1, copyBufSize - 1, copyBufSize, 3*copyBufSize + 7, 5 * directChunk, 5*directChunk + 4097} {
		data := make([]byte, size)
		for i := range data {
			data[i] = byte(r.Uint32())
		}
		var w chunkRecorder
		hw := sha256.New()
		// A source that returns short reads, as a connection does.
		n, err := copyOverlapped(context.Background(), &w, hw, io.LimitReader(&shortReader{r: bytes.NewReader(data)}, int64(size)))
		if err != nil || n != int64(size) {
			t.Fatalf("size %d: copyOverlapped = %d, %v; want %d, nil", size, n, err, size)
		}
		if !bytes.Equal(w.buf.Bytes(), data) {
			t.Fatalf("size %d: the writer got different bytes", size)
		}
		if want := sha256.Sum256(data); !bytes.Equal(hw.Sum(nil), want[:]) {
			t.Fatalf("size %d: wrong hash", size)
		}
		want := copyBufSize
		for i, c := range w.writes {
			if i == len(w.writes)-1 {
				if c > want || c == 0 {
					t.Fatalf("size %d: last write %d bytes, want 1..%d (writes %v)", size, c, want, w.writes)
				}
				break
			}
			if c != want {
				t.Fatalf("size %d: write %d is %d bytes, want %d (writes %v)", size, i, c, want, w.writes)
			}
			want = min(2*want, directChunk)
		}
	}
}

type shortReader struct{ r io.Reader }

func (s *shortReader) Read(p []byte) (int, error) { return s.r.Read(p[:min(len(p), 70000)]) }

// endless is a source that never ends.
type endless struct{}

func (endless) Read(p []byte) (int, error) { return len(p), nil }

var errDiskFull = errors.New("disk full")

// failingWriter fails once it has taken limit bytes.
type failingWriter struct{ n, limit int }

func (w *failingWriter) Write(p []byte) (int, error) {
	if w.n+len(p) > w.limit {
		return 0, errDiskFull
	}
	w.n += len(p)
	return len(p), nil
}

// runBounded runs f, failing the test if it has not returned in a minute.
func runBounded(t *testing.T, f func() (int64, error)) (int64, error) {
	t.Helper()
	type res struct {
		n   int64
		err error
	}
	c := make(chan res, 1)
	go func() { n, err := f(); c <- res{n, err} }()
	select {
	case r := <-c:
		return r.n, r.err
	case <-time.After(time.Minute):
		t.Fatal("copyOverlapped did not return within a minute")
		return 0, nil
	}
}

// TestCopyOverlappedWriteError: a failed write ends the copy of an endless
// source with the write's error.
func TestCopyOverlappedWriteError(t *testing.T) {
	_, err := runBounded(t, func() (int64, error) {
		return copyOverlapped(context.Background(), &failingWriter{limit: 10 << 20}, sha256.New(), endless{})
	})
	if !errors.Is(err, errDiskFull) {
		t.Fatalf("copyOverlapped with a failing writer: %v, want %v", err, errDiskFull)
	}
}

// errReader fails after n bytes.
type errReader struct{ n int }

var errReset = errors.New("connection reset")

func (r *errReader) Read(p []byte) (int, error) {
	if r.n == 0 {
		return 0, errReset
	}
	k := min(len(p), r.n)
	r.n -= k
	return k, nil
}

// TestCopyOverlappedReadError: a failed read ends the copy with its error,
// after what was read before it went to the writer.
func TestCopyOverlappedReadError(t *testing.T) {
	var w chunkRecorder
	n, err := runBounded(t, func() (int64, error) {
		return copyOverlapped(context.Background(), &w, sha256.New(), &errReader{n: 3*copyBufSize + 5})
	})
	if !errors.Is(err, errReset) {
		t.Fatalf("copyOverlapped with a failing source: %v, want %v", err, errReset)
	}
	if n != int64(w.buf.Len()) || n != 3*copyBufSize+5 {
		t.Fatalf("copyOverlapped reported %d bytes, the writer got %d; want %d", n, w.buf.Len(), 3*copyBufSize+5)
	}
}

// TestCopyOverlappedCancel: cancelling the context ends the copy of an
// endless source.
func TestCopyOverlappedCancel(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(50*time.Millisecond, cancel)
	_, err := runBounded(t, func() (int64, error) {
		return copyOverlapped(ctx, io.Discard, sha256.New(), endless{})
	})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("copyOverlapped after cancel: %v, want context.Canceled", err)
	}
}

// TestWriteBlobLargeHostile: a blob large enough for the direct, overlapped
// path (on a disk; tmpfs takes the page cache) that lies about its digest
// or size, or whose source fails midway, is refused, and leaves no blob
// and no temp file.
func TestWriteBlobLargeHostile(t *testing.T) {
	content := make([]byte, 8<<20+3*copyBufSize+3) // over directMinSize (Linux)
	r := rand.New(rand.NewPCG(3, 4))
	for i := range content {
		content[i] = byte(r.Uint32())
	}
	good := sha(content)
	size := int64(len(content))
	tests := []struct {
		name string
		src  func() io.Reader
		want v1.Hash
		size int64
	}{
		{"wrong digest", func() io.Reader { return bytes.NewReader(content) }, sha([]byte("other")), size},
		{"too short", func() io.Reader { return bytes.NewReader(content) }, good, size + 5},
		{"too long", func() io.Reader { return bytes.NewReader(content) }, good, size - copyBufSize},
		{"endless", func() io.Reader { return endless{} }, good, size},
		{"source fails", func() io.Reader { return &errReader{n: int(size) / 2} }, good, size},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newStore(t)
			_, err := s.WriteBlob(t.Context(), tt.src(), tt.want, tt.size)
			if err == nil {
				t.Fatalf("WriteBlob(%s) succeeded", tt.name)
			}
			if tt.name != "source fails" && !errors.As(err, new(*MismatchError)) {
				t.Fatalf("WriteBlob(%s) = %v, want *MismatchError", tt.name, err)
			}
			ents, _ := os.ReadDir(filepath.Join(s.Root(), "blobs", "sha256"))
			tmp, _ := os.ReadDir(filepath.Join(s.Root(), "ingest"))
			if len(ents)+len(tmp) != 0 {
				t.Errorf("failed write left %d blobs and %d temp files", len(ents), len(tmp))
			}
		})
	}
}
