package remote

import "errors"

// Sentinel errors; errors returned by this package wrap them where they apply,
// together with the reference and a hint about what to do.
var (
	// ErrUnknownHost: the registry's host name does not resolve.
	ErrUnknownHost = errors.New("registry host not found")
	// ErrUnauthorized: the registry wants credentials we do not have, or
	// rejected the ones we sent.
	ErrUnauthorized = errors.New("requires authentication")
	// ErrDenied: the credentials were accepted but do not allow the operation.
	ErrDenied = errors.New("access denied")
	// ErrNotFound: the repository, tag or digest does not exist.
	ErrNotFound = errors.New("not found")
	// ErrDigestMismatch: content does not hash to the digest that names it.
	ErrDigestMismatch = errors.New("digest mismatch")
	// ErrNoMatchingPlatform: WithPlatforms selected nothing.
	ErrNoMatchingPlatform = errors.New("no matching platform")
	// ErrUnsupportedMediaType: a manifest this package cannot handle (for
	// example Docker schema 1, or an artifact that is neither image nor index).
	ErrUnsupportedMediaType = errors.New("unsupported media type")
	// ErrTooLarge: a manifest, config or blob over this package's bounds
	// (MaxManifestSize, MaxConfigSize, MaxBlobSize), declared or sent; the
	// error is a *SizeError naming the size.
	ErrTooLarge = errors.New("too large")
	// ErrTooManyRedirects: a request was redirected more than MaxRedirects
	// times (*RedirectError).
	ErrTooManyRedirects = errors.New("too many redirects")
	// ErrUnreachable: the registry could not be reached (refused, TLS, timeout).
	ErrUnreachable = errors.New("registry unreachable")
)
