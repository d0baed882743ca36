package attest

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"strings"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/partial"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/types"
	specs "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/manyarch/manyarch/internal/image"
)

func indexWith(t *testing.T, img v1.Image, att v1.Image, desc v1.Descriptor) v1.ImageIndex {
	t.Helper()
	return mutate.AppendManifests(mutate.IndexMediaType(empty.Index, types.OCIImageIndex),
		mutate.IndexAddendum{Add: img, Descriptor: v1.Descriptor{Platform: &v1.Platform{OS: "linux", Architecture: "arm64"}}},
		mutate.IndexAddendum{Add: att, Descriptor: desc})
}

func TestManifestAndRead(t *testing.T) {
	img, err := random.Image(64, 1)
	if err != nil {
		t.Fatal(err)
	}
	h, _ := img.Digest()
	sb, err := NewStatement(PredicateSPDX, h, "pkg:docker/app@1?platform=linux%2Farm64", map[string]string{"spdxVersion": "SPDX-2.3"})
	if err != nil {
		t.Fatal(err)
	}
	pv, err := NewStatement(PredicateSLSA1, h, "", map[string]string{"buildType": BuildType})
	if err != nil {
		t.Fatal(err)
	}
	att, desc, err := Manifest(h, []Statement{sb, pv})
	if err != nil {
		t.Fatal(err)
	}
	// The index entry, as BuildKit writes it.
	if desc.Platform == nil || desc.Platform.OS != "unknown" || desc.Platform.Architecture != "unknown" ||
		desc.Annotations[image.AnnotationReferenceType] != image.AttestationManifest ||
		desc.Annotations[image.AnnotationReferenceDigest] != h.String() || desc.MediaType != types.OCIManifestSchema1 {
		t.Errorf("descriptor = %+v, want platform unknown/unknown, attestation-manifest annotations for %s", desc, h)
	}
	m, err := att.Manifest()
	if err != nil {
		t.Fatal(err)
	}
	if len(m.Layers) != 2 || m.Layers[0].MediaType != MediaTypeInToto || m.Layers[0].Annotations[AnnotationPredicateType] != PredicateSPDX ||
		m.Layers[1].Annotations[AnnotationPredicateType] != PredicateSLSA1 || m.Config.MediaType != types.OCIConfigJSON {
		t.Errorf("manifest = %+v", m)
	}
	cfg, _ := att.RawConfigFile()
	want := `{"architecture":"unknown","os":"unknown","config":{},"rootfs":{"type":"layers","diff_ids":["` + m.Layers[0].Digest.String() + `","` + m.Layers[1].Digest.String() + `"]}}`
	if string(cfg) != want {
		t.Errorf("config = %s, want %s", cfg, want)
	}

	idx := indexWith(t, img, att, desc)
	if es, err := image.Entries(context.Background(), idx); err != nil || len(es) != 1 {
		t.Errorf("Entries = %v, %v: want the image alone", es, err)
	}
	got, err := Read(context.Background(), idx)
	if err != nil {
		t.Fatalf("Read = %v", err)
	}
	if len(got) != 1 || got[0].Describes != h || len(got[0].Statements) != 2 || got[0].Statements[0].Subject[0].Name != "pkg:docker/app@1?platform=linux%2Farm64" ||
		got[0].Statements[1].Subject[0].Name != "_" || got[0].Statements[1].Type != StatementType {
		t.Errorf("Read = %+v", got)
	}
}

// tamper returns att with every layer's bytes replaced by evil, its
// manifest unchanged.
func tamper(t *testing.T, att v1.Image, evil []byte) v1.Image {
	t.Helper()
	m, _ := att.RawManifest()
	c, _ := att.RawConfigFile()
	mf, _ := att.Manifest()
	a := &attImage{manifest: m, config: c, layers: map[v1.Hash][]byte{}}
	for _, l := range mf.Layers {
		a.layers[l.Digest] = evil
	}
	img, err := partial.CompressedToImage(a)
	if err != nil {
		t.Fatal(err)
	}
	return img
}

func TestReadRefuses(t *testing.T) {
	img, _ := random.Image(64, 1)
	h, _ := img.Digest()
	other, _ := v1.NewHash("sha256:" + strings.Repeat("1", 64))
	s, _ := NewStatement(PredicateSPDX, h, "", map[string]string{})
	wrong, _ := NewStatement(PredicateSPDX, other, "", map[string]string{})
	for _, tt := range []struct {
		name string
		stmt Statement
		evil string
		want string
	}{
		{"tampered", s, `{"_type":"https://in-toto.io/Statement/v1","subject":[]}`, "tampered with or corrupted"},
		{"other subject", wrong, "", "the statement is about"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			att, desc, err := Manifest(h, []Statement{tt.stmt})
			if err != nil {
				t.Fatal(err)
			}
			if tt.evil != "" {
				att = tamper(t, att, []byte(tt.evil))
			}
			_, err = Read(context.Background(), indexWith(t, img, att, desc))
			if err == nil || !strings.Contains(err.Error(), tt.want) || !strings.Contains(err.Error(), desc.Digest.String()) {
				t.Errorf("Read = %v, want an error naming %s and containing %q", err, desc.Digest, tt.want)
			}
		})
	}
}

func TestProvenance(t *testing.T) {
	base, _ := v1.NewHash("sha256:" + strings.Repeat("b", 64))
	b := Build{BuilderID: "https://github.com/manyarch/manyarch", BuilderVersion: "v1.0.0", Mode: ModeMin,
		DockerfilePath: "Dockerfile", Dockerfile: []byte("FROM busybox\n"), BuildArgs: map[string]string{"GREETING": "hello"}, Target: "final",
		BuilderPlatform: specs.Platform{OS: "linux", Architecture: "amd64"}, Platform: specs.Platform{OS: "linux", Architecture: "arm", Variant: "v7"},
		Bases:     []Base{{Ref: "fixtures/busybox:1.35", Platform: specs.Platform{OS: "linux", Architecture: "arm", Variant: "v7"}, Digest: base}},
		Downloads: []Download{{URL: "http://127.0.0.1:1/data.txt", SHA256: strings.Repeat("d", 64)}},
		Emulated:  []Step{{Stage: "stage-0", Location: "Dockerfile:3", Command: "/bin/sh -c true", Emulator: "private: qemu-arm"}}}
	sum := sha256.Sum256(b.Dockerfile)
	for _, mode := range []string{ModeMin, ModeMax} {
		b.Mode = mode
		p, err := Provenance(b)
		if err != nil {
			t.Fatal(err)
		}
		js, _ := json.Marshal(p)
		s := string(js)
		for _, want := range []string{
			`"configSource":{"path":"Dockerfile","digest":{"sha256":"` + hex.EncodeToString(sum[:]) + `"}}`,
			`{"uri":"pkg:docker/fixtures/busybox@1.35?platform=linux%2Farm%2Fv7","digest":{"sha256":"` + base.Hex + `"}}`,
			`{"uri":"http://127.0.0.1:1/data.txt","digest":{"sha256":"` + strings.Repeat("d", 64) + `"}}`,
			`"targetPlatform":"linux/arm/v7"`, `"builderPlatform":"linux/amd64"`,
			`"emulatedSteps":[{"stage":"stage-0","location":"Dockerfile:3","command":"/bin/sh -c true","emulator":"private: qemu-arm"}]`,
			`"builder":{"id":"https://github.com/manyarch/manyarch","version":{"manyarch":"v1.0.0"}}`,
			`"target":"final"`,
		} {
			if !strings.Contains(s, want) {
				t.Errorf("mode=%s: provenance lacks %s:\n%s", mode, want, s)
			}
		}
		if got := strings.Contains(s, `"build-arg:GREETING":"hello"`); got != (mode == ModeMax) {
			t.Errorf("mode=%s: build argument value present = %v, want it only with max:\n%s", mode, got, s)
		}
	}
	b.Mode = "full"
	if _, err := Provenance(b); err == nil || !strings.Contains(err.Error(), `mode "full"`) {
		t.Errorf("Provenance(mode=full) = %v", err)
	}
}

func TestDockerPURL(t *testing.T) {
	p := specs.Platform{OS: "linux", Architecture: "arm64"}
	for _, tt := range []struct{ ref, want string }{
		{"fixtures/busybox:1.35", "pkg:docker/fixtures/busybox@1.35?platform=linux%2Farm64"},
		{"alpine", "pkg:docker/alpine@latest?platform=linux%2Farm64"},
		{"127.0.0.1:5000/app:1", "pkg:docker/127.0.0.1:5000/app@1?platform=linux%2Farm64"},
		{"127.0.0.1:5000/app", "pkg:docker/127.0.0.1:5000/app@latest?platform=linux%2Farm64"},
		{"app@sha256:abcd", "pkg:docker/app@sha256:abcd?platform=linux%2Farm64"},
	} {
		if got := DockerPURL(tt.ref, p); got != tt.want {
			t.Errorf("DockerPURL(%q) = %s, want %s", tt.ref, got, tt.want)
		}
	}
}
