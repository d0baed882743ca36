//go:build unix

package engine

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"testing"

	"github.com/manyarch/manyarch/internal/snapshot"
	"github.com/manyarch/manyarch/internal/store"
)

// layerInput is 3.5 MiB (several compressor blocks) of half random, half
// repetitive bytes.
func layerInput() []byte {
	r := rand.New(rand.NewPCG(1, 2))
	b := make([]byte, 7<<19)
	for i := range b {
		if (i/4096)%2 == 0 {
			b[i] = byte(r.Uint32())
		} else {
			b[i] = byte(i % 251)
		}
	}
	return b
}

func blobCount(t *testing.T, root string) int {
	t.Helper()
	ents, err := os.ReadDir(filepath.Join(root, "blobs", "sha256"))
	if err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	return len(ents)
}

// TestWriteLayer: the stored blob decompresses to what fill wrote, the diff
// ID is its digest, and the compressed bytes are the same whatever the
// number of CPUs, for every compression.
func TestWriteLayer(t *testing.T) {
	ctx := context.Background()
	st, err := store.Open(ctx, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	in := layerInput()
	sum := sha256.Sum256(in)
	fill := func(w io.Writer) error { _, err := w.Write(in); return err }
	for _, comp := range []Compression{CompressionGzip, CompressionZstd, CompressionUncompressed} {
		t.Run(string(comp), func(t *testing.T) {
			var digests []string
			for _, procs := range []int{1, 2, 8} {
				old := runtime.GOMAXPROCS(procs)
				l, err := writeLayer(ctx, st, comp, fill)
				runtime.GOMAXPROCS(old)
				if err != nil {
					t.Fatalf("writeLayer with GOMAXPROCS %d: %v", procs, err)
				}
				d, _ := l.Digest()
				digests = append(digests, d.String())
				if id, _ := l.DiffID(); id.Hex != hex.EncodeToString(sum[:]) {
					t.Errorf("DiffID() = %s, want sha256:%x", id, sum)
				}
				rc, err := l.Compressed()
				if err != nil {
					t.Fatal(err)
				}
				dr, err := snapshot.Decompress(rc)
				if err != nil {
					t.Fatal(err)
				}
				got, err := io.ReadAll(dr)
				rc.Close()
				if err != nil || !bytes.Equal(got, in) {
					t.Fatalf("the stored layer decompresses to %d bytes (%v), want the %d written", len(got), err, len(in))
				}
			}
			if digests[0] != digests[1] || digests[1] != digests[2] {
				t.Errorf("digests with GOMAXPROCS 1, 2, 8: %v; want one digest", digests)
			}
		})
	}
}

// TestWriteLayerFillError: when fill fails part-way, writeLayer returns
// its error and the store keeps no blob and no temporary file of it.
func TestWriteLayerFillError(t *testing.T) {
	ctx := context.Background()
	root := t.TempDir()
	st, err := store.Open(ctx, root)
	if err != nil {
		t.Fatal(err)
	}
	before := blobCount(t, root)
	boom := errors.New("reading the upper directory: boom")
	in := layerInput()
	_, err = writeLayer(ctx, st, CompressionGzip, func(w io.Writer) error {
		if _, err := w.Write(in); err != nil {
			return err
		}
		return boom
	})
	if !errors.Is(err, boom) {
		t.Fatalf("writeLayer with a failing fill = %v, want %v", err, boom)
	}
	if n := blobCount(t, root); n != before {
		t.Errorf("the store holds %d blobs after a failed layer, had %d", n, before)
	}
	filepath.WalkDir(root, func(p string, d os.DirEntry, err error) error {
		if err == nil && d.Type().IsRegular() && filepath.Base(filepath.Dir(p)) != "sha256" && filepath.Base(p) != "index.json" && filepath.Base(p) != "oci-layout" {
			t.Logf("file in the store: %s", p)
		}
		return nil
	})
}

// TestGzipCompressorID: the gzip compressor's ID in cache keys names the
// block size and level the layers are written with, so a step cached with
// other blocks (other bytes, other digests) is not reused.
func TestGzipCompressorID(t *testing.T) {
	want := fmt.Sprintf("gzip/pgzip-%dKiB-l%d", gzipBlockSize>>10, gzipLevel)
	if got := CompressionGzip.compressorID(); got != want {
		t.Errorf("CompressionGzip.compressorID() = %q, want %q", got, want)
	}
}
