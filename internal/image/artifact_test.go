package image

import (
	"bytes"
	"context"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/manyarch/manyarch/internal/platform"
)

func TestEntries(t *testing.T) {
	ctx := context.Background()
	img, err := random.Image(16, 1)
	if err != nil {
		t.Fatal(err)
	}
	att, err := random.Image(16, 1)
	if err != nil {
		t.Fatal(err)
	}
	h, err := img.Digest()
	if err != nil {
		t.Fatal(err)
	}
	inner, err := random.Index(16, 1, 1)
	if err != nil {
		t.Fatal(err)
	}
	idx := mutate.AppendManifests(mutate.IndexMediaType(empty.Index, types.OCIImageIndex),
		mutate.IndexAddendum{Add: img, Descriptor: v1.Descriptor{Platform: &v1.Platform{OS: "linux", Architecture: "armel"}}},
		mutate.IndexAddendum{Add: att, Descriptor: v1.Descriptor{Platform: &v1.Platform{OS: "unknown", Architecture: "unknown"},
			Annotations: map[string]string{AnnotationReferenceType: AttestationManifest, AnnotationReferenceDigest: h.String()}}},
		mutate.IndexAddendum{Add: inner, Descriptor: v1.Descriptor{Platform: &v1.Platform{OS: "linux", Architecture: "amd64"}}},
	)
	es, err := Entries(ctx, idx)
	if err != nil {
		t.Fatalf("Entries(index) = %v", err)
	}
	if len(es) != 1 || es[0].Descriptor.Digest != h || platform.Format(es[0].Platform) != "linux/arm/v5" || es[0].Platform.Variant != "v5" {
		t.Errorf("Entries(index) = %+v, want the armel image alone, normalized to linux/arm/v5 (no attestation, no nested index)", es)
	}

	cf, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	cf.OS, cf.Architecture, cf.Variant = "linux", "aarch64", ""
	one, err := mutate.ConfigFile(img, cf)
	if err != nil {
		t.Fatal(err)
	}
	es, err = Entries(ctx, one)
	if err != nil {
		t.Fatalf("Entries(image) = %v", err)
	}
	if len(es) != 1 || es[0].Platform.Architecture != "arm64" || es[0].Platform.OS != "linux" {
		t.Errorf("Entries(image) = %+v, want one linux/arm64 entry from the config", es)
	}
}

func TestIsAttestation(t *testing.T) {
	for _, tt := range []struct {
		ann  map[string]string
		want bool
	}{
		{nil, false},
		{map[string]string{AnnotationReferenceType: AttestationManifest}, true},
		{map[string]string{AnnotationReferenceType: "other"}, false},
		{map[string]string{AnnotationReferenceDigest: "sha256:00"}, false},
	} {
		if got := IsAttestation(v1.Descriptor{Annotations: tt.ann}); got != tt.want {
			t.Errorf("IsAttestation(%v) = %v, want %v", tt.ann, got, tt.want)
		}
	}
}

func TestDescribe(t *testing.T) {
	img, err := random.Image(16, 1)
	if err != nil {
		t.Fatal(err)
	}
	idx, err := random.Index(16, 1, 2)
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range []Artifact{img, idx} {
		raw, _ := a.RawManifest()
		mt, _ := a.MediaType()
		want := v1.Descriptor{MediaType: mt, Size: int64(len(raw))}
		want.Digest, _, _ = v1.SHA256(bytes.NewReader(raw))
		got, err := Describe(a)
		if err != nil || got.MediaType != want.MediaType || got.Digest != want.Digest || got.Size != want.Size {
			t.Errorf("Describe(%s) = %+v, %v; want %+v", mt, got, err, want)
		}
	}
}
