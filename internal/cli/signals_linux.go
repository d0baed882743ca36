package cli

import (
	"os"
	"syscall"
)

// forwardedSignals are the signals `manyarch run` passes to the container's process.
var forwardedSignals = []os.Signal{syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP, syscall.SIGQUIT, syscall.SIGUSR1, syscall.SIGUSR2}
