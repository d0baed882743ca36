package remote

import (
	"fmt"
	"io"
	"net/http"
	"net/netip"
	"strings"
	"sync"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/partial"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/manyarch/manyarch/internal/image"
)

// Bounds on what a registry may make us read. A registry is untrusted: it
// chooses the manifests, and through them every size this package reads.
const (
	// MaxManifestSize is the largest manifest or index read (containerd's bound).
	MaxManifestSize = 4 << 20
	// MaxConfigSize is the largest image config read; configs are read whole
	// into memory. Real ones are kilobytes, a long history a few hundred.
	MaxConfigSize = 32 << 20
	// MaxBlobSize is the largest layer or other blob a descriptor may declare.
	MaxBlobSize = 64 << 30
	// MaxRedirects is how many redirects one request may follow, as Go's
	// http.Client allows by default.
	MaxRedirects = 10
	// maxIndexEntries bounds the descriptors of one index.
	maxIndexEntries = 10000
)

// SizeError reports a size over one of the bounds above: a descriptor that
// declares it (nothing was fetched), or a response that is longer.
type SizeError struct {
	What   string // "manifest", "config", "layer", "blob"
	Where  string // URL or digest
	Size   int64  // declared or read so far (at least)
	Limit  int64
	Source string // "declares" or "sends"
}

func (e *SizeError) Error() string {
	if e.Size < 0 {
		return fmt.Sprintf("%s %s declares a negative size (%d): the manifest is malformed; nothing was fetched", e.What, e.Where, e.Size)
	}
	return fmt.Sprintf("%s %s %s %d bytes (%s), over the %s limit for a %s: the registry or the image is broken or hostile; nothing was stored",
		e.What, e.Where, e.Source, e.Size, formatBytes(e.Size), formatBytes(e.Limit), e.What)
}

// Is makes a SizeError match ErrTooLarge.
func (e *SizeError) Is(target error) bool { return target == ErrTooLarge }

// RedirectError reports a redirect chain longer than MaxRedirects (a loop).
type RedirectError struct {
	URL  string // the request that started the chain
	Hops int    // redirects followed before the one refused
}

func (e *RedirectError) Error() string {
	return fmt.Sprintf("%s: stopped after %d redirects (a redirect loop?); the registry is misconfigured or hostile", e.URL, e.Hops)
}

// Is makes a RedirectError match ErrTooManyRedirects.
func (e *RedirectError) Is(target error) bool { return target == ErrTooManyRedirects }

func formatBytes(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit && exp < 5; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}

// redirectHops counts the redirects that led to req: an http.Client sets
// Response on every request it makes to follow a redirect, and that
// response's Request is the previous hop. The walk is bounded.
func redirectHops(req *http.Request) (int, *http.Request) {
	hops, first := 0, req
	for r := req; r.Response != nil && r.Response.Request != nil && hops <= MaxRedirects; r = r.Response.Request {
		hops++
		first = r.Response.Request
	}
	return hops, first
}

// checkRedirect is the CheckRedirect of the clients this package makes
// itself: at most MaxRedirects, and no redirect from one host to a private,
// loopback or link-local address literal of another (an SSRF to a cloud
// metadata service), as go-containerregistry's own clients check.
func checkRedirect(req *http.Request, via []*http.Request) error {
	if len(via) >= MaxRedirects {
		return &RedirectError{URL: via[0].URL.Redacted(), Hops: len(via)}
	}
	if len(via) == 0 {
		return nil
	}
	from, to := via[0].URL.Hostname(), req.URL.Hostname()
	if privateHop(from, to) {
		return fmt.Errorf("redirect from %q to the private address %q refused (SSRF protection)", from, to)
	}
	return nil
}

// privateHop reports whether going from host from to host to leads to
// another host at a private, loopback or link-local address: a registry must
// not send us (with a blob or credentials) into the network we sit in.
func privateHop(from, to string) bool {
	if from == to {
		return false
	}
	a, err := netip.ParseAddr(to)
	return err == nil && (a.IsPrivate() || a.IsLoopback() || a.IsLinkLocalUnicast() || a.IsLinkLocalMulticast() || a.IsUnspecified())
}

// isManifestRequest reports whether req (the first of its redirect chain)
// fetches a manifest or an index of referrers.
func isManifestRequest(req *http.Request) bool {
	if req.Method != http.MethodGet {
		return false
	}
	// /v2/NAME/manifests/REFERENCE (or the referrers index of a digest):
	// NAME may itself hold a "manifests" component, a reference never a '/'.
	parts := strings.Split(req.URL.Path, "/")
	return len(parts) >= 4 && parts[1] == "v2" && (parts[len(parts)-2] == "manifests" || parts[len(parts)-2] == "referrers")
}

// limitBody fails a read once more than limit bytes arrive.
type limitBody struct {
	rc    io.ReadCloser
	n     int64
	limit int64
	err   func(n int64) error
}

func (l *limitBody) Read(p []byte) (int, error) {
	if l.n > l.limit {
		return 0, l.err(l.n)
	}
	if rest := l.limit + 1 - l.n; int64(len(p)) > rest {
		p = p[:rest]
	}
	n, err := l.rc.Read(p)
	l.n += int64(n)
	if l.n > l.limit {
		return n, l.err(l.n)
	}
	return n, err
}

func (l *limitBody) Close() error { return l.rc.Close() }

// checkDescriptor checks a descriptor's declared size against the bound for
// what it describes, before anything is fetched.
func checkDescriptor(what string, d v1.Descriptor) error {
	limit := int64(MaxBlobSize)
	switch {
	case d.MediaType.IsIndex() || d.MediaType.IsImage() || d.MediaType.IsSchema1():
		what, limit = "manifest", MaxManifestSize
	case what == "config":
		limit = MaxConfigSize
	}
	if d.Size < 0 || d.Size > limit {
		return &SizeError{What: what, Where: d.Digest.String(), Size: d.Size, Limit: limit, Source: "declares"}
	}
	return nil
}

func checkImageManifest(m *v1.Manifest) error {
	if err := checkDescriptor("config", m.Config); err != nil {
		return err
	}
	if len(m.Layers) > maxIndexEntries {
		return fmt.Errorf("the manifest lists %d layers, over the limit of %d: %w", len(m.Layers), maxIndexEntries, ErrTooLarge)
	}
	for _, l := range m.Layers {
		if err := checkDescriptor("layer", l); err != nil {
			return err
		}
	}
	return nil
}

func checkIndexManifest(m *v1.IndexManifest) error {
	if len(m.Manifests) > maxIndexEntries {
		return fmt.Errorf("the index lists %d manifests, over the limit of %d: %w", len(m.Manifests), maxIndexEntries, ErrTooLarge)
	}
	for _, d := range m.Manifests {
		if err := checkDescriptor("manifest", d); err != nil {
			return err
		}
	}
	return nil
}

// checked wraps an artifact read from a registry so that every declared size
// is checked against the bounds before the blob it describes is fetched.
func checked(a image.Artifact) image.Artifact {
	switch a := a.(type) {
	case v1.Image:
		return &checkedImage{Image: a}
	case v1.ImageIndex:
		return &checkedIndex{inner: a}
	}
	return a
}

// checkedImage is a v1.Image whose manifest's sizes are checked once, before
// its config or layers are read.
type checkedImage struct {
	v1.Image
	once sync.Once
	err  error
}

var _ v1.Image = (*checkedImage)(nil)

func (c *checkedImage) check() error {
	c.once.Do(func() {
		m, err := c.Image.Manifest()
		if err != nil {
			c.err = err
			return
		}
		c.err = checkImageManifest(m)
	})
	return c.err
}

func (c *checkedImage) Manifest() (*v1.Manifest, error) {
	if err := c.check(); err != nil {
		return nil, err
	}
	return c.Image.Manifest()
}

func (c *checkedImage) RawConfigFile() ([]byte, error) {
	if err := c.check(); err != nil {
		return nil, err
	}
	return c.Image.RawConfigFile()
}

func (c *checkedImage) ConfigFile() (*v1.ConfigFile, error) {
	if err := c.check(); err != nil {
		return nil, err
	}
	return c.Image.ConfigFile()
}

func (c *checkedImage) Layers() ([]v1.Layer, error) {
	if err := c.check(); err != nil {
		return nil, err
	}
	return c.Image.Layers()
}

func (c *checkedImage) LayerByDigest(h v1.Hash) (v1.Layer, error) {
	if err := c.check(); err != nil {
		return nil, err
	}
	return c.Image.LayerByDigest(h)
}

func (c *checkedImage) LayerByDiffID(h v1.Hash) (v1.Layer, error) {
	if err := c.check(); err != nil {
		return nil, err
	}
	return c.Image.LayerByDiffID(h)
}

// ConfigLayer keeps the config mountable across repositories when pushed.
func (c *checkedImage) ConfigLayer() (v1.Layer, error) {
	if err := c.check(); err != nil {
		return nil, err
	}
	return partial.ConfigLayer(c.Image)
}

// Descriptor keeps the descriptor an index gave the image.
func (c *checkedImage) Descriptor() (*v1.Descriptor, error) { return partial.Descriptor(c.Image) }

// checkedIndex is a v1.ImageIndex whose entries' sizes are checked before a
// child is fetched, and whose children are checked in turn.
type checkedIndex struct {
	inner v1.ImageIndex
	once  sync.Once
	err   error
}

var _ v1.ImageIndex = (*checkedIndex)(nil)

func (c *checkedIndex) check() error {
	c.once.Do(func() {
		m, err := c.inner.IndexManifest()
		if err != nil {
			c.err = err
			return
		}
		c.err = checkIndexManifest(m)
	})
	return c.err
}

func (c *checkedIndex) MediaType() (types.MediaType, error) { return c.inner.MediaType() }
func (c *checkedIndex) Digest() (v1.Hash, error)            { return c.inner.Digest() }
func (c *checkedIndex) Size() (int64, error)                { return c.inner.Size() }
func (c *checkedIndex) RawManifest() ([]byte, error)        { return c.inner.RawManifest() }

func (c *checkedIndex) IndexManifest() (*v1.IndexManifest, error) {
	if err := c.check(); err != nil {
		return nil, err
	}
	return c.inner.IndexManifest()
}

func (c *checkedIndex) Image(h v1.Hash) (v1.Image, error) {
	if err := c.check(); err != nil {
		return nil, err
	}
	img, err := c.inner.Image(h)
	if err != nil {
		return nil, err
	}
	return &checkedImage{Image: img}, nil
}

func (c *checkedIndex) ImageIndex(h v1.Hash) (v1.ImageIndex, error) {
	if err := c.check(); err != nil {
		return nil, err
	}
	idx, err := c.inner.ImageIndex(h)
	if err != nil {
		return nil, err
	}
	return &checkedIndex{inner: idx}, nil
}

// Descriptor keeps the descriptor a parent index gave this one.
func (c *checkedIndex) Descriptor() (*v1.Descriptor, error) { return partial.Descriptor(c.inner) }
