package fault

import (
	"fmt"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"
)

// signalNumber parses a signal name ("KILL", "SIGTERM", "term") or number;
// an empty name is SIGKILL.
func signalNumber(name string) (syscall.Signal, error) {
	if name == "" {
		return unix.SIGKILL, nil
	}
	n := strings.ToUpper(strings.TrimSpace(name))
	if !strings.HasPrefix(n, "SIG") {
		n = "SIG" + n
	}
	if s := unix.SignalNum(n); s != 0 {
		return s, nil
	}
	var num int
	if _, err := fmt.Sscanf(name, "%d", &num); err == nil && num > 0 && num < 65 && fmt.Sprint(num) == strings.TrimSpace(name) {
		return syscall.Signal(num), nil
	}
	return 0, fmt.Errorf("signal %q: want a signal name such as KILL, TERM, INT or SEGV, or a number from 1 to 64", name)
}
