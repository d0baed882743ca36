// Package sign makes and checks cosign-compatible image signatures with
// cosign's own key files: ECDSA P-256 keys, the private key in cosign's
// encrypted PEM ("ENCRYPTED SIGSTORE PRIVATE KEY": scrypt and
// nacl/secretbox, the password from COSIGN_PASSWORD), the public key as
// PKIX PEM.
//
// It writes and reads both forms cosign v3 (v3.1.3) does:
//
//   - The Sigstore bundle, cosign v3's default (bundle.go). For a manifest
//     or index sha256:HEX: an in-toto v1 statement (subject: the digest;
//     predicateType https://sigstore.dev/cosign/sign/v1; predicate {}),
//     signed as a DSSE envelope (ECDSA over the PAE of payload type
//     application/vnd.in-toto+json and the statement), in a bundle JSON
//     (application/vnd.dev.sigstore.bundle.v0.3+json, protojson field
//     names; verificationMaterial.publicKey.hint is base64 SHA-256 of the
//     key's PKIX DER; no transparency log entry, no timestamp). The bundle is
//     the one layer of an OCI manifest (config: the empty descriptor "{}",
//     artifactType the bundle's media type, annotations
//     dev.sigstore.bundle.content=dsse-envelope and
//     dev.sigstore.bundle.predicateType) whose subject is the signed
//     manifest: a referrer. A registry with the referrers API lists it; for
//     one without (the CNCF registry 2.8), the local store and OCI layouts,
//     the referrers tag schema's index tagged sha256-HEX lists it.
//   - The legacy form (legacy.go; cosign sign --new-bundle-format=false): an
//     image tagged sha256-HEX.sig whose layers are simple-signing payloads
//     ({"critical":{"identity":{"docker-reference":REPO},"image":
//     {"docker-manifest-digest":DIGEST},"type":"cosign container image
//     signature"},"optional":null}), each annotated
//     dev.cosignproject.cosign/signature with the base64 ASN.1 ECDSA
//     signature of the payload's SHA-256.
//
// A Repository is where signatures live: beside the image, in its
// registry repository, the local store (REPO:sha256-HEX names) or an OCI
// layout (sha256-HEX tags). Sign writes either form; Verify accepts either
// and names, for each target without a good signature, why (not signed,
// signed by another key, over another digest, changed after signing);
// Copy carries the signatures of an image to where a copy of it went.
//
// No keyless signing: nothing here talks to Fulcio, Rekor or a timestamp
// authority, and a keyless bundle is reported as such. Sign reads the key
// and every signature image it extends before it writes anything; each
// signature is written whole (blobs first, then the manifest, the tag
// last). The package does not print.
package sign
