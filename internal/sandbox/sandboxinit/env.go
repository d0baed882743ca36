package sandboxinit

import (
	"errors"
	"os"
	"syscall"
)

const (
	// InitEnv marks the re-exec of the binary as the sandbox init.
	InitEnv = "_MANYARCH_SANDBOX_INIT"
	// ReexecEnv marks an init that re-executed itself (see awaitIDMaps).
	ReexecEnv = "_MANYARCH_SANDBOX_REEXEC"
	// InitArg0 is the init's argv[0], which ps shows.
	InitArg0 = "manyarch-sandbox-init"
)

// IsInit reports whether this process is a sandbox init started by
// sandbox.Run, in which case Main must run and its result be the exit
// status before anything else happens.
func IsInit() bool {
	return os.Getenv(InitEnv) == "1" && len(os.Args) > 0 && os.Args[0] == InitArg0
}

// errnoOf is the errno err wraps, or 0: it crosses the pipe so that the
// parent's errors.Is(err, fs.ErrPermission) and the like still work.
func errnoOf(err error) int64 {
	var en syscall.Errno
	if errors.As(err, &en) {
		return int64(en)
	}
	return 0
}
