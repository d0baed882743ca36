package build

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/manyarch/manyarch/internal/ref"
)

// Cases adapted from BuildKit v0.34.2's frontend tests
// (frontend/dockerfile/*_test.go), each named after the test it comes from.

// fidelityBuild builds df (FROM scratch or anything in a fresh store) on
// linux/amd64 with a context holding files (a name ending in / is a
// directory) and returns the local output directory.
func fidelityBuild(t *testing.T, df string, files map[string]string) (string, error) {
	t.Helper()
	ctxDir := t.TempDir()
	for name, data := range files {
		p := filepath.Join(ctxDir, name)
		if strings.HasSuffix(name, "/") {
			if err := os.MkdirAll(p, 0o755); err != nil {
				t.Fatal(err)
			}
			continue
		}
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	env := &ref.Env{StoreRoot: t.TempDir()}
	t.Cleanup(func() { env.Close() })
	return fidelityBuildIn(t, env, ctxDir, df)
}

func fidelityBuildIn(t *testing.T, env *ref.Env, ctxDir, df string) (string, error) {
	t.Helper()
	out := filepath.Join(t.TempDir(), "out")
	req := &Request{Dockerfile: []byte(df), DockerfileName: filepath.Join(ctxDir, "Dockerfile"), ContextDir: ctxDir,
		Platforms: parsePlatforms(t, "linux/amd64"),
		Outputs:   []Output{{Type: "local", Dest: out, Attrs: map[string]string{}}}}
	_, err := NewNative(NativeOptions{Env: env}).Build(context.Background(), req)
	return out, err
}

func readOut(t *testing.T, out, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(out, name))
	if err != nil {
		t.Errorf("%s: %v", name, err)
	}
	return string(b)
}

// TestEmptyWildcard (BuildKit testEmptyWildcard): a wildcard source that
// matches nothing is skipped, the other sources are copied.
func TestEmptyWildcard(t *testing.T) {
	out, err := fidelityBuild(t, "FROM scratch\nCOPY foo nomatch* /\nCOPY nomatch* /d/\n", map[string]string{"foo": "contents0"})
	if err != nil {
		t.Fatalf("Build: %v", err)
	}
	if got := readOut(t, out, "foo"); got != "contents0" {
		t.Errorf("foo = %q, want contents0", got)
	}
	// A named source that is missing still fails.
	if _, err := fidelityBuild(t, "FROM scratch\nCOPY foo missing /\n", map[string]string{"foo": "x"}); err == nil || !strings.Contains(err.Error(), "missing") {
		t.Errorf("COPY of a missing file = %v, want an error naming it", err)
	}
}
