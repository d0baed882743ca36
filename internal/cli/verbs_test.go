//go:build linux

package cli

import (
	"archive/tar"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"

	"github.com/manyarch/manyarch/internal/remote"
	"github.com/manyarch/manyarch/internal/testutil"
)

type tarEntry struct {
	name, body string
	typ        byte
}

func tarLayer(t *testing.T, entries ...tarEntry) v1.Layer {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, e := range entries {
		h := &tar.Header{Name: e.name, Typeflag: e.typ, Mode: 0o644, Size: int64(len(e.body))}
		if e.typ == tar.TypeDir {
			h.Mode, h.Size = 0o755, 0
		}
		if err := tw.WriteHeader(h); err != nil {
			t.Fatal(err)
		}
		if h.Size > 0 {
			if _, err := tw.Write([]byte(e.body)); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	b := buf.Bytes()
	l, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(b)), nil })
	if err != nil {
		t.Fatal(err)
	}
	return l
}

// whiteoutLayout writes an OCI layout holding, as tag v1, a two-layer
// linux/amd64 image whose upper layer deletes, replaces and hides.
func whiteoutLayout(t *testing.T) (string, v1.Image) {
	t.Helper()
	f, d := byte(tar.TypeReg), byte(tar.TypeDir)
	low := tarLayer(t,
		tarEntry{"a/", "", d}, tarEntry{"a/keep", "keep", f}, tarEntry{"a/gone", "gone", f},
		tarEntry{"b/", "", d}, tarEntry{"b/old", "old", f}, tarEntry{"c", "low", f},
		tarEntry{"d/", "", d}, tarEntry{"d/x", "x", f})
	high := tarLayer(t,
		tarEntry{"a/.wh.gone", "", f}, tarEntry{"b/", "", d}, tarEntry{"b/.wh..wh..opq", "", f},
		tarEntry{"b/new", "new", f}, tarEntry{"c", "high", f}, tarEntry{".wh.d", "", f})
	img, err := mutate.AppendLayers(empty.Image, low, high)
	if err != nil {
		t.Fatal(err)
	}
	cf, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	cf = cf.DeepCopy()
	cf.OS, cf.Architecture = "linux", "amd64"
	if img, err = mutate.ConfigFile(img, cf); err != nil {
		t.Fatal(err)
	}
	img = mutate.Annotations(img, map[string]string{"org.opencontainers.image.source": "https://example.com/app"}).(v1.Image)
	dir := filepath.Join(t.TempDir(), "layout")
	p, err := layout.Write(dir, empty.Index)
	if err != nil {
		t.Fatal(err)
	}
	if err := p.AppendImage(img, layout.WithAnnotations(map[string]string{"org.opencontainers.image.ref.name": "v1"})); err != nil {
		t.Fatal(err)
	}
	return dir, img
}

func readTar(t *testing.T, file string) map[string]string {
	t.Helper()
	f, err := os.Open(file)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	out := map[string]string{}
	tr := tar.NewReader(f)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(tr)
		if _, dup := out[h.Name]; dup {
			t.Errorf("%s holds %s twice", file, h.Name)
		}
		out[h.Name] = string(b)
	}
}

// TestExport: issue #22 item 9. Whiteouts and opaque directories applied,
// the highest layer's file wins, --max-size refuses and leaves no file.
func TestExport(t *testing.T) {
	root := t.TempDir()
	dir, _ := whiteoutLayout(t)
	out := filepath.Join(t.TempDir(), "fs.tar")
	mustRun(t, root, "export", "-o", out, "oci:"+dir+":v1")
	got := readTar(t, out)
	want := map[string]string{"a/": "", "a/keep": "keep", "b/": "", "b/new": "new", "c": "high"}
	var names []string
	for n := range got {
		names = append(names, n)
	}
	sort.Strings(names)
	if len(got) != len(want) {
		t.Errorf("export wrote %v, want %v", names, want)
	}
	for n, body := range want {
		if got[n] != body {
			t.Errorf("export: %s = %q, want %q (all: %v)", n, got[n], body, names)
		}
	}
	small := filepath.Join(t.TempDir(), "small.tar")
	_, _, err := runCLI(t, root, "export", "--max-size", "5", "-o", small, "oci:"+dir+":v1")
	if err == nil || !strings.Contains(err.Error(), "--max-size 5") {
		t.Errorf("export --max-size 5 = %v, want a refusal naming the bound", err)
	}
	if _, serr := os.Stat(small); serr == nil {
		t.Errorf("a refused export left %s", small)
	}
	// buildx's --output syntax, by habit, is a usage error that says what
	// -o takes, and writes nothing.
	for _, o := range []string{"type=local,dest=" + filepath.Join(t.TempDir(), "fs"), "type=tar,dest=" + small} {
		_, _, err := runCLI(t, root, "export", "-o", o, "oci:"+dir+":v1")
		if err == nil || !strings.Contains(err.Error(), "-o takes the tar file to write") || !strings.Contains(err.Error(), "tar -xf") || ExitCode(err, io.Discard) != 2 {
			t.Errorf("export -o %s = %v, want a usage error (exit 2) saying what -o takes", o, err)
		}
	}
	if _, serr := os.Stat(small); serr == nil {
		t.Errorf("export with build's --output syntax left %s", small)
	}
	// An index of two images needs --platform; the message lists them.
	importTwo(t, root, "demo:1")
	if _, _, err := runCLI(t, root, "export", "-o", small, "demo:1"); err == nil || !strings.Contains(err.Error(), "linux/amd64, linux/arm64") {
		t.Errorf("export of an index without --platform = %v, want the platforms listed", err)
	}
	mustRun(t, root, "export", "--platform", "linux/arm64", "-o", small, "demo:1")
	if fs := readTar(t, small); fs["arch"] != "arm64\n" {
		t.Errorf("export --platform linux/arm64: /arch = %q, want arm64", fs["arch"])
	}
}

// TestInspectShowsMore: issue #22 item 9. Annotations, layers, and
// imagetools' {{json .Manifest}} and {{json .Image}}.
func TestInspectShowsMore(t *testing.T) {
	root := t.TempDir()
	dir, img := whiteoutLayout(t)
	src := "oci:" + dir + ":v1"
	v := inspectJSON(t, root, src)
	if v.Annotations["org.opencontainers.image.source"] != "https://example.com/app" {
		t.Errorf("inspect annotations = %v, want the manifest's", v.Annotations)
	}
	layers, _ := img.Layers()
	if len(v.Layers) != 2 {
		t.Fatalf("inspect layers = %+v, want 2", v.Layers)
	}
	for i, l := range layers {
		d, _ := l.Digest()
		n, _ := l.Size()
		mt, _ := l.MediaType()
		if v.Layers[i].Digest != d.String() || v.Layers[i].Size != n || v.Layers[i].MediaType != string(mt) {
			t.Errorf("layer %d = %+v, want %s %d %s", i, v.Layers[i], d, n, mt)
		}
	}
	text := mustRun(t, root, "inspect", src)
	d0, _ := layers[0].Digest()
	if !strings.Contains(text, "org.opencontainers.image.source=https://example.com/app") || !strings.Contains(text, d0.String()) {
		t.Errorf("inspect text lacks annotations or layers:\n%s", text)
	}
	var m v1.Manifest
	if err := json.Unmarshal([]byte(mustRun(t, root, "inspect", "--format", "{{json .Manifest}}", src)), &m); err != nil || m.SchemaVersion != 2 || len(m.Layers) != 2 {
		t.Errorf("{{json .Manifest}} = %+v, %v; want the manifest", m, err)
	}
	var cf v1.ConfigFile
	if err := json.Unmarshal([]byte(mustRun(t, root, "inspect", "--format", "{{json .Image}}", src)), &cf); err != nil || cf.Architecture != "amd64" {
		t.Errorf("{{json .Image}} = %+v, %v; want the config", cf, err)
	}
	// An index: .Image maps platforms to configs, manifests carry layers.
	importTwo(t, root, "demo:1")
	var cfgs map[string]v1.ConfigFile
	if err := json.Unmarshal([]byte(mustRun(t, root, "inspect", "--format", "{{json .Image}}", "demo:1")), &cfgs); err != nil || cfgs["linux/arm64"].Architecture != "arm64" {
		t.Errorf("{{json .Image}} of an index = %+v, %v; want a config per platform", cfgs, err)
	}
	if iv := inspectJSON(t, root, "demo:1"); len(iv.Manifests) != 2 || len(iv.Manifests[1].Layers) == 0 {
		t.Errorf("inspect demo:1 manifests = %+v, want layers per platform", iv.Manifests)
	}
}

// TestRegistryVerbs: digest, manifest, config, ls, catalog and delete on the
// store, an OCI layout and a registry (issue #22 item 9).
func TestRegistryVerbs(t *testing.T) {
	reg := testutil.StartRegistry(t, testutil.RegistryOptions{})
	t.Setenv("DOCKER_CONFIG", t.TempDir())
	root := t.TempDir()
	importTwo(t, root, "demo:1")
	v := inspectJSON(t, root, "demo:1")
	app := reg.Ref("demo/app:1")
	mustRun(t, root, "copy", "demo:1", app)
	layoutDir := filepath.Join(t.TempDir(), "layout")
	mustRun(t, root, "copy", "demo:1", "oci:"+layoutDir+":v1")

	for _, src := range []string{"demo:1", app, "oci:" + layoutDir + ":v1"} {
		if got := strings.TrimSpace(mustRun(t, root, "digest", src)); got != v.Digest {
			t.Errorf("digest %s = %s, want %s", src, got, v.Digest)
		}
		if got := strings.TrimSpace(mustRun(t, root, "digest", "--platform", "linux/arm64", src)); got != v.Manifests[1].Digest {
			t.Errorf("digest --platform linux/arm64 %s = %s, want %s", src, got, v.Manifests[1].Digest)
		}
		if got, want := mustRun(t, root, "manifest", src), mustRun(t, root, "inspect", "--raw", "demo:1"); got != want {
			t.Errorf("manifest %s = %s, want the stored bytes %s", src, got, want)
		}
		var cf v1.ConfigFile
		if err := json.Unmarshal([]byte(mustRun(t, root, "config", "--platform", "linux/arm64", src)), &cf); err != nil || cf.Architecture != "arm64" {
			t.Errorf("config --platform linux/arm64 %s = %+v, %v", src, cf, err)
		}
		if _, _, err := runCLI(t, root, "config", src); err == nil || !strings.Contains(err.Error(), "--platform") {
			t.Errorf("config %s (an index of two) = %v, want a request for --platform", src, err)
		}
	}

	mustRun(t, root, "tag", app, reg.Ref("demo/app:2"))
	mustRun(t, root, "tag", "demo:1", "demo:2")
	for src, want := range map[string]string{reg.Ref("demo/app"): "1\n2\n", "demo": "1\n2\n", "oci:" + layoutDir: "v1\n"} {
		if got := mustRun(t, root, "ls", src); got != want {
			t.Errorf("ls %s = %q, want %q", src, got, want)
		}
	}
	if got := mustRun(t, root, "list-tags", reg.Ref("demo/app")); got != "1\n2\n" {
		t.Errorf("list-tags = %q", got)
	}
	if _, _, err := runCLI(t, root, "ls", reg.Ref("demo/app:1")); err == nil || !strings.Contains(err.Error(), "give the repository alone") {
		t.Errorf("ls with a tag = %v, want a refusal", err)
	}
	if got := mustRun(t, root, "catalog", reg.Host()); got != "demo/app\n" {
		t.Errorf("catalog %s = %q, want demo/app", reg.Host(), got)
	}
	if got := mustRun(t, root, "catalog"); got != "demo\n" {
		t.Errorf("catalog (the store) = %q, want demo", got)
	}

	// delete: the store's name alone; the registry by digest.
	out := mustRun(t, root, "delete", "demo:2")
	if !strings.Contains(out, "from the local store") || mustRun(t, root, "ls", "demo") != "1\n" {
		t.Errorf("delete demo:2 printed %q; ls demo = %q, want 1 alone", out, mustRun(t, root, "ls", "demo"))
	}
	byDigest := reg.Ref("demo/app@" + v.Digest)
	out = mustRun(t, root, "delete", byDigest)
	if !strings.Contains(out, "from registry "+reg.Host()) {
		t.Errorf("delete %s printed %q", byDigest, out)
	}
	if ok, err := remote.Exists(context.Background(), app, anon); ok || err != nil {
		t.Errorf("after delete %s: Exists(%s) = %v, %v; want gone", byDigest, app, ok, err)
	}
	if _, _, err := runCLI(t, root, "digest", app); !errors.Is(err, remote.ErrNotFound) {
		t.Errorf("digest of a deleted tag = %v, want not found", err)
	}
}

func runWithStdin(t *testing.T, root, stdin string, args ...string) (string, string, error) {
	t.Helper()
	cmd := NewRootCmd()
	var out, errb bytes.Buffer
	cmd.SetOut(&out)
	cmd.SetErr(&errb)
	cmd.SetIn(strings.NewReader(stdin))
	cmd.SetArgs(append([]string{"--root", root}, args...))
	err := cmd.ExecuteContext(context.Background())
	return out.String(), errb.String(), err
}

// TestLoginLogout: credentials checked, written as docker does (auths,
// base64, 0600, the other settings kept), used, and removed.
func TestLoginLogout(t *testing.T) {
	reg := testutil.StartRegistry(t, testutil.RegistryOptions{Username: "alice", Password: "s3cret"})
	cfgDir := t.TempDir()
	t.Setenv("DOCKER_CONFIG", cfgDir)
	file := filepath.Join(cfgDir, "config.json")
	if err := os.WriteFile(file, []byte(`{"auths":{"other.example.com":{"auth":"eDp5"}},"proxies":{"default":{"httpProxy":""}}}`), 0o644); err != nil {
		t.Fatal(err)
	}
	before, _ := os.ReadFile(file)
	root := t.TempDir()
	importTwo(t, root, "demo:1")
	if _, _, err := runCLI(t, root, "copy", "demo:1", reg.Ref("demo/app:1")); !errors.Is(err, remote.ErrUnauthorized) || goInternalsRE.MatchString(err.Error()) {
		t.Fatalf("copy without credentials = %v, want ErrUnauthorized in words", err)
	}

	_, _, err := runWithStdin(t, root, "wrong\n", "login", "-u", "alice", "--password-stdin", reg.Host())
	if !errors.Is(err, remote.ErrUnauthorized) || !strings.Contains(err.Error(), "rejected the user name or password") {
		t.Errorf("login with a wrong password = %v, want a rejection", err)
	}
	if after, _ := os.ReadFile(file); !bytes.Equal(after, before) {
		t.Errorf("a refused login changed %s:\n%s", file, after)
	}

	out, _, err := runWithStdin(t, root, "s3cret\n", "login", "-u", "alice", "--password-stdin", reg.Host())
	if err != nil || !strings.Contains(out, "Login Succeeded") {
		t.Fatalf("login = %q, %v", out, err)
	}
	st, err := os.Stat(file)
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Errorf("config.json after login: %v, mode %v; want 0600", err, st.Mode())
	}
	var cfg struct {
		Auths   map[string]map[string]string `json:"auths"`
		Proxies map[string]any               `json:"proxies"`
	}
	b, _ := os.ReadFile(file)
	if err := json.Unmarshal(b, &cfg); err != nil {
		t.Fatal(err)
	}
	if cfg.Auths[reg.Host()]["auth"] != "YWxpY2U6czNjcmV0" || cfg.Auths["other.example.com"]["auth"] != "eDp5" || cfg.Proxies["default"] == nil {
		t.Errorf("config.json after login = %s, want alice:s3cret in base64 beside the old settings", b)
	}
	mustRun(t, root, "copy", "demo:1", reg.Ref("demo/app:1"))
	if got := mustRun(t, root, "ls", reg.Ref("demo/app")); got != "1\n" {
		t.Errorf("ls after login = %q", got)
	}

	if out := mustRun(t, root, "logout", reg.Host()); !strings.Contains(out, "Removed") {
		t.Errorf("logout printed %q", out)
	}
	b, _ = os.ReadFile(file)
	if strings.Contains(string(b), reg.Host()) || !strings.Contains(string(b), "other.example.com") || !strings.Contains(string(b), "proxies") {
		t.Errorf("config.json after logout = %s, want the registry gone and the rest kept", b)
	}
	if out := mustRun(t, root, "logout", reg.Host()); !strings.Contains(out, "Not logged in") {
		t.Errorf("second logout printed %q", out)
	}
	if _, _, err := runWithStdin(t, root, "", "login", "-u", "alice", reg.Host()); err == nil || !strings.Contains(err.Error(), "--password-stdin") {
		t.Errorf("login without a password = %v, want --password-stdin asked for", err)
	}
}

// goInternalsRE matches what a user must never read: a Go map or struct
// printed with %v, a Go type name.
var goInternalsRE = regexp.MustCompile(`map\[|&\{|\*transport\.|\[\]interface|\bstruct \{`)
