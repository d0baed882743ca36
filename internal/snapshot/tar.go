package snapshot

import (
	"archive/tar"
	"fmt"
	"io"
	"strings"
	"sync"
	"time"

	"github.com/manyarch/manyarch/internal/prefault"
)

// TarOptions controls the tars WriteTar, WriteDiff, Diff and Normalize write.
// The zero value writes owners, modes and times as found.
type TarOptions struct {
	// SourceDateEpoch, when set, clamps every time written: a modification
	// time after it is replaced by it (BuildKit's SOURCE_DATE_EPOCH rule).
	// Whiteout entries get this time, or the Unix epoch when it is nil.
	SourceDateEpoch *time.Time

	// UID and GID, when set, replace the owner of every entry (for trees
	// written by a rootless build, whose files belong to the caller).
	UID, GID *int

	// Name names the input in errors, e.g. "rootfs-arm64.tar". Optional.
	Name string

	// TempDir is where Normalize spools file contents while it sorts the
	// entries; "" means os.TempDir().
	TempDir string
}

// Names of tar entries with a special meaning in OCI layers.
const (
	whiteoutPrefix = ".wh."
	whiteoutOpaque = ".wh..wh..opq"
	xattrPAXPrefix = "SCHILY.xattr."
)

// internalXattr reports whether an xattr belongs to overlayfs' own
// bookkeeping. Such xattrs are never written to layers and never restored
// from them: a layer that sets trusted.overlay.redirect could otherwise steer
// the overlay mount.
func internalXattr(name string) bool {
	return strings.HasPrefix(name, "trusted.overlay.") || strings.HasPrefix(name, "user.overlay.")
}

// normalizeHeader rewrites hdr in place into the deterministic form: empty
// user and group names, no access or change times, the modification time
// truncated to seconds and clamped, owners overridden, only xattr PAX records
// kept and the format left for archive/tar to choose minimally (USTAR when
// the header fits, PAX otherwise).
func normalizeHeader(hdr *tar.Header, opts *TarOptions) {
	hdr.Uname, hdr.Gname = "", ""
	hdr.AccessTime, hdr.ChangeTime = time.Time{}, time.Time{}
	hdr.ModTime = clampTime(hdr.ModTime, opts)
	hdr.Format = tar.FormatUnknown
	hdr.Xattrs = nil //nolint:staticcheck // cleared so only PAXRecords carry xattrs
	if opts.UID != nil {
		hdr.Uid = *opts.UID
	}
	if opts.GID != nil {
		hdr.Gid = *opts.GID
	}
	if len(hdr.PAXRecords) > 0 {
		var kept map[string]string
		for k, v := range hdr.PAXRecords {
			if name, ok := strings.CutPrefix(k, xattrPAXPrefix); ok && !internalXattr(name) {
				if kept == nil {
					kept = make(map[string]string)
				}
				kept[k] = v
			}
		}
		hdr.PAXRecords = kept
	}
	if hdr.Typeflag != tar.TypeReg {
		hdr.Size = 0
	}
	if hdr.Typeflag != tar.TypeChar && hdr.Typeflag != tar.TypeBlock {
		hdr.Devmajor, hdr.Devminor = 0, 0
	}
	if hdr.Typeflag != tar.TypeSymlink && hdr.Typeflag != tar.TypeLink {
		hdr.Linkname = ""
	}
}

func clampTime(t time.Time, opts *TarOptions) time.Time {
	t = time.Unix(t.Unix(), 0)
	if opts.SourceDateEpoch != nil {
		if e := time.Unix(opts.SourceDateEpoch.Unix(), 0); t.After(e) {
			t = e
		}
	}
	return t
}

func whiteoutTime(opts *TarOptions) time.Time {
	if opts.SourceDateEpoch != nil {
		return time.Unix(opts.SourceDateEpoch.Unix(), 0)
	}
	return time.Unix(0, 0)
}

// whiteoutHeader is the entry that deletes name (a cleaned relative path)
// from the layers below.
func whiteoutHeader(name string, opts *TarOptions) *tar.Header {
	dir, base := splitPath(name)
	return &tar.Header{
		Typeflag: tar.TypeReg,
		Name:     joinPath(dir, whiteoutPrefix+base),
		Mode:     0o644,
		ModTime:  whiteoutTime(opts),
	}
}

// opaqueHeader is the entry that hides everything below dir in the layers
// beneath.
func opaqueHeader(dir string, opts *TarOptions) *tar.Header {
	return &tar.Header{
		Typeflag: tar.TypeReg,
		Name:     joinPath(dir, whiteoutOpaque),
		Mode:     0o644,
		ModTime:  whiteoutTime(opts),
	}
}

func splitPath(p string) (dir, base string) {
	if i := strings.LastIndexByte(p, '/'); i >= 0 {
		return p[:i], p[i+1:]
	}
	return "", p
}

func joinPath(dir, base string) string {
	if dir == "" {
		return base
	}
	return dir + "/" + base
}

// pathLess orders cleaned relative paths depth-first with the names of each
// directory in byte order: the order a walk that sorts each directory
// produces ("a", "a/b", "a-b"). It is a byte-wise comparison in which "/"
// sorts before every other byte.
func pathLess(a, b string) bool {
	n := min(len(a), len(b))
	for i := 0; i < n; i++ {
		ca, cb := a[i], b[i]
		if ca == cb {
			continue
		}
		if ca == '/' {
			return true
		}
		if cb == '/' {
			return false
		}
		return ca < cb
	}
	return len(a) < len(b)
}

// copyBufSize is large enough that a copy's syscalls cost little next to
// its bytes, and small because every buffer in use is fresh memory: a
// cold 3-platform COPY build writes three layers at once, and with 1 MiB
// buffers it touched ~600 more pages (page faults were a quarter of its
// CPU) for the same work: 112 ms against 103 ms (`perf stat -r 15`, two
// rounds). Extraction is as fast either way (BenchmarkExtract on tmpfs,
// 8 interleaved runs of each).
const copyBufSize = 256 << 10

var bufPool = sync.Pool{New: func() any {
	b := make([]byte, copyBufSize)
	prefault.Buffer(b)
	return &b
}}

// copyN copies exactly n bytes from src to dst with a pooled buffer.
func copyN(dst io.Writer, src io.Reader, n int64) (int64, error) {
	bp := bufPool.Get().(*[]byte)
	defer bufPool.Put(bp)
	return io.CopyBuffer(dst, io.LimitReader(src, n), *bp)
}

// copyAll copies src to dst with a pooled buffer.
func copyAll(dst io.Writer, src io.Reader) (int64, error) {
	bp := bufPool.Get().(*[]byte)
	defer bufPool.Put(bp)
	return io.CopyBuffer(dst, src, *bp)
}

// maxSparseSize bounds the logical size of a sparse tar entry. Sparse
// entries expand to their logical size when read, so without a bound a
// few hundred bytes of hostile tar could demand exabytes of zeros.
var maxSparseSize int64 = 64 << 30

// isSparse reports whether hdr is a GNU sparse file (old GNU or PAX form).
func isSparse(hdr *tar.Header) bool {
	if hdr.Typeflag == tar.TypeGNUSparse {
		return true
	}
	for k := range hdr.PAXRecords {
		if strings.HasPrefix(k, "GNU.sparse.") {
			return true
		}
	}
	return false
}

func checkSparse(hdr *tar.Header) error {
	if isSparse(hdr) && hdr.Size > maxSparseSize {
		return fmt.Errorf("sparse file of %d bytes exceeds the %d-byte limit for sparse entries; re-create the archive without --sparse", hdr.Size, maxSparseSize)
	}
	return nil
}
