package verify

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/sha256"
	"fmt"
	"io"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"github.com/klauspost/compress/zstd"

	"github.com/manyarch/manyarch/internal/layer/layertest"
	"github.com/manyarch/manyarch/internal/testutil"
)

// rawLayer is a layer whose blob is given as is, for blobs ggcr would
// refuse to build (truncated streams) or that are generated on the fly.
type rawLayer struct {
	open   func() io.ReadCloser
	digest v1.Hash
	diffID v1.Hash
	size   int64
	mt     types.MediaType
}

func (l *rawLayer) Digest() (v1.Hash, error)             { return l.digest, nil }
func (l *rawLayer) DiffID() (v1.Hash, error)             { return l.diffID, nil }
func (l *rawLayer) Compressed() (io.ReadCloser, error)   { return l.open(), nil }
func (l *rawLayer) Uncompressed() (io.ReadCloser, error) { return l.open(), nil }
func (l *rawLayer) Size() (int64, error)                 { return l.size, nil }
func (l *rawLayer) MediaType() (types.MediaType, error)  { return l.mt, nil }

var _ v1.Layer = (*rawLayer)(nil)

func sha(b []byte) v1.Hash {
	return v1.Hash{Algorithm: "sha256", Hex: fmt.Sprintf("%x", sha256.Sum256(b))}
}

func TestTruncatedLayer(t *testing.T) {
	tb := tarOf(t, exe("bin/hello", goHello(t, "arm64", "")))
	full := layertest.Gzip(t, tb)
	cut := full[:len(full)/2]
	l := &rawLayer{
		open:   func() io.ReadCloser { return io.NopCloser(bytes.NewReader(cut)) },
		digest: sha(full), diffID: sha(tb), size: int64(len(full)), mt: types.OCILayer,
	}
	img := imageOf(t, "linux/arm64", []string{"/bin/hello"}, step{"COPY hello /bin/hello", l})
	r := run(t, img)
	f := find(r, CodeLayerUnreadable)
	if f == nil {
		t.Fatalf("codes = %v, want layer-unreadable", codes(r))
	}
	for _, s := range []string{sha(full).String(), "truncated"} {
		if !strings.Contains(f.Message, s) {
			t.Errorf("layer-unreadable message %q does not name %q", f.Message, s)
		}
	}
	if f.Layer == nil || f.Layer.Digest != sha(full).String() {
		t.Errorf("finding layer = %+v, want digest %s", f.Layer, sha(full))
	}
	if got := codes(r); len(got) != 1 {
		t.Errorf("codes = %v, want only layer-unreadable (file checks need the whole tree)", got)
	}
}

func TestCorruptLayerDigest(t *testing.T) {
	tb := tarOf(t, exe("bin/hello", goHello(t, "arm64", "")))
	blob := layertest.Gzip(t, tb)
	l := &rawLayer{
		open:   func() io.ReadCloser { return io.NopCloser(bytes.NewReader(blob)) },
		digest: sha([]byte("something else")), diffID: sha([]byte("another")), size: int64(len(blob)), mt: types.OCILayer,
	}
	r := run(t, imageOf(t, "linux/arm64", []string{"/bin/hello"}, step{"", l}))
	n := 0
	for _, f := range r.All() {
		if f.Code == CodeDigestMismatch {
			n++
		}
	}
	if n != 2 || len(codes(r)) != 1 {
		t.Errorf("codes = %v (%d digest-mismatch), want 2 digest-mismatch findings (blob, diff ID)", codes(r), n)
	}
}

func TestMalformedELF(t *testing.T) {
	garbage := append([]byte("\x7fELF"), bytes.Repeat([]byte{0xA5}, 200)...)
	hello := goHello(t, "amd64", "")
	bigPhoff := bytes.Clone(hello[:64])
	bigPhoff[32], bigPhoff[33], bigPhoff[34] = 0xff, 0xff, 0xff // e_phoff past the end
	img := imageOf(t, "linux/amd64", nil, step{"COPY . /", layerOf(t,
		exe("garbage", garbage),
		exe("magic-only", []byte("\x7fELF")),
		exe("bad-phoff", bigPhoff),
		exe("hello", hello),
	)})
	r := run(t, img)
	var paths []string
	for _, f := range r.All() {
		if f.Code != CodeMalformedELF {
			t.Errorf("unexpected %s finding: %s", f.Code, f.Message)
			continue
		}
		paths = append(paths, f.Path)
	}
	if want := "/bad-phoff /garbage /magic-only"; strings.Join(paths, " ") != want {
		t.Errorf("malformed-elf paths = %v, want %s", paths, want)
	}
	if p := r.Platforms[0]; p.ELFFiles != 4 {
		t.Errorf("ELF files = %d, want 4", p.ELFFiles)
	}
}

// peakHeap samples the heap while fn runs and returns the largest value.
func peakHeap(fn func()) uint64 {
	runtime.GC()
	var peak uint64
	var mu sync.Mutex
	done := make(chan struct{})
	go func() {
		var ms runtime.MemStats
		tick := time.NewTicker(5 * time.Millisecond)
		defer tick.Stop()
		for {
			runtime.ReadMemStats(&ms)
			mu.Lock()
			peak = max(peak, ms.HeapAlloc)
			mu.Unlock()
			select {
			case <-done:
				return
			case <-tick.C:
			}
		}
	}()
	fn()
	close(done)
	mu.Lock()
	defer mu.Unlock()
	return peak
}

// sparseTar is a layer tar holding a PAX 1.0 sparse file of size real
// whose data at offset 0 is head and the rest a hole. archive/tar's writer
// drops GNU.sparse records, so the blocks are written here.
func sparseTar(t testing.TB, name string, head []byte, real int64) []byte {
	var buf bytes.Buffer
	records := ""
	for _, kv := range [][2]string{{"GNU.sparse.major", "1"}, {"GNU.sparse.minor", "0"}, {"GNU.sparse.name", name}, {"GNU.sparse.realsize", fmt.Sprint(real)}} {
		records += paxRecord(kv[0], kv[1])
	}
	buf.Write(ustarBlock("PaxHeaders/"+name, 'x', int64(len(records))))
	buf.Write(padBlock([]byte(records)))
	sparseMap := padBlock([]byte(fmt.Sprintf("1\n0\n%d\n", len(head))))
	buf.Write(ustarBlock("GNUSparseFile.0/"+name, '0', int64(len(sparseMap)+len(head))))
	buf.Write(sparseMap)
	buf.Write(padBlock(bytes.Clone(head)))
	buf.Write(make([]byte, 1024))
	return buf.Bytes()
}

func paxRecord(k, v string) string {
	n := len(k) + len(v) + 3
	for {
		r := fmt.Sprintf("%d %s=%s\n", n, k, v)
		if len(r) == n {
			return r
		}
		n = len(r)
	}
}

func padBlock(b []byte) []byte {
	if r := len(b) % 512; r != 0 {
		b = append(b, make([]byte, 512-r)...)
	}
	return b
}

// ustarBlock is a ustar header block.
func ustarBlock(name string, typ byte, size int64) []byte {
	b := make([]byte, 512)
	copy(b[0:100], name)
	copy(b[100:108], "0000755\x00")
	copy(b[108:116], "0000000\x00")
	copy(b[116:124], "0000000\x00")
	copy(b[124:136], fmt.Sprintf("%011o\x00", size))
	copy(b[136:148], "00000000000\x00")
	b[156] = typ
	copy(b[257:265], "ustar\x0000")
	copy(b[148:156], "        ")
	sum := 0
	for _, c := range b {
		sum += int(c)
	}
	copy(b[148:156], fmt.Sprintf("%06o\x00 ", sum))
	return b
}

func TestHugeSparseFiles(t *testing.T) {
	const tib = int64(1) << 40
	hello := goHello(t, "arm64", "")
	zeros := sparseTar(t, "zeros", nil, tib)
	elfHead := sparseTar(t, "elf", hello[:64<<10], tib)
	img := imageOf(t, "linux/amd64", nil,
		step{"ADD zeros /", layerOf(t, exe("placeholder", []byte("x")))},
		step{"ADD sparse", &rawLayer{open: func() io.ReadCloser { return io.NopCloser(bytes.NewReader(zeros)) }, digest: sha(zeros), diffID: sha(zeros), size: int64(len(zeros)), mt: types.OCIUncompressedLayer}},
		step{"ADD sparse-elf", &rawLayer{open: func() io.ReadCloser { return io.NopCloser(bytes.NewReader(elfHead)) }, digest: sha(elfHead), diffID: sha(elfHead), size: int64(len(elfHead)), mt: types.OCIUncompressedLayer}},
	)
	var r *Report
	start := time.Now()
	peak := peakHeap(func() { r = run(t, img) })
	if d := time.Since(start); d > 20*time.Second {
		t.Errorf("verifying 1 TiB sparse files took %v; holes must not be read", d)
	}
	if peak > 64<<20 {
		t.Errorf("peak heap %d MiB, want under 64 MiB", peak>>20)
	}
	if got := codes(r); len(got) != 1 || got[0] != CodeWrongArch {
		t.Fatalf("codes = %v, want wrong-arch for the arm64 ELF in the sparse file", got)
	}
	if f := find(r, CodeWrongArch); f.Path != "/elf" {
		t.Errorf("wrong-arch path = %s, want /elf", f.Path)
	}
}

// zeroTar streams a tar with one regular file of n zero bytes.
func zeroTar(n int64) io.ReadCloser {
	pr, pw := io.Pipe()
	go func() {
		tw := tar.NewWriter(pw)
		err := tw.WriteHeader(&tar.Header{Name: "zeros.img", Typeflag: tar.TypeReg, Mode: 0o644, Size: n, Format: tar.FormatPAX})
		if err == nil {
			_, err = io.CopyN(tw, zeroReader{}, n)
		}
		if err == nil {
			err = tw.Close()
		}
		pw.CloseWithError(err)
	}()
	return pr
}

type zeroReader struct{}

func (zeroReader) Read(p []byte) (int, error) {
	clear(p)
	return len(p), nil
}

func TestHugeZeroFile(t *testing.T) {
	testutil.Short(t, "streams a 10 GiB file")
	const n = 10 << 30
	fake := sha([]byte("not computed"))
	img := imageOf(t, "linux/amd64", nil, step{"ADD zeros.img /", &rawLayer{open: func() io.ReadCloser { return zeroTar(n) }, digest: fake, diffID: fake, size: n, mt: types.OCIUncompressedLayer}})
	var r *Report
	peak := peakHeap(func() { r = run(t, img) })
	if peak > 64<<20 {
		t.Errorf("peak heap %d MiB reading a 10 GiB file, want under 64 MiB", peak>>20)
	}
	p := r.Platforms[0]
	if p.Files != 1 || p.ELFFiles != 0 || p.Bytes < n {
		t.Errorf("files %d, ELF files %d, bytes %d; want 1, 0, >= %d", p.Files, p.ELFFiles, p.Bytes, int64(n))
	}
	// The digests given are wrong on purpose (computing them would read
	// 10 GiB once more): verify must have read to the end to say so.
	if got := codes(r); len(got) != 1 || got[0] != CodeDigestMismatch {
		t.Errorf("codes = %v, want digest-mismatch only", got)
	}
	t.Logf("10 GiB of zeros: peak heap %.1f MiB", float64(peak)/(1<<20))
}

// manyFilesTar streams a tar with n one-byte files in 100 directories.
func manyFilesTar(n int) io.ReadCloser {
	pr, pw := io.Pipe()
	go func() {
		tw := tar.NewWriter(pw)
		var err error
		for i := 0; i < n && err == nil; i++ {
			err = tw.WriteHeader(&tar.Header{Name: fmt.Sprintf("data/d%02d/file-%06d.txt", i%100, i), Typeflag: tar.TypeReg, Mode: 0o644, Size: 1, Format: tar.FormatPAX})
			if err == nil {
				_, err = tw.Write([]byte{'x'})
			}
		}
		if err == nil {
			err = tw.Close()
		}
		pw.CloseWithError(err)
	}()
	return pr
}

func TestManyTinyFiles(t *testing.T) {
	const n = 100_000
	fake := sha([]byte("not computed"))
	img := imageOf(t, "linux/amd64", nil, step{"ADD data /", &rawLayer{open: func() io.ReadCloser { return manyFilesTar(n) }, digest: fake, diffID: fake, size: 1, mt: types.OCIUncompressedLayer}})
	var r *Report
	peak := peakHeap(func() { r = run(t, img) })
	if p := r.Platforms[0]; p.Files != n {
		t.Errorf("files = %d, want %d", p.Files, n)
	}
	if peak > 128<<20 {
		t.Errorf("peak heap %d MiB for %d files, want under 128 MiB", peak>>20, n)
	}
	t.Logf("%d files: peak heap %.1f MiB", n, float64(peak)/(1<<20))
}

func TestCancel(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	img := imageOf(t, "linux/amd64", nil, step{"", &rawLayer{open: func() io.ReadCloser { return zeroTar(1 << 30) }, digest: sha(nil), diffID: sha(nil), size: 1, mt: types.OCIUncompressedLayer}})
	if _, err := Run(ctx, img); err == nil {
		t.Errorf("Run with a cancelled context = nil error, want context.Canceled")
	}
}

func TestZstdAndUncompressedLayers(t *testing.T) {
	tb := tarOf(t, exe("bin/hello", goHello(t, "arm64", "")))
	var zbuf bytes.Buffer
	zw, err := zstd.NewWriter(&zbuf)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := zw.Write(tb); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	zb := zbuf.Bytes()
	img := imageOf(t, "linux/arm64", []string{"/bin/hello"},
		step{"ADD zstd", &rawLayer{open: func() io.ReadCloser { return io.NopCloser(bytes.NewReader(zb)) }, digest: sha(zb), diffID: sha(tb), size: int64(len(zb)), mt: types.OCILayerZStd}},
		step{"ADD plain", &rawLayer{open: func() io.ReadCloser { return io.NopCloser(bytes.NewReader(tb)) }, digest: sha(tb), diffID: sha(tb), size: int64(len(tb)), mt: types.OCIUncompressedLayer}},
	)
	r := run(t, img)
	if all := r.All(); len(all) != 0 {
		t.Errorf("findings %v, want none: %+v", codes(r), all[0])
	}
	if p := r.Platforms[0]; p.Files != 1 || p.ELFFiles != 1 || p.Bytes != 2*int64(len(tb)) {
		t.Errorf("files %d, ELF %d, bytes %d; want 1, 1, %d", p.Files, p.ELFFiles, p.Bytes, 2*len(tb))
	}
}

// Issue #25 item 10: GNU tar and Python's tarfile pad an archive with zeros
// to a 10240-byte record after the end-of-archive marker, and docker's diff
// ID covers those bytes. Before the fix verify hashed only up to the marker
// and reported a false digest-mismatch on such valid layers.
func TestRecordPaddedLayerDiffID(t *testing.T) {
	tb := tarOf(t, exe("bin/hello", goHello(t, "arm64", "")))
	padded := append(bytes.Clone(tb), make([]byte, 10240-len(tb)%10240+10240)...)
	for _, tt := range []struct {
		name string
		blob []byte
		mt   types.MediaType
	}{
		{"gzip", layertest.Gzip(t, padded), types.OCILayer},
		{"uncompressed", padded, types.OCIUncompressedLayer},
	} {
		t.Run(tt.name, func(t *testing.T) {
			l := &rawLayer{
				open:   func() io.ReadCloser { return io.NopCloser(bytes.NewReader(tt.blob)) },
				digest: sha(tt.blob), diffID: sha(padded), size: int64(len(tt.blob)), mt: tt.mt,
			}
			r := run(t, imageOf(t, "linux/arm64", []string{"/bin/hello"}, step{"", l}))
			if got := codes(r); len(got) != 0 {
				t.Errorf("codes = %v, want none for a record-padded layer (diff ID %s)", got, sha(padded))
			}
		})
	}
}

// TestHugeZstdWindow: a zstd frame asking for more window than
// layer.MaxZstdWindow is a layer-unreadable finding saying so, not an
// allocation of its window.
func TestHugeZstdWindow(t *testing.T) {
	tb := tarOf(t, exe("bin/hello", goHello(t, "arm64", "")))
	blob := layertest.HugeWindowZstd(tb[:min(len(tb), 100<<10)])
	l := layertest.NewLayer(blob, nil, types.OCILayerZStd)
	l.Raw = tb // what a decoder without the limit gives
	img := imageOf(t, "linux/arm64", nil, step{"COPY hello /bin/hello", l})
	f := find(run(t, img), CodeLayerUnreadable)
	if f == nil {
		t.Fatal("no layer-unreadable finding for a zstd layer with a 256 MiB window")
	}
	if !strings.Contains(f.Message, "window") || !strings.Contains(f.Message, sha(blob).String()) {
		t.Errorf("layer-unreadable message %q does not name the window limit and the layer", f.Message)
	}
}
