package remote

import (
	"context"
	"fmt"
	"net/http"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	ggcr "github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
)

// MaxListEntries bounds what ListTags and Catalog gather over all pages: a
// registry that pages forever, or holds more, is refused with ErrTooLarge.
const MaxListEntries = 100_000

// ListTags returns the tags of repository repo ("HOST/REPO"), in the
// registry's order, following its pages.
func ListTags(ctx context.Context, repo string, opts ...Option) ([]string, error) {
	o, err := makeOptions(opts)
	if err != nil {
		return nil, fmt.Errorf("listing tags of %s: %w", repo, err)
	}
	var nopts []name.Option
	if o.insecure {
		nopts = append(nopts, name.Insecure)
	}
	r, err := name.NewRepository(repo, nopts...)
	if err != nil {
		return nil, fmt.Errorf("parsing repository %q: %w (want [HOST[:PORT]/]REPOSITORY)", repo, err)
	}
	at := repoTarget{r, r.Name()}
	puller, err := ggcr.NewPuller(o.remoteOptions(ctx)...)
	if err != nil {
		return nil, fmt.Errorf("listing tags of %s: %w", repo, err)
	}
	l, err := puller.Lister(ctx, r)
	if err != nil {
		return nil, o.wrap("listing tags of", at, err)
	}
	var tags []string
	for l.HasNext() {
		page, err := l.Next(ctx)
		if err != nil {
			return nil, o.wrap("listing tags of", at, err)
		}
		tags = append(tags, page.Tags...)
		if len(tags) > MaxListEntries {
			return nil, fmt.Errorf("listing tags of %s: %w: more than %d tags", repo, ErrTooLarge, MaxListEntries)
		}
	}
	return tags, nil
}

// Catalog returns the repositories of registry host ("HOST[:PORT]"), as its
// /v2/_catalog pages list them. Many registries (Docker Hub among them)
// refuse it.
func Catalog(ctx context.Context, host string, opts ...Option) ([]string, error) {
	o, err := makeOptions(opts)
	if err != nil {
		return nil, fmt.Errorf("listing repositories of %s: %w", host, err)
	}
	var nopts []name.Option
	if o.insecure {
		nopts = append(nopts, name.Insecure)
	}
	reg, err := name.NewRegistry(host, nopts...)
	if err != nil {
		return nil, fmt.Errorf("parsing registry %q: %w (want HOST[:PORT])", host, err)
	}
	at := repoTarget{reg.Repo("_catalog"), reg.Name()}
	puller, err := ggcr.NewPuller(o.remoteOptions(ctx)...)
	if err != nil {
		return nil, fmt.Errorf("listing repositories of %s: %w", host, err)
	}
	c, err := puller.Catalogger(ctx, reg)
	if err != nil {
		return nil, o.wrap("listing repositories of", at, err)
	}
	var repos []string
	for c.HasNext() {
		page, err := c.Next(ctx)
		if err != nil {
			return nil, o.wrap("listing repositories of", at, err)
		}
		repos = append(repos, page.Repos...)
		if len(repos) > MaxListEntries {
			return nil, fmt.Errorf("listing repositories of %s: %w: more than %d repositories", host, ErrTooLarge, MaxListEntries)
		}
	}
	return repos, nil
}

// Delete deletes the manifest ref names (a tag or a digest). Registries
// delete by digest; many refuse deletion unless configured for it.
func Delete(ctx context.Context, ref string, opts ...Option) error {
	o, err := makeOptions(opts)
	if err != nil {
		return fmt.Errorf("deleting %s: %w", ref, err)
	}
	r, err := o.parseReference(ref)
	if err != nil {
		return err
	}
	pusher, err := ggcr.NewPusher(o.remoteOptions(ctx)...)
	if err != nil {
		return fmt.Errorf("deleting %s: %w", ref, err)
	}
	if err := pusher.Delete(ctx, r); err != nil {
		return o.wrap("deleting", r, err)
	}
	return nil
}

// repoTarget is a repository or registry as the name.Reference that wrap
// takes, printed as s.
type repoTarget struct {
	name.Repository
	s string
}

func (r repoTarget) Context() name.Repository { return r.Repository }
func (r repoTarget) Identifier() string       { return "" }
func (r repoTarget) Name() string             { return r.s }
func (r repoTarget) String() string           { return r.s }

// CheckLogin reports whether registry host accepts username and password:
// nil when an authenticated GET /v2/ succeeds, an ErrUnauthorized error when
// the registry rejects them. It is what `login` asks before it stores them.
func CheckLogin(ctx context.Context, host, username, password string, opts ...Option) error {
	o, err := makeOptions(opts)
	if err != nil {
		return fmt.Errorf("logging in to %s: %w", host, err)
	}
	var nopts []name.Option
	if o.insecure {
		nopts = append(nopts, name.Insecure)
	}
	reg, err := name.NewRegistry(host, nopts...)
	if err != nil {
		return fmt.Errorf("parsing registry %q: %w (want HOST[:PORT])", host, err)
	}
	at := repoTarget{reg.Repo("_login"), reg.Name()}
	auth := authn.FromConfig(authn.AuthConfig{Username: username, Password: password})
	rt, err := transport.NewWithContext(ctx, reg, auth, o.httpTransport(), []string{reg.Scope(transport.PullScope)})
	if err != nil {
		return o.loginError(at, err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, reg.Scheme()+"://"+reg.RegistryStr()+"/v2/", nil)
	if err != nil {
		return fmt.Errorf("logging in to %s: %w", host, err)
	}
	resp, err := (&http.Client{Transport: rt}).Do(req)
	if err != nil {
		return o.wrap("logging in to", at, err)
	}
	defer resp.Body.Close()
	if err := transport.CheckError(resp, http.StatusOK); err != nil {
		return o.loginError(at, err)
	}
	return nil
}

// loginError words a refused login: the credentials given, not the keychain's.
func (o *options) loginError(at repoTarget, err error) error {
	if te := asTransportError(err); te != nil && (te.StatusCode == http.StatusUnauthorized || hasCode(te, transport.UnauthorizedErrorCode)) {
		return fmt.Errorf("logging in to %s: %w: the registry rejected the user name or password (%w)", at.s, ErrUnauthorized, readable(err))
	}
	return o.wrap("logging in to", at, err)
}
