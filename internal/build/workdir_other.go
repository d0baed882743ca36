//go:build !linux

package build

// lockBuildDir is a no-op where builds cannot run.
func lockBuildDir(string) (func(), error) { return func() {}, nil }

func removeStaleBuildDirs(string) {}

func lockShared(string) (func(), error) { return func() {}, nil }

func tryLockExclusive(string) (func(), bool) { return func() {}, true }
