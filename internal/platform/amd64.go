package platform

import (
	"bufio"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"

	specs "github.com/opencontainers/image-spec/specs-go/v1"
)

// amd64LevelFlags are, for the x86-64 micro-architecture levels v2, v3 and
// v4 of the x86-64 psABI, the CPU features each adds, as Linux names them
// in /proc/cpuinfo's flags (pni is SSE3, abm carries LZCNT).
var amd64LevelFlags = [...][]string{
	2: {"cx16", "lahf_lm", "popcnt", "pni", "sse4_1", "sse4_2", "ssse3"},
	3: {"avx", "avx2", "bmi1", "bmi2", "f16c", "fma", "abm", "movbe", "xsave"},
	4: {"avx512f", "avx512bw", "avx512cd", "avx512dq", "avx512vl"},
}

// AMD64Level returns the x86-64 micro-architecture level p asks for: 1
// for linux/amd64 (and amd64/v1), 2 to 4 for amd64/v2 to amd64/v4, 0 for
// any other architecture or variant. p need not be normalized.
func AMD64Level(p specs.Platform) int {
	n := p
	if n.Architecture != "amd64" {
		n = Normalize(p)
	}
	if n.Architecture != "amd64" {
		return 0
	}
	switch v := strings.TrimPrefix(n.Variant, "v"); v {
	case "", "1":
		return 1
	case "2", "3", "4":
		return int(v[0] - '0')
	}
	return 0
}

// amd64Variant is the variant of level v: "" for 1, as containerd
// normalizes amd64/v1.
func amd64Variant(v int) string {
	if v <= 1 {
		return ""
	}
	return "v" + strconv.Itoa(v)
}

// amd64LevelOf returns the highest level whose features (and every lower
// level's) are all in flags, and the features the next level lacks.
func amd64LevelOf(flags map[string]bool) (level int, missing []string) {
	level = 1
	for v := 2; v < len(amd64LevelFlags); v++ {
		for _, f := range amd64LevelFlags[v] {
			if !flags[f] {
				missing = append(missing, f)
			}
		}
		if len(missing) > 0 {
			return level, missing
		}
		level = v
	}
	return level, nil
}

// hostCPUFlags reads the flags of the first CPU in /proc/cpuinfo; nil
// where there is none (not Linux, not x86).
var hostCPUFlags = sync.OnceValue(func() map[string]bool {
	f, err := os.Open("/proc/cpuinfo")
	if err != nil {
		return nil
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		name, value, ok := strings.Cut(sc.Text(), ":")
		if ok && strings.TrimSpace(name) == "flags" {
			flags := map[string]bool{}
			for _, fl := range strings.Fields(value) {
				flags[fl] = true
			}
			return flags
		}
	}
	return nil
})

// HostAMD64Level returns the x86-64 micro-architecture level of this
// machine's CPU (from /proc/cpuinfo's flags), or 0 when the host is not
// amd64 or its CPU cannot be read.
func HostAMD64Level() int {
	if Host().Architecture != "amd64" {
		return 0
	}
	flags := hostCPUFlags()
	if flags == nil {
		return 0
	}
	level, _ := amd64LevelOf(flags)
	return level
}

// HostNative returns Host with, on amd64, the CPU's micro-architecture
// level as the variant (linux/amd64/v3 on a CPU with AVX2): Compat of it
// is what this machine runs natively, so selecting from an index with it
// prefers linux/amd64/v3, then v2, then linux/amd64, as containerd does on
// such a host. Host stays linux/amd64, the default platform of builds, as
// buildx's.
func HostNative() specs.Platform {
	h := Host()
	if v := HostAMD64Level(); v > 1 {
		h.Variant = amd64Variant(v)
	}
	return h
}

// AMD64LevelError is CheckAMD64Level's error: the host's CPU lacks the
// micro-architecture level a platform needs.
type AMD64LevelError struct {
	Platform specs.Platform
	Need     int      // the platform's level
	Have     int      // the CPU's (0: unknown)
	Missing  []string // CPU flags the next level above Have needs
}

func (e *AMD64LevelError) Error() string {
	have := "cannot be read (no flags in /proc/cpuinfo)"
	if e.Have > 0 {
		have = fmt.Sprintf("is x86-64-v%d", e.Have)
		if len(e.Missing) > 0 {
			have += " (it lacks " + strings.Join(e.Missing, ", ") + ")"
		}
	}
	lower := "linux/amd64"
	if e.Have > 1 {
		lower = "linux/amd64/v" + strconv.Itoa(e.Have) + " or linux/amd64"
	}
	return fmt.Sprintf("%s needs an x86-64-v%d CPU and this machine's %s, so its programs would stop with an illegal instruction: use %s here, or run it on a newer CPU",
		Format(e.Platform), e.Need, have, lower)
}

// CheckAMD64Level returns nil when p is not an amd64 level above v1 or the
// host's CPU has it, else an *AMD64LevelError.
func CheckAMD64Level(p specs.Platform) error {
	need := AMD64Level(p)
	if need <= 1 || Host().Architecture != "amd64" {
		return nil
	}
	flags := hostCPUFlags()
	if flags == nil {
		return &AMD64LevelError{Platform: p, Need: need}
	}
	have, missing := amd64LevelOf(flags)
	if have >= need {
		return nil
	}
	return &AMD64LevelError{Platform: p, Need: need, Have: have, Missing: missing}
}
