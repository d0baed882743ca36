package prefault

import (
	"syscall"
	"unsafe"
)

// madvPopulateWrite is MADV_POPULATE_WRITE, the same on every Linux
// architecture.
const madvPopulateWrite = 23

// pageSize is the system's page size: madvise wants page-aligned ranges
// (4 KiB here; 16 or 64 KiB on some arm64 and ppc64le kernels).
var pageSize = uintptr(syscall.Getpagesize())

// heapChunk is the Go runtime's pallocChunkBytes: it maps its heap in
// chunks of this size at chunk-aligned addresses, so the rest of the chunk
// holding a heap object is mapped, readable and writable.
const heapChunk = 4 << 20

// heapProbe is a heap object whose address locates the heap; a package
// variable, so the compiler cannot keep it on the stack.
var heapProbe *[64]byte

// populated records what the initializer populated, for the tests.
var populated struct {
	start, end uintptr
	errno      syscall.Errno
}

func init() {
	heapProbe = new([64]byte)
	a := uintptr(unsafe.Pointer(heapProbe))
	start := a &^ (pageSize - 1)
	end := (a + heapChunk) &^ (heapChunk - 1)
	populated.start, populated.end = start, end
	populated.errno = populate(start, end-start)
}

// Buffer prefaults the pages b lies on. Call it on a large buffer
// (hundreds of KiB) that is about to be filled, before its first use; on
// pages already mapped it costs a page-table walk.
func Buffer(b []byte) {
	if len(b) == 0 {
		return
	}
	a := uintptr(unsafe.Pointer(unsafe.SliceData(b)))
	start := a &^ (pageSize - 1)
	end := (a + uintptr(len(b)) + pageSize - 1) &^ (pageSize - 1)
	populate(start, end-start)
}

func populate(start, n uintptr) syscall.Errno {
	_, _, errno := syscall.Syscall(syscall.SYS_MADVISE, start, n, madvPopulateWrite)
	return errno
}
