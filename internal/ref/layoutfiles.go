package ref

import (
	"io"
	"os"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/partial"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/manyarch/manyarch/internal/image"
	"github.com/manyarch/manyarch/internal/store"
)

// Pushing from a local layout (the store, or an oci: directory), manyarch
// hands the registry the blob files themselves rather than readers that hash
// every byte on the way: the registry computes each uploaded blob's digest
// and refuses a mismatch when the upload is committed, so hashing here too
// would only double the CPU a push costs. Manifests and configs are still
// read through the verified path (they are small and their digests are the
// ones pushed).

// LayoutFiles wraps a, read from a store or an oci: layout, so that a push
// sends layers whose blobs are whole files in one of layouts from those
// files, unhashed (the registry checks the digest when the upload is
// committed); other layers, manifests and configs are read as a reads them.
func LayoutFiles(a image.Artifact, layouts ...store.Layout) image.Artifact {
	if len(layouts) == 0 {
		return a
	}
	switch v := a.(type) {
	case v1.ImageIndex:
		return rawIndex{v, layouts}
	case v1.Image:
		return rawImage{v, layouts}
	}
	return a
}

type rawIndex struct {
	idx     v1.ImageIndex
	layouts []store.Layout
}

func (x rawIndex) MediaType() (types.MediaType, error)       { return x.idx.MediaType() }
func (x rawIndex) Digest() (v1.Hash, error)                  { return x.idx.Digest() }
func (x rawIndex) Size() (int64, error)                      { return x.idx.Size() }
func (x rawIndex) IndexManifest() (*v1.IndexManifest, error) { return x.idx.IndexManifest() }
func (x rawIndex) RawManifest() ([]byte, error)              { return x.idx.RawManifest() }

func (x rawIndex) Image(h v1.Hash) (v1.Image, error) {
	img, err := x.idx.Image(h)
	if err != nil {
		return nil, err
	}
	return rawImage{img, x.layouts}, nil
}

func (x rawIndex) ImageIndex(h v1.Hash) (v1.ImageIndex, error) {
	idx, err := x.idx.ImageIndex(h)
	if err != nil {
		return nil, err
	}
	return rawIndex{idx, x.layouts}, nil
}

type rawImage struct {
	v1.Image
	layouts []store.Layout
}

func (i rawImage) Layers() ([]v1.Layer, error) {
	ls, err := i.Image.Layers()
	if err != nil {
		return nil, err
	}
	out := make([]v1.Layer, len(ls))
	for n, l := range ls {
		out[n] = rawLayer{l, i.layouts}
	}
	return out, nil
}

func (i rawImage) LayerByDigest(h v1.Hash) (v1.Layer, error) {
	l, err := i.Image.LayerByDigest(h)
	if err != nil {
		return nil, err
	}
	return rawLayer{l, i.layouts}, nil
}

// ConfigLayer keeps the config on the verified path.
func (i rawImage) ConfigLayer() (v1.Layer, error) { return partial.ConfigLayer(i.Image) }

type rawLayer struct {
	v1.Layer
	layouts []store.Layout
}

// Compressed opens the blob's file when a layout has it whole, and falls back
// to the layer's own reader otherwise.
func (l rawLayer) Compressed() (io.ReadCloser, error) {
	h, err := l.Digest()
	if err != nil {
		return l.Layer.Compressed()
	}
	size, err := l.Size()
	if err != nil {
		return l.Layer.Compressed()
	}
	for _, d := range l.layouts {
		f, err := os.Open(d.Blob(h))
		if err != nil {
			continue
		}
		if fi, err := f.Stat(); err == nil && fi.Mode().IsRegular() && fi.Size() == size {
			return f, nil
		}
		f.Close()
	}
	return l.Layer.Compressed()
}
