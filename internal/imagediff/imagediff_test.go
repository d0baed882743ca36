package imagediff

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"io"
	"strings"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"
	specs "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/manyarch/manyarch/internal/image"
	"github.com/manyarch/manyarch/internal/index"
	"github.com/manyarch/manyarch/internal/platform"
)

var t0 = time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC)

// file is one tar entry of a test layer.
type file struct {
	name   string
	typ    byte
	mode   int64
	uid    int
	body   string
	link   string
	mtime  time.Time
	xattrs map[string]string
}

func reg(name, body string) file {
	return file{name: name, typ: tar.TypeReg, mode: 0o644, body: body, mtime: t0}
}

func dir(name string) file { return file{name: name, typ: tar.TypeDir, mode: 0o755, mtime: t0} }

func tarOf(t testing.TB, files []file) []byte {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, f := range files {
		hdr := &tar.Header{Name: f.name, Typeflag: f.typ, Mode: f.mode, Uid: f.uid, Gid: f.uid,
			Linkname: f.link, ModTime: f.mtime, Format: tar.FormatPAX}
		if f.typ == tar.TypeReg {
			hdr.Size = int64(len(f.body))
		}
		for k, v := range f.xattrs {
			if hdr.PAXRecords == nil {
				hdr.PAXRecords = map[string]string{}
			}
			hdr.PAXRecords[xattrPAXPrefix+k] = v
		}
		if err := tw.WriteHeader(hdr); err != nil {
			t.Fatal(err)
		}
		if _, err := io.WriteString(tw, f.body); err != nil {
			t.Fatal(err)
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func layerOf(t *testing.T, files ...file) v1.Layer {
	t.Helper()
	b := tarOf(t, files)
	l, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(b)), nil },
		tarball.WithMediaType(types.OCILayer))
	if err != nil {
		t.Fatal(err)
	}
	return l
}

// imageOf makes an image of platform p (e.g. "linux/arm64").
func imageOf(t *testing.T, p string, cfg v1.Config, layers ...v1.Layer) v1.Image {
	t.Helper()
	pl, err := platform.Parse(p)
	if err != nil {
		t.Fatal(err)
	}
	img, err := mutate.ConfigFile(mutate.MediaType(empty.Image, types.OCIManifestSchema1), &v1.ConfigFile{
		OS: pl.OS, Architecture: pl.Architecture, Variant: pl.Variant,
		Created: v1.Time{Time: t0}, Config: cfg, RootFS: v1.RootFS{Type: "layers"},
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range layers {
		img, err = mutate.Append(img, mutate.Addendum{Layer: l, MediaType: types.OCILayer,
			History: v1.History{Created: v1.Time{Time: t0}, CreatedBy: "test"}})
		if err != nil {
			t.Fatal(err)
		}
	}
	return img
}

func indexOf(t *testing.T, imgs ...v1.Image) v1.ImageIndex {
	t.Helper()
	var children []index.Child
	for _, img := range imgs {
		cf, err := img.ConfigFile()
		if err != nil {
			t.Fatal(err)
		}
		children = append(children, index.Child{Artifact: img, Descriptor: v1.Descriptor{
			Platform: &v1.Platform{OS: cf.OS, Architecture: cf.Architecture, Variant: cf.Variant}}})
	}
	idx, err := index.New(types.OCIImageIndex, nil, children...)
	if err != nil {
		t.Fatal(err)
	}
	return idx
}

func compare(t *testing.T, a, b image.Artifact, opts ...Option) *Report {
	t.Helper()
	r, err := Compare(context.Background(), a, b, opts...)
	if err != nil {
		t.Fatalf("Compare: %v", err)
	}
	return r
}

func baseFiles() []file {
	return []file{dir("etc/"), reg("etc/x", "hello\n"), reg("etc/y", "same\n"),
		{name: "bin/sh", typ: tar.TypeSymlink, mode: 0o777, link: "busybox", mtime: t0}}
}

// edit returns baseFiles with f applied to the entry named name (removed
// when f returns false).
func edit(name string, f func(*file) bool) []file {
	var out []file
	for _, x := range baseFiles() {
		if x.name == name && !f(&x) {
			continue
		}
		out = append(out, x)
	}
	return out
}

func TestComparePaths(t *testing.T) {
	t1 := t0.Add(time.Hour)
	tests := []struct {
		name   string
		files  []file
		path   string
		status string
		fields []string
		a, b   string // first change's values ("" = not checked)
	}{
		{"one byte", edit("etc/x", func(f *file) bool { f.body = "hellO\n"; return true }),
			"/etc/x", PathChanged, []string{"content"},
			"sha256:5891b5b522d5df086d0ff0b110fbd9d21bb4fc7163af34d08286a2e846f6be03", ""},
		{"size", edit("etc/x", func(f *file) bool { f.body = "hello!\n"; return true }),
			"/etc/x", PathChanged, []string{"size", "content"}, "6", "7"},
		{"mode", edit("etc/x", func(f *file) bool { f.mode = 0o4755; return true }),
			"/etc/x", PathChanged, []string{"mode"}, "0644", "4755"},
		{"owner", edit("etc/x", func(f *file) bool { f.uid = 1000; return true }),
			"/etc/x", PathChanged, []string{"owner"}, "0:0", "1000:1000"},
		{"mtime", edit("etc/x", func(f *file) bool { f.mtime = t1; return true }),
			"/etc/x", PathChanged, []string{"mtime"}, "2024-05-01T12:00:00Z", "2024-05-01T13:00:00Z"},
		{"link", edit("bin/sh", func(f *file) bool { f.link = "dash"; return true }),
			"/bin/sh", PathChanged, []string{"link"}, "busybox", "dash"},
		{"type", edit("etc/y", func(f *file) bool { *f = dir("etc/y"); return true }),
			"/etc/y", PathChanged, []string{"type", "mode"}, "file", "directory"},
		{"xattr", edit("etc/x", func(f *file) bool { f.xattrs = map[string]string{"security.capability": "\x01\x00"}; return true }),
			"/etc/x", PathChanged, []string{"xattrs[security.capability]"}, "", `"\x01\x00"`},
		{"removed", edit("etc/y", func(*file) bool { return false }), "/etc/y", PathOnlyInA, nil, "", ""},
		{"added", append(baseFiles(), reg("etc/z", "new")), "/etc/z", PathOnlyInB, nil, "", ""},
		{"whiteout", append(baseFiles(), reg("etc/.wh.old", "")), "/etc/.wh.old", PathOnlyInB, nil, "", ""},
	}
	base := imageOf(t, "linux/arm64", v1.Config{}, layerOf(t, dir("usr/")), layerOf(t, baseFiles()...))
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			other := imageOf(t, "linux/arm64", v1.Config{}, layerOf(t, dir("usr/")), layerOf(t, tt.files...))
			r := compare(t, base, other)
			if r.Identical || len(r.Platforms) != 1 {
				t.Fatalf("Compare = identical %v, %d platforms; want different, 1", r.Identical, len(r.Platforms))
			}
			p := r.Platforms[0]
			if p.Status != StatusDifferent || p.Layers == nil {
				t.Fatalf("platform %s = %+v, want different with layers", p.Platform, p)
			}
			if l := p.Layers; l.First != 2 || l.CountA != 2 || l.CountB != 2 || len(l.AlsoDiffer) != 0 {
				t.Errorf("layers = first %d of %d/%d, also %v; want first 2 of 2/2", l.First, l.CountA, l.CountB, l.AlsoDiffer)
			}
			if len(p.Config) != 1 || p.Config[0].Field != "rootfs.diff_ids[2]" {
				t.Errorf("config differences = %+v, want only rootfs.diff_ids[2]", p.Config)
			}
			if p.Layers.PathsDiffering != 1 || len(p.Layers.Paths) != 1 {
				t.Fatalf("paths = %d %+v, want exactly %s", p.Layers.PathsDiffering, p.Layers.Paths, tt.path)
			}
			pd := p.Layers.Paths[0]
			if pd.Path != tt.path || pd.Status != tt.status {
				t.Fatalf("path = %s %s, want %s %s", pd.Path, pd.Status, tt.path, tt.status)
			}
			var fields []string
			for _, c := range pd.Changes {
				fields = append(fields, c.Field)
			}
			if strings.Join(fields, ",") != strings.Join(tt.fields, ",") {
				t.Fatalf("%s changes = %v, want %v", pd.Path, fields, tt.fields)
			}
			if len(pd.Changes) > 0 {
				c := pd.Changes[0]
				if tt.a != "" && (c.A == nil || *c.A != tt.a) {
					t.Errorf("%s %s a = %v, want %q", pd.Path, c.Field, deref(c.A), tt.a)
				}
				if tt.b != "" && (c.B == nil || *c.B != tt.b) {
					t.Errorf("%s %s b = %v, want %q", pd.Path, c.Field, deref(c.B), tt.b)
				}
			}
		})
	}
}

func TestIdentical(t *testing.T) {
	a := indexOf(t, imageOf(t, "linux/amd64", v1.Config{}, layerOf(t, baseFiles()...)),
		imageOf(t, "linux/arm64", v1.Config{}, layerOf(t, baseFiles()...)))
	b := indexOf(t, imageOf(t, "linux/amd64", v1.Config{}, layerOf(t, baseFiles()...)),
		imageOf(t, "linux/arm64", v1.Config{}, layerOf(t, baseFiles()...)))
	r := compare(t, a, b)
	if !r.Identical || len(r.Index) != 0 || len(r.Platforms) != 2 {
		t.Fatalf("Compare(same index twice) = %+v, want identical with 2 platforms", r)
	}
	for _, p := range r.Platforms {
		if p.Status != StatusIdentical {
			t.Errorf("platform %s = %s, want identical", p.Platform, p.Status)
		}
	}
	var out bytes.Buffer
	if err := WriteText(&out, r); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "linux/arm64: identical\n") || !strings.HasSuffix(out.String(), "\nidentical\n") {
		t.Errorf("WriteText = %q, want each platform and the whole identical", out.String())
	}
}

func TestConfigChange(t *testing.T) {
	l := layerOf(t, baseFiles()...)
	a := imageOf(t, "linux/amd64", v1.Config{Env: []string{"PATH=/bin", "A=1"}, Cmd: []string{"sh"}, User: "root"}, l)
	b := imageOf(t, "linux/amd64", v1.Config{Env: []string{"PATH=/bin", "A=2", "B=x"}, Cmd: []string{"sh"}, User: "app",
		Labels: map[string]string{"k": "v"}}, l)
	r := compare(t, a, b)
	p := r.Platforms[0]
	want := []string{"env[A]: 1 vs 2", "env[B]: (none) vs x", "user: root vs app", "labels[k]: (none) vs v"}
	var got []string
	for _, d := range p.Config {
		got = append(got, d.Field+": "+value(d.A)+" vs "+value(d.B))
	}
	if strings.Join(got, "; ") != strings.Join(want, "; ") {
		t.Errorf("config differences = %q, want %q", got, want)
	}
	if p.Layers == nil || p.Layers.First != 0 || len(p.Layers.Paths) != 0 {
		t.Errorf("layers = %+v, want all equal", p.Layers)
	}
	if len(p.Manifest) != 0 {
		t.Errorf("manifest differences = %+v, want none (the config digest is explained)", p.Manifest)
	}
}

func TestHistoryAndLayerCount(t *testing.T) {
	l1 := layerOf(t, baseFiles()...)
	a := imageOf(t, "linux/amd64", v1.Config{}, l1)
	b := imageOf(t, "linux/amd64", v1.Config{}, l1, layerOf(t, reg("app/bin", "x"), reg("app/lib", "y")))
	r := compare(t, a, b)
	p := r.Platforms[0]
	l := p.Layers
	if l.CountA != 1 || l.CountB != 2 || l.First != 2 || l.A != nil || l.B == nil {
		t.Fatalf("layers = %+v, want 1 vs 2, first differing 2 only in b", l)
	}
	if l.PathsDiffering != 2 || l.Paths[0].Path != "/app/bin" || l.Paths[0].Status != PathOnlyInB {
		t.Errorf("paths = %+v, want /app/bin and /app/lib only in b", l.Paths)
	}
	found := false
	for _, d := range p.Config {
		if d.Field == "history[2]" && d.A == nil && d.B != nil && strings.HasPrefix(*d.B, "test") {
			found = true
		}
	}
	if !found {
		t.Errorf("config differences = %+v, want history[2] only in b", p.Config)
	}
	var out bytes.Buffer
	if err := WriteText(&out, r); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"layers: a has 1, b has 2", "first differing layer 2 of 2", "/app/bin: only in b (file)"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("WriteText = %s\nwant it to contain %q", out.String(), want)
		}
	}
}

func TestMaxPaths(t *testing.T) {
	var fa, fb []file
	for i := range 10 {
		n := string(rune('a'+i)) + ".txt"
		fa = append(fa, reg(n, "1"))
		fb = append(fb, reg(n, "2"))
	}
	a := imageOf(t, "linux/amd64", v1.Config{}, layerOf(t, fa...), layerOf(t, reg("later", "1")))
	b := imageOf(t, "linux/amd64", v1.Config{}, layerOf(t, fb...), layerOf(t, reg("later", "2")))
	for _, tt := range []struct{ max, listed, omitted int }{{3, 3, 7}, {0, 10, 0}, {DefaultMaxPaths, 10, 0}} {
		r := compare(t, a, b, WithMaxPaths(tt.max))
		l := r.Platforms[0].Layers
		if l.PathsDiffering != 10 || len(l.Paths) != tt.listed || l.PathsOmitted != tt.omitted {
			t.Errorf("WithMaxPaths(%d): %d differ, %d listed, %d omitted; want 10, %d, %d",
				tt.max, l.PathsDiffering, len(l.Paths), l.PathsOmitted, tt.listed, tt.omitted)
		}
		if len(l.AlsoDiffer) != 1 || l.AlsoDiffer[0] != 2 {
			t.Errorf("also differ = %v, want [2]", l.AlsoDiffer)
		}
		if tt.max == 3 {
			var out bytes.Buffer
			if err := WriteText(&out, r); err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(out.String(), "10 paths differ:") || !strings.Contains(out.String(), "... and 7 more") {
				t.Errorf("WriteText = %s\nwant 10 paths counted and 7 more", out.String())
			}
		}
	}
	if _, err := Compare(context.Background(), a, b, WithMaxPaths(-1)); err == nil {
		t.Errorf("Compare(WithMaxPaths(-1)) = nil error, want one")
	}
}

func TestPlatforms(t *testing.T) {
	amd := imageOf(t, "linux/amd64", v1.Config{}, layerOf(t, reg("arch", "amd64")))
	arm := imageOf(t, "linux/arm64", v1.Config{}, layerOf(t, reg("arch", "arm64")))
	arm2 := imageOf(t, "linux/arm64", v1.Config{}, layerOf(t, reg("arch", "arm64 v2")))
	s390 := imageOf(t, "linux/s390x", v1.Config{}, layerOf(t, reg("arch", "s390x")))
	a := indexOf(t, amd, arm)
	b := indexOf(t, arm2, s390)

	r := compare(t, a, b)
	got := map[string]string{}
	for _, p := range r.Platforms {
		got[p.Platform] = p.Status
	}
	want := map[string]string{"linux/amd64": StatusOnlyInA, "linux/arm64": StatusDifferent, "linux/s390x": StatusOnlyInB}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("platform %s = %q, want %q", k, got[k], v)
		}
	}
	if r.Identical || len(r.Platforms) != 3 {
		t.Errorf("Compare = identical %v, %d platforms; want different, 3", r.Identical, len(r.Platforms))
	}

	// Only arm64 of an index against the arm64 image alone: the platform is
	// identical, and so is the comparison (the index level is left out).
	r = compare(t, a, arm, WithPlatforms(mustParse(t, "amd64"), mustParse(t, "arm64")))
	if r.Platforms[len(r.Platforms)-1].Status != StatusIdentical {
		t.Errorf("arm64 of index vs image = %+v, want identical", r.Platforms)
	}
	r = compare(t, a, arm, WithPlatforms(mustParse(t, "linux/arm64/v8")))
	if !r.Identical || len(r.Platforms) != 1 {
		t.Errorf("Compare(WithPlatforms(arm64/v8)) = %+v, want one identical platform", r)
	}

	// The index against one of its images: the media types differ, the
	// other platform is only in the index.
	r = compare(t, a, arm)
	if r.Identical || len(r.Index) == 0 || r.Index[0].Field != "mediaType" {
		t.Errorf("index vs image: identical %v, index differences %+v; want different media types", r.Identical, r.Index)
	}
	if len(r.Platforms) != 2 || r.Platforms[0].Status != StatusOnlyInA || r.Platforms[1].Status != StatusIdentical {
		t.Errorf("index vs image platforms = %+v, want amd64 only in a, arm64 identical", r.Platforms)
	}

	_, err := Compare(context.Background(), a, b, WithPlatforms(mustParse(t, "linux/riscv64")))
	var npe *NoPlatformError
	if !errors.As(err, &npe) || !strings.Contains(err.Error(), "linux/amd64, linux/arm64") {
		t.Errorf("Compare(WithPlatforms(riscv64)) = %v, want a NoPlatformError listing both sides", err)
	}
}

func TestCompressionOnly(t *testing.T) {
	b := tarOf(t, baseFiles())
	open := func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(b)), nil }
	gz, err := tarball.LayerFromOpener(open, tarball.WithMediaType(types.OCILayer))
	if err != nil {
		t.Fatal(err)
	}
	zst, err := tarball.LayerFromOpener(open, tarball.WithMediaType(types.OCILayerZStd), tarball.WithCompression("zstd"))
	if err != nil {
		t.Fatal(err)
	}
	ia := imageOf(t, "linux/amd64", v1.Config{}, gz)
	ib, err := mutate.Append(imageOf(t, "linux/amd64", v1.Config{}), mutate.Addendum{Layer: zst, MediaType: types.OCILayerZStd,
		History: v1.History{Created: v1.Time{Time: t0}, CreatedBy: "test"}})
	if err != nil {
		t.Fatal(err)
	}
	r := compare(t, ia, ib)
	p := r.Platforms[0]
	if p.Layers.First != 0 || len(p.Config) != 0 {
		t.Errorf("layers first = %d, config = %+v; want no content difference", p.Layers.First, p.Config)
	}
	var fields []string
	for _, d := range p.Manifest {
		fields = append(fields, d.Field)
	}
	if strings.Join(fields, ",") != "layers[1].digest,layers[1].mediaType" {
		t.Errorf("manifest differences = %v, want layers[1].digest and mediaType", fields)
	}
}

func TestBadLayer(t *testing.T) {
	bad, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) {
		return io.NopCloser(strings.NewReader(strings.Repeat("not a tar ", 100))), nil
	})
	if err != nil {
		t.Fatal(err)
	}
	a := imageOf(t, "linux/amd64", v1.Config{}, layerOf(t, baseFiles()...))
	b := imageOf(t, "linux/amd64", v1.Config{}, bad)
	_, err = Compare(context.Background(), a, b)
	if err == nil || !strings.Contains(err.Error(), "layer 1 of the second image") {
		t.Errorf("Compare with a broken layer = %v, want an error naming layer 1 of the second image", err)
	}

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	c := imageOf(t, "linux/amd64", v1.Config{}, layerOf(t, reg("other", "x")))
	if _, err := Compare(ctx, a, c); !errors.Is(err, context.Canceled) {
		t.Errorf("Compare with a cancelled context = %v, want context.Canceled", err)
	}
}

func mustParse(t *testing.T, s string) specs.Platform {
	t.Helper()
	p, err := platform.Parse(s)
	if err != nil {
		t.Fatal(err)
	}
	return p
}
