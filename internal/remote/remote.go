package remote

import (
	"context"
	"errors"
	"fmt"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	ggcr "github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/manyarch/manyarch/internal/image"
)

var (
	_ image.Artifact = v1.Image(nil)
	_ image.Artifact = v1.ImageIndex(nil)
)

// Read fetches the manifest ref names and returns it as a v1.Image or a
// v1.ImageIndex with its descriptor. Blobs (layers, configs, child manifests)
// are fetched lazily, when the artifact's methods need them, using ctx: keep
// ctx alive while using the artifact. Manifests fetched by digest (children of
// an index included) are checked against their digest.
//
// With WithPlatforms, an index is narrowed to the selected platforms (see the
// package documentation) and the descriptor returned is the new index's.
func Read(ctx context.Context, ref string, opts ...Option) (image.Artifact, v1.Descriptor, error) {
	o, err := makeOptions(opts)
	if err != nil {
		return nil, v1.Descriptor{}, fmt.Errorf("reading %s: %w", ref, err)
	}
	r, err := o.parseReference(ref)
	if err != nil {
		return nil, v1.Descriptor{}, err
	}
	puller, err := ggcr.NewPuller(o.remoteOptions(ctx)...)
	if err != nil {
		return nil, v1.Descriptor{}, fmt.Errorf("reading %s: %w", ref, err)
	}
	d, err := puller.Get(ctx, r)
	if err != nil {
		return nil, v1.Descriptor{}, o.wrap("reading", r, err)
	}
	var a image.Artifact
	switch {
	case d.MediaType.IsIndex():
		a, err = d.ImageIndex()
	case d.MediaType.IsImage():
		a, err = d.Image()
	case d.MediaType.IsSchema1():
		return nil, v1.Descriptor{}, fmt.Errorf("reading %s: %w: %s is a Docker schema 1 manifest, which is deprecated; push it again with a current docker or manyarch", ref, ErrUnsupportedMediaType, d.Digest)
	default:
		return nil, v1.Descriptor{}, fmt.Errorf("reading %s: %w: %s has media type %q, neither an image nor an index", ref, ErrUnsupportedMediaType, d.Digest, d.MediaType)
	}
	if err != nil {
		return nil, v1.Descriptor{}, o.wrap("reading", r, err)
	}
	// Every size the registry declares is checked before it is fetched; the
	// top manifest now, so a hostile one fails here, not at first use.
	a = checked(a)
	switch a := a.(type) {
	case v1.Image:
		_, err = a.Manifest()
	case v1.ImageIndex:
		_, err = a.IndexManifest()
	}
	if err != nil {
		return nil, v1.Descriptor{}, o.wrap("reading", r, err)
	}
	desc := d.Descriptor
	if len(o.platforms) > 0 {
		a, err = selectPlatforms(a, o.platforms)
		if err != nil {
			return nil, v1.Descriptor{}, o.wrap("reading", r, err)
		}
		if desc, err = Describe(a); err != nil {
			return nil, v1.Descriptor{}, fmt.Errorf("reading %s: %w", ref, err)
		}
	}
	return a, desc, nil
}

// Head returns the descriptor of the manifest ref names without fetching it.
func Head(ctx context.Context, ref string, opts ...Option) (v1.Descriptor, error) {
	o, err := makeOptions(opts)
	if err != nil {
		return v1.Descriptor{}, fmt.Errorf("checking %s: %w", ref, err)
	}
	r, err := o.parseReference(ref)
	if err != nil {
		return v1.Descriptor{}, err
	}
	puller, err := ggcr.NewPuller(o.remoteOptions(ctx)...)
	if err != nil {
		return v1.Descriptor{}, fmt.Errorf("checking %s: %w", ref, err)
	}
	d, err := puller.Head(ctx, r)
	if err != nil {
		return v1.Descriptor{}, o.wrap("checking", r, err)
	}
	return *d, nil
}

// Exists reports whether ref names a manifest in its registry. A missing
// repository, tag or digest is (false, nil); anything else that prevents the
// answer (authentication, network) is an error.
func Exists(ctx context.Context, ref string, opts ...Option) (bool, error) {
	_, err := Head(ctx, ref, opts...)
	switch {
	case err == nil:
		return true, nil
	case errors.Is(err, ErrNotFound):
		return false, nil
	}
	return false, err
}

// Describe returns the descriptor of a: media type, digest and size.
func Describe(a image.Artifact) (v1.Descriptor, error) { return image.Describe(a) }
