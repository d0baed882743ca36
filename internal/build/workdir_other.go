//go:build !linux

package build

// lockBuildDir is a no-op where builds cannot run.
func lockBuildDir(string) (func(), error) { return func() {}, nil }

func removeStaleBuildDirs(string) {}
