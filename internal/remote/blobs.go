package remote

import (
	"context"
	"fmt"
	"io"
	"net/http"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
)

// Blobs reads blobs of one repository as raw streams, for callers that check
// digests themselves: the store hashes everything it writes, so reading
// through Blobs instead of a v1.Layer saves hashing every byte twice.
// Blobs is safe for concurrent use.
type Blobs struct {
	o      *options
	repo   name.Repository
	client *http.Client
}

// OpenBlobs prepares to read blobs of ref's repository (ref may carry a tag
// or digest, which is ignored). Authentication happens here, once.
func OpenBlobs(ctx context.Context, ref string, opts ...Option) (*Blobs, error) {
	o, err := makeOptions(opts)
	if err != nil {
		return nil, fmt.Errorf("reading blobs of %s: %w", ref, err)
	}
	r, err := o.parseReference(ref)
	if err != nil {
		return nil, err
	}
	repo := r.Context()
	auth, err := authn.Resolve(ctx, o.keychain, repo)
	if err != nil {
		return nil, fmt.Errorf("reading blobs of %s: resolving credentials: %w", repo, err)
	}
	inner := transport.NewRetry(o.httpTransport(), transport.WithRetryBackoff(o.backoff()),
		transport.WithRetryPredicate(o.retryPredicate), transport.WithRetryStatusCodes(retryStatusCodes...))
	inner = transport.NewUserAgent(inner, o.userAgent)
	tr, err := transport.NewWithContext(ctx, repo.Registry, auth, inner, []string{repo.Scope(transport.PullScope)})
	if err != nil {
		return nil, o.wrap("reading blobs of", r, err)
	}
	return &Blobs{o: o, repo: repo, client: &http.Client{Transport: tr, CheckRedirect: checkRedirect}}, nil
}

// Open streams blob h, of at most MaxBlobSize bytes; OpenSized bounds the
// read by the size a descriptor declares. The content is not verified: the
// caller must check it against h (store.WriteBlob does). Transient failures
// before the body starts are retried; a body cut short is the caller's to
// retry (see Transient).
func (b *Blobs) Open(ctx context.Context, h v1.Hash) (io.ReadCloser, error) {
	return b.OpenSized(ctx, h, -1)
}

// OpenSized streams blob h, which its descriptor says holds size bytes (-1:
// unknown, MaxBlobSize at most, as Open). A size over MaxBlobSize or below -1
// is refused before anything is fetched. A caller passing a size from
// untrusted data (a registry's config) must refuse -1 itself: here it means
// "unknown", not a lie. A response declaring more bytes is
// refused, and a body that goes on longer fails its read after size bytes:
// never is more read than the descriptor declares (plus one byte, which
// reveals the lie). Errors are *SizeError (ErrTooLarge).
func (b *Blobs) OpenSized(ctx context.Context, h v1.Hash, size int64) (io.ReadCloser, error) {
	ref := b.repo.Digest(h.String())
	limit := size
	if size == -1 {
		limit = MaxBlobSize
	} else if err := checkDescriptor("blob", v1.Descriptor{Digest: h, Size: size}); err != nil {
		return nil, fmt.Errorf("reading blob %s: %w", ref, err)
	}
	u := fmt.Sprintf("%s://%s/v2/%s/blobs/%s", b.repo.Scheme(), b.repo.RegistryStr(), b.repo.RepositoryStr(), h)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, fmt.Errorf("reading blob %s: %w", ref, err)
	}
	resp, err := b.client.Do(req)
	if err != nil {
		return nil, b.o.wrap("reading blob", ref, err)
	}
	if err := transport.CheckError(resp, http.StatusOK); err != nil {
		resp.Body.Close()
		return nil, b.o.wrap("reading blob", ref, err)
	}
	tooLarge := func(n int64) error {
		return fmt.Errorf("reading blob %s: %w", ref, &SizeError{What: "blob", Where: h.String(), Size: n, Limit: limit, Source: "sends"})
	}
	if resp.ContentLength > limit {
		resp.Body.Close()
		return nil, tooLarge(resp.ContentLength)
	}
	return &limitBody{rc: resp.Body, limit: limit, err: tooLarge}, nil
}

// Retry runs op, a read of blobs that must start over as a whole when it
// fails (a body cut short), until it succeeds, fails with an error that is
// not Transient, or the retries of WithRetry are spent, with the backoff
// every request of this package uses. Before each retry it calls retrying
// (if not nil) with the error, for progress.
func (b *Blobs) Retry(ctx context.Context, op func() error, retrying func(error)) error {
	return b.o.retry(ctx, op, retrying)
}

// Repository returns the repository the blobs are read from, HOST/REPO.
func (b *Blobs) Repository() string { return b.repo.Name() }
