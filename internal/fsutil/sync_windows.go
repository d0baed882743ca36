package fsutil

// syncDirUnsupported: Windows cannot flush a directory handle; NTFS
// journals the rename itself.
func syncDirUnsupported(error) bool { return true }
