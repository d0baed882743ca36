package probes

import (
	"bytes"
	"debug/elf"
	"encoding/binary"
	"errors"
	"fmt"
)

// Target names the ELF flavour a probe is built for.
type Target struct {
	Class   elf.Class   // ELFCLASS32 or ELFCLASS64
	Data    elf.Data    // byte order
	Machine elf.Machine // e_machine
	// Flags is e_flags. Zero selects the usual value for the machine
	// (see DefaultFlags); for 32-bit ARM it is where the float ABI goes.
	Flags uint32
}

func (t Target) String() string {
	return fmt.Sprintf("%s/%s/%s", t.Machine, t.Class, t.Data)
}

// ErrUnsupported is returned by Build for a machine it has no code for.
var ErrUnsupported = errors.New("no probe code for this machine")

// Base is the virtual address the probe is loaded at. It is above every
// architecture's mmap_min_addr and aligned to the largest page size (64 KiB).
const Base = 0x400000

// ELF e_flags values the probes use.
const (
	FlagARMEABI5      = 0x05000000 // EF_ARM_EABI_VER5
	FlagARMSoftFloat  = 0x00000200 // EF_ARM_ABI_FLOAT_SOFT (armel)
	FlagARMHardFloat  = 0x00000400 // EF_ARM_ABI_FLOAT_HARD (armhf)
	FlagPPC64ELFv2    = 0x00000002 // the ABI version: no function descriptors
	FlagRISCVDouble   = 0x00000004 // EF_RISCV_FLOAT_ABI_DOUBLE (lp64d)
	FlagMIPS64R2      = 0x80000000 // EF_MIPS_ARCH_64R2
	FlagMIPS32R2      = 0x70000000 // EF_MIPS_ARCH_32R2
	FlagMIPSNoReorder = 0x00000001 // EF_MIPS_NOREORDER
	FlagLoongLP64D    = 0x00000043 // EF_LOONGARCH_ABI_DOUBLE_FLOAT | OBJABI_V1
)

// DefaultFlags returns the e_flags a probe for t gets when t.Flags is zero.
func DefaultFlags(t Target) uint32 {
	switch t.Machine {
	case elf.EM_ARM:
		return FlagARMEABI5 | FlagARMHardFloat
	case elf.EM_PPC64:
		return FlagPPC64ELFv2
	case elf.EM_RISCV:
		return FlagRISCVDouble
	case elf.EM_MIPS:
		if t.Class == elf.ELFCLASS64 {
			return FlagMIPS64R2 | FlagMIPSNoReorder
		}
		return FlagMIPS32R2 | FlagMIPSNoReorder
	case elf.EM_LOONGARCH:
		return FlagLoongLP64D
	}
	return 0
}

// Supported reports whether Build has code for t.
func Supported(t Target) bool {
	_, err := program(t, binary.LittleEndian, Base, Base+128, 1)
	return err == nil
}

// Build returns a static ELF executable for t that writes msg to standard
// output and exits with status 0. msg must be at most 255 bytes.
func Build(t Target, msg string) ([]byte, error) {
	if len(msg) == 0 || len(msg) > 255 {
		return nil, fmt.Errorf("building probe for %s: message length %d not in 1..255", t, len(msg))
	}
	var ehsize, phsize int
	switch t.Class {
	case elf.ELFCLASS64:
		ehsize, phsize = 64, 56
	case elf.ELFCLASS32:
		ehsize, phsize = 52, 32
	default:
		return nil, fmt.Errorf("building probe for %s: bad ELF class", t)
	}
	var bo byteOrder
	switch t.Data {
	case elf.ELFDATA2LSB:
		bo = binary.LittleEndian
	case elf.ELFDATA2MSB:
		bo = binary.BigEndian
	default:
		return nil, fmt.Errorf("building probe for %s: bad ELF data encoding", t)
	}
	codeOff := ehsize + phsize
	// The code length does not depend on the addresses, so a first pass
	// with a placeholder message address gives the layout.
	code, err := program(t, bo, Base, Base+128, len(msg))
	if err != nil {
		return nil, fmt.Errorf("building probe for %s: %w", t, err)
	}
	msgOff := align(codeOff+len(code), 8)
	ins, err := program(t, bo, Base+uint64(codeOff), Base+uint64(msgOff), len(msg))
	if err != nil {
		return nil, fmt.Errorf("building probe for %s: %w", t, err)
	}
	size := msgOff + len(msg)
	flags := t.Flags
	if flags == 0 {
		flags = DefaultFlags(t)
	}
	entry := uint64(Base + codeOff)

	var b bytes.Buffer
	b.Write([]byte{0x7f, 'E', 'L', 'F', byte(t.Class), byte(t.Data), byte(elf.EV_CURRENT), byte(elf.ELFOSABI_NONE)})
	b.Write(make([]byte, 8)) // EI_ABIVERSION and padding
	w := func(v any) { _ = binary.Write(&b, bo, v) }
	w(uint16(elf.ET_EXEC))
	w(uint16(t.Machine))
	w(uint32(elf.EV_CURRENT))
	if t.Class == elf.ELFCLASS64 {
		w(entry)
		w(uint64(ehsize)) // e_phoff
		w(uint64(0))      // e_shoff
	} else {
		w(uint32(entry))
		w(uint32(ehsize))
		w(uint32(0))
	}
	w(flags)
	w(uint16(ehsize))
	w(uint16(phsize))
	w(uint16(1)) // e_phnum
	w(uint16(0)) // e_shentsize
	w(uint16(0)) // e_shnum
	w(uint16(0)) // e_shstrndx

	const align64K = 0x10000
	if t.Class == elf.ELFCLASS64 {
		w(uint32(elf.PT_LOAD))
		w(uint32(elf.PF_R | elf.PF_X))
		w(uint64(0))    // p_offset
		w(uint64(Base)) // p_vaddr
		w(uint64(Base)) // p_paddr
		w(uint64(size)) // p_filesz
		w(uint64(size)) // p_memsz
		w(uint64(align64K))
	} else {
		w(uint32(elf.PT_LOAD))
		w(uint32(0))
		w(uint32(Base))
		w(uint32(Base))
		w(uint32(size))
		w(uint32(size))
		w(uint32(elf.PF_R | elf.PF_X))
		w(uint32(align64K))
	}
	b.Write(ins)
	b.Write(make([]byte, msgOff-b.Len()))
	b.WriteString(msg)
	return b.Bytes(), nil
}

func align(n, a int) int { return (n + a - 1) / a * a }
