package attest

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/manyarch/manyarch/internal/image"
)

// MaxStatementSize bounds one attestation layer that Read reads.
const MaxStatementSize = 64 << 20

// Attestation is one attestation manifest of an index.
type Attestation struct {
	Describes  v1.Hash // the image manifest it is about
	Digest     v1.Hash // the attestation manifest's own digest
	Statements []Statement
}

// Read reads the attestation manifests of idx, in index order. Each
// layer's bytes are checked against its digest; a statement whose subject
// is not the image the index says it describes, or that does not parse,
// is an error naming the attestation and the layer.
func Read(ctx context.Context, idx v1.ImageIndex) ([]Attestation, error) {
	im, err := idx.IndexManifest()
	if err != nil {
		return nil, fmt.Errorf("reading index manifest: %w", err)
	}
	var out []Attestation
	for _, d := range im.Manifests {
		if !image.IsAttestation(d) {
			continue
		}
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		a, err := readOne(idx, d)
		if err != nil {
			return nil, fmt.Errorf("attestation manifest %s (for %s): %w", d.Digest, d.Annotations[image.AnnotationReferenceDigest], err)
		}
		out = append(out, a)
	}
	return out, nil
}

func readOne(idx v1.ImageIndex, d v1.Descriptor) (Attestation, error) {
	describes, err := v1.NewHash(d.Annotations[image.AnnotationReferenceDigest])
	if err != nil {
		return Attestation{}, fmt.Errorf("annotation %s: %w", image.AnnotationReferenceDigest, err)
	}
	img, err := idx.Image(d.Digest)
	if err != nil {
		return Attestation{}, err
	}
	m, err := img.Manifest()
	if err != nil {
		return Attestation{}, err
	}
	a := Attestation{Describes: describes, Digest: d.Digest}
	for i, ld := range m.Layers {
		if ld.MediaType != MediaTypeInToto {
			continue // BuildKit: unknown media types are ignored
		}
		if ld.Size > MaxStatementSize {
			return Attestation{}, fmt.Errorf("layer %d (%s) is %d bytes, more than %d", i+1, ld.Digest, ld.Size, MaxStatementSize)
		}
		l, err := img.LayerByDigest(ld.Digest)
		if err != nil {
			return Attestation{}, fmt.Errorf("layer %d (%s): %w", i+1, ld.Digest, err)
		}
		rc, err := l.Compressed()
		if err != nil {
			return Attestation{}, fmt.Errorf("layer %d (%s): %w", i+1, ld.Digest, err)
		}
		b, err := io.ReadAll(io.LimitReader(rc, MaxStatementSize+1))
		rc.Close()
		if err != nil {
			return Attestation{}, fmt.Errorf("layer %d (%s): %w", i+1, ld.Digest, err)
		}
		if h, _, _ := v1.SHA256(bytes.NewReader(b)); h != ld.Digest || int64(len(b)) != ld.Size {
			return Attestation{}, fmt.Errorf("layer %d: content is %s (%d bytes), the manifest says %s (%d bytes): the attestation was tampered with or corrupted", i+1, h, len(b), ld.Digest, ld.Size)
		}
		var s Statement
		if err := json.Unmarshal(b, &s); err != nil {
			return Attestation{}, fmt.Errorf("layer %d (%s): not an in-toto statement: %w", i+1, ld.Digest, err)
		}
		if !s.about(describes) {
			return Attestation{}, fmt.Errorf("layer %d (%s): the statement is about %v, not %s", i+1, ld.Digest, s.Subject, describes)
		}
		a.Statements = append(a.Statements, s)
	}
	return a, nil
}

func (s Statement) about(h v1.Hash) bool {
	for _, sub := range s.Subject {
		if sub.Digest[h.Algorithm] == h.Hex {
			return true
		}
	}
	return false
}
