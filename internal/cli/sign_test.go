//go:build linux

package cli

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/manyarch/manyarch/internal/image"
	"github.com/manyarch/manyarch/internal/platform"
	"github.com/manyarch/manyarch/internal/ref"
	"github.com/manyarch/manyarch/internal/remote"
	"github.com/manyarch/manyarch/internal/testutil"
)

// TestSignCosignInterop: cosign v3 verifies what manyarch signs, manyarch
// verifies what cosign signs, in both of cosign's forms (the v3 bundle, as
// a referrer under the sha256-<digest> tag on the CNCF registry, which has
// no referrers API; the legacy .sig image), offline; a tampered image
// fails both.
func TestSignCosignInterop(t *testing.T) {
	cosign := testutil.RequireCommand(t, "cosign", "cosign v3.1.3 (hack/install-cosign.sh)")
	reg := testutil.StartRegistry(t, testutil.RegistryOptions{})
	t.Setenv("DOCKER_CONFIG", t.TempDir())
	t.Setenv("COSIGN_PASSWORD", "pw")
	root, dir := t.TempDir(), t.TempDir()
	ctx := context.Background()
	run := func(args ...string) (string, error) {
		c := exec.CommandContext(ctx, cosign, args...)
		c.Dir = dir
		out, err := c.CombinedOutput()
		return string(out), err
	}
	if out, err := run("generate-key-pair"); err != nil {
		t.Fatalf("cosign generate-key-pair: %v\n%s", err, out)
	}
	cosignVerify := func(ref string) (string, error) {
		return run("verify", "--allow-http-registry", "--insecure-ignore-tlog=true", "--key", "cosign.pub", ref)
	}
	idx := testutil.PlatformIndex(t, 1, 512, "linux/amd64", "linux/arm64")
	es, _ := image.Entries(ctx, idx)
	repos := []string{"by-manyarch", "by-manyarch-legacy", "by-cosign", "by-cosign-legacy"}
	for _, repo := range repos {
		if _, err := remote.Write(ctx, reg.Ref(repo+":1"), idx, anon); err != nil {
			t.Fatal(err)
		}
	}

	// manyarch signs (the bundle by default, then the legacy form), cosign
	// verifies the index and every platform.
	for _, tt := range []struct{ repo, flag, want string }{
		{"by-manyarch", "--new-bundle-format=true", "(bundle)"},
		{"by-manyarch-legacy", "--new-bundle-format=false", "(legacy .sig)"},
	} {
		out, stderr, err := runCLI(t, root, "sign", tt.flag, "--key", dir+"/cosign.key", reg.Ref(tt.repo+":1"))
		if err != nil || strings.Count(out, tt.want) != 3 {
			t.Fatalf("manyarch sign %s = %v\n%s%s", tt.flag, err, out, stderr)
		}
		if out, err := cosignVerify(reg.Ref(tt.repo + ":1")); err != nil {
			t.Errorf("cosign verify of manyarch's %s signature: %v\n%s", tt.want, err, out)
		}
		for _, e := range es {
			if out, err := cosignVerify(reg.Ref(tt.repo + "@" + e.Descriptor.Digest.String())); err != nil {
				t.Errorf("cosign verify %s %s: %v\n%s", tt.want, platform.Format(e.Platform), err, out)
			}
		}
	}
	tags, err := remote.ListTags(ctx, reg.Ref("by-manyarch"), anon)
	referrersTags := 0
	for _, tag := range tags {
		if strings.HasPrefix(tag, "sha256-") && !strings.HasSuffix(tag, ".sig") {
			referrersTags++
		}
	}
	if err != nil || len(tags) != 4 || referrersTags != 3 {
		t.Errorf("tags of by-manyarch = %v, %v; want 1 and the three referrers tags sha256-<digest> (no .sig)", tags, err)
	}

	// cosign signs (the index and each manifest, both forms), manyarch
	// verifies and says which form it found.
	for _, tt := range []struct{ repo, flag, want string }{
		{"by-cosign", "--new-bundle-format=true", "index (bundle), linux/amd64 (bundle), linux/arm64 (bundle)"},
		{"by-cosign-legacy", "--new-bundle-format=false", "index (legacy .sig), linux/amd64 (legacy .sig)"},
	} {
		if out, err := run("sign", "--yes", "--allow-http-registry", "--use-signing-config=false", "--tlog-upload=false",
			tt.flag, "--recursive", "--key", "cosign.key", reg.Ref(tt.repo+":1")); err != nil {
			t.Fatalf("cosign sign %s: %v\n%s", tt.flag, err, out)
		}
		// (random test images may give static findings, exit status 1: an
		// *ExitError; a signature failure is a plain error.)
		var exit *ExitError
		_, stderr, err := runCLI(t, root, "verify", "--key", dir+"/cosign.pub", reg.Ref(tt.repo+":1"))
		if err != nil && !errors.As(err, &exit) || !strings.Contains(stderr, tt.want) {
			t.Errorf("manyarch verify --key of cosign's signatures (%s): %v\n%s", tt.flag, err, stderr)
		}
	}

	// A tampered image (another index under the tag) fails both.
	other := testutil.PlatformIndex(t, 1, 512, "linux/amd64", "linux/arm64")
	for _, repo := range repos {
		if _, err := remote.Write(ctx, reg.Ref(repo+":1"), other, anon); err != nil {
			t.Fatal(err)
		}
		_, _, err := runCLI(t, root, "verify", "--key", dir+"/cosign.pub", reg.Ref(repo+":1"))
		if err == nil || !strings.Contains(err.Error(), "signature check failed (key "+dir+"/cosign.pub): index") || !strings.Contains(err.Error(), "not signed") {
			t.Errorf("manyarch verify --key of the tampered %s = %v, want the index named, not signed", repo, err)
		}
		if out, err := cosignVerify(reg.Ref(repo + ":1")); err == nil {
			t.Errorf("cosign verify of the tampered %s passed:\n%s", repo, out)
		}
	}
}

// TestSignBadInput: a public key to sign with, a wrong password, a corrupt
// key, an archive, no key, an image the store does not hold: each a clear
// error naming the file or reference; verify with another key names the
// platforms.
func TestSignBadInput(t *testing.T) {
	root, dir := t.TempDir(), t.TempDir()
	ctx := context.Background()
	env := &ref.Env{StoreRoot: root}
	defer env.Close()
	r, _ := ref.Parse("app:1")
	if _, err := ref.Write(ctx, env, r, testutil.PlatformIndex(t, 1, 64, "linux/amd64", "linux/arm64")); err != nil {
		t.Fatal(err)
	}
	key, pub, otherPub := "../sign/testdata/cosign.key", "../sign/testdata/cosign.pub", "../sign/testdata/other.pub"
	b, _ := os.ReadFile(key)
	corrupt := filepath.Join(dir, "corrupt.key")
	if err := os.WriteFile(corrupt, []byte(strings.Replace(string(b), "eyJ", "xyJ", 1)), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		args     []string
		password string
		want     string
	}{
		{[]string{"sign", "--key", pub, "app:1"}, "pw", pub + " is a public key"},
		{[]string{"sign", "--key", key, "app:1"}, "nope", key + ": wrong password"},
		{[]string{"sign", "--key", corrupt, "app:1"}, "pw", corrupt + ": corrupt encrypted key"},
		{[]string{"sign", "--key", key, "oci-archive:" + dir + "/x.tar"}, "pw", "an archive cannot hold signatures"},
		{[]string{"sign", "app:1"}, "pw", "--key is required"},
		{[]string{"sign", "--key", key, "nothere:1"}, "pw", "sign a registry image by its registry name"},
		{[]string{"verify", "--key", pub, "app:1"}, "pw", "linux/arm64 (sha256:"},
	} {
		t.Setenv("COSIGN_PASSWORD", tt.password)
		if _, _, err := runCLI(t, root, tt.args...); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("manyarch %s = %v, want an error containing %q", strings.Join(tt.args, " "), err, tt.want)
		}
	}
	t.Setenv("COSIGN_PASSWORD", "pw")
	mustRun(t, root, "sign", "--key", key, "app:1")
	var exit *ExitError
	if _, _, err := runCLI(t, root, "verify", "--key", otherPub, "app:1"); err == nil || errors.As(err, &exit) || !strings.Contains(err.Error(), "linux/amd64") || !strings.Contains(err.Error(), "is signed by another key") {
		t.Errorf("verify --key other.pub = %v, want linux/amd64 named, signed by another key", err)
	}
}

// TestSignStoreAndLayout: signing works in the local store and in oci:
// layouts, verify reads the signatures there, and push and copy carry them
// to the destination (a registry, a layout), where they verify.
func TestSignStoreAndLayout(t *testing.T) {
	reg := testutil.StartRegistry(t, testutil.RegistryOptions{})
	t.Setenv("DOCKER_CONFIG", t.TempDir())
	t.Setenv("COSIGN_PASSWORD", "pw")
	root, dir := t.TempDir(), t.TempDir()
	ctx := context.Background()
	env := &ref.Env{StoreRoot: root}
	defer env.Close()
	key, pub := "../sign/testdata/cosign.key", "../sign/testdata/cosign.pub"
	idx := testutil.PlatformIndex(t, 1, 64, "linux/amd64", "linux/arm64")
	for _, s := range []string{"app:1", "legacy:1"} {
		r, _ := ref.Parse(s)
		if _, err := ref.Write(ctx, env, r, idx); err != nil {
			t.Fatal(err)
		}
	}
	verifyOK := func(r string) string {
		t.Helper()
		var exit *ExitError
		_, stderr, err := runCLI(t, root, "verify", "--key", pub, r)
		if err != nil && !errors.As(err, &exit) || !strings.Contains(stderr, "signed by "+pub) {
			t.Errorf("verify --key %s = %v\n%s", r, err, stderr)
		}
		return stderr
	}
	verifyFails := func(r string) {
		t.Helper()
		var exit *ExitError
		if _, _, err := runCLI(t, root, "verify", "--key", pub, r); err == nil || errors.As(err, &exit) || !strings.Contains(err.Error(), "not signed") {
			t.Errorf("verify --key %s (unsigned) = %v, want not signed", r, err)
		}
	}
	verifyFails("app:1")
	if out := mustRun(t, root, "sign", "--key", key, "app:1"); !strings.Contains(out, "in the local store's app") {
		t.Errorf("sign app:1 printed %q, want it signed in the local store", out)
	}
	mustRun(t, root, "sign", "--new-bundle-format=false", "--key", key, "legacy:1")
	if out := mustRun(t, root, "images"); strings.Contains(out, "sha256-") || !strings.Contains(out, "legacy ") {
		t.Errorf("images lists signature names, or not the images:\n%s", out)
	}
	verifyOK("app:1")
	if stderr := verifyOK("legacy:1"); !strings.Contains(stderr, "(legacy .sig)") {
		t.Errorf("verify legacy:1 said %q, want the legacy form", stderr)
	}

	// push carries the store's signatures to the registry.
	for _, s := range []string{"app", "legacy"} {
		_, stderr, err := runCLI(t, root, "push", s+":1", reg.Ref(s+":1"))
		if err != nil || !strings.Contains(stderr, "Copied 3 signature(s) to "+reg.Ref(s)) {
			t.Fatalf("push %s:1 = %v\n%s", s, err, stderr)
		}
		verifyOK("docker://" + reg.Ref(s+":1"))
	}

	// An oci: layout: a copy out of the registry carries the signatures
	// (one platform's alone too); verify reads them there.
	layout := "oci:" + filepath.Join(dir, "layout") + ":1"
	if _, stderr, err := runCLI(t, root, "copy", "docker://"+reg.Ref("app:1"), layout); err != nil || !strings.Contains(stderr, "Copied 3 signature(s)") {
		t.Fatalf("copy to %s = %v\n%s", layout, err, stderr)
	}
	verifyOK(layout)
	arm := "oci:" + filepath.Join(dir, "arm") + ":1"
	if _, stderr, err := runCLI(t, root, "copy", "--platform", "linux/arm64", layout, arm); err != nil || !strings.Contains(stderr, "Copied 1 signature(s)") {
		t.Fatalf("copy --platform linux/arm64 to %s = %v\n%s", arm, err, stderr)
	}
	verifyOK(arm)
	// -q prints nothing on success, and still carries the signatures.
	quiet := "oci:" + filepath.Join(dir, "quiet") + ":1"
	if stdout, stderr, err := runCLI(t, root, "copy", "-q", layout, quiet); err != nil || stdout != "" || stderr != "" {
		t.Fatalf("copy -q to %s = %v, printed %q and %q; want nothing", quiet, err, stdout, stderr)
	}
	verifyOK(quiet)

	// Signing in a layout: unsigned, then signed there.
	fresh := "oci:" + filepath.Join(dir, "fresh")
	r, _ := ref.Parse(fresh + ":1")
	if _, err := ref.Write(ctx, env, r, testutil.PlatformIndex(t, 1, 64, "linux/amd64", "linux/arm64")); err != nil {
		t.Fatal(err)
	}
	verifyFails(fresh + ":1")
	mustRun(t, root, "sign", "--key", key, fresh+":1")
	verifyOK(fresh + ":1")
	// The layout still reads without a tag: its signature tags are not
	// images of its own.
	if _, stderr, err := runCLI(t, root, "inspect", fresh); err != nil {
		t.Errorf("inspect of the signed layout without a tag: %v\n%s", err, stderr)
	}
	verifyOK(fresh)
}
