package sign

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/manyarch/manyarch/internal/image"
	"github.com/manyarch/manyarch/internal/ref"
	"github.com/manyarch/manyarch/internal/remote"
	"github.com/manyarch/manyarch/internal/store"
)

// Repository is where the signatures of an image live: beside it, in the
// repository of the registry, the local store or the OCI layout that holds
// it, under the tags cosign uses there (legacy: sha256-HEX.sig; bundles:
// referrers, or the referrers tag sha256-HEX where there is no referrers
// API, which is always the case in the store and in layouts).
type Repository struct {
	kind ref.Transport // ref.Docker, ref.Store or ref.OCI
	// name is the registry repository ("127.0.0.1:5000/app"), the store's
	// repository in its familiar form ("hello"), or the layout directory.
	name string
}

// RepositoryOf is the repository of r: a registry reference (docker://),
// a name in the local store (store transport: the caller has decided the
// store holds it; it is never looked up in a registry here) or an oci:
// layout. Archives are refused: they cannot be changed in place.
func RepositoryOf(r ref.Reference) (Repository, error) {
	switch r.Transport {
	case ref.Docker, ref.Store:
		n, err := name.ParseReference(r.Registry())
		if err != nil {
			return Repository{}, err
		}
		repo := n.Context().Name()
		if r.Transport == ref.Store {
			// The store's names are familiar: "hello", not index.docker.io/library/hello.
			t, err := ref.NewStore(repo + ":latest")
			if err != nil {
				return Repository{}, err
			}
			repo = strings.TrimSuffix(t.Name, ":latest")
		}
		return Repository{kind: r.Transport, name: repo}, nil
	case ref.OCI:
		return Repository{kind: ref.OCI, name: r.Path}, nil
	}
	return Repository{}, fmt.Errorf("%s: an archive cannot hold signatures added later: sign the image in the store, an oci: layout or a registry, then write the archive", r)
}

// String names the repository for messages.
func (p Repository) String() string {
	switch p.kind {
	case ref.Store:
		return "the local store's " + p.name
	case ref.OCI:
		return "oci:" + p.name
	}
	return p.name
}

// Identity is the docker-reference a legacy signature payload names.
func (p Repository) Identity() string {
	if p.kind == ref.OCI {
		return "oci:" + p.name
	}
	return p.name
}

// tagName is how tag is written for messages: REPO:TAG, oci:DIR:TAG,
// REPO:TAG in the local store.
func (p Repository) tagName(tag string) string {
	switch p.kind {
	case ref.Store:
		return p.name + ":" + tag + " in the local store"
	case ref.OCI:
		return "oci:" + p.name + ":" + tag
	}
	return p.name + ":" + tag
}

func (p Repository) tagRef(tag string) (ref.Reference, error) {
	switch p.kind {
	case ref.Store:
		return ref.NewStore(p.name + ":" + tag)
	case ref.OCI:
		return ref.NewOCILayout(p.name, tag)
	}
	return ref.NewRegistry(p.name + ":" + tag)
}

// layout opens the store or layout p is in.
func (p Repository) layout(ctx context.Context, env *ref.Env) (*store.Store, error) {
	if p.kind == ref.Store {
		return env.Store(ctx)
	}
	return store.Open(ctx, p.name)
}

// lockTags holds the name locks (ref.LockNames) of tags in p, for a
// read of what they name, a change and a write, so that two signers at
// once both land. A registry has no lock to take: there the later write
// wins, as with cosign.
func (p Repository) lockTags(ctx context.Context, env *ref.Env, tags ...string) (func(), error) {
	if p.kind == ref.Docker {
		return func() {}, nil
	}
	refs := make([]ref.Reference, 0, len(tags))
	for _, tag := range tags {
		r, err := p.tagRef(tag)
		if err != nil {
			return nil, err
		}
		refs = append(refs, r)
	}
	return ref.LockNames(ctx, env, refs...)
}

// isNotFound reports whether err says a tag or manifest is absent.
func isNotFound(err error) bool {
	return errors.Is(err, ref.ErrNotFound) || errors.Is(err, remote.ErrNotFound) || errors.Is(err, store.ErrNotFound)
}

// read returns what tag names in p; absent is an error isNotFound reports.
// The store is never left for a registry.
func (p Repository) read(ctx context.Context, env *ref.Env, tag string) (image.Artifact, error) {
	r, err := p.tagRef(tag)
	if err != nil {
		return nil, err
	}
	if p.kind == ref.Docker {
		return ref.Read(ctx, env, r)
	}
	st, err := p.layout(ctx, env)
	if err != nil {
		return nil, err
	}
	name := r.Name
	if p.kind == ref.OCI {
		name = tag
	}
	desc, err := st.Resolve(ctx, name)
	if err != nil {
		return nil, err
	}
	return ref.FromStore(ctx, st, desc)
}

// manifest returns the image manifest d of p (a referrer).
func (p Repository) manifest(ctx context.Context, env *ref.Env, d v1.Hash) (v1.Image, error) {
	var a image.Artifact
	if p.kind == ref.Docker {
		r, err := ref.NewRegistry(p.name + "@" + d.String())
		if err != nil {
			return nil, err
		}
		if a, err = ref.Read(ctx, env, r); err != nil {
			return nil, err
		}
	} else {
		st, err := p.layout(ctx, env)
		if err != nil {
			return nil, err
		}
		desc, err := st.ResolveDigest(ctx, d)
		if err != nil {
			return nil, err
		}
		if a, err = ref.FromStore(ctx, st, desc); err != nil {
			return nil, err
		}
	}
	img, ok := a.(v1.Image)
	if !ok {
		return nil, fmt.Errorf("%s@%s is an index, not a signature manifest", p, d)
	}
	return img, nil
}

// write names a with tag in p, every blob first.
func (p Repository) write(ctx context.Context, env *ref.Env, tag string, a image.Artifact) error {
	r, err := p.tagRef(tag)
	if err != nil {
		return err
	}
	_, err = ref.Write(ctx, env, r, a)
	return err
}

// ReferrersTag is the tag of the referrers tag schema for d: sha256-HEX.
func ReferrersTag(d v1.Hash) string { return d.Algorithm + "-" + d.Hex }

// referrers lists the manifests whose subject is d: a registry's referrers
// API where it has one, else the index tagged sha256-HEX.
func (p Repository) referrers(ctx context.Context, env *ref.Env, d v1.Hash) ([]v1.Descriptor, error) {
	if p.kind == ref.Docker {
		return remote.Referrers(ctx, p.name+"@"+d.String(), env.Remote...)
	}
	a, err := p.read(ctx, env, ReferrersTag(d))
	if isNotFound(err) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	idx, ok := a.(v1.ImageIndex)
	if !ok {
		return nil, fmt.Errorf("%s is not a referrers index", p.tagName(ReferrersTag(d)))
	}
	m, err := idx.IndexManifest()
	if err != nil {
		return nil, err
	}
	return m.Manifests, nil
}

// addReferrer stores img, whose manifest's subject is the manifest d, as a
// referrer of d. In a registry the manifest is put by digest: a registry
// with the referrers API indexes it, and for one without, the put adds it to
// the index tagged sha256-HEX (go-containerregistry's remote.Write does, as
// cosign's own writes do). In the store and layouts that index is written
// here, with img in it: one write, so the tag never names a missing manifest.
func (p Repository) addReferrer(ctx context.Context, env *ref.Env, d v1.Hash, img v1.Image, desc v1.Descriptor) error {
	if p.kind == ref.Docker {
		r, err := ref.NewRegistry(p.name + "@" + desc.Digest.String())
		if err != nil {
			return err
		}
		_, err = ref.Write(ctx, env, r, img)
		return err
	}
	tag := ReferrersTag(d)
	var idx v1.ImageIndex = mutate.IndexMediaType(emptyIndex, types.OCIImageIndex)
	old, err := p.read(ctx, env, tag)
	switch {
	case err == nil:
		x, ok := old.(v1.ImageIndex)
		if !ok {
			return fmt.Errorf("%s is not a referrers index: remove it, then sign again", p.tagName(tag))
		}
		m, err := x.IndexManifest()
		if err != nil {
			return err
		}
		if slices.ContainsFunc(m.Manifests, func(e v1.Descriptor) bool { return e.Digest == desc.Digest }) {
			return nil
		}
		idx = x
	case !isNotFound(err):
		return fmt.Errorf("reading %s: %w", p.tagName(tag), err)
	}
	idx = mutate.AppendManifests(idx, mutate.IndexAddendum{Add: img, Descriptor: desc})
	return p.write(ctx, env, tag, idx)
}
