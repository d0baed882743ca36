package store

import (
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"sync"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// Benchmarks run only with -bench (go test never runs them otherwise). They
// copy a ~1 GiB, 8-layer image of incompressible, uncompressed layers from a
// source layout under /var/tmp (built once per run) into fresh stores, so no
// compression is measured: only hashing, writing, fsync and verified reads.
//
//	go test ./internal/store -run '^$' -bench 1GiB -benchtime 3x
//
// bench/store.sh compares the same copy with `skopeo copy`.

var bench struct {
	once sync.Once
	dir  string
	src  *Store
	desc v1.Descriptor
	size int64
	err  error
}

func benchSource(b *testing.B) (*Store, v1.Descriptor, int64) {
	b.Helper()
	bench.once.Do(func() {
		bench.dir, bench.err = os.MkdirTemp(benchDir(), "manyarch-store-bench-")
		if bench.err != nil {
			return
		}
		ctx := context.Background()
		bench.src, bench.err = Open(ctx, bench.dir+"/src", WithFsync(false))
		if bench.err != nil {
			return
		}
		bench.desc, bench.size, bench.err = generateBenchImage(ctx, bench.src, 8, 128<<20, 1)
	})
	if bench.err != nil {
		b.Fatalf("building the benchmark source: %v", bench.err)
	}
	return bench.src, bench.desc, bench.size
}

func benchDir() string {
	if d := os.Getenv("MANYARCH_BENCH_DIR"); d != "" {
		return d
	}
	return "/var/tmp"
}

func benchCleanup() {
	if bench.dir != "" {
		os.RemoveAll(bench.dir)
	}
}

func copyOnce(b *testing.B, src *Store, d v1.Descriptor) *Store {
	b.Helper()
	ctx := b.Context()
	dir, err := os.MkdirTemp(bench.dir, "dst-")
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { os.RemoveAll(dir) })
	dst, err := Open(ctx, dir)
	if err != nil {
		b.Fatal(err)
	}
	img, err := src.Image(ctx, d.Digest)
	if err != nil {
		b.Fatal(err)
	}
	nd, err := dst.WriteImage(ctx, img)
	if err != nil {
		b.Fatal(err)
	}
	if err := dst.Tag(ctx, "bench", nd); err != nil {
		b.Fatal(err)
	}
	return dst
}

func BenchmarkStoreWrite1GiB(b *testing.B) {
	src, d, size := benchSource(b)
	b.SetBytes(size)
	for b.Loop() {
		dst := copyOnce(b, src, d)
		b.StopTimer()
		os.RemoveAll(dst.Root())
		b.StartTimer()
	}
}

func BenchmarkStoreRead1GiB(b *testing.B) {
	src, d, size := benchSource(b)
	dst := copyOnce(b, src, d)
	ctx := b.Context()
	b.SetBytes(size)
	for b.Loop() {
		img, err := dst.Image(ctx, d.Digest)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := img.RawConfigFile(); err != nil {
			b.Fatal(err)
		}
		ls, err := img.Layers()
		if err != nil {
			b.Fatal(err)
		}
		for _, l := range ls {
			rc, err := l.Compressed()
			if err != nil {
				b.Fatal(err)
			}
			if _, err := io.Copy(io.Discard, rc); err != nil {
				b.Fatal(err)
			}
			rc.Close()
		}
	}
}

// generateBenchImage writes into s an OCI image of layers layers of
// layerSize incompressible random bytes each (gzip media type holding stored, uncompressed blocks,
// so the copy being measured involves no compression), seeded by seed, and
// returns its manifest descriptor and total size. The layers are not tar
// archives: only for measuring copies. bench/storebench has the same generator.
func generateBenchImage(ctx context.Context, s *Store, layers int, layerSize int64, seed uint64) (v1.Descriptor, int64, error) {
	if layers < 1 || layerSize < 1 {
		return v1.Descriptor{}, 0, fmt.Errorf("generating benchmark image: need at least one non-empty layer")
	}
	var seedBytes [32]byte
	for i := range 8 {
		seedBytes[i] = byte(seed >> (8 * i))
	}
	rng := rand.NewChaCha8(seedBytes)
	var total int64
	var ls []v1.Descriptor
	var diffIDs []v1.Hash
	for i := range layers {
		d, diffID, err := gzipStoredLayer(ctx, s, io.LimitReader(rng, layerSize))
		if err != nil {
			return v1.Descriptor{}, 0, fmt.Errorf("layer %d: %w", i, err)
		}
		d.MediaType = types.OCILayer
		ls = append(ls, d)
		diffIDs = append(diffIDs, diffID)
		total += d.Size
	}
	cfg, err := json.Marshal(v1.ConfigFile{
		Architecture: "amd64",
		OS:           "linux",
		RootFS:       v1.RootFS{Type: "layers", DiffIDs: diffIDs},
	})
	if err != nil {
		return v1.Descriptor{}, 0, err
	}
	cd, err := s.WriteBlob(ctx, bytes.NewReader(cfg), v1.Hash{}, int64(len(cfg)))
	if err != nil {
		return v1.Descriptor{}, 0, fmt.Errorf("generating benchmark config: %w", err)
	}
	cd.MediaType = types.OCIConfigJSON
	man, err := json.Marshal(v1.Manifest{SchemaVersion: 2, MediaType: types.OCIManifestSchema1, Config: cd, Layers: ls})
	if err != nil {
		return v1.Descriptor{}, 0, err
	}
	md, err := s.WriteBlob(ctx, bytes.NewReader(man), v1.Hash{}, int64(len(man)))
	if err != nil {
		return v1.Descriptor{}, 0, fmt.Errorf("generating benchmark manifest: %w", err)
	}
	md.MediaType = types.OCIManifestSchema1
	total += cd.Size + md.Size
	if err := s.Tag(ctx, "bench", md); err != nil {
		return v1.Descriptor{}, 0, err
	}
	return md, total, nil
}

// gzipStoredLayer writes r as a gzip stream of stored (uncompressed) blocks: a
// valid tar+gzip media type that no tool recompresses, costing no compression
// time anywhere. It returns the blob's descriptor and the diff ID.
func gzipStoredLayer(ctx context.Context, s *Store, r io.Reader) (v1.Descriptor, v1.Hash, error) {
	pr, pw := io.Pipe()
	diff := sha256.New()
	go func() {
		zw, err := gzip.NewWriterLevel(pw, gzip.NoCompression)
		if err == nil {
			_, err = io.Copy(zw, io.TeeReader(r, diff))
			if cerr := zw.Close(); err == nil {
				err = cerr
			}
		}
		pw.CloseWithError(err)
	}()
	d, err := s.WriteBlob(ctx, pr, v1.Hash{}, -1)
	pr.Close()
	if err != nil {
		return v1.Descriptor{}, v1.Hash{}, err
	}
	return d, v1.Hash{Algorithm: "sha256", Hex: hex.EncodeToString(diff.Sum(nil))}, nil
}
