package ref

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"regexp"
	"slices"
	"sort"
	"strings"
	"sync"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/tarball"

	"github.com/manyarch/manyarch/internal/image"
	"github.com/manyarch/manyarch/internal/remote"
	"github.com/manyarch/manyarch/internal/store"
)

// Read returns what r names. Blobs are read lazily and verified when used;
// the artifact stays usable until env.Close.
func Read(ctx context.Context, env *Env, r Reference) (image.Artifact, error) {
	switch r.Transport {
	case Store:
		return readStore(ctx, env, r)
	case Docker:
		a, _, err := remote.Read(ctx, r.Registry(), env.Remote...)
		if err != nil {
			return nil, fmt.Errorf("reading %s: %w", r, err)
		}
		return a, nil
	case OCI:
		return readLayout(ctx, r.Path, r.Tag, r.String())
	case OCIArchive:
		dir, err := unpackOCIArchive(ctx, env, r.Path)
		if err != nil {
			return nil, fmt.Errorf("reading %s: %w", r, err)
		}
		return readLayout(ctx, dir, r.Tag, r.String())
	case DockerArchive:
		return readDockerArchive(r)
	}
	return nil, fmt.Errorf("reading %s: unknown transport %d", r, r.Transport)
}

// readStore looks r up in the local store, then in the registry.
func readStore(ctx context.Context, env *Env, r Reference) (image.Artifact, error) {
	st, err := env.Store(ctx)
	if err != nil {
		return nil, err
	}
	desc, err := ResolveStore(ctx, st, r)
	if err == nil {
		return fromStore(ctx, st, desc)
	}
	if !errors.Is(err, store.ErrNotFound) {
		return nil, fmt.Errorf("reading %s from the store: %w", r.Name, err)
	}
	if r.id != "" {
		// An image ID is the store's; no registry has it by that name.
		return nil, fmt.Errorf("no image in the store %s has the ID or name %s (see `manyarch images --digests`)", st.Root(), r.id)
	}
	env.logger().Debug("not in the store; trying the registry", "ref", r.Name, "registry", r.Registry())
	a, _, rerr := remote.Read(ctx, r.Registry(), env.Remote...)
	if rerr != nil {
		return nil, &NotFoundError{Name: r.Name, Store: st.Root(), Remote: rerr}
	}
	return a, nil
}

// ResolveStore finds a Store reference in st without going to a registry.
// NAME:TAG is its index.json entry. NAME@DIGEST is first its digest record
// (the entry `manyarch pull NAME@DIGEST` writes, which names what was pulled:
// with --platform, the selected image rather than DIGEST itself), then any
// manifest or index stored as blob DIGEST. Not found wraps store.ErrNotFound.
func ResolveStore(ctx context.Context, st *store.Store, r Reference) (v1.Descriptor, error) {
	d := r.Digest()
	if d == "" {
		desc, err := st.Resolve(ctx, r.Name)
		if r.id != "" && errors.Is(err, store.ErrNotFound) {
			return resolveID(ctx, st, r.id)
		}
		return desc, err
	}
	h, err := v1.NewHash(d)
	if err != nil {
		return v1.Descriptor{}, &SyntaxError{Ref: r.String(), Reason: err.Error()}
	}
	desc, err := st.Resolve(ctx, r.Name)
	if err == nil || !errors.Is(err, store.ErrNotFound) {
		return desc, err
	}
	return st.ResolveDigest(ctx, h)
}

// resolveID finds the image or index whose digest is, or starts with,
// hex: first among the store's names (a unique prefix, as docker's short
// IDs), then a whole digest among its blobs.
func resolveID(ctx context.Context, st *store.Store, hex string) (v1.Descriptor, error) {
	named, err := st.Names(ctx)
	if err != nil {
		return v1.Descriptor{}, err
	}
	var found []v1.Descriptor
	for _, n := range named {
		d := n.Descriptor
		if d.Digest.Algorithm == "sha256" && strings.HasPrefix(d.Digest.Hex, hex) && !slices.ContainsFunc(found, func(f v1.Descriptor) bool { return f.Digest == d.Digest }) {
			found = append(found, d)
		}
	}
	switch {
	case len(found) == 1:
		return found[0], nil
	case len(found) > 1:
		return v1.Descriptor{}, fmt.Errorf("the ID %s is the start of %d images' digests: give more of it", hex, len(found))
	case len(hex) == 64:
		return st.ResolveDigest(ctx, v1.Hash{Algorithm: "sha256", Hex: hex})
	}
	return v1.Descriptor{}, fmt.Errorf("no image has the ID %s: %w", hex, store.ErrNotFound)
}

// FromStore returns the image or index that desc names in st.
func FromStore(ctx context.Context, st *store.Store, desc v1.Descriptor) (image.Artifact, error) {
	return fromStore(ctx, st, desc)
}

// fromStore returns the image or index that desc names in st.
func fromStore(ctx context.Context, st *store.Store, desc v1.Descriptor) (image.Artifact, error) {
	if desc.MediaType.IsIndex() {
		return st.Index(ctx, desc.Digest)
	}
	return st.Image(ctx, desc.Digest)
}

// signatureTag matches the tags cosign gives signatures, attestations and
// referrers indexes.
var signatureTag = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^sha256-[0-9a-f]{64}(\.sig|\.att)?$`) })

// IsSignatureTag reports whether tag (or a NAME:TAG's tag) is one cosign
// and manyarch sign keep signatures under beside an image: sha256-HEX (the
// referrers index), sha256-HEX.sig, sha256-HEX.att.
func IsSignatureTag(tag string) bool {
	return signatureTag().MatchString(tag[strings.LastIndex(tag, ":")+1:])
}

// readLayout reads tag (or the only entry) from the OCI layout at dir.
func readLayout(ctx context.Context, dir, tag, what string) (image.Artifact, error) {
	if _, err := os.Stat(dir + "/index.json"); err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, fmt.Errorf("reading %s: %s is not an OCI image layout (it has no index.json): %w", what, dir, ErrNotFound)
		}
		return nil, fmt.Errorf("reading %s: %w", what, err)
	}
	st, err := store.Open(ctx, dir)
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", what, err)
	}
	if tag != "" {
		desc, err := st.Resolve(ctx, tag)
		if err != nil {
			return nil, fmt.Errorf("reading %s: %w", what, err)
		}
		return fromStore(ctx, st, desc)
	}
	entries, err := st.Entries(ctx)
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", what, err)
	}
	// Signatures kept beside an image (internal/sign: cosign's referrers
	// tag sha256-HEX and legacy sha256-HEX.sig) are not images of their own.
	entries = slices.DeleteFunc(entries, func(e store.Named) bool { return IsSignatureTag(e.Name) })
	switch len(entries) {
	case 0:
		return nil, fmt.Errorf("reading %s: the layout is empty: %w", what, ErrNotFound)
	case 1:
		return fromStore(ctx, st, entries[0].Descriptor)
	}
	var tags []string
	for _, e := range entries {
		if e.Name != "" {
			tags = append(tags, e.Name)
		}
	}
	sort.Strings(tags)
	return nil, fmt.Errorf("reading %s: the layout holds %d images; name one with %s:TAG (tags: %s)",
		what, len(entries), what, strings.Join(tags, ", "))
}

func readDockerArchive(r Reference) (image.Artifact, error) {
	opener := func() (io.ReadCloser, error) { return os.Open(r.Path) }
	if _, err := os.Stat(r.Path); err != nil {
		return nil, fmt.Errorf("reading %s: %w", r, err)
	}
	var tag *name.Tag
	if t, ok := r.parsed.(name.Tag); ok {
		tag = &t
	}
	img, err := tarball.Image(opener, tag)
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w (an archive with several images needs docker-archive:FILE:NAME:TAG)", r, err)
	}
	return img, nil
}
