package imagedump

import (
	"archive/tar"
	"bytes"
	"context"
	"encoding/json"
	"io"
	"strings"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
)

// ent is one tar entry of a test layer.
type ent struct {
	name string
	typ  byte
	body string // file content, or link target
	mode int64
	uid  int
}

func layerTar(t *testing.T, ents ...ent) []byte {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, e := range ents {
		h := &tar.Header{Name: e.name, Typeflag: e.typ, Mode: e.mode, Uid: e.uid}
		if h.Mode == 0 {
			h.Mode = 0o644
			if e.typ == tar.TypeDir {
				h.Mode = 0o755
			}
		}
		switch e.typ {
		case tar.TypeReg:
			h.Size = int64(len(e.body))
		case tar.TypeSymlink, tar.TypeLink:
			h.Linkname = e.body
		}
		if err := tw.WriteHeader(h); err != nil {
			t.Fatal(err)
		}
		if e.typ == tar.TypeReg {
			if _, err := tw.Write([]byte(e.body)); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func image(t *testing.T, layers ...[]byte) v1.Image {
	t.Helper()
	img := empty.Image
	for _, b := range layers {
		l, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(b)), nil })
		if err != nil {
			t.Fatal(err)
		}
		if img, err = mutate.AppendLayers(img, l); err != nil {
			t.Fatal(err)
		}
	}
	return img
}

func flatten(t *testing.T, layers ...[]byte) (map[string]string, error) {
	t.Helper()
	tree, err := Flatten(context.Background(), image(t, layers...))
	if err != nil {
		return nil, err
	}
	out := map[string]string{}
	for p, e := range tree {
		out[p] = e.line()
	}
	return out, nil
}

func keys(m map[string]string) string {
	var ks []string
	for k := range m {
		ks = append(ks, k)
	}
	sortStrings(ks)
	return strings.Join(ks, " ")
}

func sortStrings(s []string) {
	for i := 1; i < len(s); i++ {
		for j := i; j > 0 && s[j] < s[j-1]; j-- {
			s[j], s[j-1] = s[j-1], s[j]
		}
	}
}

func TestFlattenWhiteouts(t *testing.T) {
	lower := layerTar(t,
		ent{name: "a/", typ: tar.TypeDir}, ent{name: "a/x", typ: tar.TypeReg, body: "x"}, ent{name: "a/y", typ: tar.TypeReg, body: "y"},
		ent{name: "b/", typ: tar.TypeDir}, ent{name: "b/z", typ: tar.TypeReg, body: "z"},
		ent{name: "c/", typ: tar.TypeDir}, ent{name: "c/deep", typ: tar.TypeReg, body: "d"},
		ent{name: "keep", typ: tar.TypeReg, body: "k"})
	upper := layerTar(t,
		// opaque: a's lower entries go, this layer's stay (whatever the order)
		ent{name: "a/new", typ: tar.TypeReg, body: "n"}, ent{name: "a/.wh..wh..opq", typ: tar.TypeReg},
		// whiteout and re-add in one layer: the whiteout hides the lower b only
		ent{name: "b/", typ: tar.TypeDir, mode: 0o700}, ent{name: "b/again", typ: tar.TypeReg, body: "again"}, ent{name: ".wh.b", typ: tar.TypeReg},
		// a symlink replacing a directory takes its children away
		ent{name: "c", typ: tar.TypeSymlink, body: "/keep"})
	got, err := flatten(t, lower, upper)
	if err != nil {
		t.Fatal(err)
	}
	if want := "/a /a/new /b /b/again /c /keep"; keys(got) != want {
		t.Errorf("Flatten paths = %s, want %s", keys(got), want)
	}
	if want := "symlink 0644 0:0 -> /keep"; got["/c"] != want {
		t.Errorf("/c = %q, want %q", got["/c"], want)
	}
	if want := "dir 0700 0:0"; got["/b"] != want {
		t.Errorf("/b = %q, want %q", got["/b"], want)
	}
}

func TestFlattenHostileNames(t *testing.T) {
	base := layerTar(t, ent{name: "etc/", typ: tar.TypeDir}, ent{name: "etc/passwd", typ: tar.TypeReg, body: "root"},
		ent{name: "a/", typ: tar.TypeDir}, ent{name: "a/b", typ: tar.TypeReg, body: "b"})
	for _, tc := range []struct {
		name  string
		layer []byte
		want  string // paths, or the error text
	}{
		{"dotdot entry stays inside", layerTar(t, ent{name: "../../x", typ: tar.TypeReg, body: "x"}), "/a /a/b /etc /etc/passwd /x"},
		{"dotdot whiteout hides inside only", layerTar(t, ent{name: "../../etc/.wh.passwd", typ: tar.TypeReg}), "/a /a/b /etc"},
		{"whiteout of ..", layerTar(t, ent{name: "a/.wh...", typ: tar.TypeReg}), "a whiteout must name one entry"},
		{"whiteout of .", layerTar(t, ent{name: "a/.wh..", typ: tar.TypeReg}), "a whiteout must name one entry"},
		{"empty whiteout", layerTar(t, ent{name: "a/.wh.", typ: tar.TypeReg}), "a whiteout must name one entry"},
		{"root as a file", layerTar(t, ent{name: ".", typ: tar.TypeReg, body: "x"}), "the root can only be a directory"},
		{"hardlink to nothing", layerTar(t, ent{name: "h", typ: tar.TypeLink, body: "nothing"}), "hardlink to nothing, which the layers do not hold"},
		{"hardlink to a directory", layerTar(t, ent{name: "h", typ: tar.TypeLink, body: "etc"}), "hardlink to the directory etc"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := flatten(t, base, tc.layer)
			if strings.HasPrefix(tc.want, "/") {
				if err != nil {
					t.Fatalf("Flatten: %v", err)
				}
				if keys(got) != tc.want {
					t.Errorf("Flatten paths = %s, want %s", keys(got), tc.want)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), "layer 2 of 2") {
				t.Errorf("Flatten = %v, want an error about layer 2 of 2 saying %q", err, tc.want)
			}
		})
	}
}

func TestFlattenHardlinks(t *testing.T) {
	lower := layerTar(t, ent{name: "f", typ: tar.TypeReg, body: "lower", mode: 0o600, uid: 7})
	upper := layerTar(t,
		ent{name: "g", typ: tar.TypeReg, body: "upper", mode: 0o640},
		ent{name: "to-lower", typ: tar.TypeLink, body: "f"},
		ent{name: "to-same-layer", typ: tar.TypeLink, body: "g"},
		ent{name: "chain", typ: tar.TypeLink, body: "to-same-layer"},
		// f is replaced after the link was made: the link keeps what it was made from
		ent{name: "f", typ: tar.TypeReg, body: "replaced"})
	got, err := flatten(t, lower, upper)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(got["/to-lower"], "file 0600 7:0 size=5") || !strings.Contains(got["/to-lower"], `text="lower"`) {
		t.Errorf("/to-lower = %q, want the lower f", got["/to-lower"])
	}
	for _, p := range []string{"/to-same-layer", "/chain"} {
		if got[p] != got["/g"] {
			t.Errorf("%s = %q, want /g's %q", p, got[p], got["/g"])
		}
	}
	if !strings.Contains(got["/f"], `text="replaced"`) {
		t.Errorf("/f = %q, want the replaced content", got["/f"])
	}
}

func TestFlattenBounded(t *testing.T) {
	var ents []ent
	for i := range 11 {
		ents = append(ents, ent{name: strings.Repeat("x", i+1), typ: tar.TypeReg})
	}
	tree := Tree{}
	if err := tree.applyTar(context.Background(), bytes.NewReader(layerTar(t, ents...)), 11); err != nil {
		t.Errorf("11 entries with a limit of 11: %v", err)
	}
	tree = Tree{}
	err := tree.applyTar(context.Background(), bytes.NewReader(layerTar(t, ents...)), 10)
	if err == nil || !strings.Contains(err.Error(), "more than 10 entries") {
		t.Errorf("11 entries with a limit of 10 = %v, want an error", err)
	}
	tree = Tree{"/a": {}, "/b": {}}
	err = tree.applyTar(context.Background(), bytes.NewReader(layerTar(t, ents[:9]...)), 10)
	if err == nil || !strings.Contains(err.Error(), "more than 10 paths") {
		t.Errorf("11 paths with a limit of 10 = %v, want an error", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := (Tree{}).applyTar(ctx, bytes.NewReader(layerTar(t, ents...)), 100); err != context.Canceled {
		t.Errorf("cancelled = %v, want context.Canceled", err)
	}
}

func TestEntryText(t *testing.T) {
	long := strings.Repeat("a", MaxText+1)
	got, err := flatten(t, layerTar(t, ent{name: "short", typ: tar.TypeReg, body: "hi\n"},
		ent{name: "long", typ: tar.TypeReg, body: long}, ent{name: "bin", typ: tar.TypeReg, body: "\xff\xfe"},
		ent{name: "empty", typ: tar.TypeReg}, ent{name: "a b", typ: tar.TypeReg, body: `"q"`}))
	if err != nil {
		t.Fatal(err)
	}
	for p, want := range map[string]string{"/short": ` text="hi\n"`, "/long": "", "/bin": "", "/empty": "", "/a b": ` text="\"q\""`} {
		_, text, _ := strings.Cut(got[p], " text=")
		if text != "" {
			text = " text=" + text
		}
		if text != want {
			t.Errorf("%s: %q, want text %q", p, got[p], want)
		}
	}
}

func TestDumpImageAgainstBase(t *testing.T) {
	baseLayer := layerTar(t, ent{name: "bin/", typ: tar.TypeDir}, ent{name: "bin/sh", typ: tar.TypeReg, body: "sh"},
		ent{name: "etc/", typ: tar.TypeDir}, ent{name: "etc/passwd", typ: tar.TypeReg, body: "root"})
	base := image(t, baseLayer)
	img := image(t, baseLayer, layerTar(t, ent{name: "etc/", typ: tar.TypeDir, mode: 0o700},
		ent{name: "etc/passwd", typ: tar.TypeReg, body: "root"}, ent{name: "bin/.wh.sh", typ: tar.TypeReg},
		ent{name: "new file", typ: tar.TypeReg, body: "n"}))
	raw, err := img.RawConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	var cfg map[string]any
	if err := json.Unmarshal(raw, &cfg); err != nil {
		t.Fatal(err)
	}
	cf, _ := img.ConfigFile()
	cf.Config.Env = []string{"A=1"}
	cf.Config.User = "1000:1000"
	cf.Config.ExposedPorts = map[string]struct{}{"80/tcp": {}, "53/udp": {}}
	cf.Config.Healthcheck = &v1.HealthConfig{Test: []string{"CMD", "true"}}
	img, err = mutate.ConfigFile(img, cf)
	if err != nil {
		t.Fatal(err)
	}
	d, err := DumpImage(context.Background(), img, base)
	if err != nil {
		t.Fatal(err)
	}
	text := d.String()
	for _, want := range []string{
		"config Env [\"A=1\"]\n", "config User \"1000:1000\"\n", "config ExposedPorts [\"53/udp\",\"80/tcp\"]\n",
		"config Healthcheck {\"Test\":[\"CMD\",\"true\"]}\n", "config Cmd []\n", "config Labels {}\n",
		"/bin/sh removed\n", "/etc dir 0700 0:0\n", "\"/new file\" file 0644 0:0 size=1 ",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("dump lacks %q:\n%s", want, text)
		}
	}
	if strings.Contains(text, "/etc/passwd") || strings.Contains(text, "/bin dir") {
		t.Errorf("dump holds the base's own entries:\n%s", text)
	}
	// Parse reads every line back, the quoted path too.
	lines, err := Parse(text)
	if err != nil {
		t.Fatal(err)
	}
	if n := len(lines); n != len(d.Config)+len(d.Files) {
		t.Errorf("Parse gave %d lines, want %d", n, len(d.Config)+len(d.Files))
	}
	// A base the image does not start with is not subtracted.
	d, err = DumpImage(context.Background(), image(t, layerTar(t, ent{name: "x", typ: tar.TypeReg})), base)
	if err != nil {
		t.Fatal(err)
	}
	if s := d.String(); strings.Contains(s, "removed") || !strings.Contains(s, "/x file") {
		t.Errorf("dump over an unrelated base:\n%s", s)
	}
}

func TestCompare(t *testing.T) {
	got := "config Env [\"A=1\"]\nconfig User \"\"\n/a file 0644 0:0 size=1 sha256=aa\n\"/b c\" dir 0755 0:0\n/only-got dir 0755 0:0\n"
	want := "# BuildKit\nconfig Env [\"A=2\"]\nconfig User \"\"\n/a file 0600 0:0 size=1 sha256=aa\n\n\"/b c\" dir 0755 0:0\n/only-want removed\n"
	diffs, err := Compare(got, want)
	if err != nil {
		t.Fatal(err)
	}
	wantDiffs := []Difference{
		{"config Env", `["A=1"]`, `["A=2"]`},
		{"/a", "file 0644 0:0 size=1 sha256=aa", "file 0600 0:0 size=1 sha256=aa"},
		{"/only-got", "dir 0755 0:0", Absent},
		{"/only-want", Absent, "removed"},
	}
	if len(diffs) != len(wantDiffs) {
		t.Fatalf("Compare = %v, want %v", diffs, wantDiffs)
	}
	for i := range diffs {
		if diffs[i] != wantDiffs[i] {
			t.Errorf("Compare[%d] = %v, want %v", i, diffs[i], wantDiffs[i])
		}
	}
	for _, bad := range []string{"config Env\n", "/nospace\n", "\"/unterminated x\n"} {
		if _, err := Compare("config os \"linux\"\n"+bad, ""); err == nil || !strings.Contains(err.Error(), "line 2") {
			t.Errorf("Compare(%q) = %v, want an error at line 2", bad, err)
		}
	}
}
