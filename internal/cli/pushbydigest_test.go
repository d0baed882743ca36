//go:build linux

package cli

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/manyarch/manyarch/internal/remote"
	"github.com/manyarch/manyarch/internal/testutil"
)

// TestPushByDigestMerge runs the native-matrix CI flow of
// examples/github-actions/native-matrix.yml against a real registry: one
// build per platform pushed by digest only (no tag), the digests collected
// as files, then one index made from them and tagged with semver tags.
func TestPushByDigestMerge(t *testing.T) {
	root := busyboxStore(t, "linux/amd64=amd64", "linux/arm64=arm64")
	reg := testutil.StartRegistry(t, testutil.RegistryOptions{})
	dir := t.TempDir()
	digests := filepath.Join(dir, "digests")
	df := "FROM t/busybox:1\nRUN uname -m > /arch\nCMD [\"cat\", \"/arch\"]\n"
	var pushed []string
	for _, plat := range []string{"linux/amd64", "linux/arm64"} {
		meta := filepath.Join(dir, strings.ReplaceAll(plat, "/", "-")+".json")
		_, stderr, code := runManyarch(t, df, "--root", root, "build", "-f", "-", "--progress", "plain", "--platform", plat,
			"-t", reg.Ref("demo/app:not-pushed"), "--push-by-digest", "--digests-dir", digests, "--metadata-file", meta, dir)
		if code != 0 {
			t.Fatalf("build --platform %s --push-by-digest: exit %d: %s", plat, code, stderr)
		}
		var m struct {
			Digest string `json:"containerimage.digest"`
		}
		b, _ := os.ReadFile(meta)
		if err := json.Unmarshal(b, &m); err != nil || !strings.HasPrefix(m.Digest, "sha256:") {
			t.Fatalf("--metadata-file = %s (%v)", b, err)
		}
		want := reg.Ref("demo/app@" + m.Digest)
		if !strings.Contains(stderr, "pushed by digest to registry: "+want) {
			t.Errorf("build output does not say where it pushed (%s):\n%s", want, stderr)
		}
		pushed = append(pushed, "docker://"+want)
	}
	ents, err := os.ReadDir(digests)
	if err != nil || len(ents) != 2 {
		t.Fatalf("--digests-dir holds %v (%v), want one file per platform's digest", ents, err)
	}
	for _, e := range ents {
		if !strings.Contains(strings.Join(pushed, " "), "@sha256:"+e.Name()) {
			t.Errorf("--digests-dir file %s names no pushed digest (%v)", e.Name(), pushed)
		}
	}
	// The -t tag itself was not pushed.
	if _, _, code := runManyarch(t, "", "--root", root, "inspect", "docker://"+reg.Ref("demo/app:not-pushed")); code == 0 {
		t.Error("push-by-digest also pushed the -t tag")
	}
	// Each pushed digest is one platform's image manifest.
	for i, p := range pushed {
		out, stderr, code := runManyarch(t, "", "--root", root, "run", "--platform", []string{"linux/amd64", "linux/arm64"}[i], p)
		if want := []string{"x86_64\n", "aarch64\n"}[i]; code != 0 || out != want {
			t.Errorf("run %s = %q (exit %d, %s), want %q", p, out, code, stderr, want)
		}
	}

	// The merge job.
	args := append([]string{"--root", root, "index", "create", "--push", "--semver", "--latest", reg.Ref("demo/app:v1.2.3")}, pushed...)
	if _, stderr, code := runManyarch(t, "", args...); code != 0 {
		t.Fatalf("index create from the digests: exit %d: %s", code, stderr)
	}
	// The merge job's checks: verify the index (every binary matches its
	// platform, index and configs agree), then the semver tags.
	if out, stderr, code := runManyarch(t, "", "--root", root, "verify", "docker://"+reg.Ref("demo/app:1.2.3")); code != 0 {
		t.Errorf("verify the merged index: exit %d: %s %s", code, out, stderr)
	}
	for _, tag := range []string{"1.2.3", "1.2", "1", "latest"} {
		out, stderr, code := runManyarch(t, "", "--root", root, "inspect", "--format", "json", "docker://"+reg.Ref("demo/app:"+tag))
		if code != 0 || !strings.Contains(out, "linux/amd64") && !strings.Contains(out, `"amd64"`) || !strings.Contains(out, "arm64") {
			t.Errorf("inspect demo/app:%s: exit %d: %s %s; want both platforms", tag, code, out, stderr)
		}
	}
}

func TestPushByDigestBadInput(t *testing.T) {
	root := busyboxStore(t, "linux/amd64=amd64")
	dir := t.TempDir()
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--push-by-digest"}, "add -t REGISTRY/REPO"},
		{[]string{"-o", "type=oci,dest=" + filepath.Join(dir, "x.tar") + ",push-by-digest=true"}, "with type=registry or type=image"},
		{[]string{"-t", "127.0.0.1:1/a", "-o", "type=registry,push-by-digest=maybe"}, "want true or false"},
	} {
		args := append([]string{"--root", root, "build", "-f", "-", "--platform", "linux/amd64"}, tc.args...)
		_, stderr, code := runManyarch(t, "FROM t/busybox:1\n", append(args, dir)...)
		if code == 0 || !strings.Contains(stderr, tc.want) {
			t.Errorf("build %v: exit %d, %s; want an error saying %q", tc.args, code, stderr, tc.want)
		}
	}
}

// TestBuildSaysWhereItWrote: --push names each reference pushed and its
// digest (registry names only: --push of a store name goes to its registry,
// Docker Hub, which no test may reach), -t store names say "in the local
// store", and a build with no -t
// or -o warns that its result is only in the build cache (issue #22 items
// 4 and 5).
func TestBuildSaysWhereItWrote(t *testing.T) {
	root := busyboxStore(t, "linux/amd64=amd64")
	reg := testutil.StartRegistry(t, testutil.RegistryOptions{})
	dir := t.TempDir()
	df := "FROM t/busybox:1\nRUN echo hi > /hi\n"
	_, stderr, code := runManyarch(t, df, "--root", root, "build", "-f", "-", "--progress", "plain", "--platform", "linux/amd64",
		"-t", reg.Ref("demo/app:2"), "-t", reg.Ref("demo/app:3"), "--push", dir)
	if code != 0 {
		t.Fatalf("build --push: exit %d: %s", code, stderr)
	}
	for _, want := range []string{"pushed to registry: " + reg.Ref("demo/app:2") + " (sha256:", "pushed to registry: " + reg.Ref("demo/app:3") + " (sha256:"} {
		if !strings.Contains(stderr, want) {
			t.Errorf("build --push output lacks %q:\n%s", want, stderr)
		}
	}
	_, stderr, code = runManyarch(t, df, "--root", root, "build", "-f", "-", "--platform", "linux/amd64", "-t", "local/app:1", dir)
	if code != 0 || !strings.Contains(stderr, "tagged local/app:1 in the local store") {
		t.Errorf("build -t local/app:1: exit %d, want it to say it tagged the store:\n%s", code, stderr)
	}
	// A -t with a registry host names the store's copy, as docker build -t,
	// and says it was not pushed (issue #22 item 1); with --push it was.
	_, stderr, code = runManyarch(t, df, "--root", root, "build", "-f", "-", "--platform", "linux/amd64", "-t", reg.Ref("demo/app:4"), dir)
	if code != 0 || !strings.Contains(stderr, "tagged "+reg.Ref("demo/app:4")+" in the local store (not pushed: add --push") {
		t.Errorf("build -t %s: exit %d, want it to say it was tagged in the store and not pushed:\n%s", reg.Ref("demo/app:4"), code, stderr)
	}
	if ok, err := remote.Exists(context.Background(), reg.Ref("demo/app:4"), anon); ok || err != nil {
		t.Errorf("build -t %s without --push: in the registry %v, %v; want not", reg.Ref("demo/app:4"), ok, err)
	}
	if _, stderr, _ := runManyarch(t, df, "--root", root, "build", "-f", "-", "--platform", "linux/amd64", "-t", reg.Ref("demo/app:5"), "--push", dir); strings.Contains(stderr, "not pushed") {
		t.Errorf("build -t %s --push says not pushed:\n%s", reg.Ref("demo/app:5"), stderr)
	}
	_, stderr, code = runManyarch(t, df, "--root", root, "build", "-f", "-", "--platform", "linux/amd64", dir)
	if code != 0 || !strings.Contains(stderr, "WARNING: no -t or -o given") {
		t.Errorf("build with no -t or -o: exit %d, want a warning that the result is only in the build cache:\n%s", code, stderr)
	}
}
