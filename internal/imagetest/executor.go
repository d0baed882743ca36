package imagetest

import (
	"context"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	specs "github.com/opencontainers/image-spec/specs-go/v1"
)

// Executor runs commands in fresh containers of one platform's image.
// NewSandboxExecutor is the real one; tests use fakes.
type Executor interface {
	// Prepare readies t's platform once per run, before its first
	// command: it decides how the platform's programs run (natively or
	// under which emulator) and may unpack the image. An error fails
	// every command test of the platform with its message, which should
	// say what to do.
	Prepare(ctx context.Context, t Target) (Prepared, error)
	// Run runs e in a new container of t.Image: e.Setup in order, then
	// e.Args, then e.Teardown, all in the same container file system,
	// which is thrown away afterwards. A command that ran (whatever its
	// exit status) is not an error; an error means the container could
	// not be made or the command could not be started.
	Run(ctx context.Context, t Target, e Exec) (ExecResult, error)
}

// Target is the image of one platform.
type Target struct {
	Platform specs.Platform
	Image    v1.Image
}

// Prepared says how a platform's commands run.
type Prepared struct {
	Emulation string // "native", "host handler qemu-aarch64", "private qemu-aarch64-static"
	Emulated  bool
}

// Exec is one command test's container.
type Exec struct {
	Args     []string   // the command; the image's entrypoint is not used (as in CST)
	Setup    [][]string // run before Args, each must exit 0
	Teardown [][]string // run after Args
	Env      []string   // the complete environment, KEY=value
	User     string     // "" = root
	Dir      string     // "" = /
	Mounts   []Mount
	Network  string        // "host" (default) or "none"
	Timeout  time.Duration // for the whole container: setup, command and teardown
}

// Mount is a bind mount of a host path.
type Mount struct {
	Source, Target string
	ReadOnly       bool
}

// ExecResult is what Run saw.
type ExecResult struct {
	Stdout, Stderr []byte
	ExitCode       int
	TimedOut       bool
	// Duration is the command's own time, without setup and teardown.
	Duration time.Duration
	// SetupFailed is set, with the failing step, when a setup command
	// did not exit 0; Args did not run then.
	SetupFailed *Step
	// Teardown are the teardown commands that did not exit 0.
	Teardown []Step
}

// Step is a setup or teardown command that failed.
type Step struct {
	Args     []string
	ExitCode int
	TimedOut bool
	Output   string // standard output and error
	Err      string // could not be started
}
