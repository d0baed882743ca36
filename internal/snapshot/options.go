package snapshot

// WhiteoutMode says what Extract does with whiteout entries.
type WhiteoutMode int

const (
	// ApplyWhiteouts deletes what a whiteout names from the directory
	// (".wh.NAME" removes NAME, ".wh..wh..opq" empties the directory of
	// entries not written by this layer): flattening layers into one tree.
	ApplyWhiteouts WhiteoutMode = iota

	// OverlayWhiteouts keeps whiteouts in overlayfs form so the directory
	// can be an overlay lower directory: ".wh.NAME" becomes a 0/0 character
	// device NAME, ".wh..wh..opq" sets user.overlay.opaque=y on the
	// directory, and trusted.overlay.opaque=y as well when the process may
	// (root outside a user namespace), so both plain and userxattr overlay
	// mounts honour it.
	OverlayWhiteouts
)

// ExtractOptions controls Extract. The zero value applies whiteouts, chowns
// when running as root and keeps owners as they are in the tar.
type ExtractOptions struct {
	// Name names the archive in errors, e.g. a layer digest. Optional.
	Name string

	// Whiteouts chooses between flattening and overlay form (default
	// ApplyWhiteouts).
	Whiteouts WhiteoutMode

	// MapID maps the owner of each entry before it is applied (for example
	// into a user namespace's range). nil keeps owners as they are.
	MapID func(uid, gid int) (int, int, error)

	// NoChown leaves every file owned by the caller even when running as
	// root. Owners are never changed when not running as root.
	NoChown bool
}

// ExtractStats reports what Extract did and what it had to leave out.
type ExtractStats struct {
	Entries   int   // tar entries read
	Bytes     int64 // bytes of file content written
	Whiteouts int   // whiteout entries applied or converted

	// Rewritten counts entries whose name or hardlink target was absolute
	// or climbed above the root ("../x") and was contained in the root.
	Rewritten int

	// DevicesSkipped lists character and block devices not created because
	// the process may not create devices (not root, or in a user namespace).
	DevicesSkipped []string

	// OwnersSkipped counts entries whose owner could not be applied (an id
	// not mapped in the user namespace).
	OwnersSkipped int

	// XattrsSkipped counts extended attributes not set because the file
	// system or the process's privileges do not allow them (security.*,
	// trusted.*); overlayfs' own attributes are never restored from a tar.
	XattrsSkipped int

	// Unsupported lists entries of types that cannot be extracted (sockets,
	// GNU volume headers and the like) and were skipped.
	Unsupported []string
}
