package remote

import (
	"context"
	"fmt"
	"io"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/partial"
	ggcr "github.com/google/go-containerregistry/pkg/v1/remote"
	specs "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/manyarch/manyarch/internal/image"
	"github.com/manyarch/manyarch/internal/platform"
	"github.com/manyarch/manyarch/internal/progress"
)

// Write pushes a (a v1.Image or v1.ImageIndex) to ref and returns the
// descriptor of what ref now names.
//
// The order makes a failed push harmless: a manifest is PUT only after
// everything it refers to is in the repository: an image's blobs (layers and
// config, WithJobs uploads at once over the whole push, each skipped when the
// repository has it and mounted when it comes from another repository of the
// same registry), an index's child manifests (by digest). The manifest under
// ref is PUT last. Child manifests the repository already has are not pushed
// again, nor are their blobs. When ref is a tag, the tag moves only in that
// final PUT; when ref is a digest, it must be a's digest.
//
// With WithPlatforms, a is narrowed first (see selectPlatforms), so what is
// pushed is the selection, not a.
func Write(ctx context.Context, ref string, a image.Artifact, opts ...Option) (v1.Descriptor, error) {
	o, err := makeOptions(opts)
	if err != nil {
		return v1.Descriptor{}, fmt.Errorf("pushing %s: %w", ref, err)
	}
	r, err := o.parseReference(ref)
	if err != nil {
		return v1.Descriptor{}, err
	}
	if a == nil {
		return v1.Descriptor{}, fmt.Errorf("pushing %s: nothing to push", ref)
	}
	if len(o.platforms) > 0 {
		if a, err = selectPlatforms(a, o.platforms); err != nil {
			return v1.Descriptor{}, fmt.Errorf("pushing %s: %w", ref, err)
		}
	}
	root, err := Describe(a)
	if err != nil {
		return v1.Descriptor{}, fmt.Errorf("pushing %s: %w", ref, err)
	}
	if d, ok := r.(name.Digest); ok && d.DigestStr() != root.Digest.String() {
		return v1.Descriptor{}, fmt.Errorf("pushing %s: %w: the content's digest is %s; push by tag, or name that digest", ref, ErrDigestMismatch, root.Digest)
	}
	w, err := newWriter(ctx, o, r)
	if err != nil {
		return v1.Descriptor{}, o.wrap("pushing", r, err)
	}
	if err := w.write(ctx, a, root); err != nil {
		return v1.Descriptor{}, o.wrap("pushing", r, err)
	}
	return root, nil
}

type writer struct {
	o      *options
	ref    name.Reference
	repo   name.Repository
	pusher *ggcr.Pusher
	puller *ggcr.Puller
	up     *uploader
}

func newWriter(ctx context.Context, o *options, r name.Reference) (*writer, error) {
	base := o.httpTransport() // one pool of connections for the whole push
	ropts := o.remoteOptionsWith(ctx, base)
	pusher, err := ggcr.NewPusher(ropts...)
	if err != nil {
		return nil, err
	}
	puller, err := ggcr.NewPuller(ropts...)
	if err != nil {
		return nil, err
	}
	up, err := newUploader(ctx, o, r.Context(), base)
	if err != nil {
		return nil, err
	}
	return &writer{o: o, ref: r, repo: r.Context(), pusher: pusher, puller: puller, up: up}, nil
}

// node is one manifest of the tree being pushed.
type node struct {
	a        image.Artifact
	desc     v1.Descriptor
	platform string
	children []*node
	height   int // 0 for images, 1 + the highest child for indexes
}

// blob is one layer or config to upload.
type blob struct {
	layer    v1.Layer
	digest   v1.Hash
	size     int64
	name     string
	platform string
}

func (w *writer) write(ctx context.Context, a image.Artifact, root v1.Descriptor) error {
	nodes := map[v1.Hash]*node{}
	plat := ""
	if img, ok := a.(v1.Image); ok {
		if cf, err := img.ConfigFile(); err == nil && cf.OS != "" {
			plat = platform.Format(specs.Platform{OS: cf.OS, Architecture: cf.Architecture, Variant: cf.Variant})
		}
	}
	top, err := w.plan(a, root, plat, nodes, 0)
	if err != nil {
		return err
	}

	// Is everything there already? A tag pointing at our digest means so.
	if d, err := w.puller.Head(ctx, w.ref); err == nil && d.Digest == root.Digest {
		w.o.progress.Send(progress.Event{ID: root.Digest.String(), Kind: progress.KindManifest, Status: progress.StatusExists, Name: w.ref.String(), Total: root.Size})
		return nil
	}

	// Every manifest below the top runs as its own task: check whether the
	// repository has it (then its blobs are there too: registries refuse a
	// manifest whose blobs are missing), otherwise wait for its blobs or
	// children and PUT it by digest. Blob uploads are shared between images
	// and limited to jobs per image (crane's meaning of --jobs), so a
	// platform's manifest goes up as soon as its own blobs are in, while other
	// platforms are still uploading.
	images := 0
	for _, n := range nodes {
		if n.height == 0 {
			images++
		}
	}
	ctx, cancel := context.WithCancelCause(ctx)
	p := &pipeline{w: w, sem: make(chan struct{}, w.o.jobs*max(1, images)), blobs: map[v1.Hash]*future{}, nodes: map[*node]*future{}, cancel: cancel}
	defer func() {
		cancel(nil)
		p.wg.Wait() // no task outlives Write, nor reports progress after it
	}()
	for _, n := range nodes {
		if n != top {
			p.nodes[n] = newFuture()
		}
	}
	for n, f := range p.nodes {
		p.wg.Add(1)
		go func() {
			defer p.wg.Done()
			f.finish(p.manifest(ctx, n))
		}()
	}
	if err := p.deps(ctx, top); err != nil {
		return p.cause(ctx, err)
	}
	if err := w.putManifest(ctx, w.ref, top); err != nil {
		return err
	}
	return nil
}

// future is the outcome of a task that others wait for.
type future struct {
	done chan struct{}
	err  error
}

func newFuture() *future { return &future{done: make(chan struct{})} }

func (f *future) finish(err error) {
	f.err = err
	close(f.done)
}

func (f *future) wait(ctx context.Context) error {
	select {
	case <-f.done:
		return f.err
	case <-ctx.Done():
		return context.Cause(ctx)
	}
}

// pipeline runs the uploads of one Write.
type pipeline struct {
	w      *writer
	sem    chan struct{} // requests that move data, jobs at a time
	mu     sync.Mutex
	blobs  map[v1.Hash]*future
	nodes  map[*node]*future
	cancel context.CancelCauseFunc
	wg     sync.WaitGroup
}

// fail stops every other task with err, the first failure.
func (p *pipeline) fail(err error) error {
	p.cancel(err)
	return err
}

// cause prefers the failure that stopped the pipeline to the cancellation it
// caused elsewhere.
func (p *pipeline) cause(ctx context.Context, err error) error {
	if c := context.Cause(ctx); c != nil && c != context.Canceled {
		return c
	}
	return err
}

func (p *pipeline) acquire(ctx context.Context) error {
	select {
	case p.sem <- struct{}{}:
		return nil
	case <-ctx.Done():
		return context.Cause(ctx)
	}
}

func (p *pipeline) release() { <-p.sem }

// manifest makes sure child manifest n is in the repository.
func (p *pipeline) manifest(ctx context.Context, n *node) error {
	w := p.w
	ref := w.repo.Digest(n.desc.Digest.String())
	if err := p.acquire(ctx); err != nil {
		return err
	}
	d, err := w.puller.Head(ctx, ref)
	p.release()
	switch {
	case err == nil && d.Digest == n.desc.Digest:
		w.o.progress.Send(progress.Event{ID: n.desc.Digest.String(), Kind: progress.KindManifest, Status: progress.StatusExists, Name: ref.String(), Platform: n.platform, Current: n.desc.Size, Total: n.desc.Size})
		return nil
	case err != nil && !isNotFound(err):
		return p.fail(fmt.Errorf("checking manifest %s: %w", n.desc.Digest, err))
	}
	if err := p.deps(ctx, n); err != nil {
		return err
	}
	if err := p.acquire(ctx); err != nil {
		return err
	}
	defer p.release()
	if err := w.putManifest(ctx, ref, n); err != nil {
		return p.fail(err)
	}
	return nil
}

// deps waits until everything n refers to is in the repository: its
// children for an index, its blobs for an image.
func (p *pipeline) deps(ctx context.Context, n *node) error {
	var fs []*future
	if _, ok := n.a.(v1.Image); ok {
		bs, err := p.w.imageBlobs(n)
		if err != nil {
			return p.fail(err)
		}
		for _, b := range bs {
			fs = append(fs, p.blob(ctx, b))
		}
	}
	for _, c := range n.children {
		fs = append(fs, p.nodes[c])
	}
	for _, f := range fs {
		if err := f.wait(ctx); err != nil {
			return err
		}
	}
	return nil
}

// blob starts uploading b unless another image already did.
func (p *pipeline) blob(ctx context.Context, b blob) *future {
	p.mu.Lock()
	f, ok := p.blobs[b.digest]
	if !ok {
		f = newFuture()
		p.blobs[b.digest] = f
	}
	p.mu.Unlock()
	if ok {
		return f
	}
	p.w.o.progress.Send(progress.Event{ID: b.digest.String(), Kind: progress.KindBlob, Status: progress.StatusWaiting, Name: b.name, Platform: b.platform, Total: b.size})
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		if err := p.acquire(ctx); err != nil {
			f.finish(err)
			return
		}
		err := p.w.upload(ctx, b)
		p.release()
		if err != nil {
			err = p.fail(err)
		}
		f.finish(err)
	}()
	return f
}

// imageBlobs lists the distributable blobs of image node n: config first.
func (w *writer) imageBlobs(n *node) ([]blob, error) {
	img := n.a.(v1.Image)
	ls, err := img.Layers()
	if err != nil {
		return nil, fmt.Errorf("listing layers of %s: %w", n.desc.Digest, err)
	}
	cl, err := partial.ConfigLayer(img)
	if err != nil {
		return nil, fmt.Errorf("reading config of %s: %w", n.desc.Digest, err)
	}
	var out []blob
	for i, l := range append([]v1.Layer{cl}, ls...) {
		mt, err := l.MediaType()
		if err != nil {
			return nil, fmt.Errorf("reading media type of a layer of %s: %w", n.desc.Digest, err)
		}
		if !mt.IsDistributable() {
			continue // foreign layers stay where they are
		}
		h, err := l.Digest()
		if err != nil {
			return nil, fmt.Errorf("computing digest of a layer of %s: %w", n.desc.Digest, err)
		}
		size, err := l.Size()
		if err != nil {
			return nil, fmt.Errorf("computing size of %s: %w", h, err)
		}
		label := "config"
		if i > 0 {
			label = fmt.Sprintf("layer %d/%d", i, len(ls))
		}
		out = append(out, blob{layer: l, digest: h, size: size, name: label, platform: n.platform})
	}
	return out, nil
}

// upload puts one blob in the repository (skipped when it is there, mounted
// when it comes from another repository of the registry) with progress.
func (w *writer) upload(ctx context.Context, b blob) error {
	start := time.Now()
	pl := &progressLayer{Layer: b.layer, b: b, send: w.o.progress}
	var l v1.Layer = pl
	if ml, ok := b.layer.(*ggcr.MountableLayer); ok {
		pl.Layer = ml.Layer
		l = &ggcr.MountableLayer{Layer: pl, Reference: ml.Reference}
	}
	res, err := w.up.upload(ctx, l, b.digest, b.size)
	ev := progress.Event{ID: b.digest.String(), Kind: progress.KindBlob, Name: b.name, Platform: b.platform, Total: b.size, Duration: time.Since(start)}
	switch {
	case err != nil:
		ev.Status, ev.Err = progress.StatusFailed, err
		w.o.progress.Send(ev)
		what := b.name
		if b.platform != "" {
			what = b.platform + " " + b.name
		}
		return fmt.Errorf("uploading %s (%s): %w", what, b.digest, err)
	case res == existed:
		ev.Status, ev.Current = progress.StatusExists, b.size
	case res == mounted:
		ev.Status, ev.Current = progress.StatusMounted, b.size
	default:
		ev.Status, ev.Current = progress.StatusDone, b.size
	}
	w.o.progress.Send(ev)
	return nil
}

// plan builds the tree of manifests under a, sharing nodes by digest.
func (w *writer) plan(a image.Artifact, desc v1.Descriptor, plat string, nodes map[v1.Hash]*node, depth int) (*node, error) {
	if n, ok := nodes[desc.Digest]; ok {
		return n, nil
	}
	if depth > 8 {
		return nil, fmt.Errorf("indexes nested more than 8 deep at %s", desc.Digest)
	}
	n := &node{a: a, desc: desc, platform: plat}
	nodes[desc.Digest] = n
	idx, ok := a.(v1.ImageIndex)
	if !ok {
		if _, ok := a.(v1.Image); !ok {
			return nil, fmt.Errorf("%w: %s is a %T, neither an image nor an index", ErrUnsupportedMediaType, desc.Digest, a)
		}
		return n, nil
	}
	im, err := idx.IndexManifest()
	if err != nil {
		return nil, fmt.Errorf("reading index %s: %w", desc.Digest, err)
	}
	for _, d := range im.Manifests {
		var child image.Artifact
		switch {
		case d.MediaType.IsIndex():
			child, err = idx.ImageIndex(d.Digest)
		case d.MediaType.IsImage():
			child, err = idx.Image(d.Digest)
		default:
			return nil, fmt.Errorf("%w: index %s lists %s with media type %q; only images and indexes can be pushed", ErrUnsupportedMediaType, desc.Digest, d.Digest, d.MediaType)
		}
		if err != nil {
			return nil, fmt.Errorf("reading %s of index %s: %w", d.Digest, desc.Digest, err)
		}
		p := ""
		switch {
		case image.IsAttestation(d):
			p = "attestation"
		case d.Platform != nil:
			p = platform.Format(image.SpecPlatform(*d.Platform))
		}
		c, err := w.plan(child, d, p, nodes, depth+1)
		if err != nil {
			return nil, err
		}
		n.children = append(n.children, c)
		if c.height+1 > n.height {
			n.height = c.height + 1
		}
	}
	return n, nil
}

func (w *writer) putManifest(ctx context.Context, ref name.Reference, n *node) error {
	start := time.Now()
	ev := progress.Event{ID: n.desc.Digest.String(), Kind: progress.KindManifest, Name: ref.String(), Platform: n.platform, Total: n.desc.Size}
	if err := w.pusher.Put(ctx, ref, n.a); err != nil {
		ev.Status, ev.Err = progress.StatusFailed, err
		w.o.progress.Send(ev)
		return fmt.Errorf("putting manifest %s: %w", ref, err)
	}
	ev.Status, ev.Current, ev.Duration = progress.StatusDone, n.desc.Size, time.Since(start)
	w.o.progress.Send(ev)
	return nil
}

func isNotFound(err error) bool {
	te := asTransportError(err)
	return te != nil && (te.StatusCode == 404 || hasCode(te, "MANIFEST_UNKNOWN") || hasCode(te, "NAME_UNKNOWN"))
}

// progressLayer reports bytes read from a layer as progress events.
type progressLayer struct {
	v1.Layer
	b      blob
	send   progress.Func
	opened atomic.Int32
}

func (l *progressLayer) Compressed() (io.ReadCloser, error) {
	rc, err := l.Layer.Compressed()
	if err != nil {
		return nil, err
	}
	status := progress.StatusRunning
	if l.opened.Add(1) > 1 {
		status = progress.StatusRetrying
	}
	l.send.Send(progress.Event{ID: l.b.digest.String(), Kind: progress.KindBlob, Status: status, Name: l.b.name, Platform: l.b.platform, Total: l.b.size})
	return &countingReader{rc: rc, l: l}, nil
}

type countingReader struct {
	rc   io.ReadCloser
	l    *progressLayer
	n    int64
	last time.Time
	mu   sync.Mutex
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.rc.Read(p)
	c.count(int64(n))
	return n, err
}

func (c *countingReader) sendFile() *os.File { return bodyFile(c.rc) }

func (c *countingReader) sent(n int64) {
	bodySent(c.rc, n)
	c.count(n)
}

// count adds n bytes and reports them, at most ten times a second.
func (c *countingReader) count(n int64) {
	c.mu.Lock()
	c.n += n
	now := time.Now()
	emit := now.Sub(c.last) >= 100*time.Millisecond
	if emit {
		c.last = now
	}
	cur := c.n
	c.mu.Unlock()
	if emit && c.l.send != nil {
		b := c.l.b
		c.l.send.Send(progress.Event{Time: now, ID: b.digest.String(), Kind: progress.KindBlob, Status: progress.StatusRunning, Name: b.name, Platform: b.platform, Current: cur, Total: b.size})
	}
}

func (c *countingReader) Close() error { return c.rc.Close() }
