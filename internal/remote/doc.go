// Package remote reads and writes images and indexes in container registries.
//
// It sits on go-containerregistry's remote package and adds what manyarch
// promises its users on top of it:
//
//   - References are registry references ("registry.example.com/app:1.0",
//     "localhost:5000/app@sha256:…"). Plain HTTP is used automatically for
//     localhost and loopback addresses, as docker does, and for any host with
//     WithInsecure, which also skips TLS verification.
//   - Credentials come from a keychain, by default authn.DefaultKeychain:
//     ~/.docker/config.json ($DOCKER_CONFIG) and the credential helpers it names.
//   - Transient failures (5xx, 429, 408, resets, timeouts, stalls) are retried
//     with exponential backoff, one schedule for everything (WithRetry). A
//     retry restarts one request, one blob upload (from its HEAD) or one
//     manifest PUT, or, through Blobs.Retry, one blob download; blobs are
//     content-addressed and their digests checked, so a retry never
//     duplicates or corrupts anything.
//   - Write uploads blobs (WithJobs at a time), PUTs each child manifest by
//     digest once its own blobs (or children) are in, and PUTs the manifest
//     under the tag last, so a push that fails at any point never leaves the
//     tag pointing at missing content.
//     Blobs and child manifests the registry already has are skipped; blobs read
//     from another repository of the same registry are mounted, not copied.
//     Each blob goes up in one PUT after its POST (the distribution spec's
//     monolithic upload, a round trip less than a PATCH and a PUT), and a
//     blob that is a local file is sent by the kernel (sendfile), not copied
//     through the process.
//   - Progress is reported as progress.Events: one item per blob and manifest,
//     with bytes moved.
//   - WithPlatforms selects platforms from an index, with the semantics of
//     `docker buildx imagetools create --platform`: the result is always an
//     index (even for one platform) holding the selected images, flattened out
//     of nested indexes, plus the attestation manifests that describe them.
//     An image that is not an index must itself match.
//
// A registry is untrusted, so everything it can make us read is bounded: a
// request follows at most MaxRedirects redirects (go-containerregistry's
// clients check redirects for SSRF but do not count them); a manifest or
// index over MaxManifestSize (4 MiB, containerd's bound) is refused, from its
// Content-Length or when the body passes it; every size a manifest declares is
// checked before the blob is fetched (configs MaxConfigSize, child manifests
// MaxManifestSize, layers MaxBlobSize; *SizeError, ErrTooLarge) and no blob is
// read past its declared size; an index and its nested indexes list at most
// 10000 manifests. Connecting, the TLS handshake and the response header have
// timeouts, a connection silent for the stall timeout is cut, and a manifest
// must arrive whole within two stall timeouts; a blob download
// that keeps moving bytes is never cut, however long it takes.
//
// Blobs (OpenBlobs) streams raw blobs for callers that verify digests
// themselves, such as a pull into the store, so each byte is hashed once.
//
// Errors name the reference and say what to do: ErrUnknownHost,
// ErrUnauthorized, ErrNotFound, ErrDigestMismatch, ErrNoMatchingPlatform,
// ErrTooLarge and ErrTooManyRedirects can be tested with errors.Is.
package remote
