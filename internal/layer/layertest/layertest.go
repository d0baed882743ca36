package layertest

import (
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// HugeWindowZstd is a valid zstd frame holding content (at most 128 KiB, one
// raw block) whose header asks for a 256 MiB window: more than layer.MaxZstdWindow,
// less than klauspost/zstd's default limit (512 MiB), which ggcr's
// Uncompressed uses.
func HugeWindowZstd(content []byte) []byte {
	if len(content) > 128<<10 {
		panic("layertest.HugeWindowZstd: content over one block")
	}
	b := []byte{0x28, 0xb5, 0x2f, 0xfd}      // magic
	b = append(b, 0x00)                      // frame header: no content size, not single segment, no checksum, no dictionary
	b = append(b, 18<<3)                     // window descriptor: exponent 18 -> 2^(10+18) = 256 MiB, mantissa 0
	h := uint32(1) | uint32(len(content))<<3 // last block, raw, size
	b = append(b, byte(h), byte(h>>8), byte(h>>16))
	return append(b, content...)
}

// Gzip compresses b.
func Gzip(t testing.TB, b []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	if _, err := zw.Write(b); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// Digest is b's sha256 digest.
func Digest(b []byte) v1.Hash {
	s := sha256.Sum256(b)
	return v1.Hash{Algorithm: "sha256", Hex: hex.EncodeToString(s[:])}
}

// Layer is a layer whose blob is served as it is, for blobs ggcr would
// refuse to build: Compressed returns blob; Uncompressed returns uncompressed
// (nil: blob, as a layer of an uncompressed media type). Digest is blob's,
// DiffID uncompressed's.
type Layer struct {
	Blob, Raw []byte
	Type      types.MediaType
}

// NewLayer is a Layer of media type mt.
func NewLayer(blob, uncompressed []byte, mt types.MediaType) *Layer {
	if uncompressed == nil {
		uncompressed = blob
	}
	return &Layer{Blob: blob, Raw: uncompressed, Type: mt}
}

func (l *Layer) Digest() (v1.Hash, error) { return Digest(l.Blob), nil }
func (l *Layer) DiffID() (v1.Hash, error) { return Digest(l.Raw), nil }
func (l *Layer) Compressed() (io.ReadCloser, error) {
	return io.NopCloser(bytes.NewReader(l.Blob)), nil
}
func (l *Layer) Uncompressed() (io.ReadCloser, error) {
	return io.NopCloser(bytes.NewReader(l.Raw)), nil
}
func (l *Layer) Size() (int64, error)                { return int64(len(l.Blob)), nil }
func (l *Layer) MediaType() (types.MediaType, error) { return l.Type, nil }

var _ v1.Layer = (*Layer)(nil)

// Case is a hostile layer and what an error about it must say (besides the
// layer's digest).
type Case struct {
	Name  string
	Layer *Layer
	Want  string
}

// Hostile returns the layers every layer reader must refuse, made of the
// tar raw (at most 128 KiB): a zstd frame asking for a 256 MiB window, and a
// gzip blob cut in half. Their Uncompressed gives raw, as a reader without
// the limits would see it.
func Hostile(t testing.TB, raw []byte) []Case {
	full := Gzip(t, raw)
	return []Case{
		{"zstd window", NewLayer(HugeWindowZstd(raw), raw, types.OCILayerZStd), "window"},
		{"truncated gzip", NewLayer(full[:len(full)/2], raw, types.OCILayer), "truncated"},
	}
}
