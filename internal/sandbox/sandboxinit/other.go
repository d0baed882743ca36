//go:build !linux

package sandboxinit

// Main reports that the sandbox init cannot run here and returns 125.
func Main() int { return 125 }
