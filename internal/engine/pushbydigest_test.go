package engine

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/manyarch/manyarch/internal/attest"
	"github.com/manyarch/manyarch/internal/image"
	"github.com/manyarch/manyarch/internal/platform"
	"github.com/manyarch/manyarch/internal/ref"
	"github.com/manyarch/manyarch/internal/testutil"
)

// TestPushByDigestKeepsAttestations: build --push-by-digest of one
// platform pushes the bare image manifest, as buildx does, but with --sbom
// (or --provenance) it pushes the index holding the image and its
// attestation manifest, as buildx does, so the attestations are not left
// behind; the pushed digest is the one the build reports.
func TestPushByDigestKeepsAttestations(t *testing.T) {
	reg := testutil.StartRegistry(t, testutil.RegistryOptions{})
	ctx := context.Background()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "f"), []byte("hello\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	arm64, err := platform.ParseList("linux/arm64")
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		name   string
		attest Attest
	}{
		{"plain", Attest{}},
		{"sbom", Attest{SBOM: true, BuilderVersion: "test"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			env := &ref.Env{StoreRoot: t.TempDir()}
			defer env.Close()
			req := &Request{Dockerfile: []byte("FROM scratch\nCOPY f /f\n"), DockerfileName: "Dockerfile", ContextDir: dir,
				Platforms: arm64, Tags: []string{reg.Ref("pbd/" + tt.name)},
				Outputs: []Output{{Type: "registry", Attrs: map[string]string{"push-by-digest": "true"}}},
				Attest:  tt.attest}
			res, err := NewNative(NativeOptions{Env: env}).Build(ctx, req)
			if err != nil {
				t.Fatalf("Build: %v", err)
			}
			if len(res.Pushed) != 1 || !res.Pushed[0].ByDigest {
				t.Fatalf("Pushed = %+v, want one push by digest", res.Pushed)
			}
			r, err := ref.Parse("docker://" + res.Pushed[0].Ref)
			if err != nil {
				t.Fatal(err)
			}
			a, err := ref.Read(ctx, env, r)
			if err != nil {
				t.Fatalf("reading what was pushed, %s: %v", res.Pushed[0].Ref, err)
			}
			if d, _ := a.Digest(); d != res.Pushed[0].Digest {
				t.Errorf("%s has digest %s, the build reported %s", res.Pushed[0].Ref, d, res.Pushed[0].Digest)
			}
			idx, isIndex := a.(v1.ImageIndex)
			if !tt.attest.SBOM {
				if isIndex {
					t.Errorf("push by digest without attestations pushed an index, want the image manifest (as buildx)")
				}
				return
			}
			if !isIndex {
				t.Fatalf("push by digest with --sbom pushed a %T, want the index with the attestation manifest", a)
			}
			es, err := image.Entries(ctx, idx)
			if err != nil || len(es) != 1 || es[0].Descriptor.Digest != res.Platforms[0].Manifest.Digest {
				t.Errorf("pushed index's images = %v, %v; want the linux/arm64 image %s", es, err, res.Platforms[0].Manifest.Digest)
			}
			atts, err := attest.Read(ctx, idx)
			if err != nil || len(atts) != 1 {
				t.Errorf("attestations of the pushed index = %d, %v; want 1", len(atts), err)
			}
		})
	}
}
