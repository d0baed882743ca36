// Package prefault maps memory in before the program touches it, one
// system call for many pages, where a page fault per page costs more.
//
// On the virtual machines this project measures on (bench/README.md,
// "Start-up"), a fault on a fresh anonymous page costs about 12 µs: the
// guest's fault traps to the hypervisor. madvise(MADV_POPULATE_WRITE)
// (Linux 5.14) maps the same pages from inside the kernel for about
// 0.8 µs each. A manyarch process faults in 700-1,300 pages before its
// command starts (the Go heap that ~290 package initializers fill), and a
// pull faults in its copy buffers as the first bytes land in them.
//
// Importing the package prefaults, from its initializer, the rest of the
// heap chunk the Go runtime has mapped so far (up to 4 MiB: the runtime
// maps its heap in 4 MiB chunks, pallocChunkBytes). Its import path sorts
// before most of the program's packages and it imports only package
// syscall, so it runs before most initializers allocate. Import it for
// its effect, first thing, in a main package:
//
//	import _ "github.com/manyarch/manyarch/internal/prefault"
//
// Buffer prefaults a large buffer that is about to be filled.
//
// Populating never changes memory contents, only whether pages are
// mapped, so a failure (an older kernel: EINVAL; a seccomp filter: EPERM)
// is ignored: the pages fault in as before. The cost is resident memory:
// up to 4 MiB of heap that the process may not use.
package prefault
