//go:build linux

package snapshot

import (
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"testing"
)

// benchTree makes a tree of about MANYARCH_BENCH_MB megabytes (default
// 1024): 90% in 1 MiB files, the rest in 8 KiB files 100 to a directory,
// like a distribution's /usr. It returns the directory and the bytes in it.
func benchTree(b *testing.B) (string, int64) {
	b.Helper()
	mb := int64(1024)
	if s := os.Getenv("MANYARCH_BENCH_MB"); s != "" {
		v, err := strconv.ParseInt(s, 10, 64)
		if err != nil || v <= 0 {
			b.Fatalf("MANYARCH_BENCH_MB=%q: want a positive number of megabytes", s)
		}
		mb = v
	}
	dir := b.TempDir()
	rng := rand.NewChaCha8([32]byte{1})
	big := make([]byte, 1<<20)
	var total int64
	nbig := int(mb * 9 / 10)
	for i := range nbig {
		rng.Read(big)
		p := filepath.Join(dir, "big", fmt.Sprintf("%02d", i%64), fmt.Sprintf("f%04d", i))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			b.Fatal(err)
		}
		if err := os.WriteFile(p, big, 0o644); err != nil {
			b.Fatal(err)
		}
		total += int64(len(big))
	}
	small := big[:8<<10]
	nsmall := int((mb << 20) / 10 / int64(len(small)))
	for i := range nsmall {
		p := filepath.Join(dir, "small", fmt.Sprintf("d%03d", i/100), fmt.Sprintf("f%03d", i%100))
		if i%100 == 0 {
			if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
				b.Fatal(err)
			}
		}
		if err := os.WriteFile(p, small, 0o644); err != nil {
			b.Fatal(err)
		}
		total += int64(len(small))
	}
	return dir, total
}

func BenchmarkWriteTar(b *testing.B) {
	dir, total := benchTree(b)
	b.SetBytes(total)
	b.ResetTimer()
	for b.Loop() {
		if err := WriteTar(context.Background(), io.Discard, dir, TarOptions{}); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkExtract(b *testing.B) {
	dir, total := benchTree(b)
	tarPath := filepath.Join(b.TempDir(), "layer.tar")
	f, err := os.Create(tarPath)
	if err != nil {
		b.Fatal(err)
	}
	if err := WriteTar(context.Background(), f, dir, TarOptions{}); err != nil {
		b.Fatal(err)
	}
	if err := f.Close(); err != nil {
		b.Fatal(err)
	}
	if err := os.RemoveAll(dir); err != nil {
		b.Fatal(err)
	}
	b.SetBytes(total)
	out := b.TempDir()
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		in, err := os.Open(tarPath)
		if err != nil {
			b.Fatal(err)
		}
		dst := filepath.Join(out, strconv.Itoa(i))
		if _, err := Extract(context.Background(), in, dst, ExtractOptions{}); err != nil {
			b.Fatal(err)
		}
		in.Close()
		b.StopTimer()
		if err := os.RemoveAll(dst); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
	}
}
