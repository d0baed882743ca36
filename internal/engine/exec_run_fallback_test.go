//go:build linux

package engine

import (
	"bytes"
	"context"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/manyarch/manyarch/internal/container/containertest"
	"github.com/manyarch/manyarch/internal/store"
	"github.com/manyarch/manyarch/internal/testutil"
)

// TestRunOverlayRefused: with the build's temporary directory on an
// overlay (manyarch in a container), the RUN steps' overlay roots are
// refused, and RUN runs on a copy of the layers instead (package
// container's fallback): the image is the one the same build makes on a
// host where overlay works, digest for digest: no mount point the sandbox
// made is kept, and the image's directories that held them keep their
// times.
func TestRunOverlayRefused(t *testing.T) {
	testutil.Short(t, "runs RUN steps twice")
	dockerfile := `FROM fixtures/busybox:1.35
RUN echo hi > /greeting && mkdir -p /made/dir /keep-empty && rm /bin/true
RUN --mount=type=tmpfs,target=/scratch/deep --mount=type=tmpfs,target=/keep-empty/mnt cat /greeting > /made/dir/copy && touch /scratch/deep/not-kept
`
	build := func(t *testing.T, onOverlay bool) (string, string, string) {
		env := e2eEnv(t)
		if onOverlay {
			containertest.OverlayRefusingDir(t, store.NewLayout(env.StoreRoot).BuildTmp())
		}
		ctxDir := t.TempDir()
		if err := os.WriteFile(filepath.Join(ctxDir, "Dockerfile"), []byte(dockerfile), 0o644); err != nil {
			t.Fatal(err)
		}
		out := t.TempDir()
		req := e2eRequest(t, ctxDir, "linux/amd64")
		req.Outputs = []Output{{Type: "local", Dest: out, Attrs: map[string]string{}}}
		var logs bytes.Buffer
		log := slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
		res, err := NewNative(NativeOptions{Env: env, Logger: log}).Build(context.Background(), req)
		if err != nil {
			t.Fatalf("Build (build-tmp on an overlay: %v): %v", onOverlay, err)
		}
		return treeOf(t, out), logs.String(), res.Platforms[0].Manifest.Digest.String()
	}
	want, logs, wantDigest := build(t, false)
	if strings.Contains(logs, "overlay root refused") {
		t.Fatalf("the overlay was refused on a plain temporary directory:\n%s", logs)
	}
	got, logs, digest := build(t, true)
	if !strings.Contains(logs, "overlay root refused") || strings.Count(logs, "copied=true") != 2 {
		t.Errorf("build-tmp on an overlay: want the overlay refused and both RUN steps on a copy; log:\n%s", logs)
	}
	if got != want {
		t.Errorf("files built on a copy of the layers:\n%s\nwant, as built on an overlay:\n%s", got, want)
	}
	// With SOURCE_DATE_EPOCH, the same image, digest for digest.
	if digest != wantDigest {
		t.Errorf("image built on a copy of the layers = %s, on an overlay %s; want the same", digest, wantDigest)
	}
	for _, s := range []string{"greeting 644", "made/dir/copy 644", "made/dir ", "keep-empty ", "bin/sh "} {
		if !strings.Contains(got, s) {
			t.Errorf("built files lack %q:\n%s", s, got)
		}
	}
	for _, s := range []string{"bin/true ", "scratch", "keep-empty/mnt", "etc/hosts ", "etc/resolv.conf ", "etc/hostname "} {
		if strings.Contains(got, s) {
			t.Errorf("built files hold %q:\n%s", s, got)
		}
	}
}

// treeOf lists the paths under dir with their permissions and sizes (not
// times).
func treeOf(t *testing.T, dir string) string {
	t.Helper()
	var b strings.Builder
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		size := fi.Size()
		if fi.IsDir() {
			size = 0
		}
		b.WriteString(rel + " " + strconv.FormatUint(uint64(fi.Mode().Perm()), 8) + " " + fi.Mode().Type().String() + " " + strconv.FormatInt(size, 10) + "\n")
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return b.String()
}
