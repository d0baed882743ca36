//go:build !linux

package prefault

// Buffer does nothing on this system.
func Buffer(b []byte) {}
