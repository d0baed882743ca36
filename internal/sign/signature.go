package sign

import (
	"context"
	"crypto/ecdsa"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/static"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/manyarch/manyarch/internal/ref"
	"github.com/manyarch/manyarch/internal/remote"
)

// Media type and annotation of cosign's legacy signatures.
const (
	MediaTypeSimpleSigning = "application/vnd.dev.cosign.simplesigning.v1+json"
	AnnotationSignature    = "dev.cosignproject.cosign/signature"
	payloadType            = "cosign container image signature"
	maxPayload             = 1 << 20
	maxSignatures          = 1000
)

// Target is one manifest or index to sign or verify, and what to call it
// in messages ("index", "linux/arm64").
type Target struct {
	Digest v1.Hash
	Name   string
}

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

func sigRef(repo string, d v1.Hash) (ref.Reference, error) {
	return ref.Parse("docker://" + repo + ":" + SigTag(d))
}

// Sign signs every target in the registry repository repo
// ("127.0.0.1:5000/app") with key: a signature layer is added to the
// REPO:sha256-HEX.sig image of each (made when absent). Every signature
// image is made before the first is written.
func Sign(ctx context.Context, env *ref.Env, repo string, targets []Target, key *ecdsa.PrivateKey) error {
	type out struct {
		r   ref.Reference
		img v1.Image
	}
	var outs []out
	for _, t := range targets {
		var p payload
		p.Critical.Identity.DockerReference = repo
		p.Critical.Image.DockerManifestDigest = t.Digest.String()
		p.Critical.Type = payloadType
		body, err := json.Marshal(p)
		if err != nil {
			return err
		}
		sum := sha256.Sum256(body)
		sig, err := ecdsa.SignASN1(rand.Reader, key, sum[:])
		if err != nil {
			return fmt.Errorf("signing %s: %w", t.Name, err)
		}
		r, err := sigRef(repo, t.Digest)
		if err != nil {
			return err
		}
		base := mutate.ConfigMediaType(mutate.MediaType(empty.Image, types.OCIManifestSchema1), types.OCIConfigJSON)
		if old, err := ref.Read(ctx, env, r); err == nil {
			if img, ok := old.(v1.Image); ok {
				base = img
			}
		} else if !errors.Is(err, ref.ErrNotFound) && !errors.Is(err, remote.ErrNotFound) {
			return fmt.Errorf("reading the signatures of %s (%s): %w", t.Name, r, err)
		}
		img, err := mutate.Append(base, mutate.Addendum{
			Layer:       static.NewLayer(body, MediaTypeSimpleSigning),
			Annotations: map[string]string{AnnotationSignature: base64.StdEncoding.EncodeToString(sig)},
		})
		if err != nil {
			return err
		}
		outs = append(outs, out{r, img})
	}
	for i, o := range outs {
		if _, err := ref.Write(ctx, env, o.r, o.img); err != nil {
			return fmt.Errorf("writing the signature of %s (%s): %w", targets[i].Name, o.r, err)
		}
	}
	return nil
}

// VerifyError names the target whose signature is missing or bad.
type VerifyError struct {
	Target Target
	Reason string
}

func (e *VerifyError) Error() string {
	return fmt.Sprintf("%s (%s): %s", e.Target.Name, e.Target.Digest, e.Reason)
}

// Verify checks that each target has, in its REPO:sha256-HEX.sig image, a
// signature by pub over a payload naming the target's digest. The first
// target without one is a *VerifyError naming it.
func Verify(ctx context.Context, env *ref.Env, repo string, targets []Target, pub *ecdsa.PublicKey) error {
	for _, t := range targets {
		if err := verifyOne(ctx, env, repo, t, pub); err != nil {
			return err
		}
	}
	return nil
}

func verifyOne(ctx context.Context, env *ref.Env, repo string, t Target, pub *ecdsa.PublicKey) error {
	r, err := sigRef(repo, t.Digest)
	if err != nil {
		return err
	}
	a, err := ref.Read(ctx, env, r)
	if errors.Is(err, ref.ErrNotFound) || errors.Is(err, remote.ErrNotFound) {
		return &VerifyError{t, fmt.Sprintf("not signed: no %s:%s; sign it with `manyarch sign --key cosign.key` or cosign", repo, SigTag(t.Digest))}
	}
	if err != nil {
		return &VerifyError{t, fmt.Sprintf("reading its signatures: %v", err)}
	}
	img, ok := a.(v1.Image)
	if !ok {
		return &VerifyError{t, fmt.Sprintf("%s is not a signature image", r)}
	}
	m, err := img.Manifest()
	if err != nil {
		return &VerifyError{t, err.Error()}
	}
	if len(m.Layers) > maxSignatures {
		return &VerifyError{t, fmt.Sprintf("%s has %d layers, more than %d", r, len(m.Layers), maxSignatures)}
	}
	reason := "no signature by this key"
	for _, ld := range m.Layers {
		if ld.MediaType != MediaTypeSimpleSigning || ld.Size > maxPayload {
			continue
		}
		sig, err := base64.StdEncoding.DecodeString(ld.Annotations[AnnotationSignature])
		if err != nil {
			continue
		}
		l, err := img.LayerByDigest(ld.Digest)
		if err != nil {
			return &VerifyError{t, fmt.Sprintf("reading signature payload %s: %v", ld.Digest, err)}
		}
		rc, err := l.Compressed()
		if err != nil {
			return &VerifyError{t, err.Error()}
		}
		body, err := io.ReadAll(io.LimitReader(rc, maxPayload+1))
		rc.Close()
		if err != nil {
			return &VerifyError{t, fmt.Sprintf("reading signature payload %s: %v", ld.Digest, err)}
		}
		if h := sha256.Sum256(body); fmt.Sprintf("sha256:%x", h) != ld.Digest.String() {
			reason = fmt.Sprintf("signature payload %s was tampered with", ld.Digest)
			continue
		}
		if !ecdsa.VerifyASN1(pub, sha256Sum(body), sig) {
			continue
		}
		var p payload
		if err := json.Unmarshal(body, &p); err != nil {
			reason = fmt.Sprintf("signed payload %s does not parse: %v", ld.Digest, err)
			continue
		}
		if p.Critical.Image.DockerManifestDigest != t.Digest.String() {
			reason = fmt.Sprintf("the signature by this key is over %s, not this digest: the image was changed after signing", p.Critical.Image.DockerManifestDigest)
			continue
		}
		return nil
	}
	return &VerifyError{t, reason}
}

func sha256Sum(b []byte) []byte {
	h := sha256.Sum256(b)
	return h[:]
}
