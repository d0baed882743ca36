package snapshot

// Snapshotter keeps one directory per layer of the images it has prepared,
// keyed by chain ID, below its root:
//
//	ROOT/sha256/CHAINID/fs      the layer's files, whiteouts in overlay form
//	ROOT/sha256/CHAINID/diffid  the layer's diff ID
//	ROOT/tmp/                   unpacking in progress (removed by Prune when stale)
//	ROOT/locks/                 one lock file per chain ID
//
// A directory under ROOT/sha256 appears by an atomic rename once complete,
// so its presence means it is whole. Several processes may share a root.
type Snapshotter struct {
	root string
}

// Root returns the directory the snapshotter keeps its layers in.
func (s *Snapshotter) Root() string { return s.root }
