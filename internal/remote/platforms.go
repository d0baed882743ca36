package remote

import (
	"bytes"
	"encoding/json"
	"fmt"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/types"
	specs "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/manyarch/manyarch/internal/image"
	"github.com/manyarch/manyarch/internal/platform"
)

// selectPlatforms narrows a to the platforms in want (WithPlatforms), with the semantics of
// `docker buildx imagetools create --platform`: for an index the result is an
// index of the same media type and annotations holding every matching image
// (nested indexes are flattened), each followed by the attestation manifests
// that describe it; for an image, the image itself when its config's platform
// matches. Nothing matching is an error wrapping ErrNoMatchingPlatform that
// lists what is there. Platforms are chosen by platform.Select with
// platform.Only, as everywhere in manyarch (linux/armel is linux/arm/v5).
func selectPlatforms(a image.Artifact, want []specs.Platform) (image.Artifact, error) {
	if len(want) == 0 {
		return a, nil
	}
	switch a := a.(type) {
	case v1.Image:
		cf, err := a.ConfigFile()
		if err != nil {
			return nil, fmt.Errorf("reading image config: %w", err)
		}
		have := specs.Platform{OS: cf.OS, Architecture: cf.Architecture, Variant: cf.Variant}
		if len(platform.Select([]specs.Platform{have}, want, platform.Only).All) > 0 {
			return a, nil
		}
		return nil, fmt.Errorf("%w: the image is %s, not %s", ErrNoMatchingPlatform, platform.Format(have), platform.FormatList(want))
	case v1.ImageIndex:
		return selectIndex(a, want)
	}
	return nil, fmt.Errorf("%w: %T is neither an image nor an index", ErrUnsupportedMediaType, a)
}

type leaf struct {
	desc v1.Descriptor
	img  v1.Image
}

// flatten lists every image in idx, depth first in manifest order.
func flatten(idx v1.ImageIndex, depth int) ([]leaf, error) {
	budget := maxIndexEntries
	return flattenBudget(idx, depth, &budget)
}

// flattenBudget is flatten visiting at most *budget descriptors in all: an
// index listing a nested index many times, each listing another many times,
// would otherwise cost a fetch for every path through the tree.
func flattenBudget(idx v1.ImageIndex, depth int, budget *int) ([]leaf, error) {
	if depth > 8 {
		return nil, fmt.Errorf("indexes nested more than 8 deep")
	}
	im, err := idx.IndexManifest()
	if err != nil {
		return nil, fmt.Errorf("reading index manifest: %w", err)
	}
	var out []leaf
	for _, d := range im.Manifests {
		if *budget--; *budget < 0 {
			return nil, fmt.Errorf("the index and its nested indexes list more than %d manifests in all: %w", maxIndexEntries, ErrTooLarge)
		}
		switch {
		case d.MediaType.IsIndex():
			child, err := idx.ImageIndex(d.Digest)
			if err != nil {
				return nil, fmt.Errorf("reading nested index %s: %w", d.Digest, err)
			}
			ls, err := flattenBudget(child, depth+1, budget)
			if err != nil {
				return nil, err
			}
			out = append(out, ls...)
		case d.MediaType.IsImage():
			img, err := idx.Image(d.Digest)
			if err != nil {
				return nil, fmt.Errorf("reading image %s: %w", d.Digest, err)
			}
			out = append(out, leaf{desc: d, img: img})
		default:
			return nil, fmt.Errorf("%w: descriptor %s has media type %q", ErrUnsupportedMediaType, d.Digest, d.MediaType)
		}
	}
	return out, nil
}

// leafPlatform is the platform of an index entry: its descriptor's, or when
// the descriptor has none, its config's.
func leafPlatform(l leaf) (specs.Platform, error) {
	if l.desc.Platform != nil {
		return image.SpecPlatform(*l.desc.Platform), nil
	}
	cf, err := l.img.ConfigFile()
	if err != nil {
		return specs.Platform{}, fmt.Errorf("reading config of %s: %w", l.desc.Digest, err)
	}
	return specs.Platform{OS: cf.OS, Architecture: cf.Architecture, Variant: cf.Variant, OSVersion: cf.OSVersion, OSFeatures: cf.OSFeatures}, nil
}

func selectIndex(idx v1.ImageIndex, want []specs.Platform) (v1.ImageIndex, error) {
	leaves, err := flatten(idx, 0)
	if err != nil {
		return nil, err
	}
	attest := map[string][]leaf{}
	var images []leaf
	var have []specs.Platform
	for _, l := range leaves {
		if image.IsAttestation(l.desc) {
			ref := l.desc.Annotations[image.AnnotationReferenceDigest]
			attest[ref] = append(attest[ref], l)
			continue
		}
		p, err := leafPlatform(l)
		if err != nil {
			return nil, err
		}
		images = append(images, l)
		have = append(have, p)
	}
	var kept []leaf
	for _, i := range platform.Select(have, want, platform.Only).All {
		kept = append(kept, images[i])
	}
	if len(kept) == 0 {
		return nil, fmt.Errorf("%w: the index has %s, not %s", ErrNoMatchingPlatform, platform.FormatList(have), platform.FormatList(want))
	}
	mt, err := idx.MediaType()
	if err != nil {
		return nil, fmt.Errorf("reading index media type: %w", err)
	}
	im, err := idx.IndexManifest()
	if err != nil {
		return nil, fmt.Errorf("reading index manifest: %w", err)
	}
	sel := &selectedIndex{images: map[v1.Hash]v1.Image{}, manifest: &v1.IndexManifest{SchemaVersion: 2, MediaType: mt, Annotations: im.Annotations}}
	add := func(l leaf) {
		sel.manifest.Manifests = append(sel.manifest.Manifests, l.desc)
		sel.images[l.desc.Digest] = l.img
	}
	for _, l := range kept {
		add(l)
		for _, a := range attest[l.desc.Digest.String()] {
			add(a)
		}
	}
	// Descriptors are copied as they are: mutate.AppendManifests would add an
	// artifactType to plain images, which some readers (skopeo 1.9) drop,
	// changing the digest when they copy the index.
	if sel.raw, err = json.Marshal(sel.manifest); err != nil {
		return nil, fmt.Errorf("encoding the selected index: %w", err)
	}
	if sel.digest, sel.size, err = v1.SHA256(bytes.NewReader(sel.raw)); err != nil {
		return nil, err
	}
	return sel, nil
}

// selectedIndex is an index of images chosen from another.
type selectedIndex struct {
	raw      []byte
	manifest *v1.IndexManifest
	digest   v1.Hash
	size     int64
	images   map[v1.Hash]v1.Image
}

var _ v1.ImageIndex = (*selectedIndex)(nil)

func (s *selectedIndex) MediaType() (types.MediaType, error)       { return s.manifest.MediaType, nil }
func (s *selectedIndex) Digest() (v1.Hash, error)                  { return s.digest, nil }
func (s *selectedIndex) Size() (int64, error)                      { return s.size, nil }
func (s *selectedIndex) RawManifest() ([]byte, error)              { return s.raw, nil }
func (s *selectedIndex) IndexManifest() (*v1.IndexManifest, error) { return s.manifest.DeepCopy(), nil }

func (s *selectedIndex) Image(h v1.Hash) (v1.Image, error) {
	if img, ok := s.images[h]; ok {
		return img, nil
	}
	return nil, fmt.Errorf("image %s: not in this index", h)
}

func (s *selectedIndex) ImageIndex(h v1.Hash) (v1.ImageIndex, error) {
	return nil, fmt.Errorf("index %s: a platform selection holds only images", h)
}
