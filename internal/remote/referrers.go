package remote

import (
	"context"
	"fmt"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	ggcr "github.com/google/go-containerregistry/pkg/v1/remote"
)

// Referrers lists the manifests whose subject is the manifest ref names
// ("registry.example.com/app@sha256:…"): the registry's referrers API
// (OCI distribution 1.1) where it has one, else the referrers tag schema's
// index (tag sha256-HEX), as go-containerregistry's remote.Write keeps it
// for registries without the API. No referrers is an empty list, not an
// error. At most the index bounds of the package are read.
func Referrers(ctx context.Context, ref string, opts ...Option) ([]v1.Descriptor, error) {
	o, err := makeOptions(opts)
	if err != nil {
		return nil, fmt.Errorf("listing referrers of %s: %w", ref, err)
	}
	r, err := o.parseReference(ref)
	if err != nil {
		return nil, err
	}
	d, ok := r.(name.Digest)
	if !ok {
		return nil, fmt.Errorf("listing referrers of %s: name a manifest by digest (REPO@sha256:…)", ref)
	}
	idx, err := ggcr.Referrers(d, o.remoteOptions(ctx)...)
	if err != nil {
		return nil, o.wrap("listing referrers of", r, err)
	}
	m, err := idx.IndexManifest()
	if err != nil {
		return nil, o.wrap("listing referrers of", r, err)
	}
	if err := checkIndexManifest(m); err != nil {
		return nil, fmt.Errorf("listing referrers of %s: %w", ref, err)
	}
	return m.Manifests, nil
}
