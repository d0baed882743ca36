package ref

import (
	"context"
	"fmt"
	"strings"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/partial"
	specs "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/manyarch/manyarch/internal/index"
	"github.com/manyarch/manyarch/internal/platform"
)

// Entry is one runnable image of an artifact with its platform.
type Entry struct {
	Platform   specs.Platform
	Descriptor v1.Descriptor
}

// Entries lists the runnable images of a, with their platforms: the children
// of an index (attestations left out), or the image itself with the platform
// of its config.
func Entries(ctx context.Context, a Artifact) ([]Entry, error) {
	switch v := a.(type) {
	case v1.ImageIndex:
		im, err := v.IndexManifest()
		if err != nil {
			return nil, fmt.Errorf("reading index manifest: %w", err)
		}
		var out []Entry
		for _, d := range im.Manifests {
			if index.IsAttestation(d) || !d.MediaType.IsImage() {
				continue
			}
			var p specs.Platform
			if d.Platform != nil {
				p = specs.Platform{OS: d.Platform.OS, Architecture: d.Platform.Architecture, Variant: d.Platform.Variant,
					OSVersion: d.Platform.OSVersion, OSFeatures: d.Platform.OSFeatures}
			}
			out = append(out, Entry{Platform: platform.Normalize(p), Descriptor: d})
		}
		return out, nil
	case v1.Image:
		cf, err := v.ConfigFile()
		if err != nil {
			return nil, fmt.Errorf("reading image config: %w", err)
		}
		d, err := partial.Descriptor(v)
		if err != nil {
			return nil, err
		}
		p := platform.Normalize(specs.Platform{OS: cf.OS, Architecture: cf.Architecture, Variant: cf.Variant, OSVersion: cf.OSVersion, OSFeatures: cf.OSFeatures})
		return []Entry{{Platform: p, Descriptor: *d}}, nil
	}
	return nil, fmt.Errorf("%T is neither an image nor an index", a)
}

// Select narrows a to the given platforms. With no platforms it returns a.
// With one platform it returns that platform's image; with several, an index
// of those images (and their attestations) in a's order. A platform a lacks
// is an error that lists the platforms it has.
func Select(ctx context.Context, a Artifact, want []specs.Platform) (Artifact, error) {
	if len(want) == 0 {
		return a, nil
	}
	entries, err := Entries(ctx, a)
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
	var picked []Entry
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
		if index.IsAttestation(d) {
			if h, err := v1.NewHash(d.Annotations[index.AnnotationReferenceDigest]); err == nil && keep[h] {
				keep[d.Digest] = true
			}
		}
	}
	return mutate.RemoveManifests(idx, func(d v1.Descriptor) bool { return !keep[d.Digest] }), nil
}

// singleImage returns a if it is an image, or the only image of an index.
func singleImage(ctx context.Context, a Artifact) (v1.Image, error) {
	switch v := a.(type) {
	case v1.Image:
		return v, nil
	case v1.ImageIndex:
		entries, err := Entries(ctx, a)
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

func entryPlatforms(entries []Entry) []string {
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
func describe(a Artifact) (v1.Descriptor, error) {
	d, err := partial.Descriptor(a)
	if err != nil {
		return v1.Descriptor{}, err
	}
	return *d, nil
}
