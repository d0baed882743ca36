package verify

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"hash"
	"io"
	"path"
	"strings"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/manyarch/manyarch/internal/layer"
)

// entryKind is what a tar entry does to the file system.
type entryKind uint8

const (
	kindFile entryKind = iota
	kindDir
	kindSymlink
	kindHardlink
	kindWhiteout // removes path from the layers below
	kindOpaque   // hides the layers below inside directory path
	kindOther    // devices, FIFOs
)

const (
	whiteoutPrefix = ".wh."
	whiteoutOpaque = ".wh..wh..opq"
	maxShebang     = 256
)

// entry is the small record kept for each tar entry of a layer.
type entry struct {
	path    string // clean, relative to the root, no leading slash
	kind    entryKind
	exec    bool   // some execute bit set
	link    string // symlink target as written; hard link target, cleaned
	elf     *elfFile
	shebang string // first line of a "#!" file, without "#!"
}

// layerScan is what reading one layer produced.
type layerScan struct {
	entries []entry
	files   int   // regular files
	bytes   int64 // uncompressed bytes read
	diffID  v1.Hash
	digest  v1.Hash // of the bytes read, compressed
	size    int64   // compressed bytes read
}

// countingHash hashes and counts what passes through it.
type countingHash struct {
	h hash.Hash
	n int64
}

func (c *countingHash) Write(p []byte) (int, error) {
	c.n += int64(len(p))
	return c.h.Write(p)
}

func (c *countingHash) sum() v1.Hash {
	return v1.Hash{Algorithm: "sha256", Hex: fmt.Sprintf("%x", c.h.Sum(nil))}
}

// scanLayer reads layer l once: it checks the compressed digest and size as
// it goes, decompresses (internal/layer: gzip, zstd or none),
// hashes the uncompressed stream for the diff ID and reads each tar entry,
// keeping a small record per entry.
func scanLayer(ctx context.Context, l v1.Layer) (*layerScan, error) {
	blob := &countingHash{h: sha256.New()}
	raw, err := layer.Open(ctx, l, layer.WithBlobWriter(blob))
	if err != nil {
		return nil, err
	}
	defer raw.Close()
	// An uncompressed blob is its own diff: hash it once.
	diff := blob
	var tarStream io.Reader = raw
	if raw.Compression() != layer.Uncompressed {
		diff = &countingHash{h: sha256.New()}
		tarStream = io.TeeReader(raw, diff)
	}
	tr := tar.NewReader(tarStream)
	s := &layerScan{}
	head := make([]byte, headSize)
	for n := 0; ; n++ {
		if n%1024 == 0 && ctx.Err() != nil {
			return nil, ctx.Err()
		}
		hdr, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, tarError(err, diff.n)
		}
		e, ok := entryFor(hdr)
		if !ok {
			continue
		}
		if e.kind == kindFile {
			s.files++
			if err := readFile(tr, hdr.Size, head, &e); err != nil {
				return nil, tarError(fmt.Errorf("reading %s: %w", hdr.Name, err), diff.n)
			}
		}
		s.entries = append(s.entries, e)
	}
	// Read to the end through the diff hash: what follows the end-of-archive
	// marker (GNU tar and Python's tarfile pad to a 10240-byte record) is
	// part of the diff ID docker computes, and the compression trailer part
	// of the blob digest.
	if _, err := io.Copy(io.Discard, tarStream); err != nil {
		return nil, tarError(err, diff.n)
	}
	s.bytes = diff.n
	s.digest, s.size = blob.sum(), blob.n
	s.diffID = s.digest
	if diff != blob {
		s.diffID = diff.sum()
	}
	return s, nil
}

func tarError(err error, at int64) error {
	if errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) {
		return fmt.Errorf("%w: the layer is truncated (the stream ends after %d uncompressed bytes)", errTruncated, at)
	}
	return fmt.Errorf("after %d uncompressed bytes: %w", at, err)
}

// entryFor turns a tar header into an entry; ok is false for entries that
// do not change the tree (the root itself, global headers).
func entryFor(hdr *tar.Header) (entry, bool) {
	p := cleanPath(hdr.Name)
	if p == "" {
		return entry{}, false
	}
	dir, base := path.Split(p)
	dir = strings.TrimSuffix(dir, "/")
	switch {
	case base == whiteoutOpaque:
		return entry{path: dir, kind: kindOpaque}, true
	case strings.HasPrefix(base, whiteoutPrefix):
		return entry{path: path.Join(dir, base[len(whiteoutPrefix):]), kind: kindWhiteout}, true
	}
	e := entry{path: p, exec: hdr.Mode&0o111 != 0}
	switch hdr.Typeflag {
	case tar.TypeReg, tar.TypeRegA, tar.TypeGNUSparse:
		e.kind = kindFile
	case tar.TypeDir:
		e.kind = kindDir
	case tar.TypeSymlink:
		e.kind, e.link = kindSymlink, hdr.Linkname
	case tar.TypeLink:
		e.kind, e.link = kindHardlink, cleanPath(hdr.Linkname)
	case tar.TypeXGlobalHeader:
		return entry{}, false
	default:
		e.kind = kindOther
	}
	return e, true
}

// cleanPath makes a tar name a clean path relative to the root; it cannot
// leave the root.
func cleanPath(name string) string {
	return strings.TrimPrefix(path.Clean("/"+name), "/")
}

// readFile reads what verify needs of a regular file: its first bytes and,
// for ELF files, the windows readELF asks for. The tar reader skips the
// rest.
func readFile(r io.Reader, size int64, head []byte, e *entry) error {
	if size <= 0 {
		return nil
	}
	n, err := io.ReadFull(r, head[:min(int64(len(head)), size)])
	if err != nil {
		return unexpected(err)
	}
	b := head[:n]
	switch {
	case isELF(b):
		f, err := readELF(r, bytes.Clone(b), size)
		if err != nil {
			return err
		}
		e.elf = f
	case e.exec && bytes.HasPrefix(b, []byte("#!")):
		line := b[2:min(len(b), maxShebang)]
		if i := bytes.IndexByte(line, '\n'); i >= 0 {
			line = line[:i]
		}
		e.shebang = strings.TrimSpace(string(line))
		if e.shebang == "" {
			e.shebang = " " // "#!" alone: a script with no interpreter
		}
	}
	return nil
}
