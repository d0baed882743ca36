package emulation

import (
	"context"
	"debug/elf"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"

	specs "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/manyarch/manyarch/internal/platform"
)

// Mode is the --emulation setting of run, build and test.
type Mode string

const (
	// ModeAuto: native when the host runs the platform, else a working
	// host handler, else a private instance.
	ModeAuto Mode = "auto"
	// ModeHost: native, or a working host handler; never a private one.
	ModeHost Mode = "host"
	// ModePrivate: native, or a private instance, whatever the host has.
	ModePrivate Mode = "private"
	// ModeNone: native only.
	ModeNone Mode = "none"
)

// Modes lists the modes in the order help texts show them.
var Modes = []Mode{ModeAuto, ModeHost, ModePrivate, ModeNone}

// ParseMode parses an --emulation value.
func ParseMode(s string) (Mode, error) {
	for _, m := range Modes {
		if string(m) == s {
			return m, nil
		}
	}
	return "", fmt.Errorf("unknown emulation mode %q: want auto, host, private or none", s)
}

// Kind is how a Decision runs a platform's executables.
type Kind string

const (
	KindNative  Kind = "native"  // the kernel runs them
	KindHost    Kind = "host"    // a host binfmt_misc handler runs them
	KindPrivate Kind = "private" // register Decision.Handlers with MountPrivate
)

// Decision is Plan's answer: how a sandbox runs one platform.
type Decision struct {
	Kind Kind
	Arch platform.Arch
	// Handler is the host handler that will run the executables (KindHost).
	Handler *Handler
	// Handlers are what the sandbox's init registers with MountPrivate in
	// its user and mount namespaces, before it changes root (KindPrivate).
	// The private instance hides the host's handlers from the sandbox.
	Handlers []Handler
	// Env is added to the environment of the container's first process:
	// QEMU_CPU for the arm variants that need a CPU model (arm/v5: arm926,
	// arm/v6: arm1176), since a binfmt_misc handler cannot pass -cpu. QEMU
	// reads it at every emulated exec, and it is inherited, so every
	// process of the container sees the same CPU and uname -m; the
	// container's programs can see the variable, as they would see any
	// other.
	Env []string
	// Linux32 asks the sandbox to run the process with the PER_LINUX32
	// personality (personality(2)): a 32-bit platform that the 64-bit
	// host runs natively (386 on amd64), so uname -m prints i686 as the
	// image expects, not x86_64.
	Linux32 bool
}

// Plan decides how to run executables of platform p in a sandbox under
// mode. It reads the host's binfmt_misc and probes a host handler before
// relying on it (a chroot probe as root, about 13 ms; a pass is cached
// until the handler, its interpreter or the boot changes, after which Plan
// takes well under a millisecond), and a platform the host may run
// natively (386 on amd64, about 1 ms). A platform that cannot be run is a
// *NoEmulatorError that says what to install or run.
func Plan(ctx context.Context, p specs.Platform, mode Mode) (Decision, error) {
	a, ok := platform.Lookup(p)
	if !ok {
		return Decision{}, fmt.Errorf("planning emulation for %s: unknown platform; known platforms are %s", platform.Format(p), platform.Known())
	}
	if _, err := ParseMode(string(mode)); err != nil {
		return Decision{}, err
	}
	host := platform.Host()
	d := Decision{Arch: a}
	if platform.Match(a.Platform, host) {
		d.Kind = KindNative
		return d, nil
	}
	hs, enabled, err := readHost(ctx)
	if err != nil && !errors.Is(err, ErrNotMounted) {
		return Decision{}, fmt.Errorf("planning emulation for %s: %w", a, err)
	}
	var active *Handler
	for _, h := range hs {
		if h.Enabled && enabled && h.Serves(a) {
			active = &h
			break
		}
	}
	if nativeCandidate(a, host) && active == nil {
		if r, err := Probe(ctx, a, ProbeDirect); err == nil && r.OK {
			d.Kind = KindNative
			d.Linux32 = a.ELFClass == elfClass32 && hostIs64()
			return d, nil
		}
	}
	if a.QEMUCPU != "" {
		d.Env = []string{"QEMU_CPU=" + a.QEMUCPU}
	}

	var reasons []string
	if mode == ModeNone {
		return Decision{}, &NoEmulatorError{Arch: a, Mode: mode, Reason: "the host does not run it natively and emulation is off"}
	}
	if mode == ModeAuto || mode == ModeHost {
		err := checkHostHandler(ctx, a, active)
		if err == nil {
			d.Kind, d.Handler = KindHost, active
			return d, nil
		}
		reasons = append(reasons, err.Error())
		if mode == ModeHost {
			return Decision{}, &NoEmulatorError{Arch: a, Mode: mode, Reason: strings.Join(reasons, "; ")}
		}
	}
	err = PrivateSupported()
	if err == nil {
		var in Interpreter
		in, err = staticInterpreter(a)
		if err == nil {
			d.Kind, d.Handlers = KindPrivate, []Handler{NewHandler(a, in.Path)}
			return d, nil
		}
	}
	reasons = append(reasons, "no private emulation: "+err.Error())
	return Decision{}, &NoEmulatorError{Arch: a, Mode: mode, Reason: strings.Join(reasons, "; ")}
}

// checkHostHandler says why the host handler h cannot serve a sandbox, or
// nil when it can: present, enabled, with the F flag, and passing a probe
// (in a chroot as root, directly otherwise).
func checkHostHandler(ctx context.Context, a platform.Arch, h *Handler) error {
	if h == nil {
		return errors.New("no enabled host handler")
	}
	if !h.HasFlag('F') {
		return fmt.Errorf("host handler %s has no F flag, so containers without QEMU inside cannot use it", h.Name)
	}
	mode := ProbeChroot
	if os.Geteuid() != 0 {
		mode = ProbeDirect
	}
	bin, err := probeBinary(a)
	if err != nil {
		return err
	}
	if cachedPass(*h, mode, bin) {
		return nil
	}
	r, err := Probe(ctx, a, mode)
	if err != nil {
		return fmt.Errorf("probing host handler %s: %w", h.Name, err)
	}
	if !r.OK {
		return fmt.Errorf("host handler %s does not run %s executables: %s", h.Name, a, probeDetail(r))
	}
	rememberPass(*h, mode, bin)
	return nil
}

const elfClass32 = elf.ELFCLASS32

// hostIs64 reports whether the running kernel's native word is 64 bits.
func hostIs64() bool { return strconv.IntSize == 64 }
