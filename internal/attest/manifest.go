package attest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/partial"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/manyarch/manyarch/internal/image"
)

// Media types, annotation keys and predicate types of attestations.
const (
	MediaTypeInToto         = "application/vnd.in-toto+json"
	AnnotationPredicateType = "in-toto.io/predicate-type"
	StatementType           = "https://in-toto.io/Statement/v1"
	PredicateSPDX           = "https://spdx.dev/Document"
	PredicateSLSA1          = "https://slsa.dev/provenance/v1"
)

// Statement is an in-toto statement (v1).
type Statement struct {
	Type          string          `json:"_type"`
	PredicateType string          `json:"predicateType"`
	Subject       []Subject       `json:"subject"`
	Predicate     json.RawMessage `json:"predicate"`
}

// Subject is what a statement is about: a name (a purl of the image, or
// "_") and its digests.
type Subject struct {
	Name   string            `json:"name"`
	Digest map[string]string `json:"digest"`
}

// NewStatement makes a statement of predicateType about the image
// manifest digest, named by purl ("_" when the image has no name), with
// predicate marshalled to JSON.
func NewStatement(predicateType string, digest v1.Hash, purl string, predicate any) (Statement, error) {
	b, err := json.Marshal(predicate)
	if err != nil {
		return Statement{}, fmt.Errorf("marshalling the %s predicate: %w", predicateType, err)
	}
	if purl == "" {
		purl = "_"
	}
	return Statement{Type: StatementType, PredicateType: predicateType, Predicate: b,
		Subject: []Subject{{Name: purl, Digest: map[string]string{digest.Algorithm: digest.Hex}}}}, nil
}

// Manifest is the attestation manifest holding stmts, and the descriptor
// that lists it in an index next to the image subject describes.
func Manifest(subject v1.Hash, stmts []Statement) (v1.Image, v1.Descriptor, error) {
	a := &attImage{layers: map[v1.Hash][]byte{}}
	m := v1.Manifest{SchemaVersion: 2, MediaType: types.OCIManifestSchema1}
	var diffIDs []string
	for _, s := range stmts {
		b, err := json.Marshal(s)
		if err != nil {
			return nil, v1.Descriptor{}, fmt.Errorf("marshalling the %s statement: %w", s.PredicateType, err)
		}
		h, _, err := v1.SHA256(bytes.NewReader(b))
		if err != nil {
			return nil, v1.Descriptor{}, err
		}
		a.layers[h] = b
		m.Layers = append(m.Layers, v1.Descriptor{MediaType: MediaTypeInToto, Digest: h, Size: int64(len(b)),
			Annotations: map[string]string{AnnotationPredicateType: s.PredicateType}})
		diffIDs = append(diffIDs, h.String())
	}
	// BuildKit's attestation config: an image config of platform
	// unknown/unknown whose diff IDs are the statements' digests.
	cfg := struct {
		Architecture string   `json:"architecture"`
		OS           string   `json:"os"`
		Config       struct{} `json:"config"`
		RootFS       struct {
			Type    string   `json:"type"`
			DiffIDs []string `json:"diff_ids"`
		} `json:"rootfs"`
	}{Architecture: "unknown", OS: "unknown"}
	cfg.RootFS.Type, cfg.RootFS.DiffIDs = "layers", diffIDs
	var err error
	if a.config, err = json.Marshal(cfg); err != nil {
		return nil, v1.Descriptor{}, err
	}
	ch, _, err := v1.SHA256(bytes.NewReader(a.config))
	if err != nil {
		return nil, v1.Descriptor{}, err
	}
	m.Config = v1.Descriptor{MediaType: types.OCIConfigJSON, Digest: ch, Size: int64(len(a.config))}
	if a.manifest, err = json.MarshalIndent(m, "", "  "); err != nil {
		return nil, v1.Descriptor{}, err
	}
	img, err := partial.CompressedToImage(a)
	if err != nil {
		return nil, v1.Descriptor{}, err
	}
	d, err := partial.Descriptor(img)
	if err != nil {
		return nil, v1.Descriptor{}, err
	}
	desc := v1.Descriptor{MediaType: d.MediaType, Digest: d.Digest, Size: d.Size,
		Platform: &v1.Platform{OS: "unknown", Architecture: "unknown"},
		Annotations: map[string]string{
			image.AnnotationReferenceType:   image.AttestationManifest,
			image.AnnotationReferenceDigest: subject.String(),
		}}
	return img, desc, nil
}

// attImage is an attestation manifest as a go-containerregistry image
// with the exact bytes Manifest chose.
type attImage struct {
	manifest, config []byte
	layers           map[v1.Hash][]byte
}

var _ partial.CompressedImageCore = (*attImage)(nil)

func (a *attImage) RawConfigFile() ([]byte, error)      { return a.config, nil }
func (a *attImage) MediaType() (types.MediaType, error) { return types.OCIManifestSchema1, nil }
func (a *attImage) RawManifest() ([]byte, error)        { return a.manifest, nil }
func (a *attImage) LayerByDigest(h v1.Hash) (partial.CompressedLayer, error) {
	b, ok := a.layers[h]
	if !ok {
		return nil, fmt.Errorf("attestation manifest has no layer %s", h)
	}
	return &blob{b: b, h: h}, nil
}

type blob struct {
	b []byte
	h v1.Hash
}

func (l *blob) Digest() (v1.Hash, error)            { return l.h, nil }
func (l *blob) Compressed() (io.ReadCloser, error)  { return io.NopCloser(bytes.NewReader(l.b)), nil }
func (l *blob) Size() (int64, error)                { return int64(len(l.b)), nil }
func (l *blob) MediaType() (types.MediaType, error) { return MediaTypeInToto, nil }
