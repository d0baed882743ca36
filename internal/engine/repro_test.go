//go:build unix

package engine

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	specs "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/manyarch/manyarch/internal/plan"
	"github.com/manyarch/manyarch/internal/platform"
	"github.com/manyarch/manyarch/internal/testutil"
)

// reproSkips are the Dockerfiles of examples/ and testdata that
// TestBuildEveryDockerfileReproducible cannot build, and why.
var reproSkips = map[string]string{
	"examples/hello/Dockerfile":                                "FROM golang:1.26: a registry base the test cannot make (no network)",
	"examples/service/Dockerfile":                              "FROM golang:1.26-alpine: a registry base the test cannot make (no network); TestSandboxService builds it from the local Go image",
	"testdata/dockerfile/hello.Dockerfile":                     "FROM golang:1.26: a registry base the test cannot make (no network)",
	"testdata/dockerfile/emulated-builder.Dockerfile":          "FROM golang:1.26: a registry base the test cannot make (no network)",
	"testdata/dockerfile/instructions.Dockerfile":              "FROM alpine: a registry base the test cannot make (no network)",
	"testdata/dockerfile/onbuild.Dockerfile":                   "FROM alpine and onbuild-app: bases only the plan tests' fake resolver has",
	"testdata/dockerfile/run-options.Dockerfile":               "FROM alpine: a registry base the test cannot make (no network)",
	"testdata/dockerfile/base-config.Dockerfile":               "FROM nopath: a base only the plan tests' fake resolver has",
	"testdata/dockerfile/expansion.Dockerfile":                 "USER app: a user the busybox fixture does not have (the plan test's only)",
	"testdata/dockerfile/edge.Dockerfile":                      "COPY --from=pinned /etc/hostname: a file the busybox fixture lacks and a manyarch RUN does not leave",
	"testdata/dockerfile/error-bad-flag.Dockerfile":            "an error case: it does not build",
	"testdata/dockerfile/error-bad-mount.Dockerfile":           "an error case: it does not build",
	"testdata/dockerfile/error-copy-from-later.Dockerfile":     "an error case: it does not build",
	"testdata/dockerfile/error-cycle.Dockerfile":               "an error case: it does not build",
	"testdata/dockerfile/error-duplicate-stage.Dockerfile":     "an error case: it does not build",
	"testdata/dockerfile/error-missing-target.Dockerfile":      "an error case: it does not build",
	"testdata/dockerfile/error-unknown-instruction.Dockerfile": "an error case: it does not build",
}

// reproContextFiles are the context files a testdata Dockerfile COPYs.
var reproContextFiles = map[string]map[string]string{
	"testdata/dockerfile/escape.Dockerfile": {`a\b.txt`: "escaped\n"},
}

// TestBuildEveryDockerfileReproducible builds every buildable Dockerfile of
// examples/ and testdata (FROM busybox is the busybox fixture) and checks
// that a cached rebuild gives the first build's digests, and that two
// --no-cache builds under SOURCE_DATE_EPOCH (and a cached one after them)
// give each other's, on every platform (issue #25 item 11).
func TestBuildEveryDockerfileReproducible(t *testing.T) {
	testutil.Short(t, "builds every Dockerfile of the repository five times")
	top := "../.."
	var files []string
	for _, pattern := range []string{"examples/*/Dockerfile", "testdata/build/*/ctx/Dockerfile", "testdata/dockerfile/*.Dockerfile"} {
		m, err := filepath.Glob(filepath.Join(top, pattern))
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range m {
			rel, _ := filepath.Rel(top, f)
			files = append(files, filepath.ToSlash(rel))
		}
	}
	if len(files) < 10 {
		t.Fatalf("found %d Dockerfiles (%v), want the repository's", len(files), files)
	}
	for f := range reproSkips {
		if !slices.Contains(files, f) {
			t.Errorf("reproSkips lists %s, which is gone: remove it", f)
		}
	}
	fixturePlatforms := parsePlatforms(t, e2ePlatforms...)
	for _, file := range files {
		t.Run(strings.ReplaceAll(file, "/", "_"), func(t *testing.T) {
			if reason, ok := reproSkips[file]; ok {
				t.Skip(reason)
			}
			df, err := os.ReadFile(filepath.Join(top, file))
			if err != nil {
				t.Fatal(err)
			}
			opts := goldenOptions(t, string(df))
			// The header's platforms the fixture has; all of the fixture's
			// when it has none of them (a FROM scratch or $BUILDPLATFORM
			// Dockerfile builds for any).
			var ps []specs.Platform
			for _, p := range opts.Platforms {
				if slices.ContainsFunc(fixturePlatforms, func(q specs.Platform) bool { return platform.Match(p, q) }) {
					ps = append(ps, p)
				}
			}
			if len(ps) == 0 {
				ps = fixturePlatforms
			}
			ctxDir := t.TempDir()
			if strings.HasSuffix(filepath.Dir(file), "/ctx") {
				if ctxDir, err = filepath.Abs(filepath.Join(top, filepath.Dir(file))); err != nil {
					t.Fatal(err)
				}
				if strings.Contains(file, "/all/") {
					ctxDir = e2eContext(t)
				}
			}
			for name, data := range reproContextFiles[file] {
				if err := os.WriteFile(filepath.Join(ctxDir, name), []byte(data), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			env := e2eEnv(t)
			ctx := context.Background()
			st, err := env.Store(ctx)
			if err != nil {
				t.Fatal(err)
			}
			d, err := st.Resolve(ctx, "fixtures/busybox:1.35")
			if err != nil {
				t.Fatal(err)
			}
			if err := st.Tag(ctx, "busybox:latest", d); err != nil {
				t.Fatal(err)
			}
			epoch := time.Unix(1700000000, 0).UTC()
			build := func(what string, noCache bool, sde *time.Time) []v1.Hash {
				t.Helper()
				req := &Request{Dockerfile: df, DockerfileName: file, ContextDir: ctxDir, Platforms: ps,
					Target: opts.Target, BuildArgs: opts.BuildArgs, NoCache: noCache, SourceDateEpoch: sde}
				res, err := NewNative(NativeOptions{Env: env}).Build(ctx, req)
				if err != nil {
					t.Fatalf("%s build of %s: %v", what, file, err)
				}
				out := []v1.Hash{res.Index.Digest}
				for _, pr := range res.Platforms {
					out = append(out, pr.Manifest.Digest)
				}
				return out
			}
			first := build("first", false, nil)
			if cached := build("cached", false, nil); !slices.Equal(first, cached) {
				t.Errorf("a cached rebuild gave %v, the first build %v: want the same digests", cached, first)
			}
			// With the cache of the builds without SOURCE_DATE_EPOCH: none
			// of their layers (real file times) may be reused.
			c := build("cached SOURCE_DATE_EPOCH", false, &epoch)
			a := build("--no-cache SOURCE_DATE_EPOCH", true, &epoch)
			if b := build("second --no-cache SOURCE_DATE_EPOCH", true, &epoch); !slices.Equal(a, b) {
				t.Errorf("two --no-cache builds under SOURCE_DATE_EPOCH gave %v and %v: want the same digests", a, b)
			}
			if !slices.Equal(a, c) {
				t.Errorf("a cached build under SOURCE_DATE_EPOCH gave %v, --no-cache %v: want the same digests", c, a)
			}
		})
	}
}

// TestBuildMetadataOnlyStageCached: a stage that makes no layer of its own
// keeps its digest when rebuilt (its times are its base's, not the build's
// start).
func TestBuildMetadataOnlyStageCached(t *testing.T) {
	env := e2eEnv(t)
	dir := t.TempDir()
	df := []byte("FROM fixtures/busybox:1.35\nENV A=1\nLABEL b=2\n")
	var digests []v1.Hash
	for i := range 2 {
		if i > 0 {
			time.Sleep(1100 * time.Millisecond) // a later second: the build's start differs
		}
		res, err := NewNative(NativeOptions{Env: env}).Build(context.Background(), &Request{Dockerfile: df, DockerfileName: "Dockerfile",
			ContextDir: dir, Platforms: parsePlatforms(t, "linux/amd64")})
		if err != nil {
			t.Fatalf("Build %d: %v", i+1, err)
		}
		digests = append(digests, res.Platforms[0].Manifest.Digest)
	}
	if digests[0] != digests[1] {
		t.Errorf("two builds of a stage with no layer gave %s and %s, want the same digest", digests[0], digests[1])
	}
}

// TestWaitReportsTheDependencyError: a stage waiting on a failed one
// carries that stage's error, whichever of the two errors the build keeps.
func TestWaitReportsTheDependencyError(t *testing.T) {
	s := &plan.Stage{Name: "first"}
	sr := &stageRun{stage: s, done: make(chan struct{}), err: errors.New("Dockerfile:3: RUN exited with status 1")}
	close(sr.done)
	x := &executor{stages: map[*plan.Stage]*stageRun{s: sr}}
	_, err := x.wait(context.Background(), s)
	if err == nil || !errors.Is(err, sr.err) || !strings.Contains(err.Error(), "exited with status 1") {
		t.Errorf("wait(failed stage) = %v, want it to wrap %v", err, sr.err)
	}
}
