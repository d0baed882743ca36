package imagedump

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func writeCase(t *testing.T, yaml string, files map[string]string) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "a-case")
	for name, data := range map[string]string{"case.yaml": yaml, "context/Dockerfile": "FROM scratch\n"} {
		files[name] = data
	}
	for name, data := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if strings.HasPrefix(data, "->") {
			if err := os.Symlink(strings.TrimPrefix(data, "->"), p); err != nil {
				t.Fatal(err)
			}
			continue
		}
		if err := os.WriteFile(p, []byte(data), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func TestLoadCaseRefuses(t *testing.T) {
	for _, tc := range []struct{ yaml, want string }{
		{"source: x_test.go\n", "buildkit: and source: must name"},
		{"buildkit: testX\nsource: x_test.go\nplatfroms: [linux/amd64]\n", "field platfroms not found"},
		{"buildkit: testX\nsource: x_test.go\nmodes: {f: \"9x\"}\n", `modes: f: "9x" is not an octal mode`},
		{"buildkit: testX\nsource: x_test.go\ndifferences:\n  - key: /f\n    reason: why\n", "key:, manyarch: and reason: are required"},
	} {
		_, err := LoadCase(writeCase(t, tc.yaml, map[string]string{}))
		if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), "case.yaml") {
			t.Errorf("LoadCase(%q) = %v, want an error naming case.yaml and saying %q", tc.yaml, err, tc.want)
		}
	}
}

func TestCasePrepare(t *testing.T) {
	dir := writeCase(t, "buildkit: testX\nsource: x_test.go\ndirs: [empty/sub]\nmodes: {suid: \"4755\", sub: \"0700\"}\n",
		map[string]string{"context/suid": "s", "context/sub/f": "f", "context/link": "->sub/f"})
	c, err := LoadCase(dir)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(c.Platforms, ",") != "linux/amd64,linux/arm64,linux/arm/v7" {
		t.Errorf("default platforms = %v", c.Platforms)
	}
	dst := filepath.Join(t.TempDir(), "ctx")
	if err := c.Prepare(dst); err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string]os.FileMode{
		"suid": 0o755 | os.ModeSetuid, "sub": 0o700 | os.ModeDir, "sub/f": 0o644, "Dockerfile": 0o644,
		"empty/sub": 0o755 | os.ModeDir, "link": os.ModeSymlink | 0o777,
	} {
		fi, err := os.Lstat(filepath.Join(dst, name))
		if err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		if got := fi.Mode()&^os.ModeType&(os.ModePerm|os.ModeSetuid) | fi.Mode()&(os.ModeDir|os.ModeSymlink); got != want {
			t.Errorf("%s: mode %v, want %v", name, got, want)
		}
	}
}

func TestDifferencesMarkdown(t *testing.T) {
	dir := writeCase(t, "buildkit: testX\nsource: x_test.go\nplatforms: [linux/arm64]\ndifferences:\n"+
		"  - key: /f\n    manyarch: \"file a|b\"\n    reason: |\n      two\n      lines\n",
		map[string]string{"expected/linux_arm64.dump": "config os \"linux\"\n/f file BuildKit's\n"})
	c, err := LoadCase(dir)
	if err != nil {
		t.Fatal(err)
	}
	if !c.Differences[0].Matches("linux/arm64", Difference{Key: "/f", Got: "file a|b"}) ||
		c.Differences[0].Matches("linux/arm64", Difference{Key: "/f", Got: "file other"}) {
		t.Errorf("Matches: a known difference must match its key and manyarch's exact value only")
	}
	md, err := DifferencesMarkdown([]*Case{c})
	if err != nil {
		t.Fatal(err)
	}
	if want := "| a-case (testX) | all | `/f` | `file a\\|b` | `file BuildKit's` | two lines |\n"; !strings.HasSuffix(md, want) {
		t.Errorf("DifferencesMarkdown =\n%s\nwant it to end with\n%s", md, want)
	}
}
