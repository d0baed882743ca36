//go:build linux

package sandboxtest

import (
	"fmt"
	"os"
	"sort"
	"strings"
	"testing"

	"github.com/manyarch/manyarch/internal/sandbox"
)

// Probe is a busybox sh script printing key=value lines: the capability
// sets, seccomp mode and no_new_privs of its own process, whether each
// masked path is mounted over and each read-only path is read-only, whether
// writing /proc/sys/kernel/hostname and core_pattern (their current values
// back: harmless even when allowed) is refused, what /proc/keys and
// /proc/timer_list show, whether a blocked syscall (unshare of a user
// namespace) fails with EPERM ("refused"), whether mkdir works, and, when
// fd >= 0, whether descriptor fd is open.
func Probe(fd int) string {
	var b strings.Builder
	b.WriteString(`grep -E '^(CapEff|CapBnd|Seccomp|NoNewPrivs):' /proc/self/status | sed 's/:[[:space:]]*/=/'
w() { if (cat "$1" > "$1") 2>/dev/null; then echo "$2=ok"; else echo "$2=refused"; fi; }
w /proc/sys/kernel/hostname hostname-write
w /proc/sys/kernel/core_pattern core-pattern-write
echo "keys-bytes=$(cat /proc/keys 2>/dev/null | wc -c)"
echo "timer-list-bytes=$(cat /proc/timer_list 2>/dev/null | wc -c)"
if e=$(unshare -U true 2>&1); then echo unshare-user=ok; else case "$e" in *"Operation not permitted"*) echo unshare-user=refused;; *) echo "unshare-user=error $e";; esac; fi
if mkdir /dev/shm/probe-$$ 2>/dev/null; then rmdir /dev/shm/probe-$$; echo mkdir=ok; else echo mkdir=refused; fi
`)
	for _, p := range sandbox.MaskedPaths {
		fmt.Fprintf(&b, `if [ -e %[1]s ]; then if awk '$2=="%[1]s"{f=1} END{exit !f}' /proc/mounts; then echo "masked:%[1]s=yes"; else echo "masked:%[1]s=no"; fi; else echo "masked:%[1]s=absent"; fi
`, p)
	}
	for _, p := range sandbox.ReadonlyPaths {
		fmt.Fprintf(&b, `if [ -e %[1]s ]; then if awk '$2=="%[1]s" && $4 ~ /^ro(,|$)/ {f=1} END{exit !f}' /proc/mounts; then echo "ro:%[1]s=yes"; else echo "ro:%[1]s=no"; fi; else echo "ro:%[1]s=absent"; fi
`, p)
	}
	if fd >= 0 {
		fmt.Fprintf(&b, "if [ -e /proc/self/fd/%d ]; then echo fd=open; else echo fd=closed; fi\n", fd)
	}
	b.WriteString("true\n")
	return b.String()
}

// Default is what Probe(fd) prints in a container with the default
// isolation, on this host (masked paths the host lacks are absent).
func Default(fd int) map[string]string {
	m := map[string]string{
		"CapEff":             sandbox.DefaultCapabilityMask,
		"CapBnd":             sandbox.DefaultCapabilityMask,
		"Seccomp":            "2",
		"NoNewPrivs":         "0",
		"hostname-write":     "refused",
		"core-pattern-write": "refused",
		"keys-bytes":         "0",
		"timer-list-bytes":   "0",
		"unshare-user":       "refused",
		"mkdir":              "ok",
	}
	for _, p := range sandbox.MaskedPaths {
		m["masked:"+p] = present(p, "yes")
	}
	for _, p := range sandbox.ReadonlyPaths {
		m["ro:"+p] = present(p, "yes")
	}
	if fd >= 0 {
		m["fd"] = "closed"
	}
	return m
}

func present(p, v string) string {
	if _, err := os.Stat(p); err != nil {
		return "absent"
	}
	return v
}

// Parse reads Probe's output.
func Parse(out string) map[string]string {
	m := map[string]string{}
	for line := range strings.Lines(out) {
		k, v, ok := strings.Cut(strings.TrimSpace(line), "=")
		if ok {
			m[k] = v
		}
	}
	return m
}

// Check fails t for every key of want that out shows differently.
func Check(t testing.TB, out string, want map[string]string) {
	t.Helper()
	got := Parse(out)
	keys := make([]string, 0, len(want))
	for k := range want {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	bad := false
	for _, k := range keys {
		if got[k] != want[k] {
			t.Errorf("%s = %q, want %q", k, got[k], want[k])
			bad = true
		}
	}
	if bad {
		t.Logf("probe output:\n%s", out)
	}
}
