package snapshot

import (
	"context"
	"fmt"
	"sync"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/manyarch/manyarch/internal/fsutil"
	"github.com/manyarch/manyarch/internal/layer"
)

// Snapshotter keeps one directory per layer of the images it has prepared,
// keyed by the layer's diff ID (the digest of its uncompressed tar), below
// its root:
//
//	ROOT/sha256/DIFFID/fs      the layer's files, whiteouts in overlay form
//	ROOT/sha256/DIFFID/diffid  the layer's diff ID
//	ROOT/tmp/                  unpacking in progress (removed by Prune when stale)
//	ROOT/locks/                one lock file per layer
//	ROOT/lease.lock            shared-locked by every Snapshotter that has
//	                           prepared layers, until Close (or its process
//	                           ends); PruneUnused needs it exclusively
//
// A layer's directory holds that layer alone (overlayfs stacks them), so it
// does not depend on the layers below: a layer that several images or
// platforms share, like a COPY of the same sources onto three platforms'
// bases, is unpacked once. (Directories used to be keyed by chain ID; such
// directories are never used again and go at the next PruneUnused.)
//
// A directory under ROOT/sha256 appears by an atomic rename once complete,
// so its presence means it is whole; its modification time is its last use.
// Several processes may share a root.
type Snapshotter struct {
	root string

	leaseMu sync.Mutex
	lease   *fsutil.Lock // the shared lock on ROOT/lease.lock, once taken
}

// Root returns the directory the snapshotter keeps its layers in.
func (s *Snapshotter) Root() string { return s.root }

// PruneStats says what PruneUnused removed.
type PruneStats struct {
	Removed int   // layer directories
	Bytes   int64 // the sizes of their files
}

// LayerError is an error unpacking one layer of an image: which layer (its
// position, blob digest and diff ID) and, when the blob itself is damaged,
// that. Prepare returns it; callers add the image name and platform.
type LayerError struct {
	Index, Count int     // 1-based position from the bottom, and the number of layers
	Digest       v1.Hash // the (compressed) blob's digest; zero when unknown
	DiffID       v1.Hash
	// BlobErr is what reading the compressed blob to its end reported when
	// unpacking failed: a damaged blob (a *store.CorruptBlobError naming the
	// images that use it), or nil when the blob is intact and the layer's
	// content is itself malformed.
	BlobErr error
	Err     error
}

func (e *LayerError) Error() string {
	what := fmt.Sprintf("layer %d of %d", e.Index, e.Count)
	if e.Digest != (v1.Hash{}) {
		what += " (" + e.Digest.String() + ")"
	}
	if e.BlobErr != nil {
		return fmt.Sprintf("%s: %v (unpacking stopped at: %v)", what, e.BlobErr, e.Err)
	}
	return fmt.Sprintf("%s, diff ID %s: %v", what, e.DiffID, e.Err)
}

// Unwrap gives both the blob's error and the unpacking error to errors.Is/As.
func (e *LayerError) Unwrap() []error {
	if e.BlobErr != nil {
		return []error{e.BlobErr, e.Err}
	}
	return []error{e.Err}
}

// layerError wraps err, from unpacking layer i of n, in a *LayerError. When
// the content did not unpack or did not match its diff ID, it reads the
// compressed blob to its end, so that a store's verifying reader can say
// whether the blob is damaged and which images use it, instead of a bare
// "invalid tar header".
func layerError(ctx context.Context, i, n int, l v1.Layer, diffID v1.Hash, err error) error {
	if ctx.Err() != nil {
		return err
	}
	le := &LayerError{Index: i + 1, Count: n, DiffID: diffID, Err: err}
	if d, derr := l.Digest(); derr == nil {
		le.Digest = d
	}
	if cerr := layer.CheckBlob(ctx, l); cerr != nil && ctx.Err() == nil {
		le.BlobErr = cerr
	}
	return le
}
