package prefault

import (
	"syscall"
	"testing"
	"unsafe"
)

// resident reports how many of the n bytes of pages from start are mapped
// in (mincore), out of how many pages.
func resident(t *testing.T, start, n uintptr) (in, pages int) {
	t.Helper()
	vec := make([]byte, (n+pageSize-1)/pageSize)
	if _, _, errno := syscall.Syscall(syscall.SYS_MINCORE, start, n, uintptr(unsafe.Pointer(&vec[0]))); errno != 0 {
		t.Fatalf("mincore(%#x, %d): %v", start, n, errno)
	}
	for _, v := range vec {
		if v&1 != 0 {
			in++
		}
	}
	return in, len(vec)
}

func requirePopulate(t *testing.T, errno syscall.Errno) {
	t.Helper()
	if errno == syscall.EINVAL {
		t.Skip("this kernel has no MADV_POPULATE_WRITE (Linux >= 5.14)")
	}
	if errno != 0 {
		t.Fatalf("madvise(MADV_POPULATE_WRITE): %v", errno)
	}
}

// TestInitPopulatesHeapChunk: the initializer mapped in the rest of the
// heap chunk it found, page-aligned and within one chunk.
func TestInitPopulatesHeapChunk(t *testing.T) {
	p := populated
	requirePopulate(t, p.errno)
	if p.start%pageSize != 0 || p.end%heapChunk != 0 || p.end <= p.start || p.end-p.start > heapChunk {
		t.Fatalf("populated [%#x, %#x): want page-aligned start, end at the next %d MiB boundary", p.start, p.end, heapChunk>>20)
	}
	if in, pages := resident(t, p.start, p.end-p.start); in != pages {
		t.Errorf("%d of the %d pages populated at init are mapped in, want all", in, pages)
	}
}

// TestBuffer: the pages of a buffer that nothing has touched yet are
// mapped in after Buffer, and its contents are unchanged.
func TestBuffer(t *testing.T) {
	const n = 1 << 20
	// Fresh memory outside the Go heap: nothing else can fault it in.
	page := int(pageSize)
	m, err := syscall.Mmap(-1, 0, n+2*page, syscall.PROT_READ|syscall.PROT_WRITE, syscall.MAP_ANON|syscall.MAP_PRIVATE)
	if err != nil {
		t.Fatal(err)
	}
	defer syscall.Munmap(m)
	base := uintptr(unsafe.Pointer(&m[0]))
	if in, _ := resident(t, base, uintptr(len(m))); in != 0 {
		t.Fatalf("%d pages of a fresh mapping are mapped in before Buffer", in)
	}
	// An unaligned buffer inside it: every page it touches is populated.
	b := m[100 : 100+n]
	requirePopulate(t, populate(base, pageSize)) // probe: skip on old kernels
	Buffer(b)
	in, pages := resident(t, base, uintptr(len(m)))
	if want := (100 + n + page - 1) / page; in != want {
		t.Errorf("after Buffer, %d of %d pages mapped in, want the %d that the buffer lies on", in, pages, want)
	}
	for i, c := range m {
		if c != 0 {
			t.Fatalf("byte %d is %#x after Buffer, want 0: populating must not change memory", i, c)
		}
	}
	Buffer(nil)
}
