package verify

import (
	"bytes"
	"debug/elf"
	"encoding/binary"
	"fmt"
)

// elfMagic starts every ELF file.
var elfMagic = []byte(elf.ELFMAG)

// Limits on what the header parser accepts. Real files are far below them;
// anything above is reported as a malformed header instead of being read.
const (
	maxProgHeaders    = 4096
	maxSectionHeaders = 65535
)

// elfHeader is the part of an ELF file that verify reads from its first
// bytes: the file header and the program headers.
type elfHeader struct {
	Class   elf.Class
	Data    elf.Data
	OSABI   elf.OSABI
	Type    elf.Type
	Machine elf.Machine
	Flags   uint32
	Entry   uint64

	Phoff, Shoff     uint64
	Phentsize, Phnum int
	Shentsize, Shnum int
	Shstrndx         int
	Progs            []elfProg
	order            binary.ByteOrder
}

// elfProg is one program header.
type elfProg struct {
	Type   elf.ProgType
	Flags  elf.ProgFlag
	Off    uint64
	Vaddr  uint64
	Filesz uint64
	Memsz  uint64
}

// headerError says why bytes that start with the ELF magic are not a usable
// ELF header.
type headerError struct{ msg string }

func (e *headerError) Error() string { return e.msg }

func badHeader(format string, args ...any) error {
	return &headerError{msg: fmt.Sprintf(format, args...)}
}

// isELF reports whether b starts with the ELF magic.
func isELF(b []byte) bool { return bytes.HasPrefix(b, elfMagic) }

// parseELFHeader parses the ELF file header at the start of b and, when b
// holds them, the program headers. size is the file's full size (the program
// headers must lie inside it). It never reads past b and never panics; a
// header it cannot use is a *headerError.
func parseELFHeader(b []byte, size int64) (*elfHeader, error) {
	if !isELF(b) {
		return nil, badHeader("no ELF magic")
	}
	if len(b) < elf.EI_NIDENT {
		return nil, badHeader("truncated ELF identification (%d bytes)", len(b))
	}
	h := &elfHeader{
		Class: elf.Class(b[elf.EI_CLASS]),
		Data:  elf.Data(b[elf.EI_DATA]),
		OSABI: elf.OSABI(b[elf.EI_OSABI]),
	}
	switch h.Data {
	case elf.ELFDATA2LSB:
		h.order = binary.LittleEndian
	case elf.ELFDATA2MSB:
		h.order = binary.BigEndian
	default:
		return nil, badHeader("invalid ELF byte order %d", b[elf.EI_DATA])
	}
	if v := elf.Version(b[elf.EI_VERSION]); v != elf.EV_CURRENT {
		return nil, badHeader("invalid ELF version %d", v)
	}
	o := h.order
	switch h.Class {
	case elf.ELFCLASS32:
		const n = 52
		if len(b) < n {
			return nil, badHeader("truncated ELF header (%d of %d bytes)", len(b), n)
		}
		h.Type = elf.Type(o.Uint16(b[16:]))
		h.Machine = elf.Machine(o.Uint16(b[18:]))
		h.Entry = uint64(o.Uint32(b[24:]))
		h.Phoff = uint64(o.Uint32(b[28:]))
		h.Shoff = uint64(o.Uint32(b[32:]))
		h.Flags = o.Uint32(b[36:])
		h.Phentsize = int(o.Uint16(b[42:]))
		h.Phnum = int(o.Uint16(b[44:]))
		h.Shentsize = int(o.Uint16(b[46:]))
		h.Shnum = int(o.Uint16(b[48:]))
		h.Shstrndx = int(o.Uint16(b[50:]))
		if h.Phnum > 0 && h.Phentsize != 32 {
			return nil, badHeader("invalid program header size %d for a 32-bit ELF file", h.Phentsize)
		}
		if h.Shnum > 0 && h.Shentsize != 40 {
			return nil, badHeader("invalid section header size %d for a 32-bit ELF file", h.Shentsize)
		}
	case elf.ELFCLASS64:
		const n = 64
		if len(b) < n {
			return nil, badHeader("truncated ELF header (%d of %d bytes)", len(b), n)
		}
		h.Type = elf.Type(o.Uint16(b[16:]))
		h.Machine = elf.Machine(o.Uint16(b[18:]))
		h.Entry = o.Uint64(b[24:])
		h.Phoff = o.Uint64(b[32:])
		h.Shoff = o.Uint64(b[40:])
		h.Flags = o.Uint32(b[48:])
		h.Phentsize = int(o.Uint16(b[54:]))
		h.Phnum = int(o.Uint16(b[56:]))
		h.Shentsize = int(o.Uint16(b[58:]))
		h.Shnum = int(o.Uint16(b[60:]))
		h.Shstrndx = int(o.Uint16(b[62:]))
		if h.Phnum > 0 && h.Phentsize != 56 {
			return nil, badHeader("invalid program header size %d for a 64-bit ELF file", h.Phentsize)
		}
		if h.Shnum > 0 && h.Shentsize != 64 {
			return nil, badHeader("invalid section header size %d for a 64-bit ELF file", h.Shentsize)
		}
	default:
		return nil, badHeader("invalid ELF class %d", b[elf.EI_CLASS])
	}
	if h.Machine == elf.EM_NONE {
		return nil, badHeader("no machine in the ELF header")
	}
	if h.Phnum > maxProgHeaders || h.Phnum == 0xffff {
		return nil, badHeader("too many program headers (%d)", h.Phnum)
	}
	phEnd := h.Phoff + uint64(h.Phnum*h.Phentsize)
	if h.Phnum > 0 && (h.Phoff == 0 || phEnd < h.Phoff || (size >= 0 && phEnd > uint64(size))) {
		return nil, badHeader("program headers at offset %d lie outside the %d-byte file", h.Phoff, size)
	}
	if h.Shnum > 0 {
		shEnd := h.Shoff + uint64(h.Shnum*h.Shentsize)
		if shEnd < h.Shoff || (size >= 0 && shEnd > uint64(size)) {
			return nil, badHeader("section headers at offset %d lie outside the %d-byte file", h.Shoff, size)
		}
	}
	return h, nil
}

// progsEnd is the file offset where the program headers end.
func (h *elfHeader) progsEnd() uint64 { return h.Phoff + uint64(h.Phnum*h.Phentsize) }

// parseProgs parses the program headers from b, which holds the file's bytes
// from offset base on. It needs b to reach h.progsEnd().
func (h *elfHeader) parseProgs(b []byte, base uint64) error {
	if h.Phnum == 0 {
		return nil
	}
	if h.Phoff < base || uint64(len(b)) < h.progsEnd()-base {
		return badHeader("program headers at offset %d not read", h.Phoff)
	}
	b = b[h.Phoff-base:]
	o := h.order
	h.Progs = make([]elfProg, 0, h.Phnum)
	for i := 0; i < h.Phnum; i++ {
		p := b[i*h.Phentsize:]
		var ph elfProg
		if h.Class == elf.ELFCLASS32 {
			ph = elfProg{
				Type:   elf.ProgType(o.Uint32(p[0:])),
				Off:    uint64(o.Uint32(p[4:])),
				Vaddr:  uint64(o.Uint32(p[8:])),
				Filesz: uint64(o.Uint32(p[16:])),
				Memsz:  uint64(o.Uint32(p[20:])),
				Flags:  elf.ProgFlag(o.Uint32(p[24:])),
			}
		} else {
			ph = elfProg{
				Type:   elf.ProgType(o.Uint32(p[0:])),
				Flags:  elf.ProgFlag(o.Uint32(p[4:])),
				Off:    o.Uint64(p[8:]),
				Vaddr:  o.Uint64(p[16:]),
				Filesz: o.Uint64(p[32:]),
				Memsz:  o.Uint64(p[40:]),
			}
		}
		if ph.Off+ph.Filesz < ph.Off {
			return badHeader("program header %d overflows", i)
		}
		h.Progs = append(h.Progs, ph)
	}
	return nil
}

// prog returns the first program header of type t.
func (h *elfHeader) prog(t elf.ProgType) (elfProg, bool) {
	for _, p := range h.Progs {
		if p.Type == t {
			return p, true
		}
	}
	return elfProg{}, false
}

// offsetOf maps a virtual address to a file offset through the PT_LOAD
// segments.
func (h *elfHeader) offsetOf(vaddr uint64) (uint64, bool) {
	for _, p := range h.Progs {
		if p.Type == elf.PT_LOAD && vaddr >= p.Vaddr && vaddr-p.Vaddr < p.Filesz {
			return p.Off + (vaddr - p.Vaddr), true
		}
	}
	return 0, false
}

// loadEnd is the file offset where the last PT_LOAD segment's bytes end:
// sections past it (.comment, .ARM.attributes, symbols, debug info) are not
// loaded at run time.
func (h *elfHeader) loadEnd() uint64 {
	var end uint64
	for _, p := range h.Progs {
		if p.Type == elf.PT_LOAD && p.Off+p.Filesz > end {
			end = p.Off + p.Filesz
		}
	}
	return end
}
