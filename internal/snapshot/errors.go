package snapshot

import (
	"errors"
	"fmt"
)

var (
	// ErrUnsupported is returned on operating systems other than Linux by
	// everything that reads or writes file systems.
	ErrUnsupported = errors.New("not supported on this OS: manyarch snapshots need Linux")

	// ErrEscape marks an entry whose name or hardlink target leaves the root
	// of the archive ("../x", "a/../../x").
	ErrEscape = errors.New("escapes the root")

	// ErrOverlayUnavailable is returned by Mount when overlayfs cannot be
	// mounted and MountOptions.NoFallback forbids the copy fallback.
	ErrOverlayUnavailable = errors.New("overlayfs is not available")

	// ErrNoOpenat2 is returned by Extract on kernels without openat2(2)
	// (before Linux 5.6), on which paths cannot be resolved safely.
	ErrNoOpenat2 = errors.New("the kernel has no openat2(2) (needs Linux 5.6 or later) to extract safely")

	// ErrCorruptLayer is returned by Snapshotter.Prepare when a layer's
	// uncompressed content does not match its diff ID.
	ErrCorruptLayer = errors.New("layer content does not match its diff ID")

	// ErrInUse is returned by Snapshotter.PruneUnused while another
	// Snapshotter on the same root holds a lease: a build, run or test is
	// using the layer directories.
	ErrInUse = errors.New("the unpacked layers are in use by a running manyarch build, run or test")
)

// EntryError is an error about one entry of a tar archive.
type EntryError struct {
	Source string // what the archive is: a file name or layer digest; may be empty
	Entry  string // the entry's name as written in the archive
	Err    error
}

func (e *EntryError) Error() string {
	if e.Source != "" {
		return fmt.Sprintf("%s: entry %q: %v", e.Source, e.Entry, e.Err)
	}
	return fmt.Sprintf("entry %q: %v", e.Entry, e.Err)
}

func (e *EntryError) Unwrap() error { return e.Err }

func entryErr(source, entry string, format string, args ...any) error {
	return &EntryError{Source: source, Entry: entry, Err: fmt.Errorf(format, args...)}
}
