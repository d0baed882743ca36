package cgroup

import (
	"fmt"
	"strconv"
	"strings"
)

// MinLimit is the smallest limit ParseSize accepts, as Docker's -m does:
// below it a shell and its emulator do not start.
const MinLimit = 6 << 20

// ParseSize parses a memory size as docker run -m and buildx --memory take
// it: a number of bytes with an optional binary unit b, k, m, g or t
// (case-insensitive, optionally followed by "b" or "ib": 512m, 2g, 1.5GiB).
func ParseSize(s string) (int64, error) {
	t := strings.ToLower(strings.TrimSpace(s))
	if t == "" {
		return 0, fmt.Errorf("memory size %q: empty; want a number with an optional unit, e.g. 512m or 2g", s)
	}
	t = strings.TrimSuffix(strings.TrimSuffix(t, "ib"), "b")
	mult := float64(1)
	if n := len(t); n > 0 {
		if i := strings.IndexByte("kmgt", t[n-1]); i >= 0 {
			mult = float64(int64(1) << (10 * (i + 1)))
			t = t[:n-1]
		}
	}
	v, err := strconv.ParseFloat(t, 64)
	if err != nil || v < 0 || v != v {
		return 0, fmt.Errorf("memory size %q: want a number with an optional unit b, k, m, g or t, e.g. 512m or 2g", s)
	}
	b := v * mult
	if b > float64(1<<62) {
		return 0, fmt.Errorf("memory size %q: too large", s)
	}
	if b < MinLimit {
		return 0, fmt.Errorf("memory size %q: below the minimum of 6m", s)
	}
	return int64(b), nil
}

// FormatSize is the short binary form of a size: 64MiB, 1.5GiB.
func FormatSize(n int64) string {
	const units = "KMGT"
	if n < 1<<10 {
		return strconv.FormatInt(n, 10) + "B"
	}
	v, i := float64(n)/1024, 0
	for v >= 1024 && i < len(units)-1 {
		v /= 1024
		i++
	}
	if v >= 1000 {
		return fmt.Sprintf("%.0f%ciB", v, units[i])
	}
	return fmt.Sprintf("%.4g%ciB", v, units[i])
}
