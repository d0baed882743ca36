package sign

import (
	"context"
	"crypto/ecdsa"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/static"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/manyarch/manyarch/internal/ref"
)

// cosign's legacy signatures (cosign sign --new-bundle-format=false): for a
// manifest sha256:HEX, an image tagged sha256-HEX.sig whose layers are
// simple-signing payloads, each annotated with its signature.
const (
	MediaTypeSimpleSigning = "application/vnd.dev.cosign.simplesigning.v1+json"
	AnnotationSignature    = "dev.cosignproject.cosign/signature"
	payloadType            = "cosign container image signature"
	maxPayload             = 1 << 20
	maxSignatures          = 1000
)

var emptyIndex = empty.Index

// payload is cosign's simple signing payload, field for field.
type payload struct {
	Critical struct {
		Identity struct {
			DockerReference string `json:"docker-reference"`
		} `json:"identity"`
		Image struct {
			DockerManifestDigest string `json:"docker-manifest-digest"`
		} `json:"image"`
		Type string `json:"type"`
	} `json:"critical"`
	Optional map[string]any `json:"optional"`
}

// SigTag is the tag of d's legacy signature image: sha256-HEX.sig.
func SigTag(d v1.Hash) string { return d.Algorithm + "-" + d.Hex + ".sig" }

// legacySignature makes the signature image of t: the one already tagged
// sha256-HEX.sig in p (when there is one) with a signature layer added.
func legacySignature(ctx context.Context, env *ref.Env, p Repository, t Target, key *ecdsa.PrivateKey) (v1.Image, error) {
	var pl payload
	pl.Critical.Identity.DockerReference = p.Identity()
	pl.Critical.Image.DockerManifestDigest = t.Digest().String()
	pl.Critical.Type = payloadType
	body, err := json.Marshal(pl)
	if err != nil {
		return nil, err
	}
	sum := sha256.Sum256(body)
	sig, err := ecdsa.SignASN1(rand.Reader, key, sum[:])
	if err != nil {
		return nil, fmt.Errorf("signing %s: %w", t.Name, err)
	}
	base := mutate.ConfigMediaType(mutate.MediaType(empty.Image, types.OCIManifestSchema1), types.OCIConfigJSON)
	old, err := p.read(ctx, env, SigTag(t.Digest()))
	switch {
	case err == nil:
		img, ok := old.(v1.Image)
		if !ok {
			return nil, fmt.Errorf("%s is an index, not a signature image: remove it, then sign again", p.tagName(SigTag(t.Digest())))
		}
		base = img
	case !isNotFound(err):
		return nil, fmt.Errorf("reading the signatures of %s (%s): %w", t.Name, p.tagName(SigTag(t.Digest())), err)
	}
	return mutate.Append(base, mutate.Addendum{
		Layer:       static.NewLayer(body, MediaTypeSimpleSigning),
		Annotations: map[string]string{AnnotationSignature: base64.StdEncoding.EncodeToString(sig)},
	})
}

// checkLegacy looks for a signature by pub over t in t's sha256-HEX.sig
// image. found is false when p has no such image; err says why none of
// its signatures is good.
func checkLegacy(ctx context.Context, env *ref.Env, p Repository, t Target, pub *ecdsa.PublicKey) (found bool, err error) {
	tag := SigTag(t.Digest())
	a, err := p.read(ctx, env, tag)
	if isNotFound(err) {
		return false, nil
	}
	if err != nil {
		return true, fmt.Errorf("reading %s: %v", p.tagName(tag), err)
	}
	img, ok := a.(v1.Image)
	if !ok {
		return true, fmt.Errorf("%s is not a signature image", p.tagName(tag))
	}
	m, err := img.Manifest()
	if err != nil {
		return true, err
	}
	if len(m.Layers) > maxSignatures {
		return true, fmt.Errorf("%s has %d layers, more than %d", p.tagName(tag), len(m.Layers), maxSignatures)
	}
	reason := fmt.Errorf("%s holds no signature by this key", p.tagName(tag))
	for _, ld := range m.Layers {
		if ld.MediaType != MediaTypeSimpleSigning || ld.Size > maxPayload {
			continue
		}
		sig, err := base64.StdEncoding.DecodeString(ld.Annotations[AnnotationSignature])
		if err != nil {
			continue
		}
		body, err := readLayer(img, ld, maxPayload)
		if err != nil {
			reason = fmt.Errorf("signature payload in %s: %v", p.tagName(tag), err)
			continue
		}
		sum := sha256.Sum256(body)
		if !ecdsa.VerifyASN1(pub, sum[:], sig) {
			continue
		}
		var pl payload
		if err := json.Unmarshal(body, &pl); err != nil {
			reason = fmt.Errorf("signed payload %s in %s does not parse: %v", ld.Digest, p.tagName(tag), err)
			continue
		}
		if pl.Critical.Image.DockerManifestDigest != t.Digest().String() {
			reason = fmt.Errorf("%s holds a signature by this key over %s, not this digest: the image was changed after signing", p.tagName(tag), pl.Critical.Image.DockerManifestDigest)
			continue
		}
		return true, nil
	}
	return true, reason
}

// readLayer reads layer ld of img, at most limit bytes, and checks its
// digest (the registry's and the store's readers check it too).
func readLayer(img v1.Image, ld v1.Descriptor, limit int64) ([]byte, error) {
	if ld.Size > limit {
		return nil, fmt.Errorf("%s is %d bytes, over the limit of %d", ld.Digest, ld.Size, limit)
	}
	l, err := img.LayerByDigest(ld.Digest)
	if err != nil {
		return nil, fmt.Errorf("reading %s: %v", ld.Digest, err)
	}
	rc, err := l.Compressed()
	if err != nil {
		return nil, fmt.Errorf("reading %s: %v", ld.Digest, err)
	}
	defer rc.Close()
	body, err := io.ReadAll(io.LimitReader(rc, limit+1))
	if err != nil {
		return nil, fmt.Errorf("reading %s: %v (changed in storage?)", ld.Digest, err)
	}
	if h := sha256.Sum256(body); fmt.Sprintf("sha256:%x", h) != ld.Digest.String() {
		return nil, fmt.Errorf("%s does not match its digest: it was changed in storage", ld.Digest)
	}
	return body, nil
}
