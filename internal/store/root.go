package store

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"

	v1 "github.com/google/go-containerregistry/pkg/v1"
)

// DefaultRoot returns the store root used when the user names none:
// $MANYARCH_ROOT if set; /var/lib/manyarch for root; else
// $XDG_DATA_HOME/manyarch, with XDG_DATA_HOME defaulting to ~/.local/share.
// It is the only reader of MANYARCH_ROOT; callers resolve a root through
// NewLayout.
func DefaultRoot() string {
	if r := os.Getenv("MANYARCH_ROOT"); r != "" {
		return r
	}
	if os.Geteuid() == 0 {
		return "/var/lib/manyarch"
	}
	if x := os.Getenv("XDG_DATA_HOME"); x != "" && filepath.IsAbs(x) {
		return filepath.Join(x, "manyarch")
	}
	home, err := os.UserHomeDir()
	if err != nil || home == "" {
		// No home: fall back to a per-user directory that still works.
		return filepath.Join(os.TempDir(), "manyarch-"+strconv.Itoa(os.Geteuid()), "data")
	}
	return filepath.Join(home, ".local", "share", "manyarch")
}

// The areas of a store root that other packages keep beside the OCI image
// layout. They are named here only: a package that needs one asks its
// Layout for the path.
const (
	snapshotsDir        = "snapshots"
	buildTmpDir         = "build-tmp"
	buildCacheDir       = "buildcache"
	buildCacheMountsDir = "buildcache-mounts"
	contextHashDir      = "contexthash"
	containersDir       = "containers"
	buildCacheRootsName = "buildcache-"
)

// Layout names the directories of a store root: the OCI image layout that
// the Store manages (blobs, roots, sources) and the areas other packages
// keep beside it (unpacked layers, build directories, the build cache).
// It is the one place a store area is named; code outside this package
// asks a Layout for a path instead of joining a name to the root.
//
//	ROOT/snapshots/           unpacked layer directories (package snapshot)
//	ROOT/build-tmp/build-*    one locked directory per running build
//	ROOT/buildcache/KEY.json  build cache records (GC roots: BuildCacheRoots)
//	ROOT/buildcache-mounts/   RUN --mount=type=cache directories
//	ROOT/contexthash/         remembered file sums of build contexts
//
// A Layout is a value; making one touches nothing on disk.
type Layout struct {
	root string
}

// NewLayout returns the layout of the store at root, made absolute when
// the working directory can be read. An empty root is the default one
// (DefaultRoot: $MANYARCH_ROOT, /var/lib/manyarch for root, else
// $XDG_DATA_HOME/manyarch), so a command resolves its root once, here,
// whether or not the user named one.
func NewLayout(root string) Layout {
	if root == "" {
		root = DefaultRoot()
	}
	if abs, err := filepath.Abs(root); err == nil {
		root = abs
	}
	return Layout{root: root}
}

// Layout returns the layout of the store's root.
func (s *Store) Layout() Layout { return Layout{root: s.root} }

// Root is the store root directory.
func (l Layout) Root() string { return l.root }

// Blobs is the OCI layout's blob directory (ROOT/blobs), holding
// ALGORITHM/HEX files. Only the Store writes there; others may read its
// files (push reads them raw).
func (l Layout) Blobs() string { return filepath.Join(l.root, blobsDir) }

// Blob is the file of blob h in the blob directory
// (ROOT/blobs/ALGORITHM/HEX); it may be missing.
func (l Layout) Blob(h v1.Hash) string { return filepath.Join(l.root, blobsDir, h.Algorithm, h.Hex) }

// Snapshots is the snapshotter's root (ROOT/snapshots).
func (l Layout) Snapshots() string { return filepath.Join(l.root, snapshotsDir) }

// BuildTmp holds one directory per running build (ROOT/build-tmp).
func (l Layout) BuildTmp() string { return filepath.Join(l.root, buildTmpDir) }

// BuildCache holds the build cache records (ROOT/buildcache/KEY.json).
func (l Layout) BuildCache() string { return filepath.Join(l.root, buildCacheDir) }

// BuildCacheMounts holds the RUN --mount=type=cache directories
// (ROOT/buildcache-mounts).
func (l Layout) BuildCacheMounts() string { return filepath.Join(l.root, buildCacheMountsDir) }

// Containers holds the name locks of running containers (run --name):
// ROOT/containers/NAME.lock, held while the container runs.
func (l Layout) Containers() string { return filepath.Join(l.root, containersDir) }

// ContextHash holds the remembered file sums of build contexts
// (ROOT/contexthash).
func (l Layout) ContextHash() string { return filepath.Join(l.root, contextHashDir) }

// BuildCacheRoots is the name of the GC root set (SetRoots) that keeps the
// layer of build cache record key: ROOT/roots/buildcache-KEY.
func BuildCacheRoots(key string) string { return buildCacheRootsName + key }

// BuildCacheKey is the record key whose layer the GC root set name keeps,
// when name is a BuildCacheRoots name.
func BuildCacheKey(name string) (key string, ok bool) {
	return strings.CutPrefix(name, buildCacheRootsName)
}
