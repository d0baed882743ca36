package buildkit

import (
	"archive/tar"
	"context"
	"crypto/sha256"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/manyarch/manyarch/internal/emulation"
	"github.com/manyarch/manyarch/internal/engine"
	"github.com/manyarch/manyarch/internal/sandbox"
)

// TestMain makes the re-exec of the test binary the sandbox init, for the
// native engine's RUN steps the tests compare BuildKit's with.
func TestMain(m *testing.M) {
	if sandbox.IsInit() {
		os.Exit(sandbox.Init())
	}
	emulation.Init()
	os.Exit(m.Run())
}

// TestLocalContext: --build-context NAME=DIR reaches a node as buildx
// sends it (context:NAME=local:NAME and a session directory, the
// directory's own .dockerignore read by the frontend), and the node's
// image has the same files, modes and owners, layer by layer, and the same
// config as the native engine's build of the same request.
func TestLocalContext(t *testing.T) {
	_, b := oneNode(t)
	f := newFixture(t, "FROM fixtures/busybox:1.35 AS tools\nRUN echo never > /never\n"+
		"FROM lib AS files\nENV FROM_LIB=1\n"+
		"FROM fixtures/busybox:1.35\n"+
		"COPY --from=lib a.txt sub/ /lib/\n"+
		"COPY --from=lib --chown=7:8 --chmod=640 --exclude=*.md . /all/\n"+
		"COPY --from=tools --parents sub/b.txt /p/\n"+
		"COPY --from=files / /files/\n"+
		"RUN --mount=from=lib,source=sub,target=/m cat /m/b.txt > /mounted\n")
	lib := filepath.Join(t.TempDir(), "lib")
	for name, content := range map[string]string{
		"a.txt": "A\n", "sub/b.txt": "B\n", "sub/c.md": "C\n", "secret.key": "S\n", "build/out": "O\n", ".dockerignore": "*.key\nbuild\n",
	} {
		p := filepath.Join(lib, name)
		os.MkdirAll(filepath.Dir(p), 0o755)
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	os.Chown(filepath.Join(lib, "a.txt"), 1234, 1234)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	build := func(eng engine.Engine, tag, target string) v1.Image {
		t.Helper()
		req := f.request(t, tag, "linux/amd64")
		req.Target = target
		req.LocalContexts = map[string]string{"lib": lib, "tools": lib}
		req.SourceDateEpoch = &time.Time{}
		res, err := eng.Build(ctx, req)
		if err != nil {
			t.Fatalf("build %s: %v", tag, err)
		}
		return imageFor(t, f.st, tag, res.Platforms[0].Platform)
	}
	native := engine.NewNative(engine.NativeOptions{Env: f.env})
	bk := New(Options{Builder: b, Env: f.env})
	for _, target := range []string{"", "files"} {
		bi := build(bk, "bk/local:1"+target, target)
		ni := build(native, "native/local:1"+target, target)
		bl, nl := layerEntries(t, bi), layerEntries(t, ni)
		if strings.Join(bl, "\n") != strings.Join(nl, "\n") {
			t.Errorf("target %q: layers differ from BuildKit's:\n buildkit:\n  %s\n native:\n  %s", target, strings.Join(bl, "\n  "), strings.Join(nl, "\n  "))
		}
		bc, _ := bi.ConfigFile()
		nc, _ := ni.ConfigFile()
		if fmt.Sprint(bc.Config.Env, bc.Config.Cmd, bc.Config.WorkingDir, bc.Config.User) != fmt.Sprint(nc.Config.Env, nc.Config.Cmd, nc.Config.WorkingDir, nc.Config.User) {
			t.Errorf("target %q: config differs: buildkit %+v, native %+v", target, bc.Config, nc.Config)
		}
		var bh, nh []string
		for _, h := range bc.History {
			bh = append(bh, fmt.Sprintf("%s empty=%t", h.CreatedBy, h.EmptyLayer))
		}
		for _, h := range nc.History {
			nh = append(nh, fmt.Sprintf("%s empty=%t", h.CreatedBy, h.EmptyLayer))
		}
		t.Logf("target %q history:\n buildkit %q\n native   %q", target, bh, nh)
	}
	for _, want := range []string{"lib/a.txt", "lib/b.txt", "all/a.txt", "p/sub/b.txt", "files/sub/c.md", "mounted"} {
		found := false
		for _, e := range layerEntries(t, build(native, "native/local:2", "")) {
			found = found || strings.Contains(e, " "+want+" ")
		}
		if !found {
			t.Errorf("the image lacks /%s", want)
		}
	}
}

// layerEntries lists every layer's entries but the first (the base's):
// layer index, path, type, mode, owner, link target and content digest;
// not times.
func layerEntries(t *testing.T, img v1.Image) []string {
	t.Helper()
	ls, err := img.Layers()
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for i, l := range ls {
		if i == 0 {
			continue
		}
		rc, err := l.Uncompressed()
		if err != nil {
			t.Fatal(err)
		}
		tr := tar.NewReader(rc)
		for {
			h, err := tr.Next()
			if err == io.EOF {
				break
			}
			if err != nil {
				t.Fatal(err)
			}
			sum := ""
			if h.Typeflag == tar.TypeReg {
				hs := sha256.New()
				io.Copy(hs, tr)
				sum = fmt.Sprintf("%x", hs.Sum(nil))[:12]
			}
			out = append(out, fmt.Sprintf("L%d %s %c %o %d:%d %s %s", i, strings.TrimSuffix(strings.TrimPrefix(h.Name, "./"), "/"), h.Typeflag, h.Mode, h.Uid, h.Gid, h.Linkname, sum))
		}
		rc.Close()
	}
	return out
}
