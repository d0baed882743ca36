//go:build linux

package cli

import (
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/manyarch/manyarch/internal/imagediff"
)

// treeTime is the mtime of every entry of a test tree.
var treeTime = time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)

// Epochs around treeTime: one later (no clamping) and one earlier (every
// time clamped to it).
const (
	epochAfter  = "1893456000" // 2030-01-01
	epochBefore = "1577836800" // 2020-01-01
)

// diffTree writes a small root filesystem, lets edit change it, and sets
// every mtime to treeTime.
func diffTree(t *testing.T, edit func(dir string) error) string {
	t.Helper()
	dir := t.TempDir()
	files := map[string]string{"app/bin": "hello world\n", "etc/conf": "a=1\n"}
	for name, body := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Chmod(filepath.Join(dir, "app/bin"), 0o755); err != nil {
		t.Fatal(err)
	}
	if edit != nil {
		if err := edit(dir); err != nil {
			t.Fatal(err)
		}
	}
	err := filepath.WalkDir(dir, func(p string, _ os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		return os.Chtimes(p, treeTime, treeTime)
	})
	if err != nil {
		t.Fatal(err)
	}
	return dir
}

// runDiff runs `manyarch diff` and returns its stdout and exit status.
func runDiff(t *testing.T, root string, args ...string) (string, int) {
	t.Helper()
	out, stderr, err := runCLI(t, root, append([]string{"diff"}, args...)...)
	code := ExitCode(err, io.Discard)
	if code == 2 {
		t.Logf("manyarch diff %s: %v\n%s", strings.Join(args, " "), err, stderr)
	}
	return out, code
}

func TestDiffPlanted(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Log("not root: the owner case is left out")
	}
	tests := []struct {
		name  string
		edit  func(dir string) error
		after func(dir string) error // after the mtimes are set
		root  bool
		want  []string
	}{
		{name: "one byte", edit: func(d string) error {
			return os.WriteFile(filepath.Join(d, "app/bin"), []byte("hello World\n"), 0o755)
		}, want: []string{"1 path differs:", "/app/bin: content (sha256:a948904f2f0f vs sha256:"}},
		{name: "mode", edit: func(d string) error { return os.Chmod(filepath.Join(d, "app/bin"), 0o700) },
			want: []string{"/app/bin: mode (0755 vs 0700)"}},
		{name: "owner", root: true, edit: func(d string) error { return os.Lchown(filepath.Join(d, "etc/conf"), 1000, 1000) },
			want: []string{"/etc/conf: owner (0:0 vs 1000:1000)"}},
		{name: "added", edit: func(d string) error { return os.WriteFile(filepath.Join(d, "app/new"), []byte("x"), 0o644) },
			want: []string{"/app/new: only in b (file)"}},
		{name: "removed", edit: func(d string) error { return os.Remove(filepath.Join(d, "etc/conf")) },
			want: []string{"/etc/conf: only in a (file)"}},
		{name: "mtime", after: func(d string) error {
			return os.Chtimes(filepath.Join(d, "etc/conf"), treeTime, treeTime.Add(time.Hour))
		}, want: []string{"/etc/conf: mtime (2024-01-01T00:00:00Z vs 2024-01-01T01:00:00Z)"}},
	}
	root := t.TempDir()
	t.Setenv("SOURCE_DATE_EPOCH", epochAfter)
	mustRun(t, root, "import", "-t", "base:1", "--platform", "linux/arm64="+diffTree(t, nil))
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.root && os.Geteuid() != 0 {
				t.Skip("changing a file's owner needs root")
			}
			dir := diffTree(t, tt.edit)
			if tt.after != nil {
				if err := tt.after(dir); err != nil {
					t.Fatal(err)
				}
			}
			name := strings.ReplaceAll(tt.name, " ", "-") + ":1"
			mustRun(t, root, "import", "-t", name, "--platform", "linux/arm64="+dir)
			out, code := runDiff(t, root, "base:1", name)
			if code != 1 {
				t.Fatalf("diff base:1 %s = exit %d, want 1\n%s", name, code, out)
			}
			for _, w := range append(tt.want, "linux/arm64: manifests differ", "first differing layer 1 of 1") {
				if !strings.Contains(out, w) {
					t.Errorf("diff base:1 %s =\n%s\nwant it to contain %q", name, out, w)
				}
			}
			if strings.Contains(out, "created:") {
				t.Errorf("diff base:1 %s =\n%s\nwant no created difference (same SOURCE_DATE_EPOCH)", name, out)
			}
		})
	}
}

// TestDiffMtimeClamping plants an mtime change and imports it with and
// without SOURCE_DATE_EPOCH: clamped to an earlier epoch, both images are
// the same.
func TestDiffMtimeClamping(t *testing.T) {
	a := diffTree(t, nil)
	b := diffTree(t, nil)
	if err := os.Chtimes(filepath.Join(b, "etc/conf"), treeTime, treeTime.Add(24*time.Hour)); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		epoch string
		code  int
		want  string
	}{
		{"", 1, "/etc/conf: mtime (2024-01-01T00:00:00Z vs 2024-01-02T00:00:00Z)"},
		{epochAfter, 1, "/etc/conf: mtime (2024-01-01T00:00:00Z vs 2024-01-02T00:00:00Z)"},
		{epochBefore, 0, "linux/amd64: identical"},
	}
	for _, tt := range tests {
		t.Run("SOURCE_DATE_EPOCH="+tt.epoch, func(t *testing.T) {
			root := t.TempDir()
			t.Setenv("SOURCE_DATE_EPOCH", tt.epoch)
			mustRun(t, root, "import", "-t", "a:1", "--platform", "linux/amd64="+a)
			mustRun(t, root, "import", "-t", "b:1", "--platform", "linux/amd64="+b)
			out, code := runDiff(t, root, "a:1", "b:1")
			if code != tt.code || !strings.Contains(out, tt.want) {
				t.Errorf("diff a:1 b:1 = exit %d\n%s\nwant exit %d and %q", code, out, tt.code, tt.want)
			}
			if tt.code == 0 && !strings.HasSuffix(out, "\nidentical\n") {
				t.Errorf("diff a:1 b:1 =\n%s\nwant it to end in identical", out)
			}
		})
	}
}

func TestDiffConfigAndPlatforms(t *testing.T) {
	root := t.TempDir()
	t.Setenv("SOURCE_DATE_EPOCH", epochAfter)
	tree := diffTree(t, nil)
	mustRun(t, root, "import", "-t", "env:1", "--platform", "linux/amd64="+tree, "--change", "ENV A=1")
	mustRun(t, root, "import", "-t", "env:2", "--platform", "linux/amd64="+tree, "--change", "ENV A=2")
	mustRun(t, root, "import", "-t", "env:copy", "--platform", "linux/amd64="+tree, "--change", "ENV A=1")
	mustRun(t, root, "import", "-t", "multi:1", "--platform", "linux/amd64="+tree, "--platform", "linux/arm64="+tree, "--change", "ENV A=1")
	mustRun(t, root, "import", "-t", "multi:2", "--platform", "linux/arm64="+tree, "--platform", "linux/s390x="+tree, "--change", "ENV A=1")
	mustRun(t, root, "import", "-t", "single:arm64", "--platform", "linux/arm64="+tree, "--change", "ENV A=1")

	tests := []struct {
		name string
		args []string
		code int
		want []string
		not  []string
	}{
		{"env", []string{"env:1", "env:2"}, 1,
			[]string{"config:\n    env[A]: 1 vs 2\n", "layers: all 1 have the same content"}, []string{"paths differ"}},
		{"identical", []string{"env:1", "env:copy"}, 0, []string{"linux/amd64: identical\nidentical\n"}, nil},
		{"index vs image", []string{"multi:1", "single:arm64"}, 1, []string{
			"index:\n  mediaType: application/vnd.oci.image.index.v1+json vs application/vnd.oci.image.manifest.v1+json",
			"linux/amd64: only in a", "linux/arm64: identical"}, nil},
		{"platforms in one", []string{"multi:1", "multi:2"}, 1,
			[]string{"linux/amd64: only in a", "linux/arm64: identical", "linux/s390x: only in b"}, nil},
		{"one platform", []string{"--platform", "linux/arm64", "multi:1", "single:arm64"}, 0,
			[]string{"linux/arm64: identical"}, []string{"index:", "amd64"}},
		{"missing platform", []string{"--platform", "linux/riscv64", "multi:1", "multi:2"}, 2, nil, nil},
		{"missing image", []string{"multi:1", "oci:" + filepath.Join(root, "nothing-here")}, 2, nil, nil},
		{"bad max-paths", []string{"--max-paths", "-1", "multi:1", "multi:2"}, 2, nil, nil},
		{"bad format", []string{"--format", "yaml", "multi:1", "multi:2"}, 2, nil, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, code := runDiff(t, root, tt.args...)
			if code != tt.code {
				t.Fatalf("diff %s = exit %d, want %d\n%s", strings.Join(tt.args, " "), code, tt.code, out)
			}
			for _, w := range tt.want {
				if !strings.Contains(out, w) {
					t.Errorf("diff %s =\n%s\nwant it to contain %q", strings.Join(tt.args, " "), out, w)
				}
			}
			for _, w := range tt.not {
				if strings.Contains(out, w) {
					t.Errorf("diff %s =\n%s\nwant no %q", strings.Join(tt.args, " "), out, w)
				}
			}
		})
	}
}

func TestDiffJSON(t *testing.T) {
	root := t.TempDir()
	t.Setenv("SOURCE_DATE_EPOCH", epochAfter)
	a := diffTree(t, nil)
	b := diffTree(t, func(d string) error {
		for _, n := range []string{"x1", "x2", "x3"} {
			if err := os.WriteFile(filepath.Join(d, "app", n), []byte(n), 0o644); err != nil {
				return err
			}
		}
		return nil
	})
	mustRun(t, root, "import", "-t", "a:1", "--platform", "linux/amd64="+a, "--platform", "linux/arm64="+a)
	mustRun(t, root, "import", "-t", "b:1", "--platform", "linux/amd64="+b, "--platform", "linux/arm64="+a)
	mustRun(t, root, "import", "-t", "c:1", "--platform", "linux/amd64="+a, "--change", "LABEL k=v")
	out, code := runDiff(t, root, "--format", "json", "--max-paths", "2", "a:1", "b:1")
	if code != 1 {
		t.Fatalf("diff --format json = exit %d, want 1\n%s", code, out)
	}
	var r imagediff.Report
	if err := json.Unmarshal([]byte(out), &r); err != nil {
		t.Fatalf("diff --format json: %v\n%s", err, out)
	}
	if r.SchemaVersion != 1 || r.A.Reference != "a:1" || r.B.Reference != "b:1" || r.Identical || len(r.Platforms) != 2 {
		t.Fatalf("report = %+v, want schema 1, a:1 vs b:1, different, 2 platforms", r)
	}
	amd, arm := r.Platforms[0], r.Platforms[1]
	if amd.Platform != "linux/amd64" || amd.Status != "different" || arm.Status != "identical" {
		t.Fatalf("platforms = %s %s, %s %s; want linux/amd64 different, arm64 identical", amd.Platform, amd.Status, arm.Platform, arm.Status)
	}
	l := amd.Layers
	if l == nil || l.First != 1 || l.PathsDiffering != 3 || len(l.Paths) != 2 || l.PathsOmitted != 1 {
		t.Fatalf("layers = %+v, want first 1, 3 paths differing, 2 listed, 1 omitted", l)
	}
	if p := l.Paths[0]; p.Path != "/app/x1" || p.Status != "only-in-b" || p.Type != "file" {
		t.Errorf("paths[0] = %+v, want /app/x1 only-in-b file", p)
	}
	// The app directory changed only in its link count: nothing to report.
	for _, p := range l.Paths {
		if p.Path == "/app" {
			t.Errorf("paths = %+v, want /app left out (same mtime, mode and owner)", l.Paths)
		}
	}

	// A value only one side has is null on the other, not "".
	out, code = runDiff(t, root, "--format", "json", "--platform", "linux/amd64", "a:1", "c:1")
	if code != 1 {
		t.Fatalf("diff --format json --platform linux/amd64 a:1 c:1 = exit %d, want 1\n%s", code, out)
	}
	if !strings.Contains(out, `"field": "labels[k]",
          "a": null,
          "b": "v"`) {
		t.Errorf("diff --format json a:1 c:1 =\n%s\nwant labels[k] null vs \"v\"", out)
	}
}
