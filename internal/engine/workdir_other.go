//go:build !linux

package engine

import (
	"fmt"
	"os"
)

// lockDir is a no-op where builds cannot run.
func lockDir(string) (func(), error) { return func() {}, nil }

func removeStaleBuildDirs(string) {}

func lockShared(string) (func(), error) { return func() {}, nil }

// makeBuildDir creates a new build directory under tmpRoot.
func makeBuildDir(tmpRoot string) (string, func(), error) {
	dir, err := os.MkdirTemp(tmpRoot, "build-")
	if err != nil {
		return "", nil, fmt.Errorf("creating build directory: %w", err)
	}
	return dir, func() {}, nil
}
