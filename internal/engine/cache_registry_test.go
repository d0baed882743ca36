//go:build unix

package engine

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/manyarch/manyarch/internal/platform"
	"github.com/manyarch/manyarch/internal/ref"
	"github.com/manyarch/manyarch/internal/remote"
	"github.com/manyarch/manyarch/internal/testutil"
)

// TestBuildRegistryCache: a 3-platform build exports its cache to a registry;
// an empty store builds every platform from it, and another empty store only
// linux/arm64 (the per-platform point of the format).
func TestBuildRegistryCache(t *testing.T) {
	envA := e2eEnv(t)
	reg := testutil.StartRegistry(t, testutil.RegistryOptions{})
	cacheRef := reg.Ref("cache/app:buildcache")
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "f"), []byte("f\n"), 0o644)
	df := "FROM fixtures/busybox:1.35\nCOPY f /f\nRUN uname -m > /m\n"
	epoch := time.Unix(1700000000, 0).UTC()
	run := func(env *ref.Env, log *slog.Logger, ps []string, to, from []Output) (*Result, error) {
		t.Helper()
		req := &Request{Dockerfile: []byte(df), DockerfileName: "Dockerfile", ContextDir: dir,
			Platforms: parsePlatforms(t, ps...), SourceDateEpoch: &epoch, CacheTo: to, CacheFrom: from}
		return NewNative(NativeOptions{Env: env, Logger: log}).Build(context.Background(), req)
	}
	regOut := func(attrs ...string) []Output {
		o := Output{Type: "registry", Attrs: map[string]string{}}
		for i := 0; i+1 < len(attrs); i += 2 {
			o.Attrs[attrs[i]] = attrs[i+1]
		}
		return []Output{o}
	}
	first, err := run(envA, nil, e2ePlatforms, regOut("ref", cacheRef, "mode", "max"), nil)
	if err != nil {
		t.Fatalf("Build with --cache-to: %v", err)
	}
	for _, pr := range first.Platforms {
		if len(pr.Steps) < 2 || pr.Steps[1].Cached {
			t.Fatalf("first build %s: steps %+v, want the RUN to run", platform.Format(pr.Platform), pr.Steps)
		}
	}
	checkCached := func(name string, res *Result) {
		t.Helper()
		for _, pr := range res.Platforms {
			if len(pr.Steps) == 0 {
				t.Errorf("%s %s: no steps", name, platform.Format(pr.Platform))
			}
			for j, s := range pr.Steps {
				if !s.Cached || s.Duration != 0 {
					t.Errorf("%s %s step %d: cached %t, ran %v; want it from the registry cache", name, platform.Format(pr.Platform), j+1, s.Cached, s.Duration)
				}
			}
			for _, fp := range first.Platforms {
				if platform.Format(fp.Platform) == platform.Format(pr.Platform) && fp.Manifest.Digest != pr.Manifest.Digest {
					t.Errorf("%s %s: manifest %s, the first build made %s", name, platform.Format(pr.Platform), pr.Manifest.Digest, fp.Manifest.Digest)
				}
			}
		}
	}
	t.Run("all platforms", func(t *testing.T) {
		res, err := run(e2eEnv(t), nil, e2ePlatforms, nil, regOut("ref", cacheRef))
		if err != nil {
			t.Fatalf("Build with --cache-from: %v", err)
		}
		checkCached("store B", res)
		if res.Index.Digest != first.Index.Digest {
			t.Errorf("index = %s, want %s", res.Index.Digest, first.Index.Digest)
		}
	})
	t.Run("one platform", func(t *testing.T) {
		res, err := run(e2eEnv(t), nil, []string{"linux/arm64"}, nil, regOut("ref", cacheRef))
		if err != nil {
			t.Fatalf("Build with --cache-from: %v", err)
		}
		checkCached("store C", res)
	})
	t.Run("missing ref", func(t *testing.T) {
		var buf bytes.Buffer
		log := slog.New(slog.NewTextHandler(&buf, nil))
		res, err := run(e2eEnv(t), log, []string{"linux/amd64"}, nil, regOut("ref", reg.Ref("cache/none:nothing")))
		if err != nil {
			t.Fatalf("Build with a missing --cache-from: %v", err)
		}
		if res.Platforms[0].Steps[1].Cached {
			t.Errorf("RUN cached from a missing cache")
		}
		if !strings.Contains(buf.String(), "no build cache") || !strings.Contains(buf.String(), "cache/none") {
			t.Errorf("log = %q, want a warning naming the ref", buf.String())
		}
	})
	t.Run("export fails", func(t *testing.T) {
		res, err := run(e2eEnv(t), nil, []string{"linux/amd64"}, regOut("ref", "127.0.0.1:1/cache/app:x"), nil)
		var cerr *CacheExportError
		if !errors.As(err, &cerr) || res == nil || !strings.Contains(err.Error(), "image was built") || !strings.Contains(err.Error(), "127.0.0.1:1/cache/app:x") {
			t.Errorf("Build = %v, %v; want a *CacheExportError naming the ref, with the result", res, err)
		}
	})
	t.Run("bad option", func(t *testing.T) {
		for _, tc := range []struct {
			name     string
			to, from []Output
			want     string
		}{
			{"to", regOut("ref", cacheRef, "colour", "red"), nil, "colour"},
			{"from", nil, regOut("ref", cacheRef, "mode", "max"), "mode"},
			{"no ref", regOut(), nil, "ref="},
		} {
			_, err := run(e2eEnv(t), nil, []string{"linux/amd64"}, tc.to, tc.from)
			if err == nil || !errors.Is(err, ErrBadOutput) || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("%s: Build = %v, want an error naming %q", tc.name, err, tc.want)
			}
		}
	})
}

// TestDropUnusableRecords: a cache registry's records must declare a real
// layer; a size of -1 ("unknown") would let the registry send up to the
// 64 GiB cap (and be exported again as -1), 0 or too big can never verify.
func TestDropUnusableRecords(t *testing.T) {
	good := cacheRecord{
		Digest:    v1.Hash{Algorithm: "sha256", Hex: strings.Repeat("a", 64)},
		DiffID:    v1.Hash{Algorithm: "sha256", Hex: strings.Repeat("b", 64)},
		Size:      10,
		MediaType: types.OCILayer,
	}
	with := func(f func(*cacheRecord)) cacheRecord { r := good; f(&r); return r }
	recs := map[string]cacheRecord{
		"good":      good,
		"unknown":   with(func(r *cacheRecord) { r.Size = -1 }),
		"empty":     with(func(r *cacheRecord) { r.Size = 0 }),
		"huge":      with(func(r *cacheRecord) { r.Size = remote.MaxBlobSize + 1 }),
		"sha512":    with(func(r *cacheRecord) { r.Digest.Algorithm = "sha512" }),
		"no-diffid": with(func(r *cacheRecord) { r.DiffID = v1.Hash{} }),
		"config":    with(func(r *cacheRecord) { r.MediaType = types.OCIConfigJSON }),
	}
	bad := dropUnusableRecords(recs)
	want := []string{"config", "empty", "huge", "no-diffid", "sha512", "unknown"}
	if !slices.Equal(bad, want) {
		t.Errorf("dropUnusableRecords = %v, want %v", bad, want)
	}
	if _, ok := recs["good"]; !ok || len(recs) != 1 {
		t.Errorf("records left = %v, want only good", recs)
	}
}
