package index

import (
	"bytes"
	"encoding/json"
	"fmt"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/partial"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// Child is one manifest of an index made by New: the image or index it
// points at, and the descriptor fields to record for it (Platform,
// Annotations; MediaType, Digest and Size are taken from the artifact when
// empty).
type Child struct {
	Artifact   partial.Describable
	Descriptor v1.Descriptor
}

// New returns an index of the given children, in order, with media type mt
// (types.OCIImageIndex or types.DockerManifestList) and annotations.
//
// Unlike go-containerregistry's mutate.AppendManifests it records exactly the
// descriptor fields given: in particular no artifactType for plain images,
// which the image spec reserves for artifacts and which older readers
// (skopeo 1.9) drop, changing the index digest when they copy it.
func New(mt types.MediaType, annotations map[string]string, children ...Child) (v1.ImageIndex, error) {
	im := v1.IndexManifest{SchemaVersion: 2, MediaType: mt, Annotations: annotations}
	ri := &rawIndex{children: map[v1.Hash]partial.Describable{}}
	for i, c := range children {
		d := c.Descriptor
		var err error
		if d.MediaType == "" {
			if d.MediaType, err = c.Artifact.MediaType(); err != nil {
				return nil, fmt.Errorf("child %d: %w", i, err)
			}
		}
		if d.Digest == (v1.Hash{}) {
			if d.Digest, err = c.Artifact.Digest(); err != nil {
				return nil, fmt.Errorf("child %d: %w", i, err)
			}
		}
		if d.Size == 0 {
			if d.Size, err = c.Artifact.Size(); err != nil {
				return nil, fmt.Errorf("child %d: %w", i, err)
			}
		}
		im.Manifests = append(im.Manifests, d)
		ri.children[d.Digest] = c.Artifact
	}
	raw, err := json.Marshal(im)
	if err != nil {
		return nil, err
	}
	h, size, err := v1.SHA256(bytes.NewReader(raw))
	if err != nil {
		return nil, err
	}
	ri.raw, ri.manifest, ri.digest, ri.size = raw, &im, h, size
	return ri, nil
}

// rawIndex is an index whose manifest bytes are fixed and whose children are
// held in memory (they may themselves be lazy).
type rawIndex struct {
	raw      []byte
	manifest *v1.IndexManifest
	digest   v1.Hash
	size     int64
	children map[v1.Hash]partial.Describable
}

var _ v1.ImageIndex = (*rawIndex)(nil)

func (r *rawIndex) MediaType() (types.MediaType, error) { return r.manifest.MediaType, nil }
func (r *rawIndex) Digest() (v1.Hash, error)            { return r.digest, nil }
func (r *rawIndex) Size() (int64, error)                { return r.size, nil }
func (r *rawIndex) RawManifest() ([]byte, error)        { return r.raw, nil }
func (r *rawIndex) IndexManifest() (*v1.IndexManifest, error) {
	return r.manifest.DeepCopy(), nil
}

func (r *rawIndex) Image(h v1.Hash) (v1.Image, error) {
	if img, ok := r.children[h].(v1.Image); ok {
		return img, nil
	}
	return nil, fmt.Errorf("image %s: not in this index", h)
}

func (r *rawIndex) ImageIndex(h v1.Hash) (v1.ImageIndex, error) {
	if idx, ok := r.children[h].(v1.ImageIndex); ok {
		return idx, nil
	}
	return nil, fmt.Errorf("index %s: not in this index", h)
}
