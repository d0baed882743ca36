package emulation

import (
	"context"
	"errors"
	"fmt"
	"os"
	"runtime"
	"strings"

	specs "github.com/opencontainers/image-spec/specs-go/v1"
	"golang.org/x/sync/errgroup"

	"github.com/manyarch/manyarch/internal/platform"
)

// State is how the machine runs a platform's executables.
type State string

const (
	// StateNative: the kernel runs them itself.
	StateNative State = "native"
	// StateEmulated: an enabled host binfmt_misc handler runs them (and
	// serves run, build and test).
	StateEmulated State = "emulated"
	// StatePrivate: no host handler serves them, and run, build and test
	// register the emulator privately in each container (Linux 6.7+).
	StatePrivate State = "private"
	// StateUnavailable: nothing runs them; Reason says why.
	StateUnavailable State = "unavailable"
)

// Probe outcomes in PlatformStatus.Probe.
const (
	ProbePass    = "pass"
	ProbeFail    = "fail"
	ProbeSkipped = "skipped"
)

// PlatformStatus is what Status found for one row of the architecture
// table. The JSON field names are a stable interface (`manyarch binfmt
// status --format json`).
type PlatformStatus struct {
	Arch platform.Arch `json:"-"`
	// Platform is the canonical platform string, "linux/arm64".
	Platform string `json:"platform"`
	// State is the path run, build and test take with --emulation auto.
	State State `json:"state"`
	// Emulator is the QEMU that runs the platform's executables on that
	// path (the host handler's interpreter, or the private one), and
	// QEMUVersion its release ("10.0.2"; omitted when unknown).
	Emulator    string `json:"emulator,omitempty"`
	QEMUVersion string `json:"qemu_version,omitempty"`
	// Reason says why the platform is unavailable.
	Reason string `json:"reason,omitempty"`
	// Handler, Interpreter and Flags describe the handler that runs the
	// platform's executables (the first enabled one by name when several
	// match; see Others), or a disabled one when it is the only one.
	Handler     string `json:"handler,omitempty"`
	Interpreter string `json:"interpreter,omitempty"`
	Flags       string `json:"flags,omitempty"`
	// Static tells whether Interpreter has no program interpreter of its
	// own; nil when there is no handler or the file cannot be read.
	Static *bool `json:"static,omitempty"`
	// Others names further handlers that also match.
	Others []string `json:"others,omitempty"`
	// Probe is "pass", "fail", "skipped" or "" (not attempted: --no-probe
	// or unavailable); ProbeDetail says what the probe showed or why it
	// was skipped.
	Probe       string `json:"probe,omitempty"`
	ProbeDetail string `json:"probe_detail,omitempty"`
	// Note tells the user something worth acting on.
	Note string `json:"note,omitempty"`
}

// nativeCandidate reports whether a host of platform host might run a's
// executables without emulation: MatchCompat's pairs, and arm on arm64,
// where only a probe can tell (not every arm64 CPU has AArch32).
func nativeCandidate(a platform.Arch, host specs.Platform) bool {
	return platform.MatchCompat(a.Platform, host) ||
		(host.Architecture == "arm64" && a.Platform.Architecture == "arm")
}

// Status reports, for every row of the architecture table, whether this
// machine runs the platform natively, through a host binfmt_misc handler,
// or not at all; with probes (the default, see WithProbes) each claim is
// checked by running the platform's probe: in a chroot holding only the
// probe when root (which also proves the F flag), directly otherwise.
// Without binfmt_misc mounted, there are no handlers (and a note says so);
// reading the status never changes the host.
func Status(ctx context.Context, opts ...Option) ([]PlatformStatus, error) {
	o, err := newOptions(opts)
	if err != nil {
		return nil, err
	}
	hs, enabled, err := readHost(ctx)
	var mountNote string
	if err != nil {
		if !errors.Is(err, ErrNotMounted) {
			return nil, fmt.Errorf("reading binfmt status: %w", err)
		}
		hs, enabled, mountNote = nil, true, HostMount+" is not mounted, so no handler is in use (root mounts it: `manyarch binfmt install`)"
	}
	host := platform.Host()
	rows := platform.All()
	out := make([]PlatformStatus, len(rows))
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(runtime.NumCPU())
	for i, a := range rows {
		out[i] = PlatformStatus{Arch: a, Platform: a.String()}
		g.Go(func() error {
			return statusOf(gctx, &out[i], a, host, hs, enabled, o)
		})
	}
	if err := g.Wait(); err != nil {
		return nil, err
	}
	if mountNote != "" {
		for i := range out {
			if out[i].State == StateUnavailable && out[i].Note == "" {
				out[i].Note = mountNote
			}
		}
	}
	return out, nil
}

func statusOf(ctx context.Context, st *PlatformStatus, a platform.Arch, host specs.Platform, hs []Handler, enabled bool, o *options) error {
	active, shown := describeHandlers(st, a, hs, enabled)
	// The paths in Plan's order (--emulation auto).
	if nativeStatus(ctx, st, a, host, active, o) {
		return nil
	}
	if active != nil && hostStatus(ctx, st, a, active, o) {
		return nil
	}
	privateStatus(ctx, st, a, active, shown, enabled, o)
	return nil
}

// describeHandlers fills st's handler fields from the handlers serving a:
// active is the enabled one (when binfmt_misc is on), shown the one
// described (active, else the first).
func describeHandlers(st *PlatformStatus, a platform.Arch, hs []Handler, enabled bool) (active, shown *Handler) {
	var serving []Handler
	for _, h := range hs {
		if h.Serves(a) {
			serving = append(serving, h)
			if active == nil && h.Enabled && enabled {
				active = &serving[len(serving)-1]
			}
		}
	}
	shown = active
	if shown == nil && len(serving) > 0 {
		shown = &serving[0]
	}
	if shown != nil {
		st.Handler, st.Interpreter, st.Flags = shown.Name, shown.Interpreter, shown.Flags
		if s, err := IsStatic(shown.Interpreter); err == nil {
			st.Static = &s
		}
		for _, h := range serving {
			if h.Name != shown.Name {
				st.Others = append(st.Others, h.Name)
			}
		}
	}
	return active, shown
}

// nativeStatus reports whether a runs natively (st says so), else notes
// why a native candidate does not.
func nativeStatus(ctx context.Context, st *PlatformStatus, a platform.Arch, host specs.Platform, active *Handler, o *options) bool {
	if platform.Match(a.Platform, host) {
		st.State = StateNative
		if active != nil {
			st.Note = "the host's own architecture is routed to an emulator"
		}
		if o.probe {
			r, err := Probe(ctx, a, ProbeDirect)
			setProbe(st, r, err)
		}
		return true
	}
	if nativeCandidate(a, host) && active == nil {
		// Even without probes: only running one tells whether the kernel
		// runs it (about a millisecond), and guessing would be a lie on
		// kernels without IA32 emulation.
		if runsNatively(ctx, a) {
			st.State = StateNative
			if o.probe {
				st.Probe = ProbePass
			}
			return true
		}
		st.Note = "the kernel does not run " + a.String() + " executables natively (for 386 on amd64: IA32 emulation is off), so they are emulated"
	}
	return false
}

// hostStatus reports whether the enabled host handler active serves
// containers (st says so), else notes why not.
func hostStatus(ctx context.Context, st *PlatformStatus, a platform.Arch, active *Handler, o *options) bool {
	in := hostEmulator(ctx, *active)
	var err error
	switch {
	case !o.probe:
		if !active.HasFlag('F') {
			err = fmt.Errorf("host handler %s has no F flag", active.Name)
		} else if bug := knownBug(a, in.Version); bug != "" {
			err = &EmulatorError{Arch: a, Path: in.Path, Version: in.Version, Reason: bug}
		}
	default:
		err = checkHostHandler(ctx, a, active)
	}
	if err == nil {
		st.State, st.Emulator, st.QEMUVersion = StateEmulated, in.Path, in.Version.String()
		if o.probe {
			st.Probe = ProbePass
			if !isRoot() {
				st.ProbeDetail = "ran directly (not root): the F flag is not proven"
			}
		}
		if st.Static != nil && !*st.Static {
			st.Note = joinNote(st.Note, "the interpreter is dynamically linked: containers lack its libraries")
		}
		return true
	}
	if o.probe {
		st.Probe, st.ProbeDetail = ProbeFail, err.Error()
	}
	if !active.HasFlag('F') {
		st.Note = joinNote(st.Note, "no F flag: the interpreter path is looked up inside each container, so containers without QEMU cannot use it (`manyarch binfmt install --force "+a.Name+"` replaces it)")
	} else {
		st.Note = joinNote(st.Note, "host handler "+active.Name+" cannot serve containers: "+err.Error())
	}
	return false
}

// privateStatus sets st to private emulation, as run, build and test do
// without a host handler, or to unavailable with the reason and the fix.
func privateStatus(ctx context.Context, st *PlatformStatus, a platform.Arch, active, shown *Handler, enabled bool, o *options) {
	err := PrivateSupported()
	var in Interpreter
	if err == nil {
		in, err = staticInterpreter(a)
	}
	if err == nil {
		st.Emulator, st.QEMUVersion = in.Path, in.Version.String()
		if bug := knownBug(a, in.Version); bug != "" {
			err = &EmulatorError{Arch: a, Path: in.Path, Version: in.Version, Reason: bug}
		} else if o.probe {
			err = checkPrivate(ctx, a, in)
		}
	}
	if err == nil {
		st.State = StatePrivate
		if o.probe && st.Probe == "" {
			st.Probe, st.ProbeDetail = ProbePass, ""
		}
		return
	}
	st.State, st.Reason = StateUnavailable, err.Error()
	var ee *EmulatorError
	if errors.As(err, &ee) && o.probe && st.Probe == "" {
		st.Probe, st.ProbeDetail = ProbeFail, ee.Reason
	}
	switch {
	case ee != nil:
		st.Note = joinNote(st.Note, QEMUFix)
	case shown != nil && !enabled:
		st.Note = joinNote(st.Note, "binfmt_misc is switched off ("+HostMount+"/status): echo 1 > "+HostMount+"/status")
	case shown != nil && active == nil:
		st.Note = joinNote(st.Note, "handler "+shown.Name+" is disabled: echo 1 > "+HostMount+"/"+shown.Name)
	default:
		st.Note = joinNote(st.Note, strings.TrimPrefix(installHint(a), "; "))
	}
}

// checkPrivate checks the private path of a with emulator in: the tiny
// probe through a private binfmt_misc instance (F flag, in an empty
// chroot), and the thread probe under in.
func checkPrivate(ctx context.Context, a platform.Arch, in Interpreter) error {
	r, err := Probe(ctx, a, ProbePrivate)
	if err != nil {
		return err
	}
	if !r.OK {
		return fmt.Errorf("a private binfmt_misc handler for %s does not run its executables: %s", in.Path, probeDetail(r))
	}
	return CheckEmulator(ctx, a, in)
}

func setProbe(st *PlatformStatus, r ProbeResult, err error) {
	switch {
	case err != nil:
		st.Probe, st.ProbeDetail = ProbeSkipped, err.Error()
	case r.OK:
		st.Probe = ProbePass
	default:
		st.Probe, st.ProbeDetail = ProbeFail, probeDetail(r)
	}
}

// isRoot is a variable for tests.
var isRoot = func() bool { return os.Geteuid() == 0 }

func probeDetail(r ProbeResult) string {
	d := r.Err.Error()
	if r.Output != "" && !strings.Contains(d, r.Output) {
		d += ": " + r.Output
	}
	return d
}

func installHint(a platform.Arch) string {
	if _, err := staticInterpreter(a); err != nil {
		return "; " + QEMUFix
	}
	return "; run `manyarch binfmt install " + a.Name + "`"
}

func joinNote(a, b string) string {
	if a == "" {
		return b
	}
	return a + "; " + b
}
