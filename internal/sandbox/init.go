package sandbox

import "github.com/manyarch/manyarch/internal/sandbox/sandboxinit"

// Init is the sandbox init (package sandboxinit): it sets up the container
// from the config Run sends, starts the command, reaps zombies, forwards
// signals and returns the exit status to pass to os.Exit. Call it only
// when IsInit reports true. Elsewhere than on Linux it returns 125.
func Init() int { return sandboxinit.Main() }

// IsInit reports whether this process is a sandbox init started by Run, in
// which case main must call Init and exit with its result before doing
// anything else.
func IsInit() bool { return sandboxinit.IsInit() }
