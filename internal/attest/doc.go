// Package attest makes and reads build attestations as BuildKit stores
// them: per platform image, one attestation manifest in the index (an OCI
// image manifest whose config is an image config of platform
// unknown/unknown, one application/vnd.in-toto+json layer per in-toto
// statement, each annotated with in-toto.io/predicate-type), listed in the
// index with platform unknown/unknown and the annotations
// vnd.docker.reference.type=attestation-manifest and
// vnd.docker.reference.digest=<the image's digest>. Tools that read buildx
// attestations (docker buildx imagetools inspect, syft, Trivy, cosign
// download attestation) read these.
//
// It makes the two statements `build --sbom` and `build --provenance`
// attach: an SPDX 2.3 SBOM of the image (internal/sbom) and a SLSA
// provenance v1 predicate of the build (Provenance). It reads them back,
// checking every layer's digest (Read), for `inspect`.
//
// It must not build, run or fetch anything: the engine gives it the facts
// (internal/engine's attest.go), and it must never put a secret into a
// statement: build secrets are not among its inputs.
package attest
