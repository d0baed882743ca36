//go:build unix

package engine

import (
	"context"
	"os"
	"path/filepath"
	"testing"
)

// BenchmarkBuildCached times a fully cached 3-platform build (COPY, RUN,
// WORKDIR): the work a cached build does besides the steps, which should
// depend on the Dockerfile, not on the base image.
//
//	go test -run '^$' -bench BuildCached -benchtime 50x ./internal/engine
func BenchmarkBuildCached(b *testing.B) {
	env := e2eEnv(b)
	ctx := context.Background()
	dir := b.TempDir()
	os.WriteFile(filepath.Join(dir, "f"), []byte("f\n"), 0o644)
	df := "FROM fixtures/busybox:1.35\nCOPY f /f\nRUN uname -m > /m\nWORKDIR /w\n"
	req := &Request{Dockerfile: []byte(df), DockerfileName: "Dockerfile", ContextDir: dir,
		Platforms: parsePlatforms(b, e2ePlatforms...), Tags: []string{"bench:cached"}}
	eng := NewNative(NativeOptions{Env: env})
	if _, err := eng.Build(ctx, req); err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for b.Loop() {
		res, err := eng.Build(ctx, req)
		if err != nil {
			b.Fatal(err)
		}
		for _, pr := range res.Platforms {
			for _, s := range pr.Steps {
				if s.Duration != 0 {
					b.Fatalf("a step ran: %+v", s)
				}
			}
		}
	}
}
