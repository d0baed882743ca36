package seccomp

import (
	"fmt"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Install applies the filter to the calling thread; the processes it forks
// or clones inherit it. The caller needs CAP_SYS_ADMIN in its user
// namespace or no_new_privs set; it should lock its OS thread.
func Install(filter []unix.SockFilter) error {
	if len(filter) == 0 {
		return fmt.Errorf("seccomp: empty filter")
	}
	prog := unix.SockFprog{Len: uint16(len(filter)), Filter: &filter[0]}
	_, _, e := unix.RawSyscall(unix.SYS_SECCOMP, unix.SECCOMP_SET_MODE_FILTER, 0, uintptr(unsafe.Pointer(&prog)))
	if e != 0 {
		return fmt.Errorf("seccomp: installing a filter of %d instructions: %w", len(filter), e)
	}
	return nil
}
