package platform

import (
	"fmt"
	"strings"

	"github.com/containerd/platforms"
	specs "github.com/opencontainers/image-spec/specs-go/v1"
)

// Normalize returns p in canonical form (arm64/v8 → arm64, arm → arm/v7,
// aarch64 → arm64, armel → arm/v5, a bare variant "7" → "v7", …) without
// requiring it to be in the table, for platforms read from images, indexes
// and Dockerfiles, which may name any OS and architecture. It is
// containerd/platforms' Normalize with manyarch's aliases applied first (see
// archAliases: armel is linux/arm/v5 here, linux/arm/v6 in containerd) and
// with an empty OS left empty (containerd fills in the host's). OS version
// and features are kept. It is the one platform normalizer of manyarch:
// every parse, match, format and lookup goes through it.
func Normalize(p specs.Platform) specs.Platform {
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

// ParseAny parses and normalizes any platform specifier, in or out of the
// table: OS[(OSVERSION)]/ARCH[/VARIANT], ARCH/VARIANT or ARCH alone (a
// missing OS is linux), with the spellings Parse takes ("armhf", "armel",
// "aarch64", any case). It is for platforms manyarch does not run but must
// read with the same meaning, such as a Dockerfile's FROM --platform
// (windows/amd64 is fine there). It fails with ErrEmpty or a *SyntaxError.
func ParseAny(s string) (specs.Platform, error) {
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
	switch {
	case len(parts) == 1 && isOS(parts[0]):
		return specs.Platform{}, &SyntaxError{Input: s, Reason: "no architecture: want OS/ARCH[/VARIANT], such as " + parts[0] + "/amd64"}
	case len(parts) == 1:
		parts = []string{"linux", parts[0]}
	case len(parts) == 2 && !isOS(parts[0]):
		// ARCH/VARIANT, the short form Arch.Name uses: "arm/v7".
		parts = []string{"linux", parts[0], parts[1]}
	}
	alias, aliased := archAliases[parts[1]]
	if aliased {
		if len(parts) == 3 && alias[1] != "" && strings.TrimPrefix(parts[2], "v") != strings.TrimPrefix(alias[1], "v") {
			return specs.Platform{}, &SyntaxError{Input: s, Reason: fmt.Sprintf("architecture %q already means %s, not variant %q", parts[1], Format(linux(alias[0], alias[1])), parts[2])}
		}
		parts[1] = alias[0]
	}
	// containerd/platforms checks the characters of every part and parses
	// the OS version; the architecture is normalized below.
	p, err := platforms.Parse(strings.Join(parts, "/"))
	if err != nil {
		return specs.Platform{}, &SyntaxError{Input: s, Reason: "not OS/ARCH[/VARIANT]: each part may hold only letters, digits, '_' and '-'"}
	}
	if len(parts) == 3 {
		p.Variant = parts[2] // as written: containerd rewrites some (arm64 "" → v8)
	} else {
		p.Variant = ""
	}
	if aliased && alias[1] != "" {
		p.Variant = alias[1]
	}
	return Normalize(p), nil
}
