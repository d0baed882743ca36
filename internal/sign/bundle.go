package sign

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/partial"
	"github.com/google/go-containerregistry/pkg/v1/static"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// The Sigstore bundle as cosign v3 stores an image signature (cosign sign,
// whose --new-bundle-format is on by default): a DSSE envelope around an
// in-toto statement whose subject is the signed manifest's digest, in a
// bundle JSON (protobuf-specs' Bundle in protojson form), as the one layer
// of an OCI artifact manifest whose subject is the signed manifest.
const (
	MediaTypeBundle = "application/vnd.dev.sigstore.bundle.v0.3+json"
	// mediaTypeBundlePrefix matches every bundle version's media type
	// (v0.1 and v0.2 spell theirs application/vnd.dev.sigstore.bundle+json;version=0.N).
	mediaTypeBundlePrefix = "application/vnd.dev.sigstore.bundle"

	PredicateCosignSign = "https://sigstore.dev/cosign/sign/v1"
	statementType       = "https://in-toto.io/Statement/v1"
	payloadTypeInToto   = "application/vnd.in-toto+json"

	annotationBundleContent   = "dev.sigstore.bundle.content"
	annotationBundlePredicate = "dev.sigstore.bundle.predicateType"
	annotationCreated         = "org.opencontainers.image.created"
	mediaTypeEmpty            = "application/vnd.oci.empty.v1+json"

	maxBundle = 1 << 20
)

// pbBytes is a protobuf bytes field in protojson: standard base64 when
// written; standard or URL-safe, padded or not, when read (as protojson
// reads them).
type pbBytes []byte

func (b pbBytes) MarshalJSON() ([]byte, error) {
	return json.Marshal(base64.StdEncoding.EncodeToString(b))
}

func (b *pbBytes) UnmarshalJSON(data []byte) error {
	var s string
	if err := json.Unmarshal(data, &s); err != nil {
		return err
	}
	s = strings.TrimRight(s, "=")
	enc := base64.RawStdEncoding
	if strings.ContainsAny(s, "-_") {
		enc = base64.RawURLEncoding
	}
	v, err := enc.DecodeString(s)
	if err != nil {
		return fmt.Errorf("bad base64: %w", err)
	}
	*b = v
	return nil
}

// bundle is the part of a Sigstore bundle this package writes and checks,
// field for field as protojson spells it.
type bundle struct {
	MediaType            string               `json:"mediaType"`
	VerificationMaterial verificationMaterial `json:"verificationMaterial"`
	DSSEEnvelope         *envelope            `json:"dsseEnvelope,omitempty"`
	// MessageSignature is a blob signature's content (cosign sign-blob);
	// only its presence is looked at.
	MessageSignature json.RawMessage `json:"messageSignature,omitempty"`
}

type verificationMaterial struct {
	PublicKey *struct {
		Hint string `json:"hint,omitempty"`
	} `json:"publicKey,omitempty"`
	// A keyless bundle carries a Fulcio certificate instead of a key hint.
	Certificate          json.RawMessage `json:"certificate,omitempty"`
	X509CertificateChain json.RawMessage `json:"x509CertificateChain,omitempty"`
}

type envelope struct {
	Payload     pbBytes        `json:"payload"`
	PayloadType string         `json:"payloadType"`
	Signatures  []envSignature `json:"signatures"`
}

type envSignature struct {
	Sig   pbBytes `json:"sig"`
	Keyid string  `json:"keyid,omitempty"`
}

// statement is the in-toto v1 statement cosign signs, in the field order
// and form protojson writes it.
type statement struct {
	Type          string          `json:"_type"`
	Subject       []subject       `json:"subject"`
	PredicateType string          `json:"predicateType"`
	Predicate     json.RawMessage `json:"predicate"`
}

type subject struct {
	Name        string            `json:"name,omitempty"`
	Digest      map[string]string `json:"digest"`
	Annotations map[string]any    `json:"annotations"`
}

// pae is DSSE's pre-authentication encoding, what the signature covers.
func pae(payloadType string, payload []byte) []byte {
	return fmt.Appendf(nil, "DSSEv1 %d %s %d %s", len(payloadType), payloadType, len(payload), payload)
}

// keyHint is the public key hint cosign writes into a bundle: base64 of the
// SHA-256 of the key's PKIX DER.
func keyHint(pub *ecdsa.PublicKey) string {
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		return ""
	}
	sum := sha256.Sum256(der)
	return base64.StdEncoding.EncodeToString(sum[:])
}

// makeBundle signs d as cosign sign does: the bundle JSON.
func makeBundle(d v1.Hash, key *ecdsa.PrivateKey) ([]byte, error) {
	st := statement{
		Type:          statementType,
		Subject:       []subject{{Digest: map[string]string{d.Algorithm: d.Hex}, Annotations: map[string]any{}}},
		PredicateType: PredicateCosignSign,
		Predicate:     json.RawMessage("{}"),
	}
	payload, err := json.Marshal(st)
	if err != nil {
		return nil, err
	}
	sum := sha256.Sum256(pae(payloadTypeInToto, payload))
	sig, err := ecdsa.SignASN1(rand.Reader, key, sum[:])
	if err != nil {
		return nil, err
	}
	b := bundle{
		MediaType:    MediaTypeBundle,
		DSSEEnvelope: &envelope{Payload: payload, PayloadType: payloadTypeInToto, Signatures: []envSignature{{Sig: sig}}},
	}
	b.VerificationMaterial.PublicKey = &struct {
		Hint string `json:"hint,omitempty"`
	}{Hint: keyHint(&key.PublicKey)}
	return json.Marshal(b)
}

// checkBundle checks that body, a bundle, holds a signature by pub over
// the manifest digest d. The error says why not, for a VerifyError.
func checkBundle(body []byte, d v1.Hash, pub *ecdsa.PublicKey) error {
	var b bundle
	if err := json.Unmarshal(body, &b); err != nil {
		return fmt.Errorf("does not parse as a Sigstore bundle: %v", err)
	}
	if !strings.HasPrefix(b.MediaType, mediaTypeBundlePrefix) {
		return fmt.Errorf("has media type %q, not a Sigstore bundle's", b.MediaType)
	}
	env := b.DSSEEnvelope
	if env == nil {
		if b.MessageSignature != nil {
			return fmt.Errorf("is a blob signature (cosign sign-blob), not an image signature")
		}
		return fmt.Errorf("holds no DSSE envelope")
	}
	if env.PayloadType != payloadTypeInToto {
		return fmt.Errorf("signs a %q payload, not an in-toto statement", env.PayloadType)
	}
	sum := sha256.Sum256(pae(env.PayloadType, env.Payload))
	verified := false
	for _, s := range env.Signatures {
		if ecdsa.VerifyASN1(pub, sum[:], s.Sig) {
			verified = true
			break
		}
	}
	if !verified {
		vm := b.VerificationMaterial
		switch {
		case vm.PublicKey == nil && (vm.Certificate != nil || vm.X509CertificateChain != nil):
			return fmt.Errorf("is a keyless signature (a Fulcio certificate), not one by this key: verify it with cosign verify --certificate-identity")
		case vm.PublicKey != nil && vm.PublicKey.Hint != "" && vm.PublicKey.Hint != keyHint(pub):
			return fmt.Errorf("is signed by another key (key hint %s; this key's is %s)", vm.PublicKey.Hint, keyHint(pub))
		}
		return fmt.Errorf("has a signature that does not match its content: the bundle was changed after signing (or signed by another key)")
	}
	var st statement
	if err := json.Unmarshal(env.Payload, &st); err != nil {
		return fmt.Errorf("signs a statement that does not parse: %v", err)
	}
	if st.PredicateType != PredicateCosignSign {
		return fmt.Errorf("is an attestation (predicate %s), not a signature", st.PredicateType)
	}
	var over []string
	for _, s := range st.Subject {
		if s.Digest[d.Algorithm] == d.Hex {
			return nil
		}
		for alg, hex := range s.Digest {
			over = append(over, alg+":"+hex)
		}
	}
	return fmt.Errorf("is a signature by this key over %s, not this digest: the image was changed after signing", strings.Join(over, ", "))
}

// bundleArtifact is the OCI artifact cosign stores a bundle in: an empty
// config ("{}"), the bundle as its one layer, subject the signed manifest.
func bundleArtifact(body []byte, subject v1.Descriptor, created time.Time) (v1.Image, v1.Descriptor, error) {
	config := []byte("{}")
	cfgDigest, cfgSize, err := v1.SHA256(bytes.NewReader(config))
	if err != nil {
		return nil, v1.Descriptor{}, err
	}
	layer := static.NewLayer(body, types.MediaType(MediaTypeBundle))
	ld, err := partial.Descriptor(layer)
	if err != nil {
		return nil, v1.Descriptor{}, err
	}
	ann := map[string]string{
		annotationCreated:         created.UTC().Format(time.RFC3339),
		annotationBundleContent:   "dsse-envelope",
		annotationBundlePredicate: PredicateCosignSign,
	}
	m := v1.Manifest{
		SchemaVersion: 2,
		MediaType:     types.OCIManifestSchema1,
		Config:        v1.Descriptor{MediaType: mediaTypeEmpty, Size: cfgSize, Digest: cfgDigest, ArtifactType: MediaTypeBundle},
		Layers:        []v1.Descriptor{{MediaType: ld.MediaType, Size: ld.Size, Digest: ld.Digest}},
		Annotations:   ann,
		Subject:       &v1.Descriptor{MediaType: subject.MediaType, Size: subject.Size, Digest: subject.Digest},
		ArtifactType:  MediaTypeBundle,
	}
	raw, err := json.Marshal(m)
	if err != nil {
		return nil, v1.Descriptor{}, err
	}
	img, err := partial.CompressedToImage(&rawArtifact{manifest: raw, config: config, layer: layer})
	if err != nil {
		return nil, v1.Descriptor{}, err
	}
	d, size, err := v1.SHA256(bytes.NewReader(raw))
	if err != nil {
		return nil, v1.Descriptor{}, err
	}
	desc := v1.Descriptor{MediaType: types.OCIManifestSchema1, Size: size, Digest: d, ArtifactType: MediaTypeBundle, Annotations: ann}
	return img, desc, nil
}

// rawArtifact is an image made of a manifest's bytes, its config's bytes
// and one layer.
type rawArtifact struct {
	manifest, config []byte
	layer            v1.Layer
}

var _ partial.CompressedImageCore = (*rawArtifact)(nil)

func (r *rawArtifact) RawManifest() ([]byte, error)        { return r.manifest, nil }
func (r *rawArtifact) RawConfigFile() ([]byte, error)      { return r.config, nil }
func (r *rawArtifact) MediaType() (types.MediaType, error) { return types.OCIManifestSchema1, nil }

func (r *rawArtifact) LayerByDigest(h v1.Hash) (partial.CompressedLayer, error) {
	if d, err := r.layer.Digest(); err == nil && d == h {
		return r.layer, nil
	}
	if d, _, err := v1.SHA256(bytes.NewReader(r.config)); err == nil && d == h {
		return static.NewLayer(r.config, mediaTypeEmpty), nil
	}
	return nil, fmt.Errorf("no blob %s in this signature artifact", h)
}
