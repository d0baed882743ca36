package verify

import (
	"bytes"
	"debug/elf"
	"errors"
	"fmt"
	"io"
	"sort"
	"strings"

	"github.com/manyarch/manyarch/internal/platform"
)

// Reading ELF files out of a tar stream.
//
// A layer is a compressed tar stream: it cannot be seeked, and the parts of
// an ELF file verify needs are spread over it (the program headers at the
// start, the dynamic segment and the Go build information in the data
// segment, the section headers at the very end, the .ARM.attributes section
// somewhere before them). verify never buffers a whole file. It reads the
// first headSize bytes, parses the ELF and program headers, and from them
// plans a short list of byte windows at known offsets; it then moves
// forward through the file once, discarding the bytes between windows and
// keeping only the windows. A window whose position is learnt only after the
// stream passed it (a string table behind the dynamic segment, outside the
// kept head) is given up, and what depended on it is marked unknown rather
// than guessed. Windows are capped, so one file costs at most a few MiB of
// memory whatever its size, and files that are not ELF cost only their
// first bytes.
const (
	headSize       = 64 << 10 // read from every regular file
	dynHeadSize    = 1 << 20  // kept from the start of dynamically linked files (.dynstr is usually there)
	maxInterp      = 4 << 10
	maxDynamic     = 64 << 10
	maxStrtab      = 1 << 20
	buildInfoSize  = 64 << 10 // what debug/buildinfo reads at the data segment too
	nonAllocSize   = 256 << 10
	maxSectionScan = 1 << 30 // files larger than this have their section table left unread
)

// elfFile is the small record verify keeps for each ELF file.
type elfFile struct {
	Class   elf.Class
	Data    elf.Data
	Machine elf.Machine
	Type    elf.Type
	Flags   uint32
	OSABI   elf.OSABI

	Interp      string   // PT_INTERP
	Dynamic     bool     // has PT_DYNAMIC
	Needed      []string // DT_NEEDED
	RunPath     []string // DT_RUNPATH, or DT_RPATH
	NeededKnown bool     // Needed was read

	ARM *platform.ARMAttributes // 32-bit ARM with an .ARM.attributes section
	Go  *goInfo                 // Go build information

	Bad string // why the header is unusable; the other fields are then empty
}

// span is a captured window of file bytes.
type span struct {
	off uint64
	b   []byte
}

// want is a window to capture; done runs once the stream passed it.
type want struct {
	off, end uint64
	done     func()
}

// elfReader moves through one file once, capturing windows.
type elfReader struct {
	r       io.Reader
	size    uint64
	pos     uint64
	spans   []span
	pending []want
}

// bytesAt returns the captured bytes [off, off+n), if they were captured.
func (er *elfReader) bytesAt(off, n uint64) ([]byte, bool) {
	for _, s := range er.spans {
		if off >= s.off && off-s.off <= uint64(len(s.b)) && n <= uint64(len(s.b))-(off-s.off) {
			return s.b[off-s.off : off-s.off+n], true
		}
	}
	return nil, false
}

func (er *elfReader) add(off, n, limit uint64, done func()) {
	if n > limit {
		n = limit
	}
	end := off + n
	if end < off || off >= er.size {
		return
	}
	if end > er.size {
		end = er.size
	}
	er.pending = append(er.pending, want{off: off, end: end, done: done})
}

// run captures the pending windows in file order until none is left.
func (er *elfReader) run() error {
	for len(er.pending) > 0 {
		sort.SliceStable(er.pending, func(i, j int) bool { return er.pending[i].off < er.pending[j].off })
		w := er.pending[0]
		er.pending = er.pending[1:]
		if w.end > er.pos {
			start := max(w.off, er.pos)
			if start > er.pos {
				if _, err := io.CopyN(io.Discard, er.r, int64(start-er.pos)); err != nil {
					return unexpected(err)
				}
				er.pos = start
			}
			buf := make([]byte, w.end-start)
			if _, err := io.ReadFull(er.r, buf); err != nil {
				return unexpected(err)
			}
			er.spans = append(er.spans, span{off: start, b: buf})
			er.pos = w.end
		}
		if w.done != nil {
			w.done()
		}
	}
	return nil
}

func unexpected(err error) error {
	if errors.Is(err, io.EOF) {
		return io.ErrUnexpectedEOF
	}
	return err
}

// readELF reads the ELF file whose first bytes are head from r, which is
// positioned just after them; size is the file's size. An error is an I/O
// error of the stream; a malformed file is an elfFile with Bad set. readELF
// may stop before the end of the file: the caller skips the rest.
func readELF(r io.Reader, head []byte, size int64) (*elfFile, error) {
	h, err := parseELFHeader(head, size)
	if err != nil {
		return &elfFile{Bad: err.Error()}, nil
	}
	f := &elfFile{Class: h.Class, Data: h.Data, Machine: h.Machine, Type: h.Type, Flags: h.Flags, OSABI: h.OSABI}
	er := &elfReader{r: r, size: uint64(size), pos: uint64(len(head)), spans: []span{{0, head}}}
	var perr error
	progsDone := func() {
		b, ok := er.bytesAt(h.Phoff, uint64(h.Phnum*h.Phentsize))
		if !ok {
			perr = badHeader("program headers at offset %d unreadable", h.Phoff)
			return
		}
		if err := h.parseProgs(b, h.Phoff); err != nil {
			perr = err
			return
		}
		planWindows(er, h, f)
	}
	if h.progsEnd() <= uint64(len(head)) {
		progsDone()
	} else {
		er.add(h.Phoff, uint64(h.Phnum*h.Phentsize), 1<<20, progsDone)
	}
	if err := er.run(); err != nil {
		return nil, err
	}
	if perr != nil {
		return &elfFile{Bad: perr.Error()}, nil
	}
	return f, nil
}

// planWindows adds the windows verify needs once the program headers are
// known, and what to do with each.
func planWindows(er *elfReader, h *elfHeader, f *elfFile) {
	if p, ok := h.prog(elf.PT_INTERP); ok {
		er.add(p.Off, p.Filesz, maxInterp, func() {
			if b, ok := er.bytesAt(p.Off, min(p.Filesz, maxInterp, er.size-p.Off)); ok {
				f.Interp = strings.TrimRight(string(b), "\x00")
				if i := strings.IndexByte(f.Interp, 0); i >= 0 {
					f.Interp = f.Interp[:i]
				}
			}
		})
	}
	if p, ok := h.prog(elf.PT_DYNAMIC); ok {
		f.Dynamic = true
		if uint64(headSize) < p.Off {
			er.add(headSize, min(p.Off, dynHeadSize)-headSize, dynHeadSize, nil)
		}
		er.add(p.Off, p.Filesz, maxDynamic, func() {
			b, ok := er.bytesAt(p.Off, min(p.Filesz, maxDynamic, er.size-p.Off))
			if ok {
				readDynamic(er, h, f, b)
			}
		})
	}
	for _, p := range h.Progs {
		if p.Type == elf.PT_LOAD && p.Flags&elf.PF_W != 0 {
			er.add(p.Off, p.Filesz, buildInfoSize, func() {
				if b, ok := er.bytesAt(p.Off, min(p.Filesz, buildInfoSize, er.size-p.Off)); ok {
					if gi, ok := findGoBuildInfo(b); ok {
						f.Go = &gi
					}
				}
			})
			break
		}
	}
	if h.Machine == elf.EM_ARM && h.Shnum > 0 && er.size <= maxSectionScan {
		shSize := uint64(h.Shnum * h.Shentsize)
		if le := h.loadEnd(); le < h.Shoff {
			er.add(le, h.Shoff-le, nonAllocSize, nil)
		}
		er.add(h.Shoff, shSize, shSize, func() {
			sh, ok := er.bytesAt(h.Shoff, shSize)
			if !ok {
				return
			}
			for i := 0; i < h.Shnum; i++ {
				s := sh[i*h.Shentsize:]
				if h.order.Uint32(s[4:]) != shtARMAttributes {
					continue
				}
				off, n := uint64(h.order.Uint32(s[16:])), uint64(h.order.Uint32(s[20:]))
				if b, ok := er.bytesAt(off, n); ok {
					if a, err := platform.ParseARMAttributes(b, h.order); err == nil {
						f.ARM = &a
					}
				}
				return
			}
		})
	}
}

// readDynamic reads DT_NEEDED and DT_RUNPATH from the dynamic segment b,
// asking for the string table when it lies ahead.
func readDynamic(er *elfReader, h *elfHeader, f *elfFile, b []byte) {
	entSize := 16
	if h.Class == elf.ELFCLASS32 {
		entSize = 8
	}
	var needed, runpath, rpath []uint64
	var strtab, strsz uint64
	for i := 0; i+entSize <= len(b); i += entSize {
		var tag, val uint64
		if entSize == 8 {
			tag, val = uint64(h.order.Uint32(b[i:])), uint64(h.order.Uint32(b[i+4:]))
		} else {
			tag, val = h.order.Uint64(b[i:]), h.order.Uint64(b[i+8:])
		}
		switch elf.DynTag(tag) {
		case elf.DT_NULL:
			i = len(b)
		case elf.DT_NEEDED:
			if len(needed) < 256 {
				needed = append(needed, val)
			}
		case elf.DT_RUNPATH:
			runpath = append(runpath, val)
		case elf.DT_RPATH:
			rpath = append(rpath, val)
		case elf.DT_STRTAB:
			strtab = val
		case elf.DT_STRSZ:
			strsz = val
		}
	}
	if len(runpath) == 0 {
		runpath = rpath
	}
	off, ok := h.offsetOf(strtab)
	if !ok || strsz == 0 {
		f.NeededKnown = len(needed) == 0
		return
	}
	resolve := func() {
		tab, ok := er.bytesAt(off, min(strsz, maxStrtab, er.size-off))
		if !ok {
			return
		}
		str := func(i uint64) (string, bool) {
			if i >= uint64(len(tab)) {
				return "", false
			}
			s := tab[i:]
			if j := bytes.IndexByte(s, 0); j >= 0 {
				return string(s[:j]), true
			}
			return "", false
		}
		for _, i := range needed {
			if s, ok := str(i); ok {
				f.Needed = append(f.Needed, s)
			} else {
				return
			}
		}
		for _, i := range runpath {
			if s, ok := str(i); ok {
				f.RunPath = append(f.RunPath, strings.Split(s, ":")...)
			}
		}
		f.NeededKnown = true
	}
	if off >= er.pos {
		er.add(off, strsz, maxStrtab, resolve)
	} else {
		resolve()
	}
}

// describe is a short human description of the ELF file's kind.
func (f *elfFile) describe() string {
	kind := "ELF file"
	switch f.Type {
	case elf.ET_EXEC:
		kind = "executable"
	case elf.ET_DYN:
		if f.Interp != "" {
			kind = "executable"
		} else {
			kind = "shared library"
		}
	case elf.ET_REL:
		kind = "object file"
	}
	if f.Go != nil {
		kind = "Go " + kind
	}
	return kind
}

// runnable reports whether the file is code the kernel or the loader runs:
// an executable or a shared library.
func (f *elfFile) runnable() bool { return f.Type == elf.ET_EXEC || f.Type == elf.ET_DYN }

func (f *elfFile) String() string {
	if f.Bad != "" {
		return "malformed ELF: " + f.Bad
	}
	return fmt.Sprintf("%s %s %s", f.Class, f.Data, f.Machine)
}
