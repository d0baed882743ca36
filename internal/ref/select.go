package ref

import (
	"context"
	"fmt"
	"strings"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/partial"
	specs "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/manyarch/manyarch/internal/image"
	"github.com/manyarch/manyarch/internal/platform"
)

// Select narrows a to the given platforms. With no platforms it returns a.
// With one platform it returns that platform's image; with several, an index
// of those images (and their attestations) in a's order. A platform a lacks
// is an error that lists the platforms it has.
func Select(ctx context.Context, a image.Artifact, want []specs.Platform) (image.Artifact, error) {
	if len(want) == 0 {
		return a, nil
	}
	entries, err := image.Entries(ctx, a)
	if err != nil {
		return nil, err
	}
	have := make([]specs.Platform, len(entries))
	for i, e := range entries {
		have[i] = e.Platform
	}
	sel := platform.Select(have, want, platform.Only)
	if len(sel.Missing) > 0 {
		return nil, &NoPlatformError{Want: sel.Missing[0], Have: entryPlatforms(entries)}
	}
	keep := map[v1.Hash]bool{}
	var picked []image.Entry
	for _, i := range sel.Best {
		if e := entries[i]; !keep[e.Descriptor.Digest] {
			keep[e.Descriptor.Digest] = true
			picked = append(picked, e)
		}
	}
	idx, isIndex := a.(v1.ImageIndex)
	if !isIndex {
		return a, nil
	}
	if len(want) == 1 {
		return idx.Image(picked[0].Descriptor.Digest)
	}
	im, err := idx.IndexManifest()
	if err != nil {
		return nil, err
	}
	// Attestations follow the images they describe.
	for _, d := range im.Manifests {
		if image.IsAttestation(d) {
			if h, err := v1.NewHash(d.Annotations[image.AnnotationReferenceDigest]); err == nil && keep[h] {
				keep[d.Digest] = true
			}
		}
	}
	return mutate.RemoveManifests(idx, func(d v1.Descriptor) bool { return !keep[d.Digest] }), nil
}

// singleImage returns a if it is an image, or the only image of an index.
func singleImage(ctx context.Context, a image.Artifact) (v1.Image, error) {
	switch v := a.(type) {
	case v1.Image:
		return v, nil
	case v1.ImageIndex:
		entries, err := image.Entries(ctx, a)
		if err != nil {
			return nil, err
		}
		if len(entries) == 1 {
			return v.Image(entries[0].Descriptor.Digest)
		}
		return nil, fmt.Errorf("this format holds one image, and the source has %d platforms (%s): choose one with --platform",
			len(entries), strings.Join(entryPlatforms(entries), ", "))
	}
	return nil, fmt.Errorf("%T is neither an image nor an index", a)
}

func entryPlatforms(entries []image.Entry) []string {
	out := make([]string, len(entries))
	for i, e := range entries {
		out[i] = platform.Format(e.Platform)
	}
	return out
}

// NoPlatformError reports a platform that an image or index does not have.
type NoPlatformError struct {
	Want specs.Platform
	Have []string
}

func (e *NoPlatformError) Error() string {
	return fmt.Sprintf("no image for platform %s: the image has %s", platform.Format(e.Want), strings.Join(e.Have, ", "))
}

// describe returns the descriptor of a.
func describe(a image.Artifact) (v1.Descriptor, error) {
	d, err := partial.Descriptor(a)
	if err != nil {
		return v1.Descriptor{}, err
	}
	return *d, nil
}
