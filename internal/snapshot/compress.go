package snapshot

import (
	"bufio"
	"bytes"
	"compress/bzip2"
	"errors"
	"fmt"
	"io"

	"github.com/manyarch/manyarch/internal/layer"
)

var (
	magicBzip2 = []byte("BZh")
	magicXz    = []byte{0xfd, '7', 'z', 'X', 'Z', 0x00}
)

// Decompress sniffs the first bytes of r and returns a reader of the
// decompressed stream: gzip, zstd and bzip2 are decompressed, anything else
// (a plain tar) is passed through; zstd frames may ask for a window of at
// most layer.MaxZstdWindow. xz is refused with an error saying how to
// decompress it. Close releases the decompressor; it does not close r.
func Decompress(r io.Reader) (io.ReadCloser, error) {
	br := bufio.NewReaderSize(r, 64<<10)
	head, err := br.Peek(len(magicXz))
	if err != nil && !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("sniffing compression: %w", err)
	}
	switch {
	case bytes.HasPrefix(head, magicBzip2):
		return io.NopCloser(bzip2.NewReader(br)), nil
	case bytes.HasPrefix(head, magicXz):
		return nil, errors.New("xz-compressed input is not supported: decompress it first (xz -d FILE) or recompress it with gzip or zstd")
	}
	rc, _, err := layer.Decompress(br) // gzip, zstd (with layer.MaxZstdWindow) or plain
	return rc, err
}
