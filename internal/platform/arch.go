package platform

import (
	"debug/elf"

	specs "github.com/opencontainers/image-spec/specs-go/v1"
)

// Arch is one row of the architecture table: everything manyarch knows about
// one platform. Values returned by this package are copies; changing one
// changes nothing in the table.
type Arch struct {
	// Name is the canonical short form: "amd64", "arm64", "arm/v7".
	Name string
	// Platform is the normalized OCI platform: OS "linux", the OCI
	// architecture and the variant ("" for arm64: arm64/v8 normalizes to it).
	Platform specs.Platform

	// GOARCH and GOARM are the Go toolchain settings that target the
	// platform (GOOS is always linux). GOARM is "" except on arm.
	GOARCH, GOARM string
	// GOAMD64 is Go's x86-64 micro-architecture level ("v3") of the
	// amd64/v2, amd64/v3 and amd64/v4 platforms, which Lookup derives from
	// the amd64 row (they are not rows of their own); "" elsewhere.
	GOAMD64 string

	// ELFClass, ELFData and ELFMachine are the ELF header fields of the
	// platform's executables. Several rows share them (the arm rows); see
	// LookupELF.
	ELFClass   elf.Class
	ELFData    elf.Data
	ELFMachine elf.Machine

	// ARMMaxCPUArch is, on the arm rows, the newest ARM architecture an
	// executable may declare in its build attributes (Tag_CPU_arch in the
	// .ARM.attributes section) and still run on every CPU of the variant:
	// v5TEJ for arm/v5, v6K for arm/v6, v7 for arm/v7. Zero elsewhere.
	ARMMaxCPUArch ARMCPUArch
	// ARMFloat is, on the arm rows, the float ABI the platform's executables
	// use: soft for arm/v5 (Debian armel), hard for arm/v7 (Debian armhf and
	// every arm/v7 image), either for arm/v6 (Raspbian and Alpine are
	// hard-float, others soft-float). ARMFloatNotARM elsewhere.
	ARMFloat ARMFloat

	// UnameMachine is what `uname -m` prints under the platform, natively or
	// under QEMU user-mode emulation with QEMUCPU. linux/386 prints i686
	// under QEMU and on a 32-bit kernel, but x86_64 when it runs natively on
	// a 64-bit x86 kernel (as on any amd64 host, unless run with linux32).
	UnameMachine string

	// QEMU is the QEMU user-mode target: the emulator binary is qemu-QEMU or
	// qemu-QEMU-static (see QEMUBinaryNames).
	QEMU string
	// QEMUCPU is the -cpu model (or QEMU_CPU value) that gives the variant's
	// ISA and UnameMachine; "" means QEMU's default, which is right.
	QEMUCPU string
	// BinfmtMagic and BinfmtMask are the binfmt_misc magic and mask (at
	// offset 0) that route the platform's executables to the QEMU emulator:
	// upstream QEMU's values (scripts/qemu-binfmt-conf.sh, as shipped in
	// Debian's /usr/share/binfmts/qemu-*). The arm rows share qemu-arm's.
	BinfmtMagic, BinfmtMask []byte
}

// String returns the canonical platform string, "linux/arm/v7".
func (a Arch) String() string { return Format(a.Platform) }

// QEMUBinaryNames returns the file names of the platform's QEMU user-mode
// emulator in lookup order: the static build first, because only a static
// emulator works inside a container's root filesystem.
func (a Arch) QEMUBinaryNames() []string {
	return []string{"qemu-" + a.QEMU + "-static", "qemu-" + a.QEMU}
}

// BinfmtHandlerNames returns the names under /proc/sys/fs/binfmt_misc that
// other tools give a handler for the platform, so a caller can recognize an
// existing registration. "qemu-aarch64" is used by Debian's
// qemu-user-static, QEMU's qemu-binfmt-conf.sh (and so systemd-binfmt
// configurations and Fedora), and tonistiigi/binfmt (docker run --privileged
// tonistiigi/binfmt --install ...). "buildkit-qemu-aarch64" is what
// tonistiigi/binfmt registers when built with BuildKit's binary prefix.
// linux/386 adds "qemu-i486", which qemu-binfmt-conf.sh also routes to
// qemu-i386.
func (a Arch) BinfmtHandlerNames() []string {
	names := []string{"qemu-" + a.QEMU, "buildkit-qemu-" + a.QEMU}
	if a.QEMU == "i386" {
		names = append(names, "qemu-i486")
	}
	return names
}

// BinfmtMatches reports whether binfmt_misc would hand a file that starts
// with header to the row's emulator: as the kernel does, it compares each of
// the first len(BinfmtMagic) bytes under the mask. header must hold at least
// that many bytes (an ELF header does).
func (a Arch) BinfmtMatches(header []byte) bool {
	if len(header) < len(a.BinfmtMagic) {
		return false
	}
	for i, m := range a.BinfmtMagic {
		if (header[i]^m)&a.BinfmtMask[i] != 0 {
			return false
		}
	}
	return true
}

// SameBinfmt reports whether a binfmt_misc registration with this magic and
// mask (as read back from /proc/sys/fs/binfmt_misc/NAME, offset 0) selects
// exactly the row's files, whatever its name. The kernel clears magic bits
// outside the mask when it registers an entry, so magic is compared under
// the mask.
func (a Arch) SameBinfmt(magic, mask []byte) bool {
	if len(magic) != len(a.BinfmtMagic) || string(mask) != string(a.BinfmtMask) {
		return false
	}
	for i, m := range a.BinfmtMagic {
		if (magic[i]^m)&mask[i] != 0 {
			return false
		}
	}
	return true
}

// GoEnv returns the environment that makes `go build` target the platform:
// GOOS, GOARCH and, on arm, GOARM; on amd64/v2 to v4, GOAMD64.
func (a Arch) GoEnv() []string {
	env := []string{"GOOS=linux", "GOARCH=" + a.GOARCH}
	if a.GOARM != "" {
		env = append(env, "GOARM="+a.GOARM)
	}
	if a.GOAMD64 != "" {
		env = append(env, "GOAMD64="+a.GOAMD64)
	}
	return env
}

func (a Arch) clone() Arch {
	a.BinfmtMagic = append([]byte(nil), a.BinfmtMagic...)
	a.BinfmtMask = append([]byte(nil), a.BinfmtMask...)
	return a
}

// Binfmt magic and masks, from QEMU's scripts/qemu-binfmt-conf.sh. The bytes
// are the first 20 of the ELF header: e_ident (class, data, version, OS ABI,
// ABI version, padding), e_type (the mask's 0xfe accepts ET_EXEC and ET_DYN)
// and e_machine.
const (
	magicX86_64  = "\x7fELF\x02\x01\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00\x02\x00\x3e\x00"
	maskX86_64   = "\xff\xff\xff\xff\xff\xfe\xfe\x00\xff\xff\xff\xff\xff\xff\xff\xff\xfe\xff\xff\xff"
	magicI386    = "\x7fELF\x01\x01\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00\x02\x00\x03\x00"
	maskI386     = "\xff\xff\xff\xff\xff\xfe\xfe\x00\xff\xff\xff\xff\xff\xff\xff\xff\xfe\xff\xff\xff"
	magicAArch64 = "\x7fELF\x02\x01\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00\x02\x00\xb7\x00"
	maskAArch64  = "\xff\xff\xff\xff\xff\xff\xff\x00\xff\xff\xff\xff\xff\xff\xff\xff\xfe\xff\xff\xff"
	magicARM     = "\x7fELF\x01\x01\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00\x02\x00\x28\x00"
	maskARM      = "\xff\xff\xff\xff\xff\xff\xff\x00\xff\xff\xff\xff\xff\xff\xff\xff\xfe\xff\xff\xff"
	magicRISCV64 = "\x7fELF\x02\x01\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00\x02\x00\xf3\x00"
	maskRISCV64  = "\xff\xff\xff\xff\xff\xff\xff\x00\xff\xff\xff\xff\xff\xff\xff\xff\xfe\xff\xff\xff"
	magicPPC64LE = "\x7fELF\x02\x01\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00\x02\x00\x15\x00"
	maskPPC64LE  = "\xff\xff\xff\xff\xff\xff\xff\xfc\xff\xff\xff\xff\xff\xff\xff\xff\xfe\xff\xff\x00"
	magicS390X   = "\x7fELF\x02\x02\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x02\x00\x16"
	maskS390X    = "\xff\xff\xff\xff\xff\xff\xff\xfc\xff\xff\xff\xff\xff\xff\xff\xff\xff\xfe\xff\xff"
	magicMIPS64L = "\x7fELF\x02\x01\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00\x02\x00\x08\x00"
	maskMIPS64L  = "\xff\xff\xff\xff\xff\xff\xff\x00\xfe\xff\xff\xff\xff\xff\xff\xff\xfe\xff\xff\xff"
	magicLoong64 = "\x7fELF\x02\x01\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00\x02\x00\x02\x01"
	maskLoong64  = "\xff\xff\xff\xff\xff\xff\xff\xfc\x00\xff\xff\xff\xff\xff\xff\xff\xfe\xff\xff\xff"
)

func linux(arch, variant string) specs.Platform {
	return specs.Platform{OS: "linux", Architecture: arch, Variant: variant}
}

// table is THE architecture table. Its order is the order of All and Known:
// the most used platforms first.
var table = []Arch{
	{
		Name: "amd64", Platform: linux("amd64", ""), GOARCH: "amd64",
		ELFClass: elf.ELFCLASS64, ELFData: elf.ELFDATA2LSB, ELFMachine: elf.EM_X86_64,
		UnameMachine: "x86_64", QEMU: "x86_64",
		BinfmtMagic: []byte(magicX86_64), BinfmtMask: []byte(maskX86_64),
	},
	{
		Name: "arm64", Platform: linux("arm64", ""), GOARCH: "arm64",
		ELFClass: elf.ELFCLASS64, ELFData: elf.ELFDATA2LSB, ELFMachine: elf.EM_AARCH64,
		UnameMachine: "aarch64", QEMU: "aarch64",
		BinfmtMagic: []byte(magicAArch64), BinfmtMask: []byte(maskAArch64),
	},
	{
		// qemu-arm's default CPU (7.2: "any", a v7/v8 AArch32 core)
		// reports armv7l and runs armhf code, so no -cpu is needed.
		Name: "arm/v7", Platform: linux("arm", "v7"), GOARCH: "arm", GOARM: "7",
		ELFClass: elf.ELFCLASS32, ELFData: elf.ELFDATA2LSB, ELFMachine: elf.EM_ARM,
		ARMMaxCPUArch: ARMv7, ARMFloat: ARMFloatHard,
		UnameMachine: "armv7l", QEMU: "arm",
		BinfmtMagic: []byte(magicARM), BinfmtMask: []byte(maskARM),
	},
	{
		// ARM1176JZF-S: the Raspberry Pi 1 and Zero core, the reference
		// linux/arm/v6 machine (ARMv6KZ with VFPv2).
		Name: "arm/v6", Platform: linux("arm", "v6"), GOARCH: "arm", GOARM: "6",
		ELFClass: elf.ELFCLASS32, ELFData: elf.ELFDATA2LSB, ELFMachine: elf.EM_ARM,
		ARMMaxCPUArch: ARMv6K, ARMFloat: ARMFloatEither,
		UnameMachine: "armv6l", QEMU: "arm", QEMUCPU: "arm1176",
		BinfmtMagic: []byte(magicARM), BinfmtMask: []byte(maskARM),
	},
	{
		// ARM926EJ-S: ARMv5TEJ without VFP, the core Debian armel targets.
		Name: "arm/v5", Platform: linux("arm", "v5"), GOARCH: "arm", GOARM: "5",
		ELFClass: elf.ELFCLASS32, ELFData: elf.ELFDATA2LSB, ELFMachine: elf.EM_ARM,
		ARMMaxCPUArch: ARMv5TEJ, ARMFloat: ARMFloatSoft,
		UnameMachine: "armv5tel", QEMU: "arm", QEMUCPU: "arm926",
		BinfmtMagic: []byte(magicARM), BinfmtMask: []byte(maskARM),
	},
	{
		Name: "386", Platform: linux("386", ""), GOARCH: "386",
		ELFClass: elf.ELFCLASS32, ELFData: elf.ELFDATA2LSB, ELFMachine: elf.EM_386,
		UnameMachine: "i686", QEMU: "i386",
		BinfmtMagic: []byte(magicI386), BinfmtMask: []byte(maskI386),
	},
	{
		Name: "ppc64le", Platform: linux("ppc64le", ""), GOARCH: "ppc64le",
		ELFClass: elf.ELFCLASS64, ELFData: elf.ELFDATA2LSB, ELFMachine: elf.EM_PPC64,
		UnameMachine: "ppc64le", QEMU: "ppc64le",
		BinfmtMagic: []byte(magicPPC64LE), BinfmtMask: []byte(maskPPC64LE),
	},
	{
		Name: "s390x", Platform: linux("s390x", ""), GOARCH: "s390x",
		ELFClass: elf.ELFCLASS64, ELFData: elf.ELFDATA2MSB, ELFMachine: elf.EM_S390,
		UnameMachine: "s390x", QEMU: "s390x",
		BinfmtMagic: []byte(magicS390X), BinfmtMask: []byte(maskS390X),
	},
	{
		Name: "riscv64", Platform: linux("riscv64", ""), GOARCH: "riscv64",
		ELFClass: elf.ELFCLASS64, ELFData: elf.ELFDATA2LSB, ELFMachine: elf.EM_RISCV,
		UnameMachine: "riscv64", QEMU: "riscv64",
		BinfmtMagic: []byte(magicRISCV64), BinfmtMask: []byte(maskRISCV64),
	},
	{
		// The Linux kernel prints mips64 for both byte orders. A 64-bit
		// ELF class already means the n64 ABI (n32 and o32 are ELFCLASS32),
		// so e_flags carry no ABI bits to check.
		Name: "mips64le", Platform: linux("mips64le", ""), GOARCH: "mips64le",
		ELFClass: elf.ELFCLASS64, ELFData: elf.ELFDATA2LSB, ELFMachine: elf.EM_MIPS,
		UnameMachine: "mips64", QEMU: "mips64el",
		BinfmtMagic: []byte(magicMIPS64L), BinfmtMask: []byte(maskMIPS64L),
	},
	{
		Name: "loong64", Platform: linux("loong64", ""), GOARCH: "loong64",
		ELFClass: elf.ELFCLASS64, ELFData: elf.ELFDATA2LSB, ELFMachine: elf.EM_LOONGARCH,
		UnameMachine: "loongarch64", QEMU: "loongarch64",
		BinfmtMagic: []byte(magicLoong64), BinfmtMask: []byte(maskLoong64),
	},
}

// All returns the architecture table, one row per supported platform, in a
// fixed order (the most used platforms first).
func All() []Arch {
	out := make([]Arch, len(table))
	for i, a := range table {
		out[i] = a.clone()
	}
	return out
}

// Lookup returns the row of p, after normalization: linux/arm64/v8 finds
// arm64, linux/arm finds arm/v7. An amd64 micro-architecture level
// (linux/amd64/v2, v3, v4; v1 is plain linux/amd64) finds the amd64 row with
// its Name, Platform and GOAMD64 set to the level. It reports false for a
// platform outside the table. Lookup is cheap enough to call once per file.
func Lookup(p specs.Platform) (Arch, bool) {
	i := index(p)
	if i < 0 {
		p = Normalize(p)
		i = index(p)
	}
	if i < 0 {
		return Arch{}, false
	}
	a := table[i].clone()
	if p.Variant != a.Platform.Variant { // an amd64 level: index checked it
		a.Name += "/" + p.Variant
		a.Platform.Variant = p.Variant
		a.GOAMD64 = p.Variant
	}
	return a, true
}

// index returns the position in table of an already-normalized platform, or -1.
func index(p specs.Platform) int {
	if p.OS != "linux" || p.OSVersion != "" {
		return -1
	}
	for i := range table {
		if table[i].Platform.Architecture == p.Architecture && (table[i].Platform.Variant == p.Variant || AMD64Level(p) > 1) {
			return i
		}
	}
	return -1
}

// Known returns the supported platforms as a comma-separated list, in table
// order, for error messages: "linux/amd64, linux/arm64, ...".
func Known() string { return known }

var known = func() string {
	s := ""
	for i, a := range table {
		if i > 0 {
			s += ", "
		}
		s += Format(a.Platform)
	}
	return s
}()
