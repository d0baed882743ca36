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
	// StateEmulated: an enabled binfmt_misc handler runs them.
	StateEmulated State = "emulated"
	// StateUnavailable: nothing runs them.
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
	State    State  `json:"state"`
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
	var serving []Handler
	var active *Handler
	for _, h := range hs {
		if h.Serves(a) {
			serving = append(serving, h)
			if active == nil && h.Enabled && enabled {
				active = &serving[len(serving)-1]
			}
		}
	}
	shown := active
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

	probe := func(mode ProbeMode) bool {
		if !o.probe {
			return true
		}
		r, err := Probe(ctx, a, mode)
		switch {
		case err != nil:
			st.Probe, st.ProbeDetail = ProbeSkipped, err.Error()
			return true
		case r.OK:
			st.Probe = ProbePass
			if mode == ProbeDirect && active != nil {
				st.ProbeDetail = "ran directly (not root): the F flag is not proven"
			}
			return true
		default:
			st.Probe, st.ProbeDetail = ProbeFail, probeDetail(r)
			return false
		}
	}

	switch {
	case active != nil:
		st.State = StateEmulated
		mode := ProbeChroot
		if !isRoot() {
			mode = ProbeDirect
		}
		if platform.Match(a.Platform, host) {
			st.Note = "the host's own architecture is routed to an emulator"
		}
		if !probe(mode) {
			st.Note = joinNote(st.Note, "the handler does not run "+a.String()+" executables")
		}
		if !active.HasFlag('F') {
			st.Note = joinNote(st.Note, "no F flag: the interpreter path is looked up inside each container, so containers without QEMU cannot use it (`manyarch binfmt install --force "+a.Name+"` replaces it)")
		} else if st.Static != nil && !*st.Static {
			st.Note = joinNote(st.Note, "the interpreter is dynamically linked: containers lack its libraries")
		}
	case platform.Match(a.Platform, host):
		st.State = StateNative
		probe(ProbeDirect)
	case nativeCandidate(a, host):
		if !o.probe && platform.MatchCompat(a.Platform, host) {
			st.State = StateNative
			break
		}
		r, err := Probe(ctx, a, ProbeDirect)
		if err == nil && r.OK {
			st.State, st.Probe = StateNative, ProbePass
			break
		}
		st.State = StateUnavailable
		if err == nil {
			st.Probe, st.ProbeDetail = ProbeFail, probeDetail(r)
		}
		st.Note = "the kernel does not run " + a.String() + " executables (for 386 on amd64: IA32 emulation is off)" + installHint(a)
	default:
		st.State = StateUnavailable
		switch {
		case shown != nil && !enabled:
			st.Note = "binfmt_misc is switched off (" + HostMount + "/status): echo 1 > " + HostMount + "/status"
		case shown != nil:
			st.Note = "handler " + shown.Name + " is disabled: echo 1 > " + HostMount + "/" + shown.Name
		default:
			st.Note = strings.TrimPrefix(installHint(a), "; ")
		}
	}
	return nil
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
		return "; install qemu-user-static (apt-get install qemu-user-static), then run `manyarch binfmt install " + a.Name + "`"
	}
	return "; run `manyarch binfmt install " + a.Name + "`"
}

func joinNote(a, b string) string {
	if a == "" {
		return b
	}
	return a + "; " + b
}
