package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestPruneFreesEverything: after builds with a cache mount, manyarch prune
// removes the step cache, the cache mount and the unpacked layers, keeps
// the named image whole, and the next build works from scratch.
func TestPruneFreesEverything(t *testing.T) {
	root := fixtureStore(t)
	ctxDir := t.TempDir()
	df := "FROM fixtures/busybox:1.35\nRUN --mount=type=cache,target=/cache echo cached > /cache/x && uname -m > /m\nRUN cat /m\n"
	if err := os.WriteFile(filepath.Join(ctxDir, "Dockerfile"), []byte(df), 0o644); err != nil {
		t.Fatal(err)
	}
	manyarch(t, root, "build", "-q", "--platform", "linux/amd64,linux/arm64", "-t", "pruned:1", ctxDir)
	count := func(dir string) int {
		ents, _ := os.ReadDir(filepath.Join(root, dir))
		return len(ents)
	}
	if count("buildcache") == 0 || count("buildcache-mounts") == 0 || count("snapshots/sha256") == 0 {
		t.Fatalf("after the build: %d records, %d cache mounts, %d unpacked layers; want some of each",
			count("buildcache"), count("buildcache-mounts"), count("snapshots/sha256"))
	}
	out := manyarch(t, root, "prune")
	if !strings.Contains(out, "unpacked layers") {
		t.Errorf("prune printed %q", out)
	}
	for _, d := range []string{"buildcache", "buildcache-mounts", "snapshots/sha256"} {
		if n := count(d); n != 0 {
			t.Errorf("%d entries left in %s after prune", n, d)
		}
	}
	checkStore(t, root)
	if got := manyarch(t, root, "run", "--platform", "linux/arm64", "pruned:1", "cat", "/m"); strings.TrimSpace(got) != "aarch64" {
		t.Errorf("run of the pruned store's image printed %q, want aarch64", got)
	}
	manyarch(t, root, "build", "-q", "--platform", "linux/amd64,linux/arm64", "-t", "pruned:2", ctxDir)
}
