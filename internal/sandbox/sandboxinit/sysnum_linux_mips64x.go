//go:build linux && (mips64 || mips64le)

package sandboxinit

// sysBase is the n64 ABI's offset of system call numbers.
const sysBase = 5000
