package remote

import (
	"bytes"
	"encoding/json"
	"io"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/partial"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// rawImage is an image made of untrusted manifest and config bytes, as a
// registry serves them; its blobs are empty.
type rawImage struct {
	manifest, config []byte
}

func (r *rawImage) RawManifest() ([]byte, error)        { return r.manifest, nil }
func (r *rawImage) RawConfigFile() ([]byte, error)      { return r.config, nil }
func (r *rawImage) MediaType() (types.MediaType, error) { return types.OCIManifestSchema1, nil }
func (r *rawImage) LayerByDigest(h v1.Hash) (partial.CompressedLayer, error) {
	return &rawLayer{h: h}, nil
}

type rawLayer struct{ h v1.Hash }

func (l *rawLayer) Digest() (v1.Hash, error) { return l.h, nil }
func (l *rawLayer) Compressed() (io.ReadCloser, error) {
	return io.NopCloser(bytes.NewReader(nil)), nil
}
func (l *rawLayer) Size() (int64, error)                { return 0, nil }
func (l *rawLayer) MediaType() (types.MediaType, error) { return types.OCILayer, nil }

// rawIndex is an index made of untrusted bytes whose children are rawImages
// of the same bytes.
type rawIndex struct{ raw []byte }

func (r *rawIndex) MediaType() (types.MediaType, error) { return types.OCIImageIndex, nil }
func (r *rawIndex) Digest() (v1.Hash, error) {
	h, _, err := v1.SHA256(bytes.NewReader(r.raw))
	return h, err
}
func (r *rawIndex) Size() (int64, error)         { return int64(len(r.raw)), nil }
func (r *rawIndex) RawManifest() ([]byte, error) { return r.raw, nil }
func (r *rawIndex) IndexManifest() (*v1.IndexManifest, error) {
	return v1.ParseIndexManifest(bytes.NewReader(r.raw))
}
func (r *rawIndex) Image(v1.Hash) (v1.Image, error) {
	return partial.CompressedToImage(&rawImage{manifest: r.raw, config: r.raw})
}
func (r *rawIndex) ImageIndex(v1.Hash) (v1.ImageIndex, error) { return r, nil }

// FuzzRegistryManifest: manifests, index manifests and configs as the
// registry client reads them (parsed by go-containerregistry, then every
// declared size checked before a fetch, then platform selection): errors,
// never panics; an accepted manifest never declares a config, layer or child
// manifest over the bounds.
func FuzzRegistryManifest(f *testing.F) {
	cfg := []byte(`{"architecture":"arm64","os":"linux","rootfs":{"type":"layers","diff_ids":[]}}`)
	h, n, _ := v1.SHA256(bytes.NewReader(cfg))
	m, _ := json.Marshal(v1.Manifest{SchemaVersion: 2, MediaType: types.OCIManifestSchema1,
		Config: v1.Descriptor{MediaType: types.OCIConfigJSON, Digest: h, Size: n},
		Layers: []v1.Descriptor{{MediaType: types.OCILayer, Digest: h, Size: 10}}})
	f.Add(m, cfg)
	idx, _ := json.Marshal(v1.IndexManifest{SchemaVersion: 2, MediaType: types.OCIImageIndex,
		Manifests: []v1.Descriptor{{MediaType: types.OCIManifestSchema1, Digest: h, Size: n, Platform: &v1.Platform{OS: "linux", Architecture: "arm64"}}}})
	f.Add(idx, cfg)
	f.Add(bytes.Replace(m, []byte(`"size":10`), []byte(`"size":10737418240`), 1), cfg)
	f.Add([]byte(`{"config":{"size":-1}}`), []byte(`null`))
	f.Add([]byte(`null`), []byte(`{"rootfs":null}`))
	f.Fuzz(func(t *testing.T, manifest, config []byte) {
		img, err := partial.CompressedToImage(&rawImage{manifest: manifest, config: config})
		if err != nil {
			return
		}
		c := checked(img).(v1.Image)
		if m, err := c.Manifest(); err == nil {
			if m.Config.Size < 0 || m.Config.Size > MaxConfigSize {
				t.Fatalf("accepted a config of %d bytes", m.Config.Size)
			}
			for _, l := range m.Layers {
				if l.Size < 0 || l.Size > MaxBlobSize {
					t.Fatalf("accepted a layer of %d bytes", l.Size)
				}
			}
			c.ConfigFile()
			c.Layers()
		}
		x := checked(&rawIndex{raw: manifest}).(v1.ImageIndex)
		if im, err := x.IndexManifest(); err == nil {
			for _, d := range im.Manifests {
				if (d.MediaType.IsImage() || d.MediaType.IsIndex()) && d.Size > MaxManifestSize {
					t.Fatalf("accepted a child manifest of %d bytes", d.Size)
				}
			}
			selectPlatforms(x, nil)
			flatten(x, 0)
		}
	})
}
