package store

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"sync"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/partial"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"golang.org/x/sync/errgroup"
)

// manifestish is the union of the fields of an OCI/Docker image manifest and
// index that the store follows: enough to find every referenced blob of any
// artifact, image or not.
type manifestish struct {
	MediaType types.MediaType `json:"mediaType"`
	Config    *v1.Descriptor  `json:"config,omitempty"`
	Layers    []v1.Descriptor `json:"layers,omitempty"`
	Blobs     []v1.Descriptor `json:"blobs,omitempty"` // OCI artifact manifest (withdrawn draft)
	Manifests []v1.Descriptor `json:"manifests,omitempty"`
}

func parseManifestish(b []byte) (*manifestish, error) {
	var m manifestish
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, err
	}
	if m.MediaType == "" {
		switch {
		case m.Manifests != nil:
			m.MediaType = types.OCIImageIndex
		case m.Config != nil && m.Config.Digest.Hex != "":
			m.MediaType = types.OCIManifestSchema1
		}
	}
	return &m, nil
}

func isIndex(mt types.MediaType) bool {
	return mt == types.OCIImageIndex || mt == types.DockerManifestList
}

func isImage(mt types.MediaType) bool {
	return mt == types.OCIManifestSchema1 || mt == types.DockerManifestSchema2
}

// isForeign reports layers that registries need not serve (URLs in the descriptor).
func isForeign(d v1.Descriptor) bool {
	return len(d.URLs) > 0 || d.MediaType == types.DockerForeignLayer ||
		d.MediaType == types.OCIRestrictedLayer || d.MediaType == types.OCIUncompressedRestrictedLayer
}

// WriteImage writes img's layers (up to WithJobs at once, skipping blobs that
// are present), then its config, then its manifest, and returns the manifest's
// descriptor (media type, size, digest; no platform). Manifest and config are
// stored byte for byte as img serializes them, so digests are preserved.
// A foreign layer the source cannot provide is skipped (it is served from its
// URLs). Idempotent; a nil error promises every blob the manifest references is
// present, so the descriptor can be tagged. Not atomic as a whole: after an
// error some blobs may be present, unreferenced, until GC.
func (s *Store) WriteImage(ctx context.Context, img v1.Image) (v1.Descriptor, error) {
	unlock, err := s.shared(ctx)
	if err != nil {
		return v1.Descriptor{}, fmt.Errorf("writing image: %w", err)
	}
	defer unlock()
	return s.writeImage(ctx, img)
}

func (s *Store) writeImage(ctx context.Context, img v1.Image) (v1.Descriptor, error) {
	raw, err := img.RawManifest()
	if err != nil {
		return v1.Descriptor{}, fmt.Errorf("writing image: reading its manifest: %w", err)
	}
	dgst, size, err := v1.SHA256(bytes.NewReader(raw))
	if err != nil {
		return v1.Descriptor{}, fmt.Errorf("writing image: %w", err)
	}
	m, err := parseManifestish(raw)
	if err != nil {
		return v1.Descriptor{}, fmt.Errorf("writing image %s: parsing manifest: %w", dgst, err)
	}
	mt, err := img.MediaType()
	if err != nil || mt == "" {
		mt = m.MediaType
	}
	if mt == "" {
		mt = types.OCIManifestSchema1
	}

	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(s.opts.jobs)
	for _, l := range append(append([]v1.Descriptor{}, m.Layers...), m.Blobs...) {
		g.Go(func() error {
			if err := s.writeImageBlob(gctx, img, l); err != nil {
				return fmt.Errorf("writing image %s: layer %s: %w", dgst, l.Digest, err)
			}
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return v1.Descriptor{}, err
	}

	if m.Config != nil {
		if err := s.writeConfig(ctx, img, *m.Config); err != nil {
			return v1.Descriptor{}, fmt.Errorf("writing image %s: config %s: %w", dgst, m.Config.Digest, err)
		}
	}
	if _, err := s.writeBlob(ctx, bytes.NewReader(raw), dgst, size); err != nil {
		return v1.Descriptor{}, fmt.Errorf("writing image %s: manifest: %w", dgst, err)
	}
	return v1.Descriptor{MediaType: mt, Size: size, Digest: dgst}, nil
}

func (s *Store) writeConfig(ctx context.Context, img v1.Image, d v1.Descriptor) error {
	if _, ok, err := s.hasBlob(d.Digest); err == nil && ok && !s.opts.verifyExisting {
		return nil
	}
	rawCfg, err := img.RawConfigFile()
	if err == nil {
		if h, _, herr := v1.SHA256(bytes.NewReader(rawCfg)); herr == nil && h == d.Digest {
			_, err = s.writeBlob(ctx, bytes.NewReader(rawCfg), d.Digest, d.Size)
			return err
		}
	}
	// Not an image config (an artifact) or one the source re-serializes:
	// fetch the blob the manifest names.
	return s.writeImageBlob(ctx, img, d)
}

func (s *Store) writeImageBlob(ctx context.Context, img v1.Image, d v1.Descriptor) error {
	if d.Size >= 0 && !s.opts.verifyExisting {
		if n, ok, err := s.hasBlob(d.Digest); err != nil {
			return err
		} else if ok && n == d.Size {
			return nil
		}
	}
	l, err := img.LayerByDigest(d.Digest)
	if err != nil {
		if isForeign(d) {
			s.opts.logger.DebugContext(ctx, "skipping foreign layer", "digest", d.Digest.String())
			return nil
		}
		return err
	}
	rc, err := l.Compressed()
	if err != nil {
		if isForeign(d) {
			s.opts.logger.DebugContext(ctx, "skipping foreign layer", "digest", d.Digest.String())
			return nil
		}
		return err
	}
	_, err = s.writeBlob(ctx, rc, d.Digest, d.Size)
	if cerr := rc.Close(); err == nil && cerr != nil {
		err = cerr
	}
	return err
}

// blobSource is implemented by indexes that can hand out any blob by digest
// (ggcr's layout index, this store's index): artifact children are copied raw.
type blobSource interface {
	Blob(v1.Hash) (io.ReadCloser, error)
}

// WriteIndex writes every child of idx (images, nested indexes, and other
// artifacts such as attestation manifests with the blobs they reference), then
// the index manifest itself, and returns its descriptor. Children are written
// before their parents, so a nil error promises the whole tree is present.
// Idempotent; not atomic as a whole (see WriteImage).
func (s *Store) WriteIndex(ctx context.Context, idx v1.ImageIndex) (v1.Descriptor, error) {
	unlock, err := s.shared(ctx)
	if err != nil {
		return v1.Descriptor{}, fmt.Errorf("writing index: %w", err)
	}
	defer unlock()
	return s.writeIndex(ctx, idx)
}

func (s *Store) writeIndex(ctx context.Context, idx v1.ImageIndex) (v1.Descriptor, error) {
	raw, err := idx.RawManifest()
	if err != nil {
		return v1.Descriptor{}, fmt.Errorf("writing index: reading its manifest: %w", err)
	}
	dgst, size, err := v1.SHA256(bytes.NewReader(raw))
	if err != nil {
		return v1.Descriptor{}, fmt.Errorf("writing index: %w", err)
	}
	m, err := parseManifestish(raw)
	if err != nil {
		return v1.Descriptor{}, fmt.Errorf("writing index %s: parsing: %w", dgst, err)
	}
	mt, err := idx.MediaType()
	if err != nil || mt == "" {
		mt = m.MediaType
	}
	if mt == "" {
		mt = types.OCIImageIndex
	}
	for _, c := range m.Manifests {
		if err := s.writeChild(ctx, idx, c); err != nil {
			return v1.Descriptor{}, fmt.Errorf("writing index %s: child %s (%s): %w", dgst, c.Digest, c.MediaType, err)
		}
	}
	if _, err := s.writeBlob(ctx, bytes.NewReader(raw), dgst, size); err != nil {
		return v1.Descriptor{}, fmt.Errorf("writing index %s: %w", dgst, err)
	}
	return v1.Descriptor{MediaType: mt, Size: size, Digest: dgst}, nil
}

func (s *Store) writeChild(ctx context.Context, idx v1.ImageIndex, c v1.Descriptor) error {
	if err := checkHash(c.Digest); err != nil {
		return err
	}
	switch {
	case isIndex(c.MediaType):
		child, err := idx.ImageIndex(c.Digest)
		if err != nil {
			return err
		}
		_, err = s.writeIndex(ctx, child)
		return err
	case isImage(c.MediaType):
		img, err := idx.Image(c.Digest)
		if err != nil {
			return err
		}
		_, err = s.writeImage(ctx, img)
		return err
	}
	// Any other artifact: copy its raw manifest and the blobs it references.
	if bs, ok := idx.(blobSource); ok {
		return s.writeRawArtifact(ctx, bs, c)
	}
	img, err := idx.Image(c.Digest)
	if err != nil {
		return fmt.Errorf("artifact of media type %s cannot be read from this source: %w", c.MediaType, err)
	}
	_, err = s.writeImage(ctx, img)
	return err
}

func (s *Store) writeRawArtifact(ctx context.Context, bs blobSource, c v1.Descriptor) error {
	copyBlob := func(d v1.Descriptor) ([]byte, error) {
		rc, err := bs.Blob(d.Digest)
		if err != nil {
			return nil, err
		}
		defer rc.Close()
		var buf *bytes.Buffer
		r := io.Reader(rc)
		if d.Digest == c.Digest {
			buf = new(bytes.Buffer)
			r = io.TeeReader(rc, buf)
		}
		if _, err := s.writeBlob(ctx, r, d.Digest, d.Size); err != nil {
			return nil, err
		}
		if buf == nil {
			return nil, nil
		}
		return buf.Bytes(), nil
	}
	if err := checkManifestSize(c.Digest, c.Size); err != nil {
		return err
	}
	raw, err := s.readManifest(ctx, c.Digest, c.Size)
	if err != nil {
		// Not here yet: copy it (keeping the bytes to parse).
		if raw, err = copyBlob(c); err != nil {
			return err
		}
		if raw == nil { // written concurrently by another writer
			if raw, err = s.readManifest(ctx, c.Digest, c.Size); err != nil {
				return err
			}
		}
	}
	m, err := parseManifestish(raw)
	if err != nil {
		return fmt.Errorf("parsing manifest %s: %w", c.Digest, err)
	}
	var refs []v1.Descriptor
	if m.Config != nil {
		refs = append(refs, *m.Config)
	}
	refs = append(append(refs, m.Layers...), m.Blobs...)
	for _, d := range refs {
		if n, ok, err := s.hasBlob(d.Digest); err == nil && ok && n == d.Size {
			continue
		}
		if _, err := copyBlob(d); err != nil {
			if isForeign(d) {
				continue
			}
			return fmt.Errorf("blob %s: %w", d.Digest, err)
		}
	}
	for _, d := range m.Manifests {
		if err := s.writeRawArtifact(ctx, bs, d); err != nil {
			return err
		}
	}
	return nil
}

// Image returns the image whose manifest is blob h. The manifest is read and
// verified now; config and layers are read, verified, when asked for. A layer
// blob that is missing or damaged is an error naming its digest when it is read
// (a *MissingBlobError or *CorruptBlobError). Manifest and config are the
// stored bytes, so the image's digest is h.
func (s *Store) Image(ctx context.Context, h v1.Hash) (v1.Image, error) {
	raw, err := s.readManifest(ctx, h, -1)
	if err != nil {
		return nil, fmt.Errorf("reading image %s: %w", h, err)
	}
	return s.imageFromRaw(ctx, h, raw, "")
}

func (s *Store) imageFromRaw(ctx context.Context, h v1.Hash, raw []byte, mt types.MediaType) (v1.Image, error) {
	var m v1.Manifest
	if err := json.Unmarshal(raw, &m); err != nil {
		return nil, fmt.Errorf("reading image %s: parsing manifest: %w", h, err)
	}
	if mt == "" {
		mt = m.MediaType
	}
	if mt == "" {
		mt = types.OCIManifestSchema1
	}
	if isIndex(mt) {
		return nil, fmt.Errorf("reading image %s: it is an index (%s), not an image; use Index", h, mt)
	}
	img, err := partial.CompressedToImage(&storeImage{s: s, ctx: ctx, digest: h, raw: raw, mt: mt, manifest: &m})
	if err != nil {
		return nil, fmt.Errorf("reading image %s: %w", h, err)
	}
	return img, nil
}

// storeImage is the partial.CompressedImageCore of an image in the store.
// ggcr's interfaces take no context; the ctx of the Image call is kept for the
// image's reads, which is the documented way such a view is used.
type storeImage struct {
	s        *Store
	ctx      context.Context
	digest   v1.Hash
	raw      []byte
	mt       types.MediaType
	manifest *v1.Manifest

	cfgOnce sync.Once
	cfg     []byte
	cfgErr  error
}

var _ partial.CompressedImageCore = (*storeImage)(nil)

func (i *storeImage) RawManifest() ([]byte, error)        { return i.raw, nil }
func (i *storeImage) MediaType() (types.MediaType, error) { return i.mt, nil }
func (i *storeImage) Manifest() (*v1.Manifest, error)     { return i.manifest.DeepCopy(), nil }
func (i *storeImage) Digest() (v1.Hash, error)            { return i.digest, nil }
func (i *storeImage) Size() (int64, error)                { return int64(len(i.raw)), nil }

func (i *storeImage) RawConfigFile() ([]byte, error) {
	i.cfgOnce.Do(func() {
		c := i.manifest.Config
		i.cfg, i.cfgErr = i.s.readBlob(i.ctx, c.Digest, c.Size)
		if i.cfgErr != nil {
			i.cfgErr = fmt.Errorf("reading config of image %s: %w", i.digest, i.cfgErr)
		}
	})
	return i.cfg, i.cfgErr
}

func (i *storeImage) LayerByDigest(h v1.Hash) (partial.CompressedLayer, error) {
	if h == i.manifest.Config.Digest {
		return &storeLayer{s: i.s, ctx: i.ctx, desc: i.manifest.Config}, nil
	}
	for n, d := range i.manifest.Layers {
		if d.Digest == h {
			return &storeLayer{s: i.s, ctx: i.ctx, desc: d, img: i, index: n}, nil
		}
	}
	return nil, fmt.Errorf("image %s has no layer %s: %w", i.digest, h, ErrNotFound)
}

// storeLayer is a blob of an image in the store, described by its manifest.
type storeLayer struct {
	s    *Store
	ctx  context.Context
	desc v1.Descriptor
	// img and index locate a layer (not the config) in its image, so its
	// diff ID comes from the config instead of from hashing the whole
	// uncompressed layer, which go-containerregistry would do otherwise.
	img   *storeImage
	index int
}

// DiffID returns the layer's diff ID as the image config records it. The
// snapshotter checks it against the content when it unpacks the layer.
func (l *storeLayer) DiffID() (v1.Hash, error) {
	if l.img == nil {
		return l.desc.Digest, nil // the config blob is its own diff ID
	}
	raw, err := l.img.RawConfigFile()
	if err != nil {
		return v1.Hash{}, err
	}
	cf, err := v1.ParseConfigFile(bytes.NewReader(raw))
	if err != nil {
		return v1.Hash{}, fmt.Errorf("parsing config of image %s: %w", l.img.digest, err)
	}
	if l.index >= len(cf.RootFS.DiffIDs) {
		return v1.Hash{}, fmt.Errorf("image %s: config lists %d diff IDs for %d layers", l.img.digest, len(cf.RootFS.DiffIDs), len(l.img.manifest.Layers))
	}
	return cf.RootFS.DiffIDs[l.index], nil
}

func (l *storeLayer) Digest() (v1.Hash, error)            { return l.desc.Digest, nil }
func (l *storeLayer) Size() (int64, error)                { return l.desc.Size, nil }
func (l *storeLayer) MediaType() (types.MediaType, error) { return l.desc.MediaType, nil }
func (l *storeLayer) Descriptor() (*v1.Descriptor, error) { d := l.desc; return &d, nil }
func (l *storeLayer) Exists() (bool, error) {
	_, ok, err := l.s.hasBlob(l.desc.Digest)
	return ok, err
}

func (l *storeLayer) Compressed() (io.ReadCloser, error) {
	var urls []string
	if isForeign(l.desc) {
		urls = l.desc.URLs
	}
	return l.s.openBlobFrom(l.ctx, l.desc.Digest, l.desc.Size, urls)
}

// Index returns the index whose manifest is blob h, with children read from the
// store (verified) and Blob for any blob by digest.
func (s *Store) Index(ctx context.Context, h v1.Hash) (v1.ImageIndex, error) {
	raw, err := s.readManifest(ctx, h, -1)
	if err != nil {
		return nil, fmt.Errorf("reading index %s: %w", h, err)
	}
	return s.indexFromRaw(ctx, h, raw, "")
}

func (s *Store) indexFromRaw(ctx context.Context, h v1.Hash, raw []byte, mt types.MediaType) (v1.ImageIndex, error) {
	var m v1.IndexManifest
	if err := json.Unmarshal(raw, &m); err != nil {
		return nil, fmt.Errorf("reading index %s: parsing: %w", h, err)
	}
	if mt == "" {
		mt = m.MediaType
	}
	if mt == "" {
		mt = types.OCIImageIndex
	}
	if !isIndex(mt) {
		return nil, fmt.Errorf("reading index %s: it is %s, not an index; use Image", h, mt)
	}
	return &storeIndex{s: s, ctx: ctx, digest: h, raw: raw, mt: mt, manifest: &m}, nil
}

type storeIndex struct {
	s        *Store
	ctx      context.Context
	digest   v1.Hash
	raw      []byte
	mt       types.MediaType
	manifest *v1.IndexManifest
}

var (
	_ v1.ImageIndex = (*storeIndex)(nil)
	_ blobSource    = (*storeIndex)(nil)
)

func (x *storeIndex) MediaType() (types.MediaType, error) { return x.mt, nil }
func (x *storeIndex) Digest() (v1.Hash, error)            { return x.digest, nil }
func (x *storeIndex) Size() (int64, error)                { return int64(len(x.raw)), nil }
func (x *storeIndex) RawManifest() ([]byte, error)        { return x.raw, nil }
func (x *storeIndex) IndexManifest() (*v1.IndexManifest, error) {
	return x.manifest.DeepCopy(), nil
}

func (x *storeIndex) child(h v1.Hash) (v1.Descriptor, []byte, error) {
	for _, d := range x.manifest.Manifests {
		if d.Digest == h {
			raw, err := x.s.readManifest(x.ctx, h, d.Size)
			return d, raw, err
		}
	}
	return v1.Descriptor{}, nil, fmt.Errorf("index %s has no child %s: %w", x.digest, h, ErrNotFound)
}

func (x *storeIndex) Image(h v1.Hash) (v1.Image, error) {
	d, raw, err := x.child(h)
	if err != nil {
		return nil, err
	}
	return x.s.imageFromRaw(x.ctx, h, raw, d.MediaType)
}

func (x *storeIndex) ImageIndex(h v1.Hash) (v1.ImageIndex, error) {
	d, raw, err := x.child(h)
	if err != nil {
		return nil, err
	}
	return x.s.indexFromRaw(x.ctx, h, raw, d.MediaType)
}

// Blob opens any blob of the store, verified.
func (x *storeIndex) Blob(h v1.Hash) (io.ReadCloser, error) {
	return x.s.openBlob(x.ctx, h, -1)
}
