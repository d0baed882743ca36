package sign

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"encoding/json"
	"errors"
	"io"
	"log"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/registry"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/manyarch/manyarch/internal/image"
	"github.com/manyarch/manyarch/internal/platform"
	"github.com/manyarch/manyarch/internal/ref"
	"github.com/manyarch/manyarch/internal/remote"
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
	desc, err := image.Describe(idx)
	if err != nil {
		t.Fatal(err)
	}
	out := []Target{{Descriptor: desc, Name: "index"}}
	es, err := image.Entries(context.Background(), idx)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range es {
		out = append(out, Target{Descriptor: e.Descriptor, Name: platform.Format(e.Platform)})
	}
	return out
}

// testKeys is an Env on a temporary store and testdata's key pair.
func testKeys(t *testing.T) (*ref.Env, *ecdsa.PrivateKey, *ecdsa.PublicKey) {
	t.Helper()
	env := &ref.Env{StoreRoot: t.TempDir()}
	t.Cleanup(func() { env.Close() })
	key, err := LoadPrivateKey("testdata/cosign.key", []byte("pw"))
	if err != nil {
		t.Fatal(err)
	}
	pub, err := LoadPublicKey("testdata/cosign.pub")
	if err != nil {
		t.Fatal(err)
	}
	return env, key, pub
}

// TestSignVerify signs in each form, in each kind of repository (the CNCF
// registry without a referrers API, a registry with one, the local store,
// an OCI layout), verifies, and checks that a missing signature, another
// key, a signature over another digest and a tampered bundle each fail
// naming the platform and why.
func TestSignVerify(t *testing.T) {
	reg := testutil.StartRegistry(t, testutil.RegistryOptions{})
	withAPI := httptest.NewServer(registry.New(registry.Logger(log.New(io.Discard, "", 0)), registry.WithReferrersSupport(true)))
	defer withAPI.Close()
	apiHost = strings.TrimPrefix(withAPI.URL, "http://")
	ctx := context.Background()
	env, key, pub := testKeys(t)
	other, _ := LoadPublicKey("testdata/other.pub")
	layout := t.TempDir()

	for _, place := range []struct{ name, image string }{
		{"registry", "docker://" + reg.Ref("app:1")},
		{"registry-referrers-api", "docker://" + apiHost + "/app:1"},
		{"store", "app:1"},
		{"layout", "oci:" + layout + ":1"},
	} {
		for _, f := range []Format{Bundle, Legacy} {
			t.Run(place.name+"/"+f.String(), func(t *testing.T) {
				idx := testutil.PlatformIndex(t, 1, 256, "linux/amd64", "linux/arm64")
				r, err := ref.Parse(place.image)
				if err != nil {
					t.Fatal(err)
				}
				if _, err := ref.Write(ctx, env, r, idx); err != nil {
					t.Fatal(err)
				}
				repo, err := RepositoryOf(r)
				if err != nil {
					t.Fatal(err)
				}
				ts := targets(t, idx)

				var ve *VerifyError
				if _, err := Verify(ctx, env, repo, ts, pub); !errors.As(err, &ve) || ve.Target.Name != "index" || !strings.Contains(err.Error(), "not signed") {
					t.Errorf("Verify(unsigned) = %v, want the index named as not signed", err)
				}
				if err := Sign(ctx, env, repo, ts, key, f); err != nil {
					t.Fatalf("Sign = %v", err)
				}
				found, err := Verify(ctx, env, repo, ts, pub)
				if err != nil || len(found) != 3 || found[1].Format != f {
					t.Fatalf("Verify(signed) = %v, %v; want 3 in form %s", found, err, f)
				}
				want := "no signature by this key"
				if f == Bundle {
					want = "is signed by another key"
				}
				if _, err := Verify(ctx, env, repo, ts, other); !errors.As(err, &ve) || !strings.Contains(err.Error(), want) {
					t.Errorf("Verify(other key) = %v, want %q", err, want)
				}
				// Signing twice keeps both signatures good.
				if err := Sign(ctx, env, repo, ts, key, f); err != nil {
					t.Fatalf("Sign again = %v", err)
				}
				if _, err := Verify(ctx, env, repo, ts, pub); err != nil {
					t.Fatalf("Verify(signed twice) = %v", err)
				}
				// arm64's signatures put where amd64's belong: signed, but
				// over another digest.
				moveSignatures(t, ctx, env, repo, ts[2], ts[1], f)
				_, err = Verify(ctx, env, repo, ts, pub)
				if !errors.As(err, &ve) || ve.Target.Name != "linux/amd64" || !strings.Contains(err.Error(), "over sha256:"+ts[2].Digest().Hex) || !strings.Contains(err.Error(), "not this digest") {
					t.Errorf("Verify(amd64 holding arm64's signature) = %v, want linux/amd64 named, signed over another digest", err)
				}
			})
		}
	}
}

// apiHost is the host of TestSignVerify's registry with a referrers API.
var apiHost = "none"

// moveSignatures makes to's signatures those of from: the legacy image is
// copied to to's .sig tag; for bundles, to gets a referrer whose bundle is
// from's (a signature over from's digest) and its own bundles are removed.
func moveSignatures(t *testing.T, ctx context.Context, env *ref.Env, repo Repository, from, to Target, f Format) {
	t.Helper()
	if f == Legacy {
		a, err := repo.read(ctx, env, SigTag(from.Digest()))
		if err != nil {
			t.Fatal(err)
		}
		if err := repo.write(ctx, env, SigTag(to.Digest()), a); err != nil {
			t.Fatal(err)
		}
		return
	}
	refs, err := repo.referrers(ctx, env, from.Digest())
	if err != nil || len(refs) == 0 {
		t.Fatalf("referrers of %s = %v, %v", from.Name, refs, err)
	}
	img, err := repo.manifest(ctx, env, refs[0].Digest)
	if err != nil {
		t.Fatal(err)
	}
	m, _ := img.Manifest()
	body, err := readLayer(img, m.Layers[0], maxBundle)
	if err != nil {
		t.Fatal(err)
	}
	replaceBundles(t, ctx, env, repo, to, body)
}

// replaceBundles leaves to with one referrer, holding body as its bundle.
func replaceBundles(t *testing.T, ctx context.Context, env *ref.Env, repo Repository, to Target, body []byte) {
	t.Helper()
	img, desc, err := bundleArtifact(body, to.Descriptor, time.Unix(0, 0))
	if err != nil {
		t.Fatal(err)
	}
	if repo.kind == ref.Docker && strings.Contains(repo.name, apiHost) {
		// The registry answers the referrers API from its manifests:
		// delete the old referrers.
		for _, d := range mustReferrers(t, ctx, env, repo, to) {
			if err := remote.Delete(ctx, repo.name+"@"+d.Digest.String()); err != nil {
				t.Fatalf("deleting referrer %s: %v", d.Digest, err)
			}
		}
		if err := repo.addReferrer(ctx, env, to.Digest(), img, desc); err != nil {
			t.Fatal(err)
		}
		return
	}
	// Elsewhere the referrers are the index tagged sha256-HEX: replace it.
	idx := mutate.AppendManifests(mutate.IndexMediaType(emptyIndex, types.OCIImageIndex), mutate.IndexAddendum{Add: img, Descriptor: desc})
	if err := repo.write(ctx, env, ReferrersTag(to.Digest()), idx); err != nil {
		t.Fatal(err)
	}
}

func mustReferrers(t *testing.T, ctx context.Context, env *ref.Env, repo Repository, to Target) []v1.Descriptor {
	t.Helper()
	refs, err := repo.referrers(ctx, env, to.Digest())
	if err != nil {
		t.Fatal(err)
	}
	return refs
}

// TestTamperedBundle: a bundle whose statement was changed after signing
// (here: to name another digest) fails as changed, naming the platform.
func TestTamperedBundle(t *testing.T) {
	ctx := context.Background()
	env, key, pub := testKeys(t)
	idx := testutil.PlatformIndex(t, 1, 64, "linux/amd64", "linux/arm64")
	r, _ := ref.Parse("oci:" + t.TempDir() + ":1")
	if _, err := ref.Write(ctx, env, r, idx); err != nil {
		t.Fatal(err)
	}
	repo, _ := RepositoryOf(r)
	ts := targets(t, idx)
	body, err := makeBundle(ts[2].Digest(), key)
	if err != nil {
		t.Fatal(err)
	}
	var b bundle
	if err := json.Unmarshal(body, &b); err != nil {
		t.Fatal(err)
	}
	b.DSSEEnvelope.Payload = bytes.Replace(b.DSSEEnvelope.Payload, []byte(ts[2].Digest().Hex), []byte(ts[1].Digest().Hex), 1)
	tampered, _ := json.Marshal(b)
	if err := Sign(ctx, env, repo, ts, key, Bundle); err != nil {
		t.Fatal(err)
	}
	replaceBundles(t, ctx, env, repo, ts[1], tampered)
	_, err = Verify(ctx, env, repo, ts, pub)
	var ve *VerifyError
	if !errors.As(err, &ve) || ve.Target.Name != "linux/amd64" || !strings.Contains(err.Error(), "does not match its content: the bundle was changed after signing") {
		t.Errorf("Verify(tampered bundle) = %v, want linux/amd64 named, changed after signing", err)
	}
	for _, bad := range []string{`{`, `{"mediaType":"text/plain"}`, `{"mediaType":"` + MediaTypeBundle + `","messageSignature":{}}`} {
		if err := checkBundle([]byte(bad), ts[1].Digest(), pub); err == nil {
			t.Errorf("checkBundle(%s) = nil, want an error", bad)
		}
	}
}
