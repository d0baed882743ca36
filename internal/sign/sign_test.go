package sign

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/manyarch/manyarch/internal/image"
	"github.com/manyarch/manyarch/internal/platform"
	"github.com/manyarch/manyarch/internal/ref"
	"github.com/manyarch/manyarch/internal/testutil"
)

// testdata/cosign.key and cosign.pub were made by cosign v3.1.3's
// generate-key-pair with the password "pw"; other.pub by another run.

func TestLoadKeys(t *testing.T) {
	if _, err := LoadPrivateKey("testdata/cosign.key", []byte("pw")); err != nil {
		t.Fatalf("LoadPrivateKey(cosign's key) = %v", err)
	}
	if _, err := LoadPublicKey("testdata/cosign.pub"); err != nil {
		t.Fatalf("LoadPublicKey = %v", err)
	}
	dir := t.TempDir()
	b, _ := os.ReadFile("testdata/cosign.key")
	corrupt := filepath.Join(dir, "corrupt.key")
	os.WriteFile(corrupt, []byte(strings.Replace(string(b), "eyJ", "xyJ", 1)), 0o600)
	garbage := filepath.Join(dir, "garbage.key")
	os.WriteFile(garbage, []byte("not a key\n"), 0o600)
	for _, tt := range []struct {
		path, password, want string
	}{
		{"testdata/cosign.key", "wrong", "testdata/cosign.key: wrong password: set COSIGN_PASSWORD"},
		{"testdata/cosign.pub", "pw", "testdata/cosign.pub is a public key"},
		{corrupt, "pw", corrupt + ": corrupt encrypted key"},
		{garbage, "pw", garbage + " holds no PEM block"},
		{filepath.Join(dir, "missing.key"), "pw", "no such file"},
	} {
		_, err := LoadPrivateKey(tt.path, []byte(tt.password))
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("LoadPrivateKey(%s, %q) = %v, want an error containing %q", tt.path, tt.password, err, tt.want)
		}
	}
	if _, err := LoadPrivateKey("testdata/cosign.key", []byte("wrong")); !errors.Is(err, ErrWrongPassword) {
		t.Errorf("wrong password: %v, want ErrWrongPassword", err)
	}
	if _, err := LoadPublicKey("testdata/cosign.key"); err == nil || !strings.Contains(err.Error(), "verify with the public key") {
		t.Errorf("LoadPublicKey(private key) = %v", err)
	}
}

func targets(t *testing.T, idx v1.ImageIndex) []Target {
	t.Helper()
	d, _ := idx.Digest()
	out := []Target{{Digest: d, Name: "index"}}
	es, err := image.Entries(context.Background(), idx)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range es {
		out = append(out, Target{Digest: e.Descriptor.Digest, Name: platform.Format(e.Platform)})
	}
	return out
}

func TestSignVerify(t *testing.T) {
	reg := testutil.StartRegistry(t, testutil.RegistryOptions{})
	ctx := context.Background()
	env := &ref.Env{StoreRoot: t.TempDir()}
	defer env.Close()
	idx := testutil.PlatformIndex(t, 1, 256, "linux/amd64", "linux/arm64")
	r, _ := ref.Parse("docker://" + reg.Ref("app:1"))
	if _, err := ref.Write(ctx, env, r, idx); err != nil {
		t.Fatal(err)
	}
	repo, _ := name.NewRepository(reg.Ref("app"))
	key, err := LoadPrivateKey("testdata/cosign.key", []byte("pw"))
	if err != nil {
		t.Fatal(err)
	}
	pub, _ := LoadPublicKey("testdata/cosign.pub")
	other, _ := LoadPublicKey("testdata/other.pub")
	ts := targets(t, idx)

	var ve *VerifyError
	if err := Verify(ctx, env, repo.Name(), ts, pub); !errors.As(err, &ve) || ve.Target.Name != "index" || !strings.Contains(err.Error(), "not signed") {
		t.Errorf("Verify(unsigned) = %v, want the index named as not signed", err)
	}
	if err := Sign(ctx, env, repo.Name(), ts, key); err != nil {
		t.Fatalf("Sign = %v", err)
	}
	if err := Verify(ctx, env, repo.Name(), ts, pub); err != nil {
		t.Fatalf("Verify(signed) = %v", err)
	}
	if err := Verify(ctx, env, repo.Name(), ts, other); !errors.As(err, &ve) || !strings.Contains(err.Error(), "no signature by this key") {
		t.Errorf("Verify(other key) = %v, want no signature by this key", err)
	}
	// The arm64 image's signatures copied over the amd64 one's: signed,
	// but over another digest.
	armSig, _ := ref.Parse("docker://" + repo.Name() + ":" + SigTag(ts[2].Digest))
	a, err := ref.Read(ctx, env, armSig)
	if err != nil {
		t.Fatal(err)
	}
	amdSig, _ := ref.Parse("docker://" + repo.Name() + ":" + SigTag(ts[1].Digest))
	if _, err := ref.Write(ctx, env, amdSig, a); err != nil {
		t.Fatal(err)
	}
	err = Verify(ctx, env, repo.Name(), ts, pub)
	if !errors.As(err, &ve) || ve.Target.Name != "linux/amd64" || !strings.Contains(err.Error(), "is over "+ts[2].Digest.String()+", not this digest") {
		t.Errorf("Verify(amd64 holding arm64's signature) = %v, want linux/amd64 named, signed over another digest", err)
	}
}
