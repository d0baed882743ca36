package image

import v1 "github.com/google/go-containerregistry/pkg/v1"

// Annotations BuildKit puts on attestation manifests: an index entry of
// platform unknown/unknown, annotated with the type and with the digest of
// the image it describes.
const (
	AnnotationReferenceType   = "vnd.docker.reference.type"
	AnnotationReferenceDigest = "vnd.docker.reference.digest"
	AttestationManifest       = "attestation-manifest"
)

// IsAttestation reports whether d describes an attestation manifest.
func IsAttestation(d v1.Descriptor) bool {
	return d.Annotations[AnnotationReferenceType] == AttestationManifest
}
