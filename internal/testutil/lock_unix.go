//go:build unix

package testutil

import (
	"os"

	"golang.org/x/sys/unix"
)

// lockExclusive waits for an exclusive flock on f.
func lockExclusive(f *os.File) error { return unix.Flock(int(f.Fd()), unix.LOCK_EX) }

// unlock releases the flock on f (closing f does too).
func unlock(f *os.File) error { return unix.Flock(int(f.Fd()), unix.LOCK_UN) }
