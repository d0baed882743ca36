package store

import (
	"errors"
	"io"
	"os"
	"strings"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
)

// Issue #25 item 9: check rehashes every blob, walks every image and names
// the images a damaged blob belongs to; a corrupt blob's error names them.
func TestCheck(t *testing.T) {
	ctx := t.Context()
	s := newStore(t)
	a, err := s.WriteImage(ctx, randomImage(t, 2048, 2))
	if err != nil {
		t.Fatal(err)
	}
	b, err := s.WriteImage(ctx, randomImage(t, 2048, 1))
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Tag(ctx, "a:1", a); err != nil {
		t.Fatal(err)
	}
	if err := s.Tag(ctx, "b:1", b); err != nil {
		t.Fatal(err)
	}
	if err := s.SetSource(ctx, a.Digest, "registry.example.com/a"); err != nil {
		t.Fatal(err)
	}
	stray, _ := s.WriteBlob(ctx, strings.NewReader("unreferenced"), v1.Hash{}, -1)

	rep, err := s.Check(ctx)
	if err != nil || !rep.OK() || rep.Images != 2 || rep.Blobs != 8 {
		t.Fatalf("Check(clean) = %+v, %v; want OK, 2 images, 8 blobs", rep, err)
	}

	imgA, _ := s.Image(ctx, a.Digest)
	ls, _ := imgA.Layers()
	layer, _ := ls[1].Digest()
	imgB, _ := s.Image(ctx, b.Digest)
	cfgB, _ := imgB.ConfigName()
	flip := func(h v1.Hash) {
		p := s.blobPath(h)
		data, _ := os.ReadFile(p)
		data[len(data)/2] ^= 0xff
		os.WriteFile(p, data, 0o644)
	}
	flip(layer)
	flip(stray.Digest)
	os.Remove(s.blobPath(cfgB))

	rep, err = s.Check(ctx)
	if err != nil || rep.OK() {
		t.Fatalf("Check(damaged) = %+v, %v; want problems", rep, err)
	}
	found := map[string]Problem{}
	for _, p := range rep.Problems {
		found[p.Kind+" "+p.Digest] = p
	}
	if p, ok := found[ProblemCorruptBlob+" "+layer.String()]; !ok || len(p.UsedBy) != 1 || p.UsedBy[0] != "a:1" ||
		len(p.Sources) != 1 || !strings.Contains(p.Message, "fetches it again from registry.example.com/a") {
		t.Errorf("corrupt layer: %+v, want it used by a:1 with its source", p)
	}
	if p, ok := found[ProblemCorruptBlob+" "+stray.Digest.String()]; !ok || len(p.UsedBy) != 0 || !strings.Contains(p.Message, "removes it") {
		t.Errorf("corrupt unreferenced blob: %+v, want no users and the advice to remove it", p)
	}
	if p, ok := found[ProblemMissingBlob+" "+cfgB.String()]; !ok || len(p.UsedBy) != 1 || !strings.Contains(p.Message, "import b:1 again") {
		t.Errorf("missing config: %+v, want it used by b:1 and the advice to pull it again", p)
	}
	if len(rep.Problems) != 3 {
		t.Errorf("problems = %+v, want 3", rep.Problems)
	}

	// Reading the corrupt layer names the image that uses it.
	rc, err := ls[1].Compressed()
	if err == nil {
		_, err = io.Copy(io.Discard, rc)
		rc.Close()
	}
	var ce *CorruptBlobError
	if !errors.As(err, &ce) || !strings.Contains(err.Error(), "used by a:1") || !strings.Contains(err.Error(), "manyarch check --repair") {
		t.Errorf("reading a corrupt layer = %v, want a *CorruptBlobError naming a:1 and the repair", err)
	}

	// A repair removes only what is corrupt.
	if err := s.RemoveCorruptBlob(ctx, a.Digest); err == nil {
		t.Errorf("RemoveCorruptBlob(good manifest) = nil, want a refusal")
	}
	if _, ok, _ := s.HasBlob(ctx, a.Digest); !ok {
		t.Fatalf("RemoveCorruptBlob removed a good blob")
	}
	if err := s.RemoveCorruptBlob(ctx, stray.Digest); err != nil {
		t.Errorf("RemoveCorruptBlob(corrupt) = %v", err)
	}
	if _, ok, _ := s.HasBlob(ctx, stray.Digest); ok {
		t.Errorf("corrupt blob still there after RemoveCorruptBlob")
	}
}

// Issue #25 item 7: the store reads no manifest over 4 MiB whole either (an
// OCI layout or archive is as untrusted as a registry).
func TestManifestSizeBound(t *testing.T) {
	ctx := t.Context()
	s := newStore(t)
	big := `{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","annotations":{"x":"` + strings.Repeat("a", MaxManifestSize) + `"}}`
	d, err := s.WriteBlob(ctx, strings.NewReader(big), v1.Hash{}, -1)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Image(ctx, d.Digest); err == nil || !strings.Contains(err.Error(), "over the 4194304-byte (4 MiB) limit") {
		t.Errorf("Image(5 MiB manifest) = %v, want the 4 MiB bound named", err)
	}
	if err := s.Tag(ctx, "big:1", v1.Descriptor{Digest: d.Digest, Size: d.Size}); err == nil || !strings.Contains(err.Error(), "4 MiB") {
		t.Errorf("Tag(5 MiB manifest) = %v, want the 4 MiB bound named", err)
	}
}
