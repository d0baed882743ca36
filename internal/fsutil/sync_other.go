//go:build !windows

package fsutil

func syncDirUnsupported(error) bool { return false }
