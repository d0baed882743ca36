//go:build unix

package engine

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	specs "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/manyarch/manyarch/internal/emulation"
	"github.com/manyarch/manyarch/internal/platform"
)

// TestCachedBuildProvesNoEmulator: a fully cached build of emulated RUN
// steps runs nothing, so it does not plan emulation (no binfmt_misc read,
// no emulator probed, no QEMU started) and does not need an emulator at
// all: with emulation unavailable it still answers every step from the
// cache, with the image of the first build. A build that runs the step
// (--no-cache) does ask, and fails without an emulator.
func TestCachedBuildProvesNoEmulator(t *testing.T) {
	env := e2eEnv(t)
	ctx := context.Background()
	dir := t.TempDir()
	df := "FROM fixtures/busybox:1.35\nRUN uname -m > /arch\n"
	if err := os.WriteFile(filepath.Join(dir, "Dockerfile"), []byte(df), 0o644); err != nil {
		t.Fatal(err)
	}
	req := func(mode emulation.Mode, noCache bool) (*Native, *Request) {
		return NewNative(NativeOptions{Env: env, Emulation: mode}).(*Native),
			&Request{Dockerfile: []byte(df), DockerfileName: "Dockerfile", ContextDir: dir,
				Platforms: parsePlatforms(t, e2ePlatforms...), NoCache: noCache}
	}
	for _, mode := range []emulation.Mode{emulation.ModeAuto, emulation.ModePrivate} {
		eng, r := req(mode, false)
		first, err := eng.Build(ctx, r)
		var nee *emulation.NoEmulatorError
		if errors.As(err, &nee) {
			t.Skipf("no emulator here: %v", err)
		}
		if err != nil {
			t.Fatalf("--emulation %s: first Build: %v", mode, err)
		}

		var calls atomic.Int64
		unavailable := errors.New("emulation made unavailable by the test")
		planEmulation = func(ctx context.Context, p specs.Platform, m emulation.Mode) (emulation.Decision, error) {
			calls.Add(1)
			return emulation.Decision{}, unavailable
		}
		eng, r = req(mode, false)
		res, err := eng.Build(ctx, r)
		if err != nil {
			planEmulation = emulation.Plan
			t.Fatalf("--emulation %s: cached Build with emulation unavailable: %v", mode, err)
		}
		if n := calls.Load(); n != 0 {
			t.Errorf("--emulation %s: cached Build planned emulation %d times, want 0", mode, n)
		}
		if res.Index.Digest != first.Index.Digest {
			t.Errorf("--emulation %s: cached Build gave index %s, want the first build's %s", mode, res.Index.Digest, first.Index.Digest)
		}
		for i, pr := range res.Platforms {
			for j, s := range pr.Steps {
				if !s.Cached {
					t.Errorf("--emulation %s: %s: step %d not cached", mode, platform.Format(pr.Platform), j)
				}
				// A cached step is reported emulated as when it ran.
				if want := first.Platforms[i].Steps[j].Emulated; s.Emulated != want {
					t.Errorf("--emulation %s: %s: cached step %d Emulated = %v, want %v", mode, platform.Format(pr.Platform), j, s.Emulated, want)
				}
			}
		}

		// The hook is what a build that runs the step asks.
		eng, r = req(mode, true)
		_, err = eng.Build(ctx, r)
		planEmulation = emulation.Plan
		if !errors.Is(err, unavailable) || calls.Load() == 0 {
			t.Errorf("--emulation %s: --no-cache Build with emulation unavailable = %v (%d plans); want the test's error", mode, err, calls.Load())
		} else if !strings.Contains(err.Error(), "cannot run on linux/") {
			t.Errorf("--emulation %s: --no-cache Build error %q does not name the platform", mode, err)
		}
	}
}
