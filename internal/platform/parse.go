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
	p, err := ParseAny(s)
	if err != nil {
		return specs.Platform{}, err
	}
	if p.OSVersion != "" || len(p.OSFeatures) > 0 {
		return specs.Platform{}, &UnknownError{Input: s, Reason: "Linux platforms have no OS version"}
	}
	if p.OS != "linux" {
		return specs.Platform{}, &UnknownError{Input: s, Reason: "manyarch builds and runs Linux images only"}
	}
	a, ok := Lookup(p)
	if !ok {
		if p.Architecture == "amd64" {
			return specs.Platform{}, &UnknownError{Input: s, Reason: "amd64's micro-architecture levels are v1 (plain linux/amd64), v2, v3 and v4"}
		}
		return specs.Platform{}, &UnknownError{Input: s}
	}
	return a.Platform, nil
}

// ParseList parses platform flags: each argument is one platform or a
// comma-separated list, as in --platform linux/amd64,linux/arm64 and in
// repeated --platform flags. Spaces around elements are trimmed. The result
// keeps the order of first appearance and holds each platform once
// (linux/arm and linux/arm/v7 are the same platform). An empty element is an
// error; no arguments give a nil slice. Errors name the bad element.
func ParseList(args ...string) ([]specs.Platform, error) {
	var out []specs.Platform
	seen := make(map[string]bool, len(table))
	for _, arg := range args {
		for _, elem := range strings.Split(arg, ",") {
			p, err := Parse(elem)
			if err != nil {
				if errors.Is(err, ErrEmpty) {
					return nil, fmt.Errorf("parsing platform list %q: empty element", arg)
				}
				return nil, fmt.Errorf("parsing platform list %q: %w", arg, err)
			}
			if k := Format(p); !seen[k] {
				seen[k] = true
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
	return platforms.Format(Normalize(p))
}

// Host returns the normalized platform of the machine manyarch runs on: the
// Go runtime's OS and architecture and, on arm, the CPU's variant as
// containerd/platforms detects it from /proc/cpuinfo.
func Host() specs.Platform {
	return Normalize(platforms.DefaultSpec())
}
