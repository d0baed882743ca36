//go:build linux && (mips || mipsle)

package sandboxinit

// sysBase is the o32 ABI's offset of system call numbers.
const sysBase = 4000
