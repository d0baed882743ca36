//go:build !linux

package progress

// isTerminal is false off Linux: manyarch supports Linux only, and plain
// output is always correct.
func isTerminal(uintptr) bool { return false }
