package store

import (
	"bytes"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"io"
	"os/exec"
	"path/filepath"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/manyarch/manyarch/internal/testutil"
)

func skopeo(t *testing.T, bin string, args ...string) []byte {
	t.Helper()
	cmd := exec.CommandContext(t.Context(), bin, append([]string{"--insecure-policy"}, args...)...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("skopeo %v: %v\n%s", args, err, stderr.Bytes())
	}
	return out
}

// ociImage is a random image with OCI media types throughout: skopeo 1.9
// only finds index.json entries of OCI media types.
func ociImage(t *testing.T, size, layers int64) v1.Image {
	t.Helper()
	img := mutate.ConfigMediaType(mutate.MediaType(empty.Image, types.OCIManifestSchema1), types.OCIConfigJSON)
	for range layers {
		l, err := random.Layer(size, types.OCILayer)
		if err != nil {
			t.Fatal(err)
		}
		if img, err = mutate.AppendLayers(img, l); err != nil {
			t.Fatal(err)
		}
	}
	return img
}

// ociIndex is a two-platform OCI index with an attestation manifest (no
// nested index: skopeo copy --all does not support those).
func ociIndex(t *testing.T) v1.ImageIndex {
	t.Helper()
	att := mutate.ConfigMediaType(ociImage(t, 256, 1), "application/vnd.in-toto+json")
	return mutate.AppendManifests(mutate.IndexMediaType(empty.Index, types.OCIImageIndex),
		mutate.IndexAddendum{Add: ociImage(t, 2048, 2), Descriptor: v1.Descriptor{Platform: &v1.Platform{OS: "linux", Architecture: "amd64"}}},
		mutate.IndexAddendum{Add: ociImage(t, 2048, 1), Descriptor: v1.Descriptor{Platform: &v1.Platform{OS: "linux", Architecture: "arm64"}}},
		mutate.IndexAddendum{Add: att, Descriptor: v1.Descriptor{
			Platform:    &v1.Platform{OS: "unknown", Architecture: "unknown"},
			Annotations: map[string]string{"vnd.docker.reference.type": "attestation-manifest"},
		}},
	)
}

// TestSkopeoReadsStore: skopeo can inspect and copy what the store wrote.
func TestSkopeoReadsStore(t *testing.T) {
	bin := testutil.RequireCommand(t, "skopeo", "skopeo")
	ctx := t.Context()
	s := newStore(t)
	img := ociImage(t, 8192, 2)
	d, err := s.WriteImage(ctx, img)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Tag(ctx, "img", d); err != nil {
		t.Fatal(err)
	}
	idx := ociIndex(t)
	xd, err := s.WriteIndex(ctx, idx)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Tag(ctx, "multi", xd); err != nil {
		t.Fatal(err)
	}

	// The digest record `manyarch pull NAME@DIGEST` writes: its ref.name
	// (REGISTRY:PORT/REPO@sha256:…) is in the OCI grammar skopeo checks.
	pinned := "127.0.0.1:5000/bb@" + xd.Digest.String()
	if err := s.Tag(ctx, pinned, xd); err != nil {
		t.Fatal(err)
	}

	raw := skopeo(t, bin, "inspect", "--raw", "oci:"+s.Root()+":img")
	want, _ := img.RawManifest()
	if !bytes.Equal(raw, want) {
		t.Errorf("skopeo inspect --raw = %s, want %s", raw, want)
	}
	raw = skopeo(t, bin, "inspect", "--raw", "oci:"+s.Root()+":multi")
	want, _ = idx.RawManifest()
	if !bytes.Equal(raw, want) {
		t.Errorf("skopeo inspect --raw (index) differs")
	}
	if raw = skopeo(t, bin, "inspect", "--raw", "oci:"+s.Root()+":"+pinned); !bytes.Equal(raw, want) {
		t.Errorf("skopeo inspect --raw of the digest record %s differs", pinned)
	}

	other := filepath.Join(t.TempDir(), "other")
	skopeo(t, bin, "copy", "oci:"+s.Root()+":img", "oci:"+other+":x")
	o, err := Open(ctx, other)
	if err != nil {
		t.Fatal(err)
	}
	got, err := o.Resolve(ctx, "x")
	if err != nil {
		t.Fatal(err)
	}
	if got.Digest != d.Digest {
		t.Errorf("skopeo copy changed the digest: %v, want %v", got.Digest, d.Digest)
	}
	verifyTree(t, o, got)
}

// TestStoreReadsSkopeoLayout: a layout written by skopeo opens, keeps its
// entries, reads back with identical digests, and takes new tags.
func TestStoreReadsSkopeoLayout(t *testing.T) {
	bin := testutil.RequireCommand(t, "skopeo", "skopeo")
	ctx := t.Context()
	src := newStore(t)
	xd, err := src.WriteIndex(ctx, ociIndex(t))
	if err != nil {
		t.Fatal(err)
	}
	if err := src.Tag(ctx, "multi", xd); err != nil {
		t.Fatal(err)
	}
	d, err := src.WriteImage(ctx, ociImage(t, 4096, 3))
	if err != nil {
		t.Fatal(err)
	}
	if err := src.Tag(ctx, "one", d); err != nil {
		t.Fatal(err)
	}

	dir := filepath.Join(t.TempDir(), "skopeo-layout")
	skopeo(t, bin, "copy", "--all", "oci:"+src.Root()+":multi", "oci:"+dir+":v1")
	skopeo(t, bin, "copy", "oci:"+src.Root()+":one", "oci:"+dir+":v2")

	s, err := Open(ctx, dir)
	if err != nil {
		t.Fatalf("opening skopeo's layout: %v", err)
	}
	// skopeo may re-serialize what it copies; the digests to expect are those
	// of the manifests skopeo itself reads from its layout.
	wantDigest := map[string]v1.Hash{}
	for _, name := range []string{"v1", "v2"} {
		wantDigest[name] = sha(skopeo(t, bin, "inspect", "--raw", "oci:"+dir+":"+name))
		got, err := s.Resolve(ctx, name)
		if err != nil {
			t.Fatalf("Resolve(%q): %v", name, err)
		}
		if got.Digest != wantDigest[name] {
			t.Errorf("Resolve(%q) = %v, want %v", name, got.Digest, wantDigest[name])
		}
		verifyTree(t, s, got)
	}
	if wantDigest["v2"] != d.Digest {
		t.Errorf("skopeo copy of one image changed its digest %v -> %v", d.Digest, wantDigest["v2"])
	}
	idx, err := s.Index(ctx, wantDigest["v1"])
	if err != nil {
		t.Fatal(err)
	}
	if h, _ := idx.Digest(); h != wantDigest["v1"] {
		t.Errorf("Index digest = %v, want %v", h, wantDigest["v1"])
	}
	im, _ := idx.IndexManifest()
	if len(im.Manifests) != 3 {
		t.Errorf("index has %d children, want 3", len(im.Manifests))
	}
	for _, c := range im.Manifests {
		img, err := idx.Image(c.Digest)
		if err != nil {
			t.Fatal(err)
		}
		if h, _ := img.Digest(); h != c.Digest {
			t.Errorf("child digest %v, want %v", h, c.Digest)
		}
		if _, err := img.RawConfigFile(); err != nil {
			t.Errorf("child config: %v", err)
		}
		ls, err := img.Layers()
		if err != nil {
			t.Fatal(err)
		}
		for _, l := range ls {
			rc, err := l.Compressed()
			if err != nil {
				t.Fatal(err)
			}
			if _, err := io.Copy(io.Discard, rc); err != nil {
				t.Errorf("layer of %s: %v", c.Digest, err)
			}
			rc.Close()
		}
	}
	// The index we read copies into a fresh store with digests intact.
	cp := newStore(t)
	if cd, err := cp.WriteIndex(ctx, idx); err != nil || cd.Digest != wantDigest["v1"] {
		t.Errorf("copying skopeo's index = %v, %v; want %v", cd.Digest, err, wantDigest["v1"])
	}
	// Our write keeps skopeo's entries, and skopeo still reads the result.
	if err := s.Tag(ctx, "v3", d); err != nil {
		t.Fatal(err)
	}
	for _, n := range []string{"v1", "v2", "v3"} {
		skopeo(t, bin, "inspect", "--raw", "oci:"+dir+":"+n)
	}
	if names, _ := s.Names(ctx); len(names) != 3 {
		t.Errorf("Names() = %v, want v1 v2 v3", names)
	}
}
