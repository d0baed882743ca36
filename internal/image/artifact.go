package image

import (
	"context"
	"fmt"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/partial"
	"github.com/google/go-containerregistry/pkg/v1/types"
	specs "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/manyarch/manyarch/internal/platform"
)

// Artifact is a v1.Image or a v1.ImageIndex; both satisfy it. Callers tell
// them apart with a type switch.
type Artifact interface {
	MediaType() (types.MediaType, error)
	Digest() (v1.Hash, error)
	Size() (int64, error)
	RawManifest() ([]byte, error)
}

var (
	_ Artifact = v1.Image(nil)
	_ Artifact = v1.ImageIndex(nil)
)

// Entry is one runnable image of an artifact with its platform.
type Entry struct {
	Platform   specs.Platform // normalized (platform.Normalize)
	Descriptor v1.Descriptor
}

// Entries lists the runnable images of a, with their platforms: the children
// of an index (attestations and nested indexes left out), each with its
// descriptor's platform, or the image itself with the platform of its config.
func Entries(ctx context.Context, a Artifact) ([]Entry, error) {
	switch v := a.(type) {
	case v1.ImageIndex:
		im, err := v.IndexManifest()
		if err != nil {
			return nil, fmt.Errorf("reading index manifest: %w", err)
		}
		var out []Entry
		for _, d := range im.Manifests {
			if IsAttestation(d) || !d.MediaType.IsImage() {
				continue
			}
			var p specs.Platform
			if d.Platform != nil {
				p = SpecPlatform(*d.Platform)
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

// SpecPlatform converts go-containerregistry's platform to the OCI one (not
// normalized).
func SpecPlatform(p v1.Platform) specs.Platform {
	return specs.Platform{
		OS:           p.OS,
		Architecture: p.Architecture,
		Variant:      p.Variant,
		OSVersion:    p.OSVersion,
		OSFeatures:   append([]string(nil), p.OSFeatures...),
	}
}

// Describe returns the descriptor of a: media type, digest and size.
func Describe(a Artifact) (v1.Descriptor, error) {
	mt, err := a.MediaType()
	if err != nil {
		return v1.Descriptor{}, fmt.Errorf("reading media type: %w", err)
	}
	h, err := a.Digest()
	if err != nil {
		return v1.Descriptor{}, fmt.Errorf("computing digest: %w", err)
	}
	n, err := a.Size()
	if err != nil {
		return v1.Descriptor{}, fmt.Errorf("computing size: %w", err)
	}
	return v1.Descriptor{MediaType: mt, Digest: h, Size: n}, nil
}
