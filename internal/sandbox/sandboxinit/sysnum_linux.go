//go:build linux && !mips && !mipsle && !mips64 && !mips64le

package sandboxinit

// sysBase: system calls from 424 on (pidfd_send_signal, Linux 5.1) have
// one number on every architecture but MIPS.
const sysBase = 0
