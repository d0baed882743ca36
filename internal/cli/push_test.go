//go:build linux

package cli

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/authn"
	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/manyarch/manyarch/internal/remote"
	"github.com/manyarch/manyarch/internal/testutil"
)

// runRegistryCmd runs manyarch in-process with a private store and no
// credentials, returning stdout and the error.
func runRegistryCmd(t *testing.T, root string, args ...string) (string, error) {
	t.Helper()
	cmd := NewRootCmd()
	var out, errb bytes.Buffer
	cmd.SetOut(&out)
	cmd.SetErr(&errb)
	cmd.SetArgs(append([]string{"--root", root}, args...))
	err := cmd.ExecuteContext(context.Background())
	if err != nil {
		t.Logf("manyarch %s: %v\nstderr:\n%s", strings.Join(args, " "), err, errb.String())
	}
	return out.String(), err
}

var anon = remote.WithKeychain(authn.NewMultiKeychain())

func headDigest(t *testing.T, ref string) v1.Hash {
	t.Helper()
	d, err := remote.Head(context.Background(), ref, anon)
	if err != nil {
		t.Fatalf("Head(%q) = %v", ref, err)
	}
	return d.Digest
}

func TestPushPull(t *testing.T) { // long: one push and pull story against a real registry, checked at each step
	reg := testutil.StartRegistry(t, testutil.RegistryOptions{})
	t.Setenv("DOCKER_CONFIG", t.TempDir())
	root := t.TempDir()
	ctx := context.Background()
	idx := testutil.PlatformIndex(t, 2, 4096, "linux/amd64", "linux/arm64", "linux/arm/v7")
	want, _ := idx.Digest()
	if _, err := remote.Write(ctx, reg.Ref("src:1"), idx, anon); err != nil {
		t.Fatal(err)
	}

	out, err := runRegistryCmd(t, root, "pull", "--progress", "plain", reg.Ref("src:1"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out, "Pulled "+reg.Ref("src:1")) || !strings.Contains(out, want.String()) {
		t.Errorf("pull printed %q, want the name and %s", out, want)
	}

	// From the store to a new repository, then back by digest.
	if _, err := runRegistryCmd(t, root, "push", "-q", reg.Ref("src:1"), reg.Ref("dst:1")); err != nil {
		t.Fatal(err)
	}
	if got := headDigest(t, reg.Ref("dst:1")); got != want {
		t.Errorf("pushed digest = %s, want %s", got, want)
	}
	root2 := t.TempDir()
	out, err = runRegistryCmd(t, root2, "pull", "-q", "docker://"+reg.Ref("dst@"+want.String()))
	if err != nil || out != "" {
		t.Fatalf("pull -q by digest = %q, %v, want silence", out, err)
	}

	// One platform: that image alone, like copy --platform (in another store:
	// it replaces the name).
	out, err = runRegistryCmd(t, root2, "pull", "--platform", "linux/arm64/v8", reg.Ref("src:1"))
	if err != nil {
		t.Fatal(err)
	}
	im, _ := idx.IndexManifest()
	if !strings.Contains(out, im.Manifests[1].Digest.String()) {
		t.Errorf("pull --platform linux/arm64 printed %q, want the arm64 image %s", out, im.Manifests[1].Digest)
	}
	if _, err := runRegistryCmd(t, root2, "pull", "--platform", "linux/s390x", reg.Ref("src:1")); err == nil || !strings.Contains(err.Error(), "linux/arm64") {
		t.Errorf("pull of a missing platform = %v, want an error listing the platforms", err)
	}

	t.Run("a damaged store blob never reaches the registry", func(t *testing.T) {
		// The push sends store blob files unhashed; the registry's digest
		// check must refuse a damaged one.
		damaged := t.TempDir()
		img := testutil.PlatformImage(t, "linux/arm64", 1, 4096)
		if _, err := remote.Write(ctx, reg.Ref("dmg:1"), img, anon); err != nil {
			t.Fatal(err)
		}
		if _, err := runRegistryCmd(t, damaged, "pull", "-q", reg.Ref("dmg:1")); err != nil {
			t.Fatal(err)
		}
		ls, _ := img.Layers()
		h, _ := ls[0].Digest()
		file := filepath.Join(damaged, "blobs", h.Algorithm, h.Hex)
		b, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		b[len(b)/2] ^= 0xff
		if err := os.WriteFile(file, b, 0o644); err != nil {
			t.Fatal(err)
		}
		_, err = runRegistryCmd(t, damaged, "push", "-q", reg.Ref("dmg:1"), reg.Ref("dmg2:1"))
		if !errors.Is(err, remote.ErrDigestMismatch) || !strings.Contains(err.Error(), h.String()) {
			t.Errorf("push of a damaged blob = %v, want ErrDigestMismatch naming %s", err, h)
		}
		if ok, err := remote.Exists(ctx, reg.Ref("dmg2:1"), anon); ok || err != nil {
			t.Errorf("after a refused push the tag exists = %v (%v)", ok, err)
		}
	})

	t.Run("semver, latest and immutable", func(t *testing.T) {
		out, err := runRegistryCmd(t, root, "push", "--semver", "--latest", "--progress", "json", reg.Ref("src:1"), reg.Ref("rel:v1.2.3"))
		if err != nil {
			t.Fatal(err)
		}
		for _, tag := range []string{"1.2.3", "1.2", "1", "latest"} {
			if got := headDigest(t, reg.Ref("rel:"+tag)); got != want {
				t.Errorf("rel:%s = %s, want %s", tag, got, want)
			}
			if !strings.Contains(out, "Pushed "+reg.Ref("rel:"+tag)) {
				t.Errorf("push output %q does not mention rel:%s", out, tag)
			}
		}
		other := testutil.PlatformImage(t, "linux/amd64", 1, 100)
		if _, err := remote.Write(ctx, reg.Ref("other:1"), other, anon); err != nil {
			t.Fatal(err)
		}
		_, err = runRegistryCmd(t, root, "push", "--semver", "--immutable", reg.Ref("other:1"), reg.Ref("rel:1.2.3"))
		if err == nil || !strings.Contains(err.Error(), reg.Ref("rel:1.2.3")+" points at "+want.String()) {
			t.Errorf("push --immutable over an existing tag = %v, want a refusal naming it", err)
		}
		if _, err := runRegistryCmd(t, root, "push", "--semver", "--immutable", "-q", reg.Ref("src:1"), reg.Ref("rel:1.2.3")); err != nil {
			t.Errorf("push --immutable of the same content = %v, want success", err)
		}
		if _, err := runRegistryCmd(t, root, "push", "--semver", reg.Ref("src:1"), reg.Ref("rel:stable")); err == nil || !strings.Contains(err.Error(), "semantic version") {
			t.Errorf("push --semver of a non-version tag = %v", err)
		}
	})

	t.Run("pull through a flaky connection", func(t *testing.T) {
		proxy := testutil.StartFaultProxy(t, reg.Host(),
			testutil.Fault{Method: http.MethodGet, Path: "/blobs/", Kind: testutil.FaultDrop, Times: 2},
			testutil.Fault{Method: http.MethodGet, Path: "/blobs/", Kind: testutil.FaultStatus, Status: 503, Times: 2})
		out, err := runRegistryCmd(t, t.TempDir(), "pull", "--progress", "plain", proxy.Host()+"/src:1")
		if err != nil {
			t.Fatalf("pull through faults = %v", err)
		}
		if !strings.Contains(out, want.String()) {
			t.Errorf("pull printed %q, want %s", out, want)
		}
		if inj := proxy.Injected(); inj[0] == 0 || inj[1] == 0 {
			t.Errorf("faults injected = %v, want both kinds", inj)
		}
	})

	t.Run("bad input", func(t *testing.T) {
		tests := []struct {
			args []string
			want string
		}{
			{[]string{"pull", "oci:/tmp/x"}, "not a registry reference"},
			{[]string{"push", "oci:/tmp/x"}, "give a DESTINATION"},
			{[]string{"push", reg.Ref("src:1"), "oci-archive:/tmp/x.tar"}, "manyarch copy"},
			{[]string{"pull", reg.Ref("src:404")}, "check the name and tag"},
			{[]string{"pull", "--progress", "fancy", reg.Ref("src:1")}, "auto, tty, plain, json or quiet"},
			{[]string{"push", "-j", "0", reg.Ref("src:1")}, "--jobs"},
		}
		for _, tt := range tests {
			if _, err := runRegistryCmd(t, root, tt.args...); err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("manyarch %v = %v, want an error mentioning %q", tt.args, err, tt.want)
			}
		}
	})
}

func TestIndexCommands(t *testing.T) {
	reg := testutil.StartRegistry(t, testutil.RegistryOptions{})
	t.Setenv("DOCKER_CONFIG", t.TempDir())
	root := t.TempDir()
	ctx := context.Background()
	digests := map[string]v1.Hash{}
	for _, p := range []string{"linux/amd64", "linux/arm64", "linux/riscv64"} {
		img := testutil.PlatformImage(t, p, 1, 1024)
		arch := strings.TrimPrefix(p, "linux/")
		if _, err := remote.Write(ctx, reg.Ref("app:1.0-"+arch), img, anon); err != nil {
			t.Fatal(err)
		}
		digests[arch], _ = img.Digest()
	}

	out, err := runRegistryCmd(t, root, "index", "create", "--push", "--media-type", "docker", "-q",
		reg.Ref("app:1.0"), reg.Ref("app:1.0-amd64"), reg.Ref("app:1.0-arm64"))
	if err != nil {
		t.Fatal(err)
	}
	skopeo := testutil.RequireCommand(t, "skopeo", "skopeo")
	raw, err := exec.Command(skopeo, "inspect", "--raw", "--tls-verify=false", "docker://"+reg.Ref("app:1.0")).Output()
	if err != nil {
		t.Fatalf("skopeo inspect --raw: %v", err)
	}
	for _, want := range []string{"application/vnd.docker.distribution.manifest.list.v2+json", digests["amd64"].String(), digests["arm64"].String(), `"architecture":"arm64"`} {
		if !bytes.Contains(raw, []byte(want)) {
			t.Errorf("skopeo read %s, want it to contain %s", raw, want)
		}
	}

	// The lie: label the arm64 image amd64.
	_, err = runRegistryCmd(t, root, "index", "annotate", "--push", reg.Ref("app:1.0"), "--platform", "linux/arm64", "--arch", "amd64")
	if err == nil || !strings.Contains(err.Error(), "descriptor "+digests["arm64"].String()) || !strings.Contains(err.Error(), "its config says linux/arm64") {
		t.Errorf("index annotate labelling arm64 as amd64 = %v, want a refusal naming the descriptor", err)
	}

	// In the local store: create, append, remove, annotate.
	out, err = runRegistryCmd(t, root, "index", "create", "app:1.0", reg.Ref("app:1.0-amd64"), reg.Ref("app:1.0-arm64"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out, "linux/amd64") || !strings.Contains(out, "Wrote app:1.0") {
		t.Errorf("index create printed %q", out)
	}
	out, err = runRegistryCmd(t, root, "index", "append", "app:1.0", reg.Ref("app:1.0-riscv64"))
	if err != nil || !strings.Contains(out, digests["riscv64"].String()) {
		t.Fatalf("index append = %q, %v", out, err)
	}
	if _, err := runRegistryCmd(t, root, "index", "append", "app:1.0", reg.Ref("app:1.0-riscv64")); err != nil {
		t.Errorf("appending the same image again = %v, want it kept once", err)
	}
	out, err = runRegistryCmd(t, root, "index", "remove", "app:1.0", "--platform", "linux/amd64")
	if err != nil || strings.Contains(out, digests["amd64"].String()) {
		t.Fatalf("index remove = %q, %v", out, err)
	}
	if _, err := runRegistryCmd(t, root, "index", "annotate", "app:1.0", "--platform", "linux/riscv64", "--annotation", "com.example.note=experimental"); err != nil {
		t.Errorf("index annotate with an annotation = %v", err)
	}
	if _, err := runRegistryCmd(t, root, "index", "annotate", "app:1.0", "--platform", "linux/riscv64", "--variant", "rva23"); err == nil || !strings.Contains(err.Error(), "--force") {
		t.Errorf("index annotate with a variant the config lacks = %v, want a refusal mentioning --force", err)
	}
	if _, err := runRegistryCmd(t, root, "index", "annotate", "app:1.0", "--platform", "linux/riscv64"); err == nil || !strings.Contains(err.Error(), "nothing to change") {
		t.Errorf("index annotate with no change = %v", err)
	}
	_, err = runRegistryCmd(t, root, "index", "create", "--semver", "--immutable", "-q", "rel:v2.0.0", "app:1.0")
	if err != nil {
		t.Fatal(err)
	}
	_, err = runRegistryCmd(t, root, "index", "create", "--semver", "--immutable", "rel:2.0.0", reg.Ref("app:1.0-amd64"))
	if err == nil || !strings.Contains(err.Error(), "immutable") {
		t.Errorf("index create --immutable over a store tag = %v, want a refusal", err)
	}
	if _, err := runRegistryCmd(t, root, "index", "create", "x:1", reg.Ref("app:1.0-amd64"), testutilSecondAmd64(t, reg)); err == nil || !strings.Contains(err.Error(), "already in the index") {
		t.Errorf("index create with two amd64 images = %v, want a duplicate refusal", err)
	}
}

// testutilSecondAmd64 pushes another amd64 image and returns its reference.
func testutilSecondAmd64(t *testing.T, reg *testutil.Registry) string {
	t.Helper()
	r := reg.Ref("app:other-amd64")
	if _, err := remote.Write(context.Background(), r, testutil.PlatformImage(t, "linux/amd64", 1, 64), anon); err != nil {
		t.Fatal(err)
	}
	return r
}

func TestPushInsecure(t *testing.T) {
	reg := testutil.StartRegistry(t, testutil.RegistryOptions{TLS: true})
	plain := testutil.StartRegistry(t, testutil.RegistryOptions{})
	t.Setenv("DOCKER_CONFIG", t.TempDir())
	root := t.TempDir()
	img := testutil.PlatformImage(t, "linux/s390x", 1, 512)
	if _, err := remote.Write(context.Background(), plain.Ref("src:1"), img, anon); err != nil {
		t.Fatal(err)
	}
	if _, err := runRegistryCmd(t, root, "pull", "-q", plain.Ref("src:1")); err != nil {
		t.Fatal(err)
	}
	_, err := runRegistryCmd(t, root, "push", "-q", plain.Ref("src:1"), reg.Ref("app:1"))
	if err == nil || !strings.Contains(err.Error(), "--insecure") {
		t.Errorf("push to a self-signed registry = %v, want advice to use --insecure", err)
	}
	if _, err := runRegistryCmd(t, root, "push", "-q", "--insecure", plain.Ref("src:1"), reg.Ref("app:1")); err != nil {
		t.Fatalf("push --insecure = %v", err)
	}
	d, err := remote.Head(context.Background(), reg.Ref("app:1"), anon, remote.WithInsecure(true))
	if want, _ := img.Digest(); err != nil || d.Digest != want {
		t.Errorf("after push --insecure the registry has %v (%v), want %s", d.Digest, err, want)
	}
}
