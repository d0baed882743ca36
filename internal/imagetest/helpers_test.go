package imagetest

import (
	"archive/tar"
	"bytes"
	"context"
	"fmt"
	"io"
	"strings"
	"sync"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"

	mimage "github.com/manyarch/manyarch/internal/image"
	"github.com/manyarch/manyarch/internal/platform"
)

// entry is one tar entry of a test layer.
type entry struct {
	name     string
	typ      byte // tar.TypeReg when 0
	mode     int64
	body     string
	link     string
	uid, gid int
}

func file(name, body string, mode int64) entry { return entry{name: name, body: body, mode: mode} }
func dir(name string, mode int64) entry        { return entry{name: name, typ: tar.TypeDir, mode: mode} }
func symlink(name, target string) entry {
	return entry{name: name, typ: tar.TypeSymlink, link: target, mode: 0o777}
}

func layer(t testing.TB, es ...entry) v1.Layer {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, e := range es {
		typ := e.typ
		if typ == 0 {
			typ = tar.TypeReg
		}
		h := &tar.Header{Name: e.name, Typeflag: typ, Mode: e.mode, Linkname: e.link, Uid: e.uid, Gid: e.gid, ModTime: time.Unix(0, 0)}
		if typ == tar.TypeReg {
			h.Size = int64(len(e.body))
		}
		if err := tw.WriteHeader(h); err != nil {
			t.Fatal(err)
		}
		if typ == tar.TypeReg {
			if _, err := io.WriteString(tw, e.body); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	data := buf.Bytes()
	l, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(data)), nil })
	if err != nil {
		t.Fatal(err)
	}
	return l
}

// image makes an image of platform p ("linux/arm64") with the given config
// and layers.
func image(t testing.TB, p string, cfg v1.Config, layers ...v1.Layer) v1.Image {
	t.Helper()
	pl, err := platform.Parse(p)
	if err != nil {
		t.Fatal(err)
	}
	img, err := mutate.AppendLayers(empty.Image, layers...)
	if err != nil {
		t.Fatal(err)
	}
	cf, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	cf = cf.DeepCopy()
	cf.OS, cf.Architecture, cf.Variant = pl.OS, pl.Architecture, pl.Variant
	cf.Config = cfg
	img, err = mutate.ConfigFile(img, cf)
	if err != nil {
		t.Fatal(err)
	}
	return img
}

// index makes an index of images, each with the platform of its config.
func index(t testing.TB, imgs ...v1.Image) v1.ImageIndex {
	t.Helper()
	var adds []mutate.IndexAddendum
	for _, img := range imgs {
		cf, err := img.ConfigFile()
		if err != nil {
			t.Fatal(err)
		}
		adds = append(adds, mutate.IndexAddendum{Add: img, Descriptor: v1.Descriptor{Platform: &v1.Platform{OS: cf.OS, Architecture: cf.Architecture, Variant: cf.Variant}}})
	}
	return mutate.AppendManifests(empty.Index, adds...)
}

// helloImage is a stand-in for the seed's hello program: the fake executor
// "runs" a file that starts with "#!hello " by printing a greeting with the
// rest of its first line, so the image's content decides the output, as
// with a real binary.
func helloImage(t testing.TB, p, goarch string) v1.Image {
	return image(t, p, v1.Config{Entrypoint: []string{"/hello"}},
		layer(t, file("hello", "#!hello "+goarch+"\n", 0o755)))
}

func mustParse(t testing.TB, yaml string) *Config {
	t.Helper()
	c, err := Parse("tests.yaml", []byte(yaml))
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	return c
}

// fakeExec runs a tiny command language against the image's files, with
// no container: "/hello"-style programs (above), "echo ARGS", "env",
// "sleep" (times out), "fail N" (exit N), "cat FILE". It records every Exec.
type fakeExec struct {
	mu       sync.Mutex
	runs     []Exec
	prepErr  map[string]error // by platform
	emulated map[string]bool
}

func (f *fakeExec) Prepare(ctx context.Context, t Target) (Prepared, error) {
	name := platform.Format(t.Platform)
	if err := f.prepErr[name]; err != nil {
		return Prepared{}, err
	}
	if f.emulated[name] {
		return Prepared{Emulation: "fake qemu", Emulated: true}, nil
	}
	return Prepared{Emulation: "native"}, nil
}

func (f *fakeExec) Run(ctx context.Context, t Target, e Exec) (ExecResult, error) {
	f.mu.Lock()
	f.runs = append(f.runs, e)
	f.mu.Unlock()
	for _, s := range e.Setup {
		if s[0] == "fail" {
			return ExecResult{SetupFailed: &Step{Args: s, ExitCode: 1, Output: "setup says no"}}, nil
		}
	}
	res, err := f.run(ctx, t, e)
	if err != nil {
		return res, err
	}
	for _, s := range e.Teardown {
		if s[0] == "fail" {
			res.Teardown = append(res.Teardown, Step{Args: s, ExitCode: 2, Output: "teardown says no"})
		}
	}
	return res, nil
}

func (f *fakeExec) run(ctx context.Context, t Target, e Exec) (ExecResult, error) {
	args := e.Args
	switch args[0] {
	case "echo":
		return ExecResult{Stdout: []byte(strings.Join(args[1:], " ") + "\n")}, nil
	case "env":
		return ExecResult{Stdout: []byte(strings.Join(e.Env, "\n") + "\n")}, nil
	case "sleep":
		return ExecResult{TimedOut: true, ExitCode: 137}, nil
	case "fail":
		var code int
		fmt.Sscan(args[1], &code)
		return ExecResult{ExitCode: code, Stderr: []byte("failing with " + args[1] + "\n")}, nil
	case "cat":
		args = args[1:]
	}
	fs, err := newFlatFS(ctx, t.Image)
	if err != nil {
		return ExecResult{}, err
	}
	data, errs, err := fs.readFiles(ctx, []string{args[0]})
	if err != nil {
		return ExecResult{}, err
	}
	if errs[args[0]] != nil {
		return ExecResult{ExitCode: 127, Stderr: []byte(errs[args[0]].Error())}, nil
	}
	if e.Args[0] == "cat" {
		return ExecResult{Stdout: data[args[0]]}, nil
	}
	prog := string(data[args[0]])
	if rest, ok := strings.CutPrefix(prog, "#!hello "); ok {
		return ExecResult{Stdout: []byte("Hello, " + strings.TrimSpace(rest) + "!\n")}, nil
	}
	return ExecResult{ExitCode: 126, Stderr: []byte("exec format error")}, nil
}

// run runs configs against a and fails the test on error.
func run(t testing.TB, a mimage.Artifact, x Executor, cs []*Config, opts ...Option) *Report {
	t.Helper()
	if x != nil {
		opts = append(opts, WithExecutor(x))
	}
	r, err := Run(context.Background(), a, cs, opts...)
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	return r
}

// statuses renders the matrix as one string per test: "pass fail skip".
func statuses(r *Report) []string {
	out := make([]string, len(r.Tests))
	for i := range r.Tests {
		var s []string
		for j := range r.Platforms {
			s = append(s, string(r.Results[i][j].Status))
		}
		out[i] = strings.Join(s, " ")
	}
	return out
}
