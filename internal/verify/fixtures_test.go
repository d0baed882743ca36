package verify

import (
	"archive/tar"
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// Test fixtures are built from real binaries: Go programs cross-compiled
// here, a gcc-built glibc program, Debian's busybox-static and hello
// packages. Each is built or fetched once per test binary.

var (
	fixtureDir  string
	fixtureOnce sync.Once
	fixtureMu   sync.Mutex
	fixtures    = map[string]*fixture{}
)

type fixture struct {
	once sync.Once
	b    []byte
	skip string
}

func fixtureTemp(t testing.TB) string {
	fixtureOnce.Do(func() {
		d, err := os.MkdirTemp("", "verify-fixtures-")
		if err != nil {
			panic(err)
		}
		fixtureDir = d
	})
	return fixtureDir
}

func TestMain(m *testing.M) {
	code := m.Run()
	if fixtureDir != "" {
		os.RemoveAll(fixtureDir)
	}
	os.Exit(code)
}

// cached runs make once per key; a make that returns a skip reason skips
// every test that asks for the fixture.
func cached(t testing.TB, key string, make func(dir string) ([]byte, string)) []byte {
	t.Helper()
	fixtureMu.Lock()
	f := fixtures[key]
	if f == nil {
		f = &fixture{}
		fixtures[key] = f
	}
	fixtureMu.Unlock()
	f.once.Do(func() {
		dir, err := os.MkdirTemp(fixtureTemp(t), "f-")
		if err != nil {
			f.skip = err.Error()
			return
		}
		f.b, f.skip = make(dir)
	})
	if f.skip != "" {
		t.Skipf("fixture %s unavailable: %s", key, f.skip)
	}
	return f.b
}

const helloGo = `package main

import "fmt"

func main() { fmt.Println("hello") }
`

// goBinary cross-compiles a static hello program; env adds GOARM, GOAMD64.
func goBinary(t testing.TB, goarch string, env ...string) []byte {
	t.Helper()
	key := "go-" + goarch + strings.Join(env, ",")
	return cached(t, key, func(dir string) ([]byte, string) {
		goTool, err := exec.LookPath("go")
		if err != nil {
			return nil, "needs the go command on PATH"
		}
		if err := os.WriteFile(filepath.Join(dir, "main.go"), []byte(helloGo), 0o644); err != nil {
			return nil, err.Error()
		}
		if err := os.WriteFile(filepath.Join(dir, "go.mod"), []byte("module hello\n\ngo 1.22\n"), 0o644); err != nil {
			return nil, err.Error()
		}
		cmd := exec.Command(goTool, "build", "-trimpath", "-ldflags=-s -w", "-o", "hello", ".")
		cmd.Dir = dir
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOARCH="+goarch, "GOFLAGS=-buildvcs=false", "GOWORK=off")
		cmd.Env = append(cmd.Env, env...)
		if out, err := cmd.CombinedOutput(); err != nil {
			return nil, fmt.Sprintf("go build for %s: %v\n%s", goarch, err, out)
		}
		b, err := os.ReadFile(filepath.Join(dir, "hello"))
		if err != nil {
			return nil, err.Error()
		}
		return b, ""
	})
}

// gccProgram is a glibc dynamically linked amd64 program built with gcc.
func gccProgram(t testing.TB) []byte {
	t.Helper()
	return cached(t, "gcc", func(dir string) ([]byte, string) {
		cc, err := exec.LookPath("gcc")
		if err != nil {
			return nil, "needs gcc (apt-get install gcc)"
		}
		src := filepath.Join(dir, "hello.c")
		if err := os.WriteFile(src, []byte("#include <stdio.h>\nint main(void){puts(\"hello\");return 0;}\n"), 0o644); err != nil {
			return nil, err.Error()
		}
		out := filepath.Join(dir, "hello")
		if b, err := exec.Command(cc, "-O2", "-o", out, src).CombinedOutput(); err != nil {
			return nil, fmt.Sprintf("gcc: %v\n%s", err, b)
		}
		b, err := os.ReadFile(out)
		if err != nil {
			return nil, err.Error()
		}
		return b, ""
	})
}

// hostFile reads a file of the (amd64 Debian) host, such as its loader.
func hostFile(t testing.TB, p string) []byte {
	t.Helper()
	return cached(t, "host"+p, func(string) ([]byte, string) {
		b, err := os.ReadFile(p)
		if err != nil {
			return nil, "needs the host's " + p + ": " + err.Error()
		}
		return b, ""
	})
}

// debFile extracts one file of a Debian package for arch, fetched with
// apt-get download into the user's cache directory.
func debFile(t testing.TB, pkg, arch, member string) []byte {
	t.Helper()
	return cached(t, "deb-"+pkg+"-"+arch+member, func(string) ([]byte, string) {
		for _, tool := range []string{"apt-get", "dpkg-deb"} {
			if _, err := exec.LookPath(tool); err != nil {
				return nil, "needs " + tool + " (a Debian host)"
			}
		}
		// The cache testutil.BusyboxRootfs and hack/fixtures.sh share.
		dir := "/var/cache/manyarch-test/debs"
		if c := os.Getenv("MANYARCH_TEST_CACHE"); c != "" {
			dir = filepath.Join(c, "debs")
		} else if os.Geteuid() != 0 {
			cache, err := os.UserCacheDir()
			if err != nil {
				cache = os.TempDir()
			}
			dir = filepath.Join(cache, "manyarch-test", "debs")
		}
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return nil, err.Error()
		}
		deb := func() string {
			m, _ := filepath.Glob(filepath.Join(dir, pkg+"_*_"+arch+".deb"))
			if len(m) > 0 {
				return m[0]
			}
			return ""
		}
		if deb() == "" {
			ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
			defer cancel()
			cmd := exec.CommandContext(ctx, "apt-get", "-o", "Acquire::http::Timeout=30", "download", pkg+":"+arch)
			cmd.Dir = dir
			if out, err := cmd.CombinedOutput(); err != nil || deb() == "" {
				return nil, fmt.Sprintf("apt-get download %s:%s failed (run `dpkg --add-architecture %s && apt-get update`): %v %s", pkg, arch, arch, err, bytes.TrimSpace(out))
			}
		}
		out, err := exec.Command("dpkg-deb", "--fsys-tarfile", deb()).Output()
		if err != nil {
			return nil, fmt.Sprintf("dpkg-deb %s: %v", deb(), err)
		}
		tr := tar.NewReader(bytes.NewReader(out))
		for {
			h, err := tr.Next()
			if err != nil {
				return nil, fmt.Sprintf("%s not in %s", member, deb())
			}
			if cleanPath(h.Name) == cleanPath(member) {
				b, err := io.ReadAll(tr)
				if err != nil {
					return nil, err.Error()
				}
				return b, ""
			}
		}
	})
}

// file is one entry of a test layer.
type file struct {
	path string
	mode int64
	data []byte
	link string // symlink target
	typ  byte   // tar type; 0 is a regular file
}

func exe(p string, b []byte) file   { return file{path: p, mode: 0o755, data: b} }
func data(p string, b []byte) file  { return file{path: p, mode: 0o644, data: b} }
func symlink(p, target string) file { return file{path: p, link: target, typ: tar.TypeSymlink} }
func dir(p string) file             { return file{path: p, mode: 0o755, typ: tar.TypeDir} }
func whiteout(p string) file        { return file{path: whiteoutPath(p), mode: 0o644} }
func whiteoutPath(p string) string {
	d, b := filepath.Split(p)
	return d + whiteoutPrefix + b
}

func tarOf(t testing.TB, files ...file) []byte {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, f := range files {
		h := &tar.Header{Name: f.path, Mode: f.mode, Size: int64(len(f.data)), Typeflag: f.typ, Linkname: f.link, ModTime: time.Unix(0, 0), Format: tar.FormatPAX}
		if f.typ == 0 {
			h.Typeflag = tar.TypeReg
		}
		if h.Typeflag != tar.TypeReg {
			h.Size = 0
		}
		if err := tw.WriteHeader(h); err != nil {
			t.Fatal(err)
		}
		if h.Size > 0 {
			if _, err := tw.Write(f.data); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func layerOf(t testing.TB, files ...file) v1.Layer {
	t.Helper()
	b := tarOf(t, files...)
	l, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(b)), nil })
	if err != nil {
		t.Fatal(err)
	}
	return l
}

// step is one layer and the history line that made it.
type step struct {
	by    string
	layer v1.Layer
}

// imageOf builds an image for platform ("linux/arm/v7") from steps, with
// entrypoint ep.
func imageOf(t testing.TB, platform string, ep []string, steps ...step) v1.Image {
	t.Helper()
	img := empty.Image
	var err error
	for _, s := range steps {
		img, err = mutate.Append(img, mutate.Addendum{Layer: s.layer, History: v1.History{CreatedBy: s.by}, MediaType: types.OCILayer})
		if err != nil {
			t.Fatal(err)
		}
	}
	img = mutate.MediaType(img, types.OCIManifestSchema1)
	img = mutate.ConfigMediaType(img, types.OCIConfigJSON)
	cf, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	cf = cf.DeepCopy()
	parts := strings.Split(platform, "/")
	cf.OS, cf.Architecture = parts[0], parts[1]
	if len(parts) > 2 {
		cf.Variant = parts[2]
	}
	cf.Config.Entrypoint = ep
	cf.Config.Env = []string{"PATH=/usr/local/bin:/usr/bin:/bin"}
	img, err = mutate.ConfigFile(img, cf)
	if err != nil {
		t.Fatal(err)
	}
	return img
}

// entryOf is one index entry: an image and the platform the index gives it.
type entryOf struct {
	platform string
	img      v1.Image
	ann      map[string]string
}

func indexOf(t testing.TB, entries ...entryOf) v1.ImageIndex {
	t.Helper()
	var adds []mutate.IndexAddendum
	for _, e := range entries {
		parts := strings.Split(e.platform, "/")
		p := &v1.Platform{OS: parts[0], Architecture: parts[1]}
		if len(parts) > 2 {
			p.Variant = parts[2]
		}
		adds = append(adds, mutate.IndexAddendum{Add: e.img, Descriptor: v1.Descriptor{Platform: p, Annotations: e.ann}})
	}
	idx := mutate.IndexMediaType(empty.Index, types.OCIImageIndex)
	return mutate.AppendManifests(idx, adds...)
}
