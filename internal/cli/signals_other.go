//go:build !linux

package cli

import (
	"os"
	"syscall"
)

// forwardedSignals are the signals `manyarch run` would pass to the
// container's process (run is not supported on this OS).
var forwardedSignals = []os.Signal{syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP, syscall.SIGQUIT}
