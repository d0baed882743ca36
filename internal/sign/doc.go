// Package sign makes and checks cosign-compatible signatures with cosign's
// own key files: ECDSA P-256 keys, the private key in cosign's encrypted
// PEM ("ENCRYPTED SIGSTORE PRIVATE KEY": scrypt and nacl/secretbox, the
// password from COSIGN_PASSWORD), the public key as PKIX PEM.
//
// Signatures use cosign's legacy layout, which cosign v3 still reads and
// writes (cosign sign --new-bundle-format=false; cosign verify finds it
// without flags): for a manifest or index REPO@sha256:HEX, an image tagged
// REPO:sha256-HEX.sig whose layers are application/vnd.dev.cosign.
// simplesigning.v1+json payloads ({"critical":{"identity":
// {"docker-reference":REPO},"image":{"docker-manifest-digest":DIGEST},
// "type":"cosign container image signature"},"optional":null}), each
// annotated dev.cosignproject.cosign/signature with the base64 ASN.1
// ECDSA signature of the payload's SHA-256. The v3 bundle form
// (application/vnd.dev.sigstore.bundle.v0.3+json) is not written or read
// yet. No keyless signing: nothing here talks to Fulcio or Rekor.
//
// It reads and writes only the registry references it is given; it must not
// print, and it never writes a signature before the key and every digest
// it signs have been read and checked.
package sign
