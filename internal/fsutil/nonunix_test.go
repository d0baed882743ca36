//go:build !unix

package fsutil

func isUnix() bool { return false }
