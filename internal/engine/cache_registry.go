package engine

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/partial"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/manyarch/manyarch/internal/remote"
)

// The registry cache (--cache-to/--cache-from type=registry,ref=REF) is one
// OCI image manifest at REF: its config (cacheConfigMediaType) maps cache
// keys to records (layer digest, diff ID, size, media type) and its layers
// are exactly the layer blobs those records name, deduplicated and sorted by
// digest. The keys of every target platform share the one image (the
// platform is part of each key), so a cache written by a multi-platform
// build serves each platform alone. Imported layers are fetched lazily, on a
// miss in the store, verified while written into it, and recorded there.
const cacheConfigMediaType types.MediaType = "application/vnd.manyarch.buildcache.config.v1+json"

type registryCacheConfig struct {
	Records map[string]cacheRecord `json:"records"`
}

// registryCache is an imported --cache-from type=registry.
type registryCache struct {
	ref     string
	records map[string]cacheRecord
	blobs   *remote.Blobs
}

// registryRef checks a type=registry cache option and returns its ref.
func registryRef(flag string, o Output, extra ...string) (string, error) {
	if o.Dest != "" {
		return "", fmt.Errorf("%w: %s type=registry: unknown option dest (want ref=REF)", ErrBadOutput, flag)
	}
	keys := make([]string, 0, len(o.Attrs))
	for k := range o.Attrs {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		if k != "ref" && !slices.Contains(extra, k) {
			return "", fmt.Errorf("%w: %s type=registry: unknown option %s (want ref=REF)", ErrBadOutput, flag, k)
		}
	}
	if m, ok := o.Attrs["mode"]; ok && m != "min" && m != "max" {
		return "", fmt.Errorf("%w: %s type=registry: mode=%s: want min or max", ErrBadOutput, flag, m)
	}
	ref := o.Attrs["ref"]
	if ref == "" {
		return "", fmt.Errorf("%w: %s type=registry needs ref=REGISTRY/REPO:TAG", ErrBadOutput, flag)
	}
	return ref, nil
}

// openRegistryCache reads the cache image at ref; a missing ref is (nil, nil).
func (n *Native) openRegistryCache(ctx context.Context, ref string) (*registryCache, error) {
	opts := n.remoteOptions()
	a, _, err := remote.Read(ctx, ref, opts...)
	if errors.Is(err, remote.ErrNotFound) {
		n.log.Warn("--cache-from: no build cache there yet; building without it", "ref", ref)
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("--cache-from %s: %w", ref, err)
	}
	img, ok := a.(v1.Image)
	if !ok {
		return nil, fmt.Errorf("--cache-from %s: %w: not a manyarch build cache (an image index)", ref, ErrBadOutput)
	}
	m, err := img.Manifest()
	if err != nil {
		return nil, fmt.Errorf("--cache-from %s: reading manifest: %w", ref, err)
	}
	if m.Config.MediaType != cacheConfigMediaType {
		return nil, fmt.Errorf("--cache-from %s: %w: not a manyarch build cache (config media type %s, want %s)", ref, ErrBadOutput, m.Config.MediaType, cacheConfigMediaType)
	}
	b, err := img.RawConfigFile()
	if err != nil {
		return nil, fmt.Errorf("--cache-from %s: reading cache config: %w", ref, err)
	}
	var cfg registryCacheConfig
	if err := json.Unmarshal(b, &cfg); err != nil {
		return nil, fmt.Errorf("--cache-from %s: parsing cache config: %w", ref, err)
	}
	if bad := dropUnusableRecords(cfg.Records); len(bad) > 0 {
		n.log.Warn("--cache-from: ignoring records that declare no usable layer", "ref", ref, "count", len(bad), "first", bad[0])
	}
	blobs, err := remote.OpenBlobs(ctx, ref, opts...)
	if err != nil {
		return nil, fmt.Errorf("--cache-from %s: %w", ref, err)
	}
	return &registryCache{ref: ref, records: cfg.Records, blobs: blobs}, nil
}

// dropUnusableRecords removes from recs, and returns sorted, the keys of
// records a cache registry may not make us fetch: a layer must declare its
// size (1 byte to remote.MaxBlobSize: -1, "unknown", would let the registry
// send up to the cap and would be exported again as a size of -1), a sha256
// digest and diff ID, and a layer media type.
func dropUnusableRecords(recs map[string]cacheRecord) []string {
	var bad []string
	for k, r := range recs {
		if r.Size <= 0 || r.Size > remote.MaxBlobSize || r.Digest.Algorithm != "sha256" ||
			r.DiffID.Algorithm != "sha256" || !r.MediaType.IsLayer() {
			bad = append(bad, k)
			delete(recs, k)
		}
	}
	slices.Sort(bad)
	return bad
}

func (n *Native) remoteOptions() []remote.Option {
	var opts []remote.Option
	if n.opts.Env != nil {
		opts = append(opts, n.opts.Env.Remote...)
	}
	return append(opts, remote.WithLogger(n.log))
}

// registryGet imports key's record from a --cache-from type=registry: the
// layer is fetched into the store (verified) and the record written there.
func (x *executor) registryGet(ctx context.Context, key string) (cacheRecord, bool) {
	for _, rc := range x.regFrom {
		r, ok := rc.records[key]
		if !ok || r.Digest.Hex == "" {
			continue
		}
		if n, has, err := x.st.HasBlob(ctx, r.Digest); err != nil || !has || n != r.Size {
			body, err := rc.blobs.OpenSized(ctx, r.Digest, r.Size)
			if err != nil {
				x.n.log.Warn("importing build cache", "key", key, "from", rc.ref, "err", err)
				continue
			}
			_, err = x.st.WriteBlob(ctx, body, r.Digest, r.Size)
			body.Close()
			if err != nil {
				x.n.log.Warn("importing build cache", "key", key, "from", rc.ref, "err", err)
				continue
			}
		}
		if err := writeRecord(ctx, x.st, key, r); err != nil {
			x.n.log.Warn("recording build cache", "key", key, "err", err)
		}
		return r, true
	}
	return cacheRecord{}, false
}

// CacheExportError is a failed --cache-to type=registry: the image was
// built and its outputs written; only the cache export failed.
type CacheExportError struct {
	Ref string
	Err error
}

func (e *CacheExportError) Error() string {
	return fmt.Sprintf("the image was built and its outputs written, but exporting the build cache to %s failed: %v", e.Ref, e.Err)
}

func (e *CacheExportError) Unwrap() error { return e.Err }

// exportRegistryCache pushes the records the build used to each --cache-to
// type=registry ref.
func (x *executor) exportRegistryCache(ctx context.Context) error {
	if len(x.regTo) == 0 {
		return nil
	}
	img, err := x.cacheImage()
	if err != nil {
		return &CacheExportError{Ref: x.regTo[0], Err: err}
	}
	for _, ref := range x.regTo {
		if _, err := remote.Write(ctx, ref, img, x.n.remoteOptions()...); err != nil {
			return &CacheExportError{Ref: ref, Err: err}
		}
	}
	return nil
}

// cacheImage is the cache image of the records the build used.
func (x *executor) cacheImage() (v1.Image, error) {
	x.mu.Lock()
	recs := make(map[string]cacheRecord, len(x.usedRecords))
	for k, r := range x.usedRecords {
		recs[k] = r
	}
	x.mu.Unlock()
	cfg, err := json.Marshal(registryCacheConfig{Records: recs})
	if err != nil {
		return nil, err
	}
	cfgDigest, cfgSize, err := v1.SHA256(bytes.NewReader(cfg))
	if err != nil {
		return nil, err
	}
	ci := &cacheImageCore{config: cfg, layers: map[v1.Hash]v1.Layer{}}
	m := v1.Manifest{
		SchemaVersion: 2,
		MediaType:     types.OCIManifestSchema1,
		Config:        v1.Descriptor{MediaType: cacheConfigMediaType, Size: cfgSize, Digest: cfgDigest},
		Layers:        []v1.Descriptor{},
	}
	for _, r := range recs {
		if _, ok := ci.layers[r.Digest]; ok {
			continue
		}
		ci.layers[r.Digest] = &storeLayer{st: x.st, digest: r.Digest, diffID: r.DiffID, size: r.Size, mt: r.MediaType}
		m.Layers = append(m.Layers, v1.Descriptor{MediaType: r.MediaType, Size: r.Size, Digest: r.Digest})
	}
	slices.SortFunc(m.Layers, func(a, b v1.Descriptor) int { return compareStrings(a.Digest.String(), b.Digest.String()) })
	if ci.manifest, err = json.Marshal(m); err != nil {
		return nil, err
	}
	return partial.CompressedToImage(ci)
}

func compareStrings(a, b string) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// cacheImageCore is the cache image for partial.CompressedToImage.
type cacheImageCore struct {
	config, manifest []byte
	layers           map[v1.Hash]v1.Layer
}

func (c *cacheImageCore) RawConfigFile() ([]byte, error)      { return c.config, nil }
func (c *cacheImageCore) MediaType() (types.MediaType, error) { return types.OCIManifestSchema1, nil }
func (c *cacheImageCore) RawManifest() ([]byte, error)        { return c.manifest, nil }
func (c *cacheImageCore) LayerByDigest(h v1.Hash) (partial.CompressedLayer, error) {
	if l, ok := c.layers[h]; ok {
		return l, nil
	}
	if d, _, err := v1.SHA256(bytes.NewReader(c.config)); err == nil && d == h {
		return partial.ConfigLayer(c)
	}
	return nil, fmt.Errorf("cache image: no blob %s", h)
}

// openRegistryCaches checks and opens the type=registry entries of
// --cache-from (read now) and --cache-to (written after the outputs).
func (x *executor) openRegistryCaches(ctx context.Context, req *Request) error {
	for _, o := range req.CacheTo {
		if o.Type != "registry" {
			continue
		}
		ref, err := registryRef("--cache-to", o, "mode")
		if err != nil {
			return err
		}
		x.regTo = append(x.regTo, ref)
	}
	for _, o := range req.CacheFrom {
		if o.Type != "registry" {
			continue
		}
		ref, err := registryRef("--cache-from", o)
		if err != nil {
			return err
		}
		rc, err := x.n.openRegistryCache(ctx, ref)
		if err != nil {
			return err
		}
		if rc != nil {
			x.regFrom = append(x.regFrom, rc)
		}
	}
	return nil
}
