package engine

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"

	"github.com/ulikunitz/xz"

	"github.com/manyarch/manyarch/internal/cgroup"
	"github.com/manyarch/manyarch/internal/snapshot"
)

// magicXz starts an xz stream.
var magicXz = []byte{0xfd, '7', 'z', 'X', 'Z', 0x00}

// maxUnpacked bounds what one archive ADD unpacks may expand to (the tar
// stream, headers included, so at most maxUnpacked/512 entries): a small
// compressed file cannot fill the disk. A variable for tests.
var maxUnpacked int64 = 32 << 30

// openArchive returns the uncompressed tar stream of a local archive that
// ADD unpacks, as BuildKit's unpacking reads it: gzip, bzip2, xz and zstd
// are decompressed (sniffed by their first bytes, not the file's name),
// anything else is read as a plain tar. The stream fails once it exceeds
// maxUnpacked. name is the source as the Dockerfile names it, for errors.
// Close releases the decompressor; it does not close r.
func openArchive(r io.Reader, name string) (io.ReadCloser, error) {
	br := bufio.NewReaderSize(r, 64<<10)
	head, err := br.Peek(len(magicXz))
	if err != nil && !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("reading %s: %w", name, err)
	}
	var dr io.ReadCloser
	if bytes.HasPrefix(head, magicXz) {
		// BuildKit (moby/go-archive) runs the host's xz for these; the
		// decoder allocates the dictionary the stream names, at most what
		// xz itself would (xz -9: 64 MiB).
		xr, err := xz.NewReader(br)
		if err != nil {
			return nil, fmt.Errorf("opening xz stream of %s: %w", name, err)
		}
		dr = io.NopCloser(xr)
	} else if dr, err = snapshot.Decompress(br); err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	return &boundedArchive{rc: dr, left: maxUnpacked, name: name}, nil
}

// boundedArchive is an archive's uncompressed stream that fails past
// maxUnpacked bytes.
type boundedArchive struct {
	rc   io.ReadCloser
	left int64
	name string
}

func (b *boundedArchive) Read(p []byte) (int, error) {
	if b.left <= 0 {
		// One byte more tells an archive of exactly the bound from a
		// longer one.
		var one [1]byte
		if n, _ := io.ReadFull(b.rc, one[:]); n == 0 {
			return 0, io.EOF
		}
		return 0, fmt.Errorf("%s unpacks to more than %s: unpack it in a RUN step instead (RUN --mount=type=bind,source=%s,target=/tmp/a tar -xf /tmp/a -C DEST)",
			b.name, cgroup.FormatSize(maxUnpacked), b.name)
	}
	if int64(len(p)) > b.left {
		p = p[:b.left]
	}
	n, err := b.rc.Read(p)
	b.left -= int64(n)
	return n, err
}

func (b *boundedArchive) Close() error { return b.rc.Close() }
