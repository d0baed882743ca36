package snapshot

import (
	"os"
	"sync"
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
	lease   *os.File // the shared lock on ROOT/lease.lock, once taken
}

// Root returns the directory the snapshotter keeps its layers in.
func (s *Snapshotter) Root() string { return s.root }

// PruneStats says what PruneUnused removed.
type PruneStats struct {
	Removed int   // layer directories
	Bytes   int64 // the sizes of their files
}
