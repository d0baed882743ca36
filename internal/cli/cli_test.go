//go:build linux

package cli

import (
	"archive/tar"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// runCLI runs manyarch in-process against the store at root.
func runCLI(t *testing.T, root string, args ...string) (string, string, error) {
	t.Helper()
	cmd := NewRootCmd()
	var out, errb bytes.Buffer
	cmd.SetOut(&out)
	cmd.SetErr(&errb)
	cmd.SetArgs(append([]string{"--root", root}, args...))
	err := cmd.ExecuteContext(context.Background())
	return out.String(), errb.String(), err
}

func mustRun(t *testing.T, root string, args ...string) string {
	t.Helper()
	out, stderr, err := runCLI(t, root, args...)
	if err != nil {
		t.Fatalf("manyarch %s: %v\n%s", strings.Join(args, " "), err, stderr)
	}
	return out
}

// makeRootfs writes a small root filesystem whose /arch file names arch.
func makeRootfs(t *testing.T, arch string) string {
	t.Helper()
	dir := t.TempDir()
	for _, d := range []string{"bin", "etc", "tmp"} {
		if err := os.MkdirAll(filepath.Join(dir, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(dir, "arch"), []byte(arch+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "bin", "tool"), bytes.Repeat([]byte(arch), 1000), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("/bin/tool", filepath.Join(dir, "bin", "alias")); err != nil {
		t.Fatal(err)
	}
	return dir
}

// importTwo makes a two-platform image NAME in the store at root.
func importTwo(t *testing.T, root, name string) {
	t.Helper()
	mustRun(t, root, "import", "-t", name,
		"--platform", "linux/amd64="+makeRootfs(t, "amd64"),
		"--platform", "linux/arm64="+makeRootfs(t, "arm64"),
		"--change", `CMD ["/bin/tool"]`, "--change", "ENV A=1 B=two", "--change", "WORKDIR /tmp")
}

func inspectJSON(t *testing.T, root string, args ...string) inspectView {
	t.Helper()
	out := mustRun(t, root, append([]string{"inspect", "--format", "json"}, args...)...)
	var v inspectView
	if err := json.Unmarshal([]byte(out), &v); err != nil {
		t.Fatalf("inspect --format json: %v\n%s", err, out)
	}
	return v
}

func TestImportInspectCopy(t *testing.T) {
	root := t.TempDir()
	t.Setenv("SOURCE_DATE_EPOCH", "1000")
	importTwo(t, root, "demo:1")

	v := inspectJSON(t, root, "demo:1")
	if v.MediaType != "application/vnd.oci.image.index.v1+json" || len(v.Manifests) != 2 {
		t.Fatalf("inspect demo:1 = %+v, want an OCI index of 2", v)
	}
	for i, want := range []string{"linux/amd64", "linux/arm64"} {
		m := v.Manifests[i]
		if m.Platform != want || m.Config == nil {
			t.Fatalf("manifest %d = %+v, want platform %s with a config", i, m, want)
		}
		if m.Config.OS+"/"+m.Config.Architecture != want {
			t.Errorf("manifest %d = %+v (config %+v), want platform %s in index and config", i, m, m.Config, want)
		}
		if got := strings.Join(m.Config.Cmd, " "); got != "/bin/tool" || m.Config.WorkingDir != "/tmp" || len(m.Config.Env) != 2 {
			t.Errorf("manifest %d config = %+v, want cmd, workdir and env from --change", i, m.Config)
		}
		if m.Config.Created == nil || m.Config.Created.Unix() != 1000 {
			t.Errorf("manifest %d created = %v, want SOURCE_DATE_EPOCH 1000", i, m.Config.Created)
		}
	}

	// The store, an OCI archive, an OCI layout and back: digests kept.
	dir := t.TempDir()
	archive := filepath.Join(dir, "demo.tar")
	mustRun(t, root, "copy", "demo:1", "oci-archive:"+archive)
	mustRun(t, root, "copy", "oci-archive:"+archive, "oci:"+filepath.Join(dir, "layout")+":v1")
	mustRun(t, root, "copy", "oci:"+filepath.Join(dir, "layout")+":v1", "demo:back")
	if back := inspectJSON(t, root, "demo:back"); back.Digest != v.Digest {
		t.Errorf("digest after store → oci-archive → oci → store = %s, want %s", back.Digest, v.Digest)
	}

	// One platform: the image alone.
	mustRun(t, root, "copy", "--platform", "linux/arm64", "demo:1", "demo:arm64")
	one := inspectJSON(t, root, "demo:arm64")
	if one.Platform != "linux/arm64" || one.Digest != v.Manifests[1].Digest {
		t.Errorf("copy --platform linux/arm64 gave %+v, want the arm64 image %s", one, v.Manifests[1].Digest)
	}
	raw := mustRun(t, root, "inspect", "--raw", "--platform", "arm64", "demo:1")
	if !strings.Contains(raw, `"layers"`) {
		t.Errorf("inspect --raw --platform arm64 = %s, want the arm64 manifest", raw)
	}

	// docker-archive holds one image: an index needs --platform.
	_, _, err := runCLI(t, root, "copy", "demo:1", "docker-archive:"+filepath.Join(dir, "d.tar"))
	if err == nil || !strings.Contains(err.Error(), "--platform") {
		t.Errorf("copy of an index to docker-archive = %v, want an error that asks for --platform", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "d.tar")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("failed copy left %s behind (%v)", filepath.Join(dir, "d.tar"), err)
	}
	mustRun(t, root, "copy", "--platform", "linux/amd64", "demo:1", "docker-archive:"+filepath.Join(dir, "d.tar")+":demo:amd64")
	mustRun(t, root, "copy", "docker-archive:"+filepath.Join(dir, "d.tar"), "demo:from-docker")
	if got := inspectJSON(t, root, "demo:from-docker"); got.Platform != "linux/amd64" {
		t.Errorf("image read back from docker-archive has platform %q, want linux/amd64", got.Platform)
	}

	// images lists every name with its platforms; rmi removes one.
	out := mustRun(t, root, "images")
	for _, want := range []string{"demo ", "1 ", "back", "linux/amd64,linux/arm64"} {
		if !strings.Contains(out, want) {
			t.Errorf("images output lacks %q:\n%s", want, out)
		}
	}
	mustRun(t, root, "tag", "demo:1", "other:x")
	mustRun(t, root, "rmi", "demo:1", "demo:back", "demo:arm64", "demo:from-docker")
	if v2 := inspectJSON(t, root, "other:x"); v2.Digest != v.Digest {
		t.Errorf("other:x = %s after rmi of the other names, want %s", v2.Digest, v.Digest)
	}
}

func TestImportReproducible(t *testing.T) {
	t.Setenv("SOURCE_DATE_EPOCH", "1672531200")
	a, b := makeRootfs(t, "arm64"), makeRootfs(t, "arm64")
	// Different mtimes, same content: the clamp makes them equal.
	os.Chtimes(filepath.Join(b, "arch"), timeNowPlus(3600), timeNowPlus(3600))
	r1, r2 := t.TempDir(), t.TempDir()
	mustRun(t, r1, "import", "-t", "x:1", "--platform", "linux/arm64="+a, "--platform", "linux/arm/v7="+a)
	mustRun(t, r2, "import", "-t", "x:1", "--platform", "linux/arm64="+b, "--platform", "linux/arm/v7="+b)
	d1, d2 := inspectJSON(t, r1, "x:1").Digest, inspectJSON(t, r2, "x:1").Digest
	if d1 != d2 {
		t.Errorf("two imports of equal trees with SOURCE_DATE_EPOCH gave %s and %s, want one digest", d1, d2)
	}
}

func TestBadInput(t *testing.T) {
	root := t.TempDir()
	importTwo(t, root, "demo:1")
	evil := filepath.Join(t.TempDir(), "evil.tar")
	writeTar(t, evil, "ok", "../../etc/evil")

	tests := []struct {
		name string
		args []string
		want []string
	}{
		{"tarball escaping the root", []string{"import", "-t", "bad:1", "--platform", "linux/arm64=" + evil}, []string{"evil.tar", "../../etc/evil"}},
		{"unknown platform", []string{"copy", "--platform", "linux/arm64/v9", "demo:1", "oci:" + t.TempDir()}, []string{"linux/arm64/v9", "known platforms are", "linux/riscv64"}},
		{"platform the image lacks", []string{"copy", "--platform", "linux/s390x", "demo:1", "oci:" + t.TempDir()}, []string{"linux/s390x", "linux/amd64, linux/arm64"}},
		{"malformed reference", []string{"inspect", "oci-layout:/x"}, []string{"unknown transport", "oci-archive:FILE"}},
		{"missing tag", []string{"rmi", "nosuch:tag"}, []string{"nosuch:tag", "not found"}},
		{"missing layout", []string{"inspect", "oci:" + filepath.Join(t.TempDir(), "none")}, []string{"not an OCI image layout"}},
		{"no -t", []string{"import", "--platform", "linux/amd64=" + t.TempDir()}, []string{"-t NAME"}},
		{"bad --change", []string{"import", "-t", "c:1", "--platform", "linux/amd64=" + t.TempDir(), "--change", "FROM x"}, []string{"FROM x", "unknown"}},
		{"platform twice", []string{"import", "-t", "c:1", "--platform", "linux/arm64=" + t.TempDir(), "--platform", "arm64=" + t.TempDir()}, []string{"given twice"}},
		{"write to digest", []string{"copy", "demo:1", "demo@sha256:" + strings.Repeat("0", 64)}, []string{"digest reference cannot be written"}},
		// The crane/skopeo verbs (issue #22 item 9).
		{"upper-case name", []string{"digest", "Demo:1"}, []string{"must be lower case", `"demo:1"`}},
		{"config of an index", []string{"config", "demo:1"}, []string{"demo:1", "linux/amd64, linux/arm64", "--platform"}},
		{"two platforms", []string{"digest", "--platform", "linux/amd64,linux/arm64", "demo:1"}, []string{"name one platform"}},
		{"ls of a tag", []string{"ls", "demo:1"}, []string{"give the repository alone (demo)"}},
		{"ls of nothing", []string{"ls", "nosuch"}, []string{"no tags of repository nosuch"}},
		{"ls of no layout", []string{"ls", "oci:" + filepath.Join(t.TempDir(), "none")}, []string{"no OCI image layout"}},
		{"catalog of a path", []string{"catalog", "host/repo"}, []string{"HOST[:PORT]"}},
		{"delete of an archive", []string{"delete", "oci-archive:/x.tar"}, []string{"remove an archive file itself"}},
		{"delete of nothing", []string{"delete", "nosuch:1"}, []string{"nosuch:1", "manyarch images"}},
		{"export without -o", []string{"export", "demo:1"}, []string{"-o FILE"}},
		{"export of an index", []string{"export", "-o", filepath.Join(t.TempDir(), "x.tar"), "demo:1"}, []string{"--platform"}},
		{"login without user", []string{"login", "localhost:1"}, []string{"-u USER"}},
		{"login without password", []string{"login", "-u", "a", "localhost:1"}, []string{"--password-stdin"}},
		{"tag to a layout", []string{"tag", "demo:1", "oci:/x"}, []string{"manyarch copy"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, _, err := runCLI(t, root, tt.args...)
			if err == nil {
				t.Fatalf("manyarch %s succeeded, want an error", strings.Join(tt.args, " "))
			}
			if goInternalsRE.MatchString(err.Error()) {
				t.Errorf("manyarch %s = %q, which prints Go internals", strings.Join(tt.args, " "), err)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("manyarch %s = %q, want it to mention %q", strings.Join(tt.args, " "), err, w)
				}
			}
		})
	}
	// Nothing the failures touched was named.
	out := mustRun(t, root, "images", "--format", "{{.Name}}:{{.Tag}}")
	if strings.TrimSpace(out) != "demo:1" {
		t.Errorf("store names after the failures = %q, want only demo:1", out)
	}
}

func TestCorruptBlobIsReported(t *testing.T) {
	root := t.TempDir()
	importTwo(t, root, "demo:1")
	v := inspectJSON(t, root, "--platform", "linux/arm64", "demo:1")
	layer := inspectLayer(t, root, v.Digest)
	p := filepath.Join(root, "blobs", "sha256", strings.TrimPrefix(layer, "sha256:"))
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	b[len(b)/2] ^= 0xff
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
	dst := filepath.Join(t.TempDir(), "out.tar")
	_, _, err = runCLI(t, root, "copy", "demo:1", "oci-archive:"+dst)
	if err == nil || !strings.Contains(err.Error(), layer) {
		t.Fatalf("copy of an image with a corrupt layer = %v, want an error naming %s", err, layer)
	}
	if _, err := os.Stat(dst); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("failed copy left %s behind", dst)
	}
}

// inspectLayer returns the digest of the only layer of the image manifest h.
func inspectLayer(t *testing.T, root, h string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(root, "blobs", "sha256", strings.TrimPrefix(h, "sha256:")))
	if err != nil {
		t.Fatal(err)
	}
	var m struct {
		Layers []struct{ Digest string } `json:"layers"`
	}
	if err := json.Unmarshal(b, &m); err != nil || len(m.Layers) != 1 {
		t.Fatalf("manifest %s: %v (%s)", h, err, b)
	}
	return m.Layers[0].Digest
}

// writeTar writes a tar file of regular files with the given names.
func writeTar(t *testing.T, path string, names ...string) {
	t.Helper()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	tw := tar.NewWriter(f)
	for _, n := range names {
		if err := tw.WriteHeader(&tar.Header{Name: n, Mode: 0o644, Size: 2, Typeflag: tar.TypeReg}); err != nil {
			t.Fatal(err)
		}
		tw.Write([]byte("x\n"))
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	f.Close()
}
