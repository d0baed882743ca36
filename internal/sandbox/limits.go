package sandbox

import (
	"fmt"
	"net/netip"
	"sort"
	"strconv"
	"strings"

	"github.com/manyarch/manyarch/internal/sandbox/sandboxinit"
)

// Ulimit is a resource limit of the container's processes, as docker run
// --ulimit NAME=SOFT[:HARD] and buildx build --ulimit give it.
type Ulimit struct {
	Name       string // nofile, nproc, core, ... (without RLIMIT_)
	Soft, Hard uint64 // Unlimited for no limit
}

// Unlimited is a Ulimit value without a limit (RLIM_INFINITY).
const Unlimited = ^uint64(0)

// ulimitResources are the names docker accepts (their RLIMIT_ numbers,
// which differ between architectures, are in limits_linux.go).
var ulimitResources = map[string]bool{
	"cpu": true, "fsize": true, "data": true, "stack": true, "core": true, "rss": true, "nproc": true,
	"nofile": true, "memlock": true, "as": true, "locks": true, "sigpending": true,
	"msgqueue": true, "nice": true, "rtprio": true, "rttime": true,
}

// ParseUlimit parses NAME=SOFT[:HARD] (HARD defaults to SOFT; -1 or
// "unlimited" for no limit), as docker does.
func ParseUlimit(s string) (Ulimit, error) {
	name, val, ok := strings.Cut(s, "=")
	if !ok || name == "" || val == "" {
		return Ulimit{}, fmt.Errorf("ulimit %q: want NAME=SOFT[:HARD], e.g. nofile=1024:4096", s)
	}
	if _, known := ulimitResources[name]; !known {
		names := make([]string, 0, len(ulimitResources))
		for n := range ulimitResources {
			names = append(names, n)
		}
		sort.Strings(names)
		return Ulimit{}, fmt.Errorf("ulimit %q: unknown resource %q (known: %s)", s, name, strings.Join(names, ", "))
	}
	softS, hardS, hasHard := strings.Cut(val, ":")
	num := func(v string) (uint64, error) {
		if v == "-1" || v == "unlimited" {
			return Unlimited, nil
		}
		n, err := strconv.ParseUint(v, 10, 64)
		if err != nil {
			return 0, fmt.Errorf("ulimit %q: %q is not a number, -1 or unlimited", s, v)
		}
		return n, nil
	}
	soft, err := num(softS)
	if err != nil {
		return Ulimit{}, err
	}
	hard := soft
	if hasHard {
		if hard, err = num(hardS); err != nil {
			return Ulimit{}, err
		}
	}
	if soft > hard {
		return Ulimit{}, fmt.Errorf("ulimit %q: the soft limit is above the hard limit", s)
	}
	return Ulimit{Name: name, Soft: soft, Hard: hard}, nil
}

// String is the NAME=SOFT:HARD form (cache keys, messages).
func (u Ulimit) String() string {
	return sandboxinit.Ulimit{Name: u.Name, Soft: u.Soft, Hard: u.Hard}.String()
}

// limitString is a limit's value as --ulimit takes it.
func limitString(v uint64) string { return sandboxinit.LimitString(v) }

// ParseHost parses an extra /etc/hosts entry, NAME:IP as docker run
// --add-host and buildx --add-host take it (NAME=IP too; an IPv6 address
// may be bracketed).
func ParseHost(s string) (string, error) {
	name, ip, ok := strings.Cut(s, "=")
	if !ok {
		name, ip, ok = strings.Cut(s, ":")
	}
	ip = strings.TrimSuffix(strings.TrimPrefix(ip, "["), "]")
	addr, err := netip.ParseAddr(ip)
	if !ok || name == "" || err != nil || strings.ContainsAny(name, " \t\n#") {
		return "", fmt.Errorf("host %q: want NAME:IP, e.g. registry.local:10.0.0.5", s)
	}
	return addr.String() + "\t" + name, nil
}
