//go:build linux

package cli

import (
	"context"
	"errors"
	"os/exec"
	"strings"
	"testing"

	"github.com/manyarch/manyarch/internal/image"
	"github.com/manyarch/manyarch/internal/platform"
	"github.com/manyarch/manyarch/internal/remote"
	"github.com/manyarch/manyarch/internal/testutil"
)

// TestSignCosignInterop: cosign v3 verifies what manyarch signs, manyarch
// verifies what cosign signs (legacy .sig form, offline), and a tampered
// image fails both.
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
	for _, repo := range []string{"by-manyarch", "by-cosign"} {
		if _, err := remote.Write(ctx, reg.Ref(repo+":1"), idx, anon); err != nil {
			t.Fatal(err)
		}
	}

	// manyarch signs, cosign verifies the index and every platform.
	out, stderr, err := runCLI(t, root, "sign", "--key", dir+"/cosign.key", reg.Ref("by-manyarch:1"))
	if err != nil || strings.Count(out, "signed ") != 3 {
		t.Fatalf("manyarch sign = %v\n%s%s", err, out, stderr)
	}
	if out, err := cosignVerify(reg.Ref("by-manyarch:1")); err != nil {
		t.Errorf("cosign verify of manyarch's signature: %v\n%s", err, out)
	}
	for _, e := range es {
		if out, err := cosignVerify(reg.Ref("by-manyarch@" + e.Descriptor.Digest.String())); err != nil {
			t.Errorf("cosign verify %s: %v\n%s", platform.Format(e.Platform), err, out)
		}
	}

	// cosign signs (the index and each manifest), manyarch verifies.
	if out, err := run("sign", "--yes", "--allow-http-registry", "--use-signing-config=false", "--tlog-upload=false",
		"--new-bundle-format=false", "--recursive", "--key", "cosign.key", reg.Ref("by-cosign:1")); err != nil {
		t.Fatalf("cosign sign: %v\n%s", err, out)
	}
	// (random test images may give static findings, exit status 1: an
	// *ExitError; a signature failure is a plain error.)
	var exit *ExitError
	if _, stderr, err := runCLI(t, root, "verify", "--key", dir+"/cosign.pub", reg.Ref("by-cosign:1")); err != nil && !errors.As(err, &exit) {
		t.Errorf("manyarch verify --key of cosign's signatures: %v\n%s", err, stderr)
	}

	// A tampered image (another index under the tag) fails both.
	other := testutil.PlatformIndex(t, 1, 512, "linux/amd64", "linux/arm64")
	for _, repo := range []string{"by-manyarch", "by-cosign"} {
		if _, err := remote.Write(ctx, reg.Ref(repo+":1"), other, anon); err != nil {
			t.Fatal(err)
		}
		_, _, err := runCLI(t, root, "verify", "--key", dir+"/cosign.pub", reg.Ref(repo+":1"))
		if err == nil || !strings.Contains(err.Error(), "signature check failed: index") || !strings.Contains(err.Error(), "not signed") {
			t.Errorf("manyarch verify --key of the tampered %s = %v, want the index named, not signed", repo, err)
		}
		if out, err := cosignVerify(reg.Ref(repo + ":1")); err == nil {
			t.Errorf("cosign verify of the tampered %s passed:\n%s", repo, out)
		}
	}

	// Bad input: a public key to sign with, a wrong password, a layout.
	for _, tt := range []struct {
		args []string
		env  string
		want string
	}{
		{[]string{"sign", "--key", dir + "/cosign.pub", reg.Ref("by-manyarch:1")}, "pw", "is a public key"},
		{[]string{"sign", "--key", dir + "/cosign.key", reg.Ref("by-manyarch:1")}, "nope", "wrong password"},
		{[]string{"sign", "--key", dir + "/cosign.key", "oci:" + dir + "/layout"}, "pw", "signatures live in a registry"},
		{[]string{"sign", reg.Ref("by-manyarch:1")}, "pw", "--key is required"},
	} {
		t.Setenv("COSIGN_PASSWORD", tt.env)
		if _, _, err := runCLI(t, root, tt.args...); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("manyarch %s = %v, want an error containing %q", strings.Join(tt.args, " "), err, tt.want)
		}
	}
}
