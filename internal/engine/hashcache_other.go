//go:build !linux

package engine

import "io/fs"

// fileSumKey never keys the sum cache where builds cannot run: every file
// is hashed.
func fileSumKey(fs.FileInfo) (fileSum, bool) { return fileSum{}, false }
