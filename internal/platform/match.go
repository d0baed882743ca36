package platform

import (
	"sort"
	"strconv"
	"strings"

	specs "github.com/opencontainers/image-spec/specs-go/v1"
)

// Matcher matches platforms. Every Matcher of this package normalizes the
// platforms it is given (Normalize), so arm64 matches arm64/v8 and arm
// matches arm/v7; OS version and features are not compared.
type Matcher interface {
	Match(p specs.Platform) bool
}

// MatchComparer is a Matcher that also orders the platforms it matches:
// Less(a, b) reports whether a is preferred to b. It is the shape of
// containerd/platforms' MatchComparer, so selection code reads the same.
type MatchComparer interface {
	Matcher
	Less(a, b specs.Platform) bool
}

// Only matches p alone: the same platform after normalization (linux/arm64
// and linux/arm64/v8, linux/arm and linux/arm/v7), never a compatible one.
// Note the name: containerd's Only also matches what p runs (its Only is
// manyarch's Compat); manyarch's Only is containerd's OnlyStrict, because
// manyarch selects the image a user names, and runs other ones under
// emulation rather than by falling back.
func Only(p specs.Platform) MatchComparer { return Ordered(p) }

// Ordered matches any of ps exactly (as Only does) and prefers the earlier
// ones: Less(a, b) holds when a matches an earlier platform of ps than b.
func Ordered(ps ...specs.Platform) MatchComparer {
	o := ordered(make([]specs.Platform, len(ps)))
	for i, p := range ps {
		o[i] = Normalize(p)
	}
	return o
}

// Compat matches the platforms a host of platform p runs natively: p
// itself, 386 on amd64, lower micro-architecture levels on amd64 (amd64/v3
// runs amd64/v2 and amd64, as containerd's), and older arm variants on arm
// (arm/v7 runs arm/v6 and arm/v5). It prefers p, then the newest compatible
// variant, then 386.
// arm64 is not taken to run arm: many arm64 CPUs (Apple M1, AWS Graviton3
// and later) have no AArch32 mode, so only a probe can tell (containerd's
// Only assumes it can).
func Compat(p specs.Platform) MatchComparer {
	n := Normalize(p)
	vector := []specs.Platform{n}
	switch n.Architecture {
	case "amd64":
		for v := AMD64Level(n) - 1; v >= 1; v-- {
			vector = append(vector, specs.Platform{OS: n.OS, Architecture: "amd64", Variant: amd64Variant(v)})
		}
		vector = append(vector, specs.Platform{OS: n.OS, Architecture: "386"})
	case "arm":
		for v := armVersion(n.Variant) - 1; v >= 1; v-- {
			vector = append(vector, specs.Platform{OS: n.OS, Architecture: "arm", Variant: "v" + strconv.Itoa(v)})
		}
	}
	return ordered(vector)
}

// ordered holds normalized platforms, best first.
type ordered []specs.Platform

func (o ordered) rank(p specs.Platform) int {
	n := Normalize(p)
	for i, w := range o {
		if w.OS == n.OS && w.Architecture == n.Architecture && w.Variant == n.Variant {
			return i
		}
	}
	return -1
}

func (o ordered) Match(p specs.Platform) bool { return o.rank(p) >= 0 }

func (o ordered) Less(a, b specs.Platform) bool {
	ra, rb := o.rank(a), o.rank(b)
	return ra >= 0 && (rb < 0 || ra < rb)
}

// Match reports whether want and have are the same platform after
// normalization: Only(want).Match(have). linux/arm64 matches linux/arm64/v8,
// linux/arm matches linux/arm/v7, and linux/amd64 does not match linux/386
// (see MatchCompat).
func Match(want, have specs.Platform) bool { return Only(want).Match(have) }

// MatchCompat reports whether a host of platform have runs executables of
// platform want natively: Compat(have).Match(want). See Compat.
func MatchCompat(want, have specs.Platform) bool { return Compat(have).Match(want) }

// armVersion returns 5 for "v5" and so on, 0 for anything else.
func armVersion(v string) int {
	if len(v) == 2 && v[0] == 'v' && v[1] >= '1' && v[1] <= '9' {
		return int(v[1] - '0')
	}
	return 0
}

// Selection is what Select picked from a list of platforms.
type Selection struct {
	// Best holds, for each wanted platform, the position in have of its
	// best match (the comparer's order; among equals, the first in have), or
	// -1 when nothing matches it.
	Best []int
	// All holds every position in have that some wanted platform matches,
	// each once, in have's order.
	All []int
	// Missing lists the wanted platforms that match nothing, in want's order.
	Missing []specs.Platform
}

// Select matches the wanted platforms against have, the platforms of an
// index's images in the index's order, with the comparer m makes for each
// wanted platform (Only: the same platform; Compat: what it runs). It is the
// one platform selection of manyarch: ref.Select (one image per wanted
// platform), remote's --platform filter and index's edits (every matching
// image) all read their answer from it.
func Select(have, want []specs.Platform, m func(specs.Platform) MatchComparer) Selection {
	s := Selection{Best: make([]int, len(want))}
	hit := make([]bool, len(have))
	for i, w := range want {
		c := m(w)
		var matched []int
		for j, h := range have {
			if c.Match(h) {
				matched = append(matched, j)
				hit[j] = true
			}
		}
		if len(matched) == 0 {
			s.Best[i] = -1
			s.Missing = append(s.Missing, w)
			continue
		}
		sort.SliceStable(matched, func(a, b int) bool { return c.Less(have[matched[a]], have[matched[b]]) })
		s.Best[i] = matched[0]
	}
	for j, ok := range hit {
		if ok {
			s.All = append(s.All, j)
		}
	}
	return s
}

// FormatList formats platforms for messages: "linux/amd64, linux/arm/v7".
func FormatList(ps []specs.Platform) string {
	s := make([]string, len(ps))
	for i, p := range ps {
		s[i] = Format(p)
	}
	return strings.Join(s, ", ")
}
