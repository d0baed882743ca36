//go:build linux

package cli

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestBuildCommand(t *testing.T) {
	root := busyboxStore(t, "linux/amd64=amd64", "linux/arm64=arm64")
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "greeting"), []byte("hi\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	df := "FROM t/busybox:1\nARG WHO\nCOPY greeting /greeting\nRUN echo \"$WHO on $(uname -m)\" >> /greeting\nCMD [\"cat\", \"/greeting\"]\n"
	iid := filepath.Join(dir, "iid")
	meta := filepath.Join(dir, "meta.json")
	out, stderr, code := runManyarch(t, df, "--root", root, "build", "-f", "-", "-q", "--platform", "linux/amd64,linux/arm64",
		"--build-arg", "WHO=test", "-t", "t/greet:1", "--label", "org.example.k=v", "--iidfile", iid, "--metadata-file", meta, dir)
	if code != 0 {
		t.Fatalf("manyarch build: exit %d: %s", code, stderr)
	}
	b, _ := os.ReadFile(iid)
	if id := strings.TrimSpace(out); !strings.HasPrefix(id, "sha256:") || id != string(b) {
		t.Errorf("build -q printed %q, --iidfile holds %q; want the same index digest", out, b)
	}
	var m struct {
		Digest    string `json:"containerimage.digest"`
		Platforms []struct {
			Platform, Manifest string
		} `json:"manyarch.platforms"`
	}
	mb, _ := os.ReadFile(meta)
	if err := json.Unmarshal(mb, &m); err != nil || m.Digest != string(b) || len(m.Platforms) != 2 || m.Platforms[1].Platform != "linux/arm64" {
		t.Errorf("--metadata-file = %s (%v)", mb, err)
	}
	for plat, want := range map[string]string{"linux/amd64": "hi\ntest on x86_64\n", "linux/arm64": "hi\ntest on aarch64\n"} {
		got, stderr, code := runManyarch(t, "", "--root", root, "run", "--platform", plat, "t/greet:1")
		if code != 0 || got != want {
			t.Errorf("run --platform %s t/greet:1 = %q (exit %d, %s), want %q", plat, got, code, stderr, want)
		}
	}
}

func TestBuildCommandBadInput(t *testing.T) {
	dir := t.TempDir()
	root := t.TempDir()
	os.WriteFile(filepath.Join(dir, "Dockerfile"), []byte("FROM scratch\n"), 0o644)
	empty := t.TempDir()
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"build", empty}, "no Dockerfile in"},
		{[]string{"build", filepath.Join(dir, "missing")}, "build context " + filepath.Join(dir, "missing") + ": no such directory"},
		{[]string{"build", filepath.Join(dir, "Dockerfile")}, "is not a directory"},
		{[]string{"build", "-f", "/dev/zero", dir}, "/dev/zero is not a regular file"},
		{[]string{"build", "--progress", "fancy", dir}, "--progress"},
		{[]string{"build", "-o", "type=bogus", dir}, "unknown type"},
		{[]string{"build", "--build-arg", "=x", dir}, "--build-arg"},
		{[]string{"build", "--label", "novalue", dir}, "--label"},
		{[]string{"build", "--platform", "linux/nope", dir}, "--platform"},
		{[]string{"build", "--secret", "src=/x", dir}, "--secret"},
		{[]string{"build", "--emulation", "maybe", dir}, "--emulation"},
		{[]string{"build", "--memory-limit", "2x", dir}, `--memory-limit: memory size "2x": want a number`},
		{[]string{"build", "--memory-limit", "1k", dir}, "below the minimum of 6m"},
		{[]string{"build", "--add-max-size", "lots", dir}, "--add-max-size lots: want a size"},
		{[]string{"build", "--add-timeout", "0s", dir}, "--add-timeout 0s: want a positive duration"},
		{[]string{"build", "--allow", "network.everything", dir}, "--allow network.everything: unknown entitlement: want security.insecure"},
		{[]string{"build", "-o", "type=docker,dest=x.tar", "--platform", "linux/amd64,linux/arm64", dir}, "type=docker holds one image"},
	} {
		_, stderr, code := runManyarch(t, "", append([]string{"--root", root}, tc.args...)...)
		if code == 0 || !strings.Contains(stderr, tc.want) {
			t.Errorf("manyarch %s: exit %d, stderr %q; want an error containing %q", strings.Join(tc.args, " "), code, stderr, tc.want)
		}
	}
}
