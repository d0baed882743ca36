// Command storebench measures internal/store against the same disk and data
// as bench/store.sh's skopeo run.
//
//	storebench gen DIR          write a ~1 GiB 8-layer OCI image tagged "bench" into the layout DIR
//	storebench copy SRC DST     copy SRC's "bench" into a new store DST (write), then
//	                            read every blob of it back, verified (read)
//
// copy prints "write_seconds=S" and "read_seconds=S" lines.
package main

import (
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"strconv"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/manyarch/manyarch/internal/store"
)

func main() {
	if err := run(context.Background(), os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "storebench:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string) error {
	switch {
	case len(args) >= 2 && args[0] == "gen":
		layers, size := 8, int64(128<<20)
		if len(args) == 4 {
			var err error
			if layers, err = strconv.Atoi(args[2]); err != nil {
				return err
			}
			if size, err = strconv.ParseInt(args[3], 10, 64); err != nil {
				return err
			}
		}
		s, err := store.Open(ctx, args[1], store.WithFsync(false))
		if err != nil {
			return err
		}
		d, n, err := generate(ctx, s, layers, size)
		if err != nil {
			return err
		}
		fmt.Printf("digest=%s\nbytes=%d\n", d.Digest, n)
		return nil
	case len(args) == 3 && args[0] == "copy":
		return copyAndRead(ctx, args[1], args[2])
	}
	return errors.New("usage: storebench gen DIR [LAYERS LAYER_BYTES] | storebench copy SRC DST")
}

func copyAndRead(ctx context.Context, srcDir, dstDir string) error {
	src, err := store.Open(ctx, srcDir)
	if err != nil {
		return err
	}
	d, err := src.Resolve(ctx, "bench")
	if err != nil {
		return err
	}
	start := time.Now()
	dst, err := store.Open(ctx, dstDir)
	if err != nil {
		return err
	}
	img, err := src.Image(ctx, d.Digest)
	if err != nil {
		return err
	}
	nd, err := dst.WriteImage(ctx, img)
	if err != nil {
		return err
	}
	if err := dst.Tag(ctx, "bench", nd); err != nil {
		return err
	}
	fmt.Printf("write_seconds=%.3f\n", time.Since(start).Seconds())

	start = time.Now()
	img, err = dst.Image(ctx, nd.Digest)
	if err != nil {
		return err
	}
	if _, err := img.RawConfigFile(); err != nil {
		return err
	}
	ls, err := img.Layers()
	if err != nil {
		return err
	}
	for _, l := range ls {
		rc, err := l.Compressed()
		if err != nil {
			return err
		}
		_, err = io.Copy(io.Discard, rc)
		rc.Close()
		if err != nil {
			return err
		}
	}
	fmt.Printf("read_seconds=%.3f\n", time.Since(start).Seconds())
	return nil
}

// generate is the generator of internal/store's benchmarks: incompressible
// random layers with the gzip media type holding stored, uncompressed blocks (not real tar files),
// so a copy measures hashing and I/O, never compression.
func generate(ctx context.Context, s *store.Store, layers int, layerSize int64) (v1.Descriptor, int64, error) {
	rng := rand.NewChaCha8([32]byte{1})
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
	cfg, err := json.Marshal(v1.ConfigFile{Architecture: "amd64", OS: "linux", RootFS: v1.RootFS{Type: "layers", DiffIDs: diffIDs}})
	if err != nil {
		return v1.Descriptor{}, 0, err
	}
	cd, err := s.WriteBlob(ctx, bytes.NewReader(cfg), v1.Hash{}, int64(len(cfg)))
	if err != nil {
		return v1.Descriptor{}, 0, err
	}
	cd.MediaType = types.OCIConfigJSON
	man, err := json.Marshal(v1.Manifest{SchemaVersion: 2, MediaType: types.OCIManifestSchema1, Config: cd, Layers: ls})
	if err != nil {
		return v1.Descriptor{}, 0, err
	}
	md, err := s.WriteBlob(ctx, bytes.NewReader(man), v1.Hash{}, int64(len(man)))
	if err != nil {
		return v1.Descriptor{}, 0, err
	}
	md.MediaType = types.OCIManifestSchema1
	total += cd.Size + md.Size
	return md, total, s.Tag(ctx, "bench", md)
}

// gzipStoredLayer writes r as a gzip stream of stored (uncompressed) blocks: a
// valid tar+gzip media type that no tool recompresses, costing no compression
// time anywhere. It returns the blob's descriptor and the diff ID.
func gzipStoredLayer(ctx context.Context, s *store.Store, r io.Reader) (v1.Descriptor, v1.Hash, error) {
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
