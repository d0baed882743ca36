package engine

import (
	"bytes"
	"encoding/json"
	"fmt"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/partial"
	"github.com/google/go-containerregistry/pkg/v1/types"
	specs "github.com/opencontainers/image-spec/specs-go/v1"
)

// imageState is a stage's image while it is being built: its layers and
// config file.
type imageState struct {
	layers []v1.Layer
	cfg    *v1.ConfigFile
	// startInterval is HEALTHCHECK --start-interval (not in ggcr's config).
	startInterval time.Duration
}

func (s *imageState) clone() *imageState {
	return &imageState{layers: append([]v1.Layer(nil), s.layers...), cfg: s.cfg.DeepCopy(), startInterval: s.startInterval}
}

// builtImage is an OCI image made of layers and an exact config JSON.
type builtImage struct {
	config   []byte
	manifest []byte
	layers   map[v1.Hash]v1.Layer
}

var _ partial.CompressedImageCore = (*builtImage)(nil)

// newImage makes an OCI image of layers and cfg. The config's RootFS is set
// from the layers.
func newImage(layers []v1.Layer, cfg *v1.ConfigFile, startInterval time.Duration, ann map[string]string) (v1.Image, error) {
	cfg = cfg.DeepCopy()
	cfg.RootFS.Type = "layers"
	cfg.RootFS.DiffIDs = nil
	m := v1.Manifest{SchemaVersion: 2, MediaType: types.OCIManifestSchema1, Annotations: ann}
	bi := &builtImage{layers: map[v1.Hash]v1.Layer{}}
	for _, l := range layers {
		l = asOCILayer(l)
		d, err := partial.Descriptor(l)
		if err != nil {
			return nil, fmt.Errorf("describing layer: %w", err)
		}
		diffID, err := l.DiffID()
		if err != nil {
			return nil, fmt.Errorf("layer %s: %w", d.Digest, err)
		}
		cfg.RootFS.DiffIDs = append(cfg.RootFS.DiffIDs, diffID)
		m.Layers = append(m.Layers, v1.Descriptor{MediaType: d.MediaType, Size: d.Size, Digest: d.Digest})
		bi.layers[d.Digest] = l
	}
	raw, err := marshalConfig(cfg, startInterval)
	if err != nil {
		return nil, err
	}
	h, size, err := v1.SHA256(bytes.NewReader(raw))
	if err != nil {
		return nil, err
	}
	m.Config = v1.Descriptor{MediaType: types.OCIConfigJSON, Size: size, Digest: h}
	mraw, err := json.Marshal(m)
	if err != nil {
		return nil, err
	}
	bi.config, bi.manifest = raw, mraw
	return partial.CompressedToImage(bi)
}

// marshalConfig writes the config file, with Healthcheck.StartInterval when
// set (go-containerregistry's HealthConfig has no such field).
func marshalConfig(cfg *v1.ConfigFile, startInterval time.Duration) ([]byte, error) {
	raw, err := json.Marshal(cfg)
	if err != nil {
		return nil, fmt.Errorf("encoding image config: %w", err)
	}
	if startInterval == 0 || cfg.Config.Healthcheck == nil {
		return raw, nil
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(raw, &m); err != nil {
		return nil, err
	}
	var c map[string]json.RawMessage
	if err := json.Unmarshal(m["config"], &c); err != nil {
		return nil, err
	}
	var hc map[string]any
	if err := json.Unmarshal(c["Healthcheck"], &hc); err != nil {
		return nil, err
	}
	hc["StartInterval"] = int64(startInterval)
	if c["Healthcheck"], err = json.Marshal(hc); err != nil {
		return nil, err
	}
	if m["config"], err = json.Marshal(c); err != nil {
		return nil, err
	}
	return json.Marshal(m)
}

func (b *builtImage) RawConfigFile() ([]byte, error)      { return b.config, nil }
func (b *builtImage) MediaType() (types.MediaType, error) { return types.OCIManifestSchema1, nil }
func (b *builtImage) RawManifest() ([]byte, error)        { return b.manifest, nil }
func (b *builtImage) LayerByDigest(h v1.Hash) (partial.CompressedLayer, error) {
	if l, ok := b.layers[h]; ok {
		return l, nil
	}
	return nil, fmt.Errorf("layer %s: not in this image", h)
}

// scratchConfig is the config a FROM scratch stage starts with.
func scratchConfig(p specs.Platform) *v1.ConfigFile {
	return &v1.ConfigFile{OS: p.OS, Architecture: p.Architecture, Variant: p.Variant, RootFS: v1.RootFS{Type: "layers"}}
}
