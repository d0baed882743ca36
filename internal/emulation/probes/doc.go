// Package probes generates the probe programs of manyarch's emulation checks:
// minimal static ELF executables, one per CPU architecture, that write a
// fixed message to standard output and exit with status 0.
//
// A probe is a few hundred bytes: an ELF header, one PT_LOAD program header
// mapping the whole file read+execute, a handful of hand-encoded machine
// instructions (write(1, msg, len); exit_group(0)) and the message. Nothing
// is downloaded and no cross toolchain is needed: the instruction encodings
// live in this package's source, next to the syscall numbers of each
// architecture's Linux ABI.
//
// Running a probe proves that the kernel can execute a binary of that
// architecture, natively or through a binfmt_misc handler; when the probe
// runs in a directory holding nothing but the probe, it also proves that the
// handler's interpreter was opened at registration time (the F flag).
//
// Supported machines: x86-64, i386, AArch64, 32-bit ARM (EABI5), RISC-V 64,
// PowerPC 64 (ELFv2, either byte order), s390x, MIPS64 (n64, either byte
// order), MIPS32 (o32, either byte order) and LoongArch64.
package probes
