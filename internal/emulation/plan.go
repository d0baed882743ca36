package emulation

import (
	"context"
	"debug/elf"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strconv"
	"strings"

	specs "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/manyarch/manyarch/internal/emulation/probes"
	"github.com/manyarch/manyarch/internal/platform"
)

// Mode is the --emulation setting of run, build and test.
type Mode string

const (
	// ModeAuto: native when the host runs the platform, else a working
	// host handler, else a private instance.
	ModeAuto Mode = "auto"
	// ModeHost: a working host handler; never a private one; native only
	// for the host's own platform (like ModePrivate, it emulates linux/386
	// on amd64).
	ModeHost Mode = "host"
	// ModePrivate: a private instance, whatever the host has; native only
	// for the host's own platform. A platform the host could also run
	// natively (linux/386 on amd64, arm on arm64) is emulated, so the
	// emulated path can be exercised on any host.
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
	// Emulator is the QEMU that runs the executables: the private
	// handler's interpreter (KindPrivate) or the host handler's
	// (KindHost, Version zero when it cannot be read); zero for native.
	Emulator Interpreter
}

// String says how the executables run, for logs and messages: "native",
// "native (linux32)", "host handler qemu-aarch64: /usr/bin/qemu-aarch64
// (QEMU 10.0.2)", "private: /usr/bin/qemu-i386 (QEMU 10.0.2)".
func (d Decision) String() string {
	switch d.Kind {
	case KindNative:
		if d.Linux32 {
			return "native (linux32)"
		}
		return "native"
	case KindHost:
		name := ""
		if d.Handler != nil {
			name = " " + d.Handler.Name
		}
		return "host handler" + name + ": " + d.Emulator.String()
	case KindPrivate:
		return "private: " + d.Emulator.String()
	}
	return string(d.Kind)
}

// LogValue logs a Decision as its kind, emulator and QEMU version
// (slog.LogValuer): log.Info("emulation planned", "emulation", d).
func (d Decision) LogValue() slog.Value {
	attrs := []slog.Attr{slog.String("kind", string(d.Kind))}
	if d.Linux32 {
		attrs = append(attrs, slog.Bool("linux32", true))
	}
	if d.Emulator.Path != "" {
		attrs = append(attrs, slog.String("emulator", d.Emulator.Path), slog.String("qemu", d.Emulator.Version.String()))
	}
	if d.Handler != nil {
		attrs = append(attrs, slog.String("handler", d.Handler.Name))
	}
	return slog.GroupValue(attrs...)
}

// Plan decides how to run executables of platform p in a sandbox under
// mode. It reads the host's binfmt_misc and probes a host handler before
// relying on it (a chroot probe as root, about 13 ms; a pass is cached
// until the handler, its interpreter or the boot changes, after which Plan
// takes well under a millisecond), and a platform the host may run
// natively (386 on amd64, about 1 ms). A platform that cannot be run is a
// *NoEmulatorError that says what to install or run.
func Plan(ctx context.Context, p specs.Platform, mode Mode) (Decision, error) {
	a, err := planArch(p, mode)
	if err != nil {
		return Decision{}, err
	}
	host := platform.Host()
	d := Decision{Arch: a}
	// An amd64 level (amd64/v3) runs natively when the CPU has it; there is
	// no emulation of a newer x86-64 on an older one.
	if platform.AMD64Level(a.Platform) > 1 && host.Architecture == "amd64" {
		if err := platform.CheckAMD64Level(a.Platform); err != nil {
			return Decision{}, err
		}
		d.Kind = KindNative
		return d, nil
	}
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
	// Forced emulation (host or private) skips the native path of a
	// platform the host may run natively, such as linux/386 on amd64.
	forced := mode == ModeHost || mode == ModePrivate
	if nativeCandidate(a, host) && active == nil && !forced {
		if runsNatively(ctx, a) {
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
			d.Emulator = hostEmulator(ctx, *active)
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
			err = CheckEmulator(ctx, a, in)
		}
		if err == nil {
			d.Kind, d.Handlers, d.Emulator = KindPrivate, []Handler{NewHandler(a, in.Path)}, in
			return d, nil
		}
	}
	reasons = append(reasons, "no private emulation: "+err.Error())
	return Decision{}, &NoEmulatorError{Arch: a, Mode: mode, Reason: strings.Join(reasons, "; ")}
}

// Candidates lists the decisions Plan may return for p under mode, in the
// order Plan prefers them, without proving any: it reads no binfmt_misc,
// looks up no emulator and starts no process. Each has Kind, Arch and Env
// set and nothing else, which is what tells work done one way from work
// done another (a build step's cache key). A caller may look up earlier
// work under each, and a step answered that way runs nothing; anything
// that runs must call Plan. An unknown platform or mode is an error, as
// in Plan; a platform no candidate serves gives none.
func Candidates(p specs.Platform, mode Mode) ([]Decision, error) {
	a, err := planArch(p, mode)
	if err != nil {
		return nil, err
	}
	host := platform.Host()
	native := Decision{Kind: KindNative, Arch: a}
	if (platform.AMD64Level(a.Platform) > 1 && host.Architecture == "amd64") || platform.Match(a.Platform, host) {
		return []Decision{native}, nil
	}
	emulated := func(k Kind) Decision {
		d := Decision{Kind: k, Arch: a}
		if a.QEMUCPU != "" {
			d.Env = []string{"QEMU_CPU=" + a.QEMUCPU}
		}
		return d
	}
	nat := nativeCandidate(a, host)
	switch mode {
	case ModeAuto:
		if nat {
			return []Decision{emulated(KindHost), native, emulated(KindPrivate)}, nil
		}
		return []Decision{emulated(KindHost), emulated(KindPrivate)}, nil
	case ModeHost:
		return []Decision{emulated(KindHost)}, nil
	case ModePrivate:
		return []Decision{emulated(KindPrivate)}, nil
	}
	if nat { // ModeNone
		return []Decision{native}, nil
	}
	return nil, nil
}

// planArch is p's row of the architecture table, checked with mode.
func planArch(p specs.Platform, mode Mode) (platform.Arch, error) {
	a, ok := platform.Lookup(p)
	if !ok {
		return platform.Arch{}, fmt.Errorf("planning emulation for %s: unknown platform; known platforms are %s", platform.Format(p), platform.Known())
	}
	if _, err := ParseMode(string(mode)); err != nil {
		return platform.Arch{}, err
	}
	return a, nil
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
	tbin, err := threadProbeBinary(a)
	if err != nil {
		return err
	}
	if cachedPass(*h, mode, bin) && cachedPass(*h, mode, tbin) {
		return nil
	}
	in := hostEmulator(ctx, *h)
	if bug := knownBug(a, in.Version); bug != "" {
		return &EmulatorError{Arch: a, Path: h.Interpreter, Version: in.Version, Reason: bug + " (host handler " + h.Name + ")"}
	}
	r, err := Probe(ctx, a, mode)
	if err != nil {
		return fmt.Errorf("probing host handler %s: %w", h.Name, err)
	}
	if !r.OK {
		return fmt.Errorf("host handler %s does not run %s executables: %s", h.Name, a, probeDetail(r))
	}
	rememberPass(*h, mode, bin)
	r, err = probeWith(ctx, a, mode, tbin, probes.ThreadMessage(threadProbeGOARCH(a)))
	if err != nil {
		return fmt.Errorf("probing host handler %s with threads and signals: %w", h.Name, err)
	}
	if !r.OK {
		return &EmulatorError{Arch: a, Path: h.Interpreter, Version: in.Version,
			Reason: "host handler " + h.Name + " runs the tiny probe but a program with threads and signals failed: " + probeDetail(r)}
	}
	rememberPass(*h, mode, tbin)
	return nil
}

// hostEmulator describes the interpreter of host handler h, as far as it
// can be read.
func hostEmulator(ctx context.Context, h Handler) Interpreter {
	in := Interpreter{Path: h.Interpreter}
	if s, err := IsStatic(h.Interpreter); err == nil {
		in.Static = s
	}
	if v, err := EmulatorVersion(ctx, h.Interpreter); err == nil {
		in.Version = v
	}
	return in
}

const elfClass32 = elf.ELFCLASS32

// runsNatively reports whether the kernel runs a's executables itself (a
// direct probe; no handler serves a). A variable, so tests can play a host
// whose kernel refuses 32-bit x86, or one that runs it.
var runsNatively = func(ctx context.Context, a platform.Arch) bool {
	r, err := Probe(ctx, a, ProbeDirect)
	return err == nil && r.OK
}

// hostIs64 reports whether the running kernel's native word is 64 bits.
func hostIs64() bool { return strconv.IntSize == 64 }
