package platform

import (
	"errors"
	"fmt"
	"strings"

	"github.com/containerd/platforms"
	specs "github.com/opencontainers/image-spec/specs-go/v1"
)

// archAliases maps architecture spellings that containerd/platforms does not
// normalize (or normalizes differently) to an OCI architecture and variant.
// Kernel names (uname -m) are here only where they name one row: "mips64" is
// both mips64 and mips64le, so it is not.
var archAliases = map[string][2]string{
	"i486":        {"386", ""},
	"i586":        {"386", ""},
	"i686":        {"386", ""},
	"x86":         {"386", ""},
	"armhf":       {"arm", "v7"},
	"armel":       {"arm", "v5"}, // Debian's armel is ARMv5TE soft-float; containerd says v6
	"armv5l":      {"arm", "v5"},
	"armv5tel":    {"arm", "v5"},
	"armv6l":      {"arm", "v6"},
	"armv7l":      {"arm", "v7"},
	"ppc64el":     {"ppc64le", ""},
	"mips64el":    {"mips64le", ""},
	"loongarch64": {"loong64", ""},
}

// osNames are operating system names that Parse recognizes alone, to say
// that an architecture is missing rather than that the OS is unknown.
var osNames = map[string]bool{
	"linux": true, "windows": true, "darwin": true, "macos": true, "freebsd": true,
	"netbsd": true, "openbsd": true, "solaris": true, "illumos": true, "aix": true,
	"android": true, "ios": true, "plan9": true, "dragonfly": true,
}

// isOS reports whether s names an OS, possibly with an OS version:
// "linux", "windows(10.0.17763)".
func isOS(s string) bool {
	if i := strings.IndexByte(s, '('); i > 0 {
		s = s[:i]
	}
	return osNames[s]
}

// Parse parses and normalizes a platform: "linux/arm64", "arm64",
// "linux/arm/v7", "aarch64", "x86_64", "armhf", "linux/arm" (= linux/arm/v7),
// "linux/arm64/v8" (= linux/arm64), "arm/v6" (the short form of Arch.Name),
// in any case. A missing OS is linux. It
// fails with ErrEmpty, a *SyntaxError or an *UnknownError (the platform is
// well formed but not in the table; its message lists the known platforms).
func Parse(s string) (specs.Platform, error) {
	t := strings.ToLower(strings.TrimSpace(s))
	if t == "" {
		return specs.Platform{}, ErrEmpty
	}
	parts := strings.Split(t, "/")
	if len(parts) > 3 {
		return specs.Platform{}, &SyntaxError{Input: s, Reason: "too many parts: want OS/ARCH[/VARIANT], such as linux/arm/v7"}
	}
	for _, part := range parts {
		if part == "" {
			return specs.Platform{}, &SyntaxError{Input: s, Reason: "empty part: want OS/ARCH[/VARIANT], such as linux/arm/v7"}
		}
	}
	var osName, arch, variant string
	switch len(parts) {
	case 1:
		if isOS(parts[0]) {
			return specs.Platform{}, &SyntaxError{Input: s, Reason: "no architecture: want OS/ARCH[/VARIANT], such as " + parts[0] + "/amd64"}
		}
		osName, arch = "linux", parts[0]
	case 2:
		if isOS(parts[0]) {
			osName, arch = parts[0], parts[1]
		} else {
			// ARCH/VARIANT, the short form Arch.Name uses: "arm/v7".
			osName, arch, variant = "linux", parts[0], parts[1]
		}
	case 3:
		osName, arch, variant = parts[0], parts[1], parts[2]
	}
	if a, ok := archAliases[arch]; ok {
		if variant != "" && a[1] != "" && strings.TrimPrefix(variant, "v") != strings.TrimPrefix(a[1], "v") {
			return specs.Platform{}, &SyntaxError{Input: s, Reason: fmt.Sprintf("architecture %q already means %s, not variant %q", arch, Format(linux(a[0], a[1])), variant)}
		}
		arch = a[0]
		if a[1] != "" {
			variant = a[1]
		}
	}
	// containerd/platforms checks the characters of every part and
	// normalizes the OS name; the architecture is normalized below.
	cp, err := platforms.Parse(osName + "/" + arch)
	if err != nil {
		return specs.Platform{}, &SyntaxError{Input: s, Reason: "not OS/ARCH[/VARIANT]: each part may hold only letters, digits, '_' and '-'"}
	}
	if variant != "" {
		if _, err := platforms.Parse("linux/" + arch + "/" + variant); err != nil {
			return specs.Platform{}, &SyntaxError{Input: s, Reason: "not OS/ARCH[/VARIANT]: each part may hold only letters, digits, '_' and '-'"}
		}
	}
	if cp.OSVersion != "" {
		return specs.Platform{}, &UnknownError{Input: s, Reason: "Linux platforms have no OS version"}
	}
	p := normalize(specs.Platform{OS: cp.OS, Architecture: arch, Variant: variant})
	if p.OS != "linux" {
		return specs.Platform{}, &UnknownError{Input: s, Reason: "manyarch builds and runs Linux images only"}
	}
	i := index(p)
	if i < 0 {
		return specs.Platform{}, &UnknownError{Input: s}
	}
	return table[i].Platform, nil
}

// ParseList parses platform flags: each argument is one platform or a
// comma-separated list, as in --platform linux/amd64,linux/arm64 and in
// repeated --platform flags. Spaces around elements are trimmed. The result
// keeps the order of first appearance and holds each platform once
// (linux/arm and linux/arm/v7 are the same platform). An empty element is an
// error; no arguments give a nil slice. Errors name the bad element.
func ParseList(args ...string) ([]specs.Platform, error) {
	var out []specs.Platform
	seen := make(map[int]bool, len(table))
	for _, arg := range args {
		for _, elem := range strings.Split(arg, ",") {
			p, err := Parse(elem)
			if err != nil {
				if errors.Is(err, ErrEmpty) {
					return nil, fmt.Errorf("parsing platform list %q: empty element", arg)
				}
				return nil, fmt.Errorf("parsing platform list %q: %w", arg, err)
			}
			i := index(p)
			if !seen[i] {
				seen[i] = true
				out = append(out, p)
			}
		}
	}
	return out, nil
}

// Format returns the canonical string of p after normalization:
// "linux/arm64", "linux/arm/v7". It does not check that p is in the table;
// the zero platform formats as "unknown".
func Format(p specs.Platform) string {
	return platforms.Format(normalize(p))
}

// Match reports whether want and have are the same platform after
// normalization: linux/arm64 matches linux/arm64/v8, linux/arm matches
// linux/arm/v7, and linux/amd64 does not match linux/386 (see MatchCompat).
func Match(want, have specs.Platform) bool {
	w, h := normalize(want), normalize(have)
	return w.OS == h.OS && w.Architecture == h.Architecture && w.Variant == h.Variant
}

// MatchCompat reports whether a host of platform have runs executables of
// platform want natively: when they Match, when have is amd64 and want is
// 386, and when both are arm and want's variant is not newer than have's
// (arm/v7 runs arm/v6 and arm/v5). arm64 hosts are not taken to run arm:
// many arm64 CPUs (Apple M1, AWS Graviton3 and later) have no AArch32 mode,
// so only a probe can tell.
func MatchCompat(want, have specs.Platform) bool {
	w, h := normalize(want), normalize(have)
	if w.OS != h.OS {
		return false
	}
	if w.Architecture == h.Architecture && w.Variant == h.Variant {
		return true
	}
	switch {
	case w.Architecture == "386" && h.Architecture == "amd64":
		return true
	case w.Architecture == "arm" && h.Architecture == "arm":
		wv, hv := armVersion(w.Variant), armVersion(h.Variant)
		return wv > 0 && hv > 0 && wv <= hv
	}
	return false
}

// armVersion returns 5 for "v5" and so on, 0 for anything else.
func armVersion(v string) int {
	if len(v) == 2 && v[0] == 'v' && v[1] >= '1' && v[1] <= '9' {
		return int(v[1] - '0')
	}
	return 0
}

// Host returns the normalized platform of the machine manyarch runs on: the
// Go runtime's OS and architecture and, on arm, the CPU's variant as
// containerd/platforms detects it from /proc/cpuinfo.
func Host() specs.Platform {
	return normalize(platforms.DefaultSpec())
}

// normalize is containerd/platforms' Normalize plus manyarch's aliases.
func normalize(p specs.Platform) specs.Platform {
	if a, ok := archAliases[strings.ToLower(p.Architecture)]; ok {
		p.Architecture = a[0]
		if a[1] != "" {
			p.Variant = a[1]
		}
	}
	// A bare-number variant ("7", "8") means the v-prefixed one; containerd
	// knows that for arm only.
	if v := p.Variant; v != "" && strings.Trim(v, "0123456789") == "" {
		p.Variant = "v" + v
	}
	osName := p.OS
	p = platforms.Normalize(p)
	if osName == "" {
		p.OS = "" // containerd fills in runtime.GOOS; an unknown OS stays unknown
	}
	return p
}
