package ref

import (
	"bytes"
	"cmp"
	"context"
	"fmt"
	"io"
	"slices"
	"sync"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/types"
	specs "github.com/opencontainers/image-spec/specs-go/v1"
	"golang.org/x/sync/errgroup"

	"github.com/manyarch/manyarch/internal/image"
	"github.com/manyarch/manyarch/internal/platform"
	"github.com/manyarch/manyarch/internal/progress"
	"github.com/manyarch/manyarch/internal/remote"
	"github.com/manyarch/manyarch/internal/store"
)

// Pull writes a, read from a registry, into st under names (store names,
// see ResolveStore): first every manifest under a (jobs at a time, each
// fetched once), then every blob st lacks from src, jobs at a time with
// progress events and retries of transient failures, then the manifests, the
// source repository (for `manyarch check --repair`) and the names, all in
// one store transaction so GC cannot take the blobs in between. The store
// checks every blob against its digest as it writes it.
func Pull(ctx context.Context, st *store.Store, a image.Artifact, names []string, blobs *remote.Blobs, jobs int, send progress.Func) (v1.Descriptor, error) {
	var desc v1.Descriptor
	err := st.Transaction(ctx, func(ctx context.Context) error {
		a, err := prefetch(ctx, a, jobs, 0)
		if err != nil {
			return err
		}
		list, err := blobsOf(a)
		if err != nil {
			return err
		}
		if err := fetchBlobs(ctx, st, a, list, blobs, jobs, send); err != nil {
			return err
		}
		switch v := a.(type) {
		case v1.ImageIndex:
			desc, err = st.WriteIndex(ctx, v)
		case v1.Image:
			desc, err = st.WriteImage(ctx, v)
		default:
			err = fmt.Errorf("%T is neither an image nor an index", a)
		}
		if err != nil {
			return err
		}
		// Where it came from, for `manyarch check --repair`.
		if err := st.SetSource(ctx, desc.Digest, blobs.Repository()); err != nil {
			return err
		}
		for _, n := range names {
			if err := st.Tag(ctx, n, desc); err != nil {
				return err
			}
		}
		return nil
	})
	return desc, err
}

// pullBlob is one blob to fetch.
type pullBlob struct {
	desc     v1.Descriptor
	name     string
	platform string
}

// blobsOf lists the distributable blobs under a, each once, in manifest order.
func blobsOf(a image.Artifact) ([]pullBlob, error) {
	var out []pullBlob
	seen := map[v1.Hash]bool{}
	var walk func(a image.Artifact, plat string, depth int) error
	walk = func(a image.Artifact, plat string, depth int) error {
		if depth > 8 {
			return fmt.Errorf("indexes nested more than 8 deep")
		}
		switch v := a.(type) {
		case v1.ImageIndex:
			im, err := v.IndexManifest()
			if err != nil {
				return err
			}
			for _, d := range im.Manifests {
				p := ""
				if d.Platform != nil && !image.IsAttestation(d) {
					p = d.Platform.String()
				}
				switch {
				case d.MediaType.IsIndex():
					c, err := v.ImageIndex(d.Digest)
					if err != nil {
						return err
					}
					if err := walk(c, p, depth+1); err != nil {
						return err
					}
				case d.MediaType.IsImage():
					c, err := v.Image(d.Digest)
					if err != nil {
						return err
					}
					if err := walk(c, p, depth+1); err != nil {
						return err
					}
				}
			}
		case v1.Image:
			m, err := v.Manifest()
			if err != nil {
				return err
			}
			add := func(d v1.Descriptor, label string) {
				if seen[d.Digest] || !d.MediaType.IsDistributable() {
					return
				}
				seen[d.Digest] = true
				out = append(out, pullBlob{desc: d, name: label, platform: plat})
			}
			add(m.Config, "config")
			for i, l := range m.Layers {
				add(l, fmt.Sprintf("layer %d/%d", i+1, len(m.Layers)))
			}
		}
		return nil
	}
	plat := ""
	if img, ok := a.(v1.Image); ok {
		if cf, err := img.ConfigFile(); err == nil && cf.OS != "" {
			plat = platform.Format(specs.Platform{OS: cf.OS, Architecture: cf.Architecture, Variant: cf.Variant})
		}
	}
	return out, walk(a, plat, 0)
}

// fetchBlobs copies the blobs st lacks from src, jobs at a time, retrying
// transient failures as src's requests are (a connection dropped mid-blob
// restarts that blob). The
// store checks every blob against its digest as it writes it; the blobs
// become durable and named together at the end (store.BlobBatch), so no
// download waits for the disk, with a's manifests (children before parents,
// after the blobs they list), which the store then has when a is written.
func fetchBlobs(ctx context.Context, st *store.Store, a image.Artifact, blobs []pullBlob, src *remote.Blobs, jobs int, send progress.Func) error {
	batch, err := st.NewBlobBatch(ctx)
	if err != nil {
		return err
	}
	defer batch.Abort()
	var missing []pullBlob
	for _, b := range blobs {
		ev := progress.Event{ID: b.desc.Digest.String(), Kind: progress.KindBlob, Name: b.name, Platform: b.platform, Total: b.desc.Size}
		if n, ok, err := st.HasBlob(ctx, b.desc.Digest); err == nil && ok && n == b.desc.Size {
			ev.Status, ev.Current = progress.StatusExists, b.desc.Size
			send.Send(ev)
			continue
		}
		ev.Status = progress.StatusWaiting
		send.Send(ev)
		missing = append(missing, b)
	}
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(jobs)
	for _, b := range fetchOrder(missing) {
		ev := progress.Event{ID: b.desc.Digest.String(), Kind: progress.KindBlob, Name: b.name, Platform: b.platform, Total: b.desc.Size}
		g.Go(func() error {
			start := time.Now()
			err := src.Retry(gctx, func() error { return fetchBlob(gctx, batch, src, b, ev, send) }, func(err error) {
				ev.Status, ev.Err = progress.StatusRetrying, err
				send.Send(ev)
			})
			if err != nil {
				ev.Status, ev.Err = progress.StatusFailed, err
				send.Send(ev)
				what := b.name
				if b.platform != "" {
					what = b.platform + " " + b.name
				}
				return fmt.Errorf("fetching %s (%s): %w", what, b.desc.Digest, err)
			}
			ev.Status, ev.Current, ev.Err, ev.Duration = progress.StatusDone, b.desc.Size, nil, time.Since(start)
			send.Send(ev)
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return err
	}
	if err := stageManifests(ctx, batch, a, 0); err != nil {
		return err
	}
	return batch.Commit(ctx)
}

// fetchOrder is the order blobs are fetched in: largest first (the
// longest-first rule for jobs slots), so the big layers of every platform
// start together and the configs fill in after them, instead of a config
// holding a slot while a layer of the last platform waits; the pull ends
// when its longest download does. Equal sizes keep manifest order.
func fetchOrder(blobs []pullBlob) []pullBlob {
	out := slices.Clone(blobs)
	slices.SortStableFunc(out, func(a, b pullBlob) int { return cmp.Compare(b.desc.Size, a.desc.Size) })
	return out
}

// stageManifests writes the manifests under a (prefetched: no round trips)
// into batch, children first.
func stageManifests(ctx context.Context, batch *store.BlobBatch, a image.Artifact, depth int) error {
	if depth > 8 {
		return fmt.Errorf("indexes nested more than 8 deep")
	}
	if idx, ok := a.(v1.ImageIndex); ok {
		im, err := idx.IndexManifest()
		if err != nil {
			return err
		}
		for _, d := range im.Manifests {
			var c image.Artifact
			switch {
			case d.MediaType.IsIndex():
				c, err = idx.ImageIndex(d.Digest)
			case d.MediaType.IsImage():
				c, err = idx.Image(d.Digest)
			default:
				continue // other artifacts: the store copies them itself
			}
			if err != nil {
				return err
			}
			if err := stageManifests(ctx, batch, c, depth+1); err != nil {
				return err
			}
		}
	}
	raw, err := a.RawManifest()
	if err != nil {
		return err
	}
	h, n, err := v1.SHA256(bytes.NewReader(raw))
	if err != nil {
		return err
	}
	_, err = batch.Write(ctx, bytes.NewReader(raw), h, n)
	return err
}

func fetchBlob(ctx context.Context, batch *store.BlobBatch, src *remote.Blobs, b pullBlob, ev progress.Event, send progress.Func) error {
	rc, err := src.OpenSized(ctx, b.desc.Digest, b.desc.Size)
	if err != nil {
		return err
	}
	defer rc.Close()
	ev.Status = progress.StatusRunning
	send.Send(ev)
	_, err = batch.Write(ctx, &meter{r: rc, ev: ev, send: send}, b.desc.Digest, b.desc.Size)
	return err
}

// meter reports bytes read as running events, at most ten a second.
type meter struct {
	r    io.Reader
	ev   progress.Event
	send progress.Func
	mu   sync.Mutex
	last time.Time
}

func (m *meter) Read(p []byte) (int, error) {
	n, err := m.r.Read(p)
	m.mu.Lock()
	defer m.mu.Unlock()
	m.ev.Current += int64(n)
	if now := time.Now(); now.Sub(m.last) >= 100*time.Millisecond {
		m.last = now
		m.send.Send(m.ev)
	}
	return n, err
}

// prefetch fetches every manifest under a, jobs at a time, and returns an
// artifact that answers from what it fetched: listing the blobs and writing
// the store then cost no further round trips, and no manifest is fetched
// twice.
func prefetch(ctx context.Context, a image.Artifact, jobs, depth int) (image.Artifact, error) {
	idx, ok := a.(v1.ImageIndex)
	if !ok {
		if _, err := a.RawManifest(); err != nil {
			return nil, err
		}
		return a, nil
	}
	if depth > 8 {
		return nil, fmt.Errorf("indexes nested more than 8 deep")
	}
	im, err := idx.IndexManifest()
	if err != nil {
		return nil, err
	}
	c := &cachedIndex{idx: idx, images: map[v1.Hash]v1.Image{}, indexes: map[v1.Hash]v1.ImageIndex{}}
	children := make([]image.Artifact, len(im.Manifests))
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(jobs)
	for i, d := range im.Manifests {
		g.Go(func() error {
			var child image.Artifact
			var err error
			switch {
			case d.MediaType.IsIndex():
				child, err = idx.ImageIndex(d.Digest)
			case d.MediaType.IsImage():
				child, err = idx.Image(d.Digest)
			default:
				return nil // other artifacts: the store copies them itself
			}
			if err != nil {
				return fmt.Errorf("reading %s: %w", d.Digest, err)
			}
			if children[i], err = prefetch(gctx, child, jobs, depth+1); err != nil {
				return fmt.Errorf("reading %s: %w", d.Digest, err)
			}
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return nil, err
	}
	for i, d := range im.Manifests {
		switch v := children[i].(type) {
		case v1.ImageIndex:
			c.indexes[d.Digest] = v
		case v1.Image:
			c.images[d.Digest] = v
		}
	}
	return c, nil
}

// cachedIndex is an index whose children were fetched already.
type cachedIndex struct {
	idx     v1.ImageIndex
	images  map[v1.Hash]v1.Image
	indexes map[v1.Hash]v1.ImageIndex
}

func (c *cachedIndex) MediaType() (types.MediaType, error)       { return c.idx.MediaType() }
func (c *cachedIndex) Digest() (v1.Hash, error)                  { return c.idx.Digest() }
func (c *cachedIndex) Size() (int64, error)                      { return c.idx.Size() }
func (c *cachedIndex) IndexManifest() (*v1.IndexManifest, error) { return c.idx.IndexManifest() }
func (c *cachedIndex) RawManifest() ([]byte, error)              { return c.idx.RawManifest() }

func (c *cachedIndex) Image(h v1.Hash) (v1.Image, error) {
	if img, ok := c.images[h]; ok {
		return img, nil
	}
	return c.idx.Image(h)
}

func (c *cachedIndex) ImageIndex(h v1.Hash) (v1.ImageIndex, error) {
	if idx, ok := c.indexes[h]; ok {
		return idx, nil
	}
	return c.idx.ImageIndex(h)
}
