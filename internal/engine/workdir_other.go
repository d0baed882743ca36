//go:build !linux

package engine

// lockDir is a no-op where builds cannot run.
func lockDir(string) (func(), error) { return func() {}, nil }

func removeStaleBuildDirs(string) {}

func lockShared(string) (func(), error) { return func() {}, nil }
