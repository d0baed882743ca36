package probes

import (
	"debug/elf"
	"encoding/binary"
	"fmt"
)

// program returns the machine code of a probe for t, placed at address pc,
// that writes n bytes at address msg to fd 1 and exits with status 0.
// Each architecture's Linux system call numbers are noted beside its code.
func program(t Target, bo byteOrder, pc, msg uint64, n int) ([]byte, error) {
	if msg > 0x7fffffff || pc > 0x7fffffff {
		return nil, fmt.Errorf("address %#x out of range", msg)
	}
	rel := int64(msg) - int64(pc) // message address relative to the first instruction
	switch {
	case t.Machine == elf.EM_X86_64 && t.Class == elf.ELFCLASS64 && t.Data == elf.ELFDATA2LSB:
		return amd64(uint32(msg), n), nil
	case t.Machine == elf.EM_386 && t.Class == elf.ELFCLASS32 && t.Data == elf.ELFDATA2LSB:
		return i386(uint32(msg), n), nil
	case t.Machine == elf.EM_AARCH64 && t.Class == elf.ELFCLASS64:
		return words(bo, arm64(rel, n)), nil
	case t.Machine == elf.EM_ARM && t.Class == elf.ELFCLASS32:
		w, err := arm(rel, n)
		return words(bo, w), err
	case t.Machine == elf.EM_RISCV && t.Class == elf.ELFCLASS64:
		return words(bo, riscv64(rel, n)), nil
	case t.Machine == elf.EM_PPC64 && t.Class == elf.ELFCLASS64:
		return words(bo, ppc64(uint32(msg), n)), nil
	case t.Machine == elf.EM_S390 && t.Class == elf.ELFCLASS64 && t.Data == elf.ELFDATA2MSB:
		return s390x(rel, n), nil
	case t.Machine == elf.EM_MIPS && t.Class == elf.ELFCLASS64:
		return words(bo, mips(uint32(msg), n, true)), nil
	case t.Machine == elf.EM_MIPS && t.Class == elf.ELFCLASS32:
		return words(bo, mips(uint32(msg), n, false)), nil
	case t.Machine == elf.EM_LOONGARCH && t.Class == elf.ELFCLASS64 && t.Data == elf.ELFDATA2LSB:
		return words(bo, loong64(rel, n)), nil
	}
	return nil, ErrUnsupported
}

type byteOrder interface {
	binary.ByteOrder
	binary.AppendByteOrder
}

func words(bo byteOrder, ws []uint32) []byte {
	b := make([]byte, 0, 4*len(ws))
	for _, w := range ws {
		b = bo.AppendUint32(b, w)
	}
	return b
}

// amd64: write=1, exit_group=231; syscall with rax, rdi, rsi, rdx.
func amd64(msg uint32, n int) []byte {
	b := []byte{0xb8, 1, 0, 0, 0}   // mov eax, 1
	b = append(b, 0xbf, 1, 0, 0, 0) // mov edi, 1
	b = append(b, 0xbe)             // mov esi, msg
	b = binary.LittleEndian.AppendUint32(b, msg)
	b = append(b, 0xba) // mov edx, n
	b = binary.LittleEndian.AppendUint32(b, uint32(n))
	b = append(b, 0x0f, 0x05)         // syscall
	b = append(b, 0xb8, 231, 0, 0, 0) // mov eax, 231
	b = append(b, 0x31, 0xff)         // xor edi, edi
	return append(b, 0x0f, 0x05)      // syscall
}

// i386: write=4, exit_group=252; int 0x80 with eax, ebx, ecx, edx.
func i386(msg uint32, n int) []byte {
	b := []byte{0xb8, 4, 0, 0, 0}   // mov eax, 4
	b = append(b, 0xbb, 1, 0, 0, 0) // mov ebx, 1
	b = append(b, 0xb9)             // mov ecx, msg
	b = binary.LittleEndian.AppendUint32(b, msg)
	b = append(b, 0xba) // mov edx, n
	b = binary.LittleEndian.AppendUint32(b, uint32(n))
	b = append(b, 0xcd, 0x80)         // int 0x80
	b = append(b, 0xb8, 252, 0, 0, 0) // mov eax, 252
	b = append(b, 0x31, 0xdb)         // xor ebx, ebx
	return append(b, 0xcd, 0x80)      // int 0x80
}

// arm64: write=64, exit_group=94; svc #0 with x8, x0, x1, x2.
func arm64(rel int64, n int) []uint32 {
	movz := func(rd, imm uint32) uint32 { return 0xd2800000 | imm<<5 | rd }
	adr := func(rd uint32, off int64) uint32 {
		o := uint32(off) & 0x1fffff
		return 0x10000000 | (o&3)<<29 | (o>>2)<<5 | rd
	}
	const svc0 = 0xd4000001
	return []uint32{
		movz(0, 1),
		adr(1, rel-4), // second instruction: relative to its own address
		movz(2, uint32(n)),
		movz(8, 64),
		svc0,
		movz(0, 0),
		movz(8, 94),
		svc0,
	}
}

// arm (EABI, A32 instructions, ARMv5 and later): write=4, exit_group=248;
// svc 0 with r7, r0, r1, r2.
func arm(rel int64, n int) ([]uint32, error) {
	// add r1, pc, #imm is the second instruction; pc reads 8 ahead of it.
	off := rel - 4 - 8
	if off < 0 || off > 255 {
		return nil, fmt.Errorf("arm message offset %d out of range", off)
	}
	mov := func(rd, imm uint32) uint32 { return 0xe3a00000 | rd<<12 | imm }
	const svc0 = 0xef000000
	return []uint32{
		mov(0, 1),
		0xe28f1000 | uint32(off), // add r1, pc, #off
		mov(2, uint32(n)),
		mov(7, 4),
		svc0,
		mov(0, 0),
		mov(7, 248),
		svc0,
	}, nil
}

// riscv64: write=64, exit_group=94; ecall with a7, a0, a1, a2.
func riscv64(rel int64, n int) []uint32 {
	const a0, a1, a2, a7 = 10, 11, 12, 17
	addi := func(rd, rs, imm uint32) uint32 { return (imm&0xfff)<<20 | rs<<15 | rd<<7 | 0x13 }
	const ecall = 0x00000073
	return []uint32{
		addi(a0, 0, 1),
		0x00000017 | a1<<7, // auipc a1, 0
		addi(a1, a1, uint32(rel-4)),
		addi(a2, 0, uint32(n)),
		addi(a7, 0, 64),
		ecall,
		addi(a0, 0, 0),
		addi(a7, 0, 94),
		ecall,
	}
}

// ppc64 (ELFv2): write=4, exit_group=234; sc with r0, r3, r4, r5.
func ppc64(msg uint32, n int) []uint32 {
	li := func(rd, imm uint32) uint32 { return 14<<26 | rd<<21 | imm&0xffff } // addi rd, 0, imm
	const sc = 0x44000002
	return []uint32{
		li(3, 1),
		15<<26 | 4<<21 | msg>>16,            // lis r4, msg@h
		24<<26 | 4<<21 | 4<<16 | msg&0xffff, // ori r4, r4, msg@l
		li(5, uint32(n)),
		li(0, 4),
		sc,
		li(3, 0),
		li(0, 234),
		sc,
	}
}

// s390x: write=4, exit_group=248; svc NR with r2, r3, r4.
func s390x(rel int64, n int) []byte {
	lghi := func(r byte, imm uint16) []byte { return []byte{0xa7, r<<4 | 9, byte(imm >> 8), byte(imm)} }
	var b []byte
	b = append(b, lghi(2, 1)...)
	// larl r3, msg: the offset counts halfwords from this instruction (at +4).
	b = append(b, 0xc0, 3<<4)
	b = binary.BigEndian.AppendUint32(b, uint32((rel-4)/2))
	b = append(b, lghi(4, uint16(n))...)
	b = append(b, 0x0a, 4) // svc 4
	b = append(b, lghi(2, 0)...)
	return append(b, 0x0a, 248) // svc 248
}

// mips: n64 write=5001, exit_group=5205; o32 write=4004, exit_group=4246;
// syscall with v0, a0, a1, a2. No branches, so no delay slots.
func mips(msg uint32, n int, n64 bool) []uint32 {
	const v0, a0, a1, a2 = 2, 4, 5, 6
	op := uint32(9) // addiu
	write, exit := uint32(4004), uint32(4246)
	if n64 {
		op = 25 // daddiu
		write, exit = 5001, 5205
	}
	li := func(rt, imm uint32) uint32 { return op<<26 | rt<<16 | imm&0xffff }
	const syscall = 0x0000000c
	return []uint32{
		li(a0, 1),
		15<<26 | a1<<16 | msg>>16,             // lui a1, msg>>16
		13<<26 | a1<<21 | a1<<16 | msg&0xffff, // ori a1, a1, msg&0xffff
		li(a2, uint32(n)),
		li(v0, write),
		syscall,
		li(a0, 0),
		li(v0, exit),
		syscall,
	}
}

// loong64: write=64, exit_group=94; syscall 0 with a7, a0, a1, a2.
func loong64(rel int64, n int) []uint32 {
	const a0, a1, a2, a7 = 4, 5, 6, 11
	addi := func(rd, rj, imm uint32) uint32 { return 0x02c00000 | (imm&0xfff)<<10 | rj<<5 | rd } // addi.d
	const syscall0 = 0x002b0000
	return []uint32{
		addi(a0, 0, 1),
		0x18000000 | (uint32((rel-4)>>2)&0xfffff)<<5 | a1, // pcaddi a1, (msg-pc)>>2
		addi(a2, 0, uint32(n)),
		addi(a7, 0, 64),
		syscall0,
		addi(a0, 0, 0),
		addi(a7, 0, 94),
		syscall0,
	}
}
