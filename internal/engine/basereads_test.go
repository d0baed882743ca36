//go:build unix

package engine

import (
	"context"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/google/go-containerregistry/pkg/registry"

	"github.com/manyarch/manyarch/internal/ref"
)

// TestBuildReadsBaseOnce: a 3-platform build from a registry base asks the
// registry for the base's index once, not once per platform (BuildKit
// resolves a base once too); a cached rebuild does the same.
func TestBuildReadsBaseOnce(t *testing.T) {
	env := e2eEnv(t)
	ctx := context.Background()
	var indexGets atomic.Int64
	reg := registry.New(registry.Logger(log.New(io.Discard, "", 0)))
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if (r.Method == http.MethodGet || r.Method == http.MethodHead) && strings.HasSuffix(r.URL.Path, "/manifests/1.35") {
			indexGets.Add(1)
		}
		reg.ServeHTTP(w, r)
	}))
	defer srv.Close()
	host := strings.TrimPrefix(srv.URL, "http://")
	src, _ := ref.Parse("fixtures/busybox:1.35")
	a, err := ref.Read(ctx, env, src)
	if err != nil {
		t.Fatal(err)
	}
	dst, err := ref.Parse("docker://" + host + "/busybox:1.35")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ref.Write(ctx, env, dst, a); err != nil {
		t.Fatalf("pushing the base: %v", err)
	}

	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "f"), []byte("f\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	df := "FROM docker://" + host + "/busybox:1.35\nCOPY f /f\n"
	for _, run := range []string{"cold", "cached"} {
		indexGets.Store(0)
		req := &Request{Dockerfile: []byte(df), DockerfileName: "Dockerfile", ContextDir: dir,
			Platforms: parsePlatforms(t, e2ePlatforms...), NoCache: run == "cold"}
		if _, err := NewNative(NativeOptions{Env: env}).Build(ctx, req); err != nil {
			t.Fatalf("%s Build: %v", run, err)
		}
		if n := indexGets.Load(); n != 1 {
			t.Errorf("%s build of %d platforms: %d requests for the base's index, want 1", run, len(e2ePlatforms), n)
		}
	}
}
