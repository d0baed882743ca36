package emulation

import (
	"errors"
	"fmt"
	"strings"

	"github.com/manyarch/manyarch/internal/platform"
)

// Sentinel errors of the package.
var (
	// ErrUnsupported is returned on operating systems other than Linux.
	ErrUnsupported = errors.New("binfmt_misc emulation is not supported on this operating system")
	// ErrNeedsRoot is returned by operations that change or mount the host's
	// binfmt_misc, or chroot, when the caller is not root.
	ErrNeedsRoot = errors.New("needs root")
	// ErrNotMounted means the host's binfmt_misc is not mounted and could
	// not be mounted by this (non-root) process.
	ErrNotMounted = errors.New("binfmt_misc is not mounted")
	// ErrInitialUserNamespace is returned by MountPrivate when it is called
	// outside a new user namespace, where it would change the host.
	ErrInitialUserNamespace = errors.New("in the initial user namespace: a binfmt_misc mount here is the host's, not a private one")
)

// InterpreterNotFoundError says that no QEMU user-mode emulator for Arch
// exists on the host.
type InterpreterNotFoundError struct {
	Arch     platform.Arch
	Searched []string // paths looked at
}

func (e *InterpreterNotFoundError) Error() string {
	return fmt.Sprintf("%s needs the emulator qemu-%s, which is not installed (looked for %s): %s",
		e.Arch, e.Arch.QEMU, strings.Join(e.Searched, ", "), QEMUFix)
}

// DynamicInterpreterError says that the only emulator found for Arch is
// dynamically linked, so it cannot run inside a container's root file
// system, where its shared libraries are missing.
type DynamicInterpreterError struct {
	Arch platform.Arch
	Path string
}

func (e *DynamicInterpreterError) Error() string {
	return fmt.Sprintf("%s: the emulator %s is dynamically linked, so it cannot run inside containers (the F flag opens it on the host, but its shared libraries are looked up in the container): %s",
		e.Arch, e.Path, staticFix)
}

// staticFix says how to get static emulators.
const staticFix = "install a static QEMU: on Debian 12, apt-get install -t bookworm-backports qemu-user " +
	"(QEMU 10, static-pie /usr/bin/qemu-*; hack/deps.sh does it), or qemu-user-static"

// NoEmulatorError is Plan's error for a platform the machine cannot run
// in the requested mode; Reason says why and the message says what to do.
type NoEmulatorError struct {
	Arch   platform.Arch
	Mode   Mode
	Reason string
}

func (e *NoEmulatorError) Error() string {
	fix := fmt.Sprintf("%s; or run `manyarch binfmt install %s`", QEMUFix, e.Arch.Name)
	switch e.Mode {
	case ModeNone:
		fix = "use --emulation auto, or run on a " + e.Arch.String() + " machine"
	case ModeHost:
		fix = fmt.Sprintf("run `manyarch binfmt install %s` (as root), or use --emulation private", e.Arch.Name)
	case ModePrivate:
		fix = "use --emulation host after `manyarch binfmt install " + e.Arch.Name + "`, or " + QEMUFix
	}
	return fmt.Sprintf("%s needs an emulator (--emulation %s): %s: %s", e.Arch, e.Mode, e.Reason, fix)
}
