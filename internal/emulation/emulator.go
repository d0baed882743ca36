package emulation

import (
	"context"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"sync"

	"github.com/manyarch/manyarch/internal/emulation/probes"
	"github.com/manyarch/manyarch/internal/platform"
)

// QEMUFix says how to get an emulator that runs real programs. QEMU 10
// from Debian 12's backports is what hack/deps.sh installs; its
// /usr/bin/qemu-* are static-pie, so they run inside containers.
const QEMUFix = "install QEMU 8 or later: on Debian 12, apt-get install -t bookworm-backports qemu-user " +
	"(hack/deps.sh adds bookworm-backports and does it); elsewhere your distribution's qemu-user or qemu-user-static"

// Version is a QEMU release, as `qemu-TARGET --version` prints it.
type Version struct {
	Major, Minor, Patch int
}

func (v Version) String() string {
	if v == (Version{}) {
		return ""
	}
	return fmt.Sprintf("%d.%d.%d", v.Major, v.Minor, v.Patch)
}

// Less reports whether v is an older release than w.
func (v Version) Less(w Version) bool {
	if v.Major != w.Major {
		return v.Major < w.Major
	}
	if v.Minor != w.Minor {
		return v.Minor < w.Minor
	}
	return v.Patch < w.Patch
}

var versionRE = sync.OnceValue(func() *regexp.Regexp {
	return regexp.MustCompile(`(?m)^qemu-\S+ version (\d+)\.(\d+)(?:\.(\d+))?`)
})

// ParseVersion reads the first line of `qemu-TARGET --version`:
// "qemu-i386 version 10.0.2 (Debian 1:10.0.2+ds-2+deb13u1~bpo12+1)".
func ParseVersion(out string) (Version, error) {
	m := versionRE().FindStringSubmatch(out)
	if m == nil {
		line, _, _ := strings.Cut(strings.TrimSpace(out), "\n")
		return Version{}, fmt.Errorf("not a QEMU version line: %q", line)
	}
	var v Version
	v.Major, _ = strconv.Atoi(m[1])
	v.Minor, _ = strconv.Atoi(m[2])
	if m[3] != "" {
		v.Patch, _ = strconv.Atoi(m[3])
	}
	return v, nil
}

// emulatorBug is a QEMU release range known to break a platform's real
// programs even though the tiny probe passes.
type emulatorBug struct {
	qemu  string  // QEMU target, "i386"
	below Version // releases before this one have the bug
	what  string
}

var emulatorBugs = []emulatorBug{
	{"i386", Version{8, 0, 0}, "QEMU before 8.0 crashes every Go program for linux/386 (SIGSEGV in the Go runtime: a new thread loses its thread-local storage)"},
}

// knownBug returns what is wrong with QEMU v for a, or "".
func knownBug(a platform.Arch, v Version) string {
	if v == (Version{}) {
		return ""
	}
	for _, b := range emulatorBugs {
		if b.qemu == a.QEMU && v.Less(b.below) {
			return b.what
		}
	}
	return ""
}

// EmulatorError says that the emulator that would run Arch's executables
// cannot run real programs: too old, or failing the thread probe. The
// message names the file, its version and the fix.
type EmulatorError struct {
	Arch    platform.Arch
	Path    string
	Version Version
	Reason  string
}

func (e *EmulatorError) Error() string {
	v := ""
	if e.Version != (Version{}) {
		v = " (QEMU " + e.Version.String() + ")"
	}
	return fmt.Sprintf("%s: the emulator %s%s cannot run real programs: %s: %s", e.Arch, e.Path, v, e.Reason, QEMUFix)
}

// threadProbeGOARCH is the thread probe build for a.
func threadProbeGOARCH(a platform.Arch) string { return a.GOARCH }

var (
	threadBinCache    sync.Map // GOARCH -> []byte
	threadDigestCache sync.Map // GOARCH -> string
)

// threadProbeDigest is probes.ThreadDigest, once per process.
func threadProbeDigest(a platform.Arch) (string, error) {
	g := threadProbeGOARCH(a)
	if d, ok := threadDigestCache.Load(g); ok {
		return d.(string), nil
	}
	d, err := probes.ThreadDigest(g)
	if err != nil {
		return "", err
	}
	threadDigestCache.Store(g, d)
	return d, nil
}

func threadProbeBinary(a platform.Arch) ([]byte, error) {
	g := threadProbeGOARCH(a)
	if b, ok := threadBinCache.Load(g); ok {
		return b.([]byte), nil
	}
	b, err := probes.Thread(g)
	if err != nil {
		return nil, err
	}
	threadBinCache.Store(g, b)
	return b, nil
}

// CheckEmulator says whether in can run a's real programs inside
// containers, or nil: it must be static (a container has none of its
// libraries; the F flag opens it on the host, but its program interpreter
// is still looked up in the container), not a release known to break the
// platform, and it must pass the thread probe (threads with TLS, signals),
// which it runs directly, as `in.Path [-cpu MODEL] PROBE`. A pass is
// remembered for the emulator file until it changes or the machine
// reboots; a thread probe takes 50-300 ms.
func CheckEmulator(ctx context.Context, a platform.Arch, in Interpreter) error {
	if !in.Static {
		return &DynamicInterpreterError{Arch: a, Path: in.Path}
	}
	if bug := knownBug(a, in.Version); bug != "" {
		return &EmulatorError{Arch: a, Path: in.Path, Version: in.Version, Reason: bug}
	}
	r, err := ThreadProbe(ctx, a, in.Path)
	if err != nil {
		return fmt.Errorf("checking the emulator %s for %s: %w", in.Path, a, err)
	}
	if !r.OK {
		return &EmulatorError{Arch: a, Path: in.Path, Version: in.Version, Reason: "a program with threads and signals failed under it: " + probeDetail(r)}
	}
	return nil
}
