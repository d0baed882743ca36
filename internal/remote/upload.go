package remote

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"sync"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	ggcr "github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
)

// uploader puts blobs into one repository with the fewest round trips the
// distribution protocol allows for a blob whose digest and size are known:
// a HEAD (a blob the repository has is skipped), a POST (which mounts a
// blob from another repository of the same registry, or opens an upload
// session), then one PUT carrying the whole blob and its digest: the
// "monolithic" upload of the OCI distribution spec, which every registry
// implements. go-containerregistry sends the blob in a PATCH and commits it
// with a second, empty PUT, a round trip more per blob, and for the
// registry a save and a reload of its hash state between the two.
//
// A failed attempt (a transient error: see Transient) restarts the blob from
// its HEAD, with the package's one retry schedule (options.retry): the registry verifies
// the digest when it commits, so a retry never stores anything wrong.
type uploader struct {
	o    *options
	repo name.Repository
	auth authn.Authenticator
	base http.RoundTripper

	mu      sync.Mutex
	clients map[string]*http.Client // by mount source repository, "" for none
}

func newUploader(ctx context.Context, o *options, repo name.Repository, base http.RoundTripper) (*uploader, error) {
	auth, err := authn.Resolve(ctx, o.keychain, repo)
	if err != nil {
		return nil, fmt.Errorf("resolving credentials for %s: %w", repo, err)
	}
	return &uploader{o: o, repo: repo, auth: auth, base: base, clients: map[string]*http.Client{}}, nil
}

// client returns the client for uploads to u.repo, with pull access to
// repository from too when it is not "" (for a mount). Authentication (a
// token for those scopes) happens once per source.
func (u *uploader) client(ctx context.Context, from name.Repository) (*http.Client, error) {
	key := ""
	scopes := []string{u.repo.Scope(transport.PushScope)}
	if from != (name.Repository{}) {
		key = from.String()
		scopes = append(scopes, from.Scope(transport.PullScope))
	}
	u.mu.Lock()
	defer u.mu.Unlock()
	if c, ok := u.clients[key]; ok {
		return c, nil
	}
	tr, err := transport.NewWithContext(ctx, u.repo.Registry, u.auth, transport.NewUserAgent(u.base, u.o.userAgent), scopes)
	if err != nil {
		return nil, err
	}
	c := &http.Client{Transport: tr, CheckRedirect: checkRedirect}
	u.clients[key] = c
	return c, nil
}

// uploadResult says what an upload did.
type uploadResult int

const (
	uploaded uploadResult = iota
	existed               // the repository had the blob
	mounted               // mounted from another repository
)

// upload puts layer l (digest h, size bytes) into the repository, retrying
// transient failures.
func (u *uploader) upload(ctx context.Context, l v1.Layer, h v1.Hash, size int64) (uploadResult, error) {
	var from name.Repository
	if ml, ok := l.(*ggcr.MountableLayer); ok {
		src := ml.Reference.Context()
		if src.RegistryStr() == u.repo.RegistryStr() && src.RepositoryStr() != u.repo.RepositoryStr() {
			from = src
		}
		l = ml.Layer
	}
	var res uploadResult
	err := u.o.retry(ctx, func() error {
		var err error
		res, err = u.try(ctx, l, h, size, from)
		return err
	}, nil)
	return res, err
}

func (u *uploader) try(ctx context.Context, l v1.Layer, h v1.Hash, size int64, from name.Repository) (uploadResult, error) {
	c, err := u.client(ctx, from)
	if err != nil {
		if from == (name.Repository{}) {
			return uploaded, err
		}
		// No access to the source: upload instead of mounting.
		from = name.Repository{}
		if c, err = u.client(ctx, from); err != nil {
			return uploaded, err
		}
	}
	base := url.URL{Scheme: u.repo.Scheme(), Host: u.repo.RegistryStr(), Path: fmt.Sprintf("/v2/%s/blobs/", u.repo.RepositoryStr())}

	// HEAD: does the repository have it?
	head := base
	head.Path += h.String()
	resp, err := u.do(ctx, c, http.MethodHead, head.String(), http.StatusOK, http.StatusNotFound)
	if err != nil {
		return uploaded, err
	}
	if resp.StatusCode == http.StatusOK {
		return existed, nil
	}

	// POST: mount, or open an upload.
	post := base
	post.Path += "uploads/"
	if from != (name.Repository{}) {
		post.RawQuery = url.Values{"mount": {h.String()}, "from": {from.RepositoryStr()}}.Encode()
	}
	resp, err = u.do(ctx, c, http.MethodPost, post.String(), http.StatusCreated, http.StatusAccepted)
	if err != nil && from != (name.Repository{}) {
		// Some registries refuse a mount outright (go-containerregistry
		// issues 1404, 1679): open a plain upload instead.
		post.RawQuery = ""
		resp, err = u.do(ctx, c, http.MethodPost, post.String(), http.StatusCreated, http.StatusAccepted)
	}
	if err != nil {
		return uploaded, err
	}
	if resp.StatusCode == http.StatusCreated {
		if from != (name.Repository{}) {
			return mounted, nil
		}
		return existed, nil // a registry that dedups on POST
	}
	loc, err := uploadLocation(resp)
	if err != nil {
		return uploaded, err
	}

	// PUT: the whole blob, committed under its digest.
	q := loc.Query()
	q.Set("digest", h.String())
	loc.RawQuery = q.Encode()
	body, err := l.Compressed()
	if err != nil {
		return uploaded, fmt.Errorf("reading blob %s: %w", h, err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPut, loc.String(), body)
	if err != nil {
		body.Close()
		return uploaded, err
	}
	req.ContentLength = size
	req.GetBody = l.Compressed // a redirect sends it again
	req.Header.Set("Content-Type", "application/octet-stream")
	resp, err = send(c, req, http.StatusCreated)
	if err != nil {
		return uploaded, err
	}
	return uploaded, nil
}

// do sends a request with no body and checks its status against ok. The
// response's body is read (a little) and closed, so its connection is reused.
func (u *uploader) do(ctx context.Context, c *http.Client, method, target string, ok ...int) (*http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, method, target, nil)
	if err != nil {
		return nil, err
	}
	if method == http.MethodPost {
		req.Header.Set("Content-Type", "application/json")
	}
	return send(c, req, ok...)
}

// send does req and checks the answer's status against ok; the body is
// drained (up to 64 KiB) and closed, so the connection is reused.
func send(c *http.Client, req *http.Request, ok ...int) (*http.Response, error) {
	resp, err := c.Do(req)
	if err != nil {
		return nil, err
	}
	defer func() {
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
		resp.Body.Close()
	}()
	if err := transport.CheckError(resp, ok...); err != nil {
		return nil, err
	}
	return resp, nil
}

// uploadLocation is the URL an upload continues at (the Location of the
// POST's answer, relative to its request). Like a redirect, it may not lead
// from the registry to another host at a private address.
func uploadLocation(resp *http.Response) (*url.URL, error) {
	loc := resp.Header.Get("Location")
	if loc == "" {
		return nil, fmt.Errorf("the registry opened an upload (%d) with no Location header", resp.StatusCode)
	}
	u, err := resp.Request.URL.Parse(loc)
	if err != nil {
		return nil, fmt.Errorf("the registry's upload Location %q: %w", loc, err)
	}
	if from, to := resp.Request.URL.Hostname(), u.Hostname(); privateHop(from, to) {
		return nil, fmt.Errorf("the registry's upload Location leads from %q to the private address %q: refused (SSRF protection)", from, to)
	}
	return u, nil
}
