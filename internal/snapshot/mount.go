package snapshot

import "sync"

// MountOptions controls Mount. The zero value mounts overlayfs at a fresh
// directory in os.TempDir() and falls back to copying when it cannot.
type MountOptions struct {
	// Target is the directory the root file system appears at; it is
	// created when missing and must be empty. "" means a "rootfs"
	// directory inside the mount's temporary directory.
	Target string

	// TempDir is where the mount's temporary directory (upper, work and, in
	// copy mode, the pristine copy) is created; "" means os.TempDir(). The
	// upper directory holds everything the container writes.
	TempDir string

	// UserXattr mounts with overlayfs' userxattr option, which a mount inside
	// a user namespace needs: overlayfs then keeps its attributes in
	// user.overlay.* (layers from Snapshotter.Prepare carry both forms).
	UserXattr bool

	// Copy skips overlayfs and copies the layers (see CopyRoot).
	Copy bool

	// NoFallback makes Mount fail with ErrOverlayUnavailable instead of
	// copying when overlayfs cannot be mounted.
	NoFallback bool
}

// RootFS is a container root file system made from layer directories: an
// overlay mount with a fresh upper directory or, where overlayfs is
// unavailable, a copy. Close it to unmount and remove it.
type RootFS struct {
	dir       string // the temporary directory holding everything else
	root      string
	upper     string // "" in copy mode
	base      string // copy mode: the pristine flattened lowers
	ownTarget bool   // root was created by Mount
	overlay   bool
	fallback  error // why overlayfs was not used

	closeOnce sync.Once
	closeErr  error
}

// Root returns the directory the root file system is at.
func (m *RootFS) Root() string { return m.root }

// Upper returns the overlay upper directory, which holds every change made
// under Root, or "" when the mount is a copy (use RootFS.Diff either way).
func (m *RootFS) Upper() string { return m.upper }

// Overlay reports whether Root is an overlay mount (rather than a copy).
func (m *RootFS) Overlay() bool { return m.overlay }

// FallbackReason returns why overlayfs was not used, or nil.
func (m *RootFS) FallbackReason() error { return m.fallback }
