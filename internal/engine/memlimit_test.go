//go:build unix

package engine

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/manyarch/manyarch/internal/cgroup"
	"github.com/manyarch/manyarch/internal/store"
)

// TestBuildMemoryLimit: --memory-limit bounds the RUN steps of every
// platform, emulated ones included; a step over the limit fails the build
// with an error naming the step, its platform and the limit, nothing is
// tagged, and no cgroup is left behind.
func TestBuildMemoryLimit(t *testing.T) {
	env := e2eEnv(t)
	probe, err := cgroup.NewMemory(64 << 20)
	if errors.Is(err, cgroup.ErrNoMemoryController) {
		t.Skipf("no memory cgroup: %v", err)
	}
	if err != nil {
		t.Fatal(err)
	}
	parent := filepath.Dir(probe.Dir())
	if err := probe.Remove(); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	const limit = 64 << 20
	build := func(df string, platforms ...string) error {
		t.Helper()
		_, err := NewNative(NativeOptions{Env: env}).Build(ctx, &Request{Dockerfile: []byte(df), DockerfileName: "Dockerfile",
			ContextDir: t.TempDir(), Platforms: parsePlatforms(t, platforms...), Tags: []string{"mem:1"}, MemoryLimit: limit, NoCache: true})
		return err
	}
	// dd reads into a buffer of bs bytes: 8 MiB fits under 64 MiB, 256 MiB does not.
	if err := build("FROM fixtures/busybox:1.35\nRUN dd if=/dev/zero of=/dev/null bs=8M count=4\n", "linux/amd64", "linux/arm64"); err != nil {
		t.Fatalf("a small step under a 64 MiB limit: %v", err)
	}
	for _, p := range []string{"linux/amd64", "linux/arm64"} {
		t.Run(p, func(t *testing.T) {
			st, _ := env.Store(ctx)
			if err := st.Untag(ctx, "mem:1"); err != nil && !errors.Is(err, store.ErrNotFound) {
				t.Fatal(err)
			}
			err := build("FROM fixtures/busybox:1.35\nRUN echo start; dd if=/dev/zero of=/dev/null bs=256M count=1\n", p)
			t.Logf("the build failed as it should: %v", err)
			var re *RunError
			if !errors.As(err, &re) {
				t.Fatalf("a 256 MiB step under a 64 MiB limit: %v (%T), want a *RunError", err, err)
			}
			if re.OOMKills == 0 || re.MemoryLimit != limit {
				t.Errorf("RunError OOMKills %d, MemoryLimit %d; want > 0 and %d", re.OOMKills, re.MemoryLimit, limit)
			}
			for _, want := range []string{"Dockerfile:2", p, "out-of-memory killer", "--memory-limit of 64MiB", "| start"} {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error %q does not contain %q", err, want)
				}
			}
			if _, err := st.Resolve(ctx, "mem:1"); !errors.Is(err, store.ErrNotFound) {
				t.Errorf("after a failed build, mem:1 resolves (%v); want no tag", err)
			}
		})
	}
	entries, err := os.ReadDir(parent)
	if err != nil {
		t.Fatal(err)
	}
	prefix := "manyarch-" + strconv.Itoa(os.Getpid()) + "-"
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), prefix) {
			t.Errorf("cgroup %s left behind after the builds", filepath.Join(parent, e.Name()))
		}
	}
}
