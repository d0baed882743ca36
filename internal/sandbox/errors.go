package sandbox

import (
	"errors"
	"fmt"
)

// ErrUnsupported is returned by Run on systems other than Linux.
var ErrUnsupported = errors.New("sandbox: running containers is only supported on Linux")

// ExecError reports that the sandbox was set up but the command could not be
// started: not found in $PATH, not executable, or for an architecture the
// kernel cannot run. Run returns it with Result.ExitCode set to Code (127
// when not found, 126 otherwise), as Docker does.
type ExecError struct {
	Command string // the command as given
	Err     error  // the reason, e.g. ErrNotFound
	Code    int    // exit status reported: 126 or 127
}

func (e *ExecError) Error() string {
	return fmt.Sprintf("exec: %q: %v", e.Command, e.Err)
}

func (e *ExecError) Unwrap() error { return e.Err }

// ErrNotFound is the reason of an ExecError whose command has no slash and
// was not found in any directory of the container's $PATH.
var ErrNotFound = errors.New("executable file not found in $PATH")

// SetupError reports that the init could not prepare the container, for
// example because a mount failed. Step names what it was doing.
type SetupError struct {
	Step string
	Err  error
}

func (e *SetupError) Error() string {
	return fmt.Sprintf("setting up sandbox: %s: %v", e.Step, e.Err)
}

func (e *SetupError) Unwrap() error { return e.Err }

// OverlayError is the Err of a *SetupError when the init could not mount
// the overlay root of Spec.Overlay: overlayfs is missing, cannot be
// mounted in the sandbox's user namespace, refuses the upper directory's
// file system (an overlay itself, as when manyarch runs in a container),
// or cannot stack the layers. Nothing ran. The same command can run on a
// copy of the layers instead (Spec.RootDir), which is what package
// container does on this error; match it with errors.As, never by its text.
type OverlayError struct {
	Err error // the mount's error (its errno unwraps, e.g. syscall.EINVAL)
}

func (e *OverlayError) Error() string { return e.Err.Error() }

func (e *OverlayError) Unwrap() error { return e.Err }
