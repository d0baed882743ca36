package verify

import (
	"debug/elf"
	"strconv"
	"strings"

	"github.com/containerd/platforms"
	specs "github.com/opencontainers/image-spec/specs-go/v1"
)

// archSpec is what verify expects of the ELF files of one platform.
//
// TODO(platform): internal/platform's architecture table owns these facts;
// switch to platform.Lookup/ForELF when it lands and delete this table.
type archSpec struct {
	arch, variant string // normalized OCI architecture and variant
	class         elf.Class
	data          elf.Data
	machine       elf.Machine
	goarch        string
}

var archTable = []archSpec{
	{"amd64", "", elf.ELFCLASS64, elf.ELFDATA2LSB, elf.EM_X86_64, "amd64"},
	{"386", "", elf.ELFCLASS32, elf.ELFDATA2LSB, elf.EM_386, "386"},
	{"arm64", "", elf.ELFCLASS64, elf.ELFDATA2LSB, elf.EM_AARCH64, "arm64"},
	{"arm", "v5", elf.ELFCLASS32, elf.ELFDATA2LSB, elf.EM_ARM, "arm"},
	{"arm", "v6", elf.ELFCLASS32, elf.ELFDATA2LSB, elf.EM_ARM, "arm"},
	{"arm", "v7", elf.ELFCLASS32, elf.ELFDATA2LSB, elf.EM_ARM, "arm"},
	{"arm", "v8", elf.ELFCLASS32, elf.ELFDATA2LSB, elf.EM_ARM, "arm"},
	{"ppc64le", "", elf.ELFCLASS64, elf.ELFDATA2LSB, elf.EM_PPC64, "ppc64le"},
	{"ppc64", "", elf.ELFCLASS64, elf.ELFDATA2MSB, elf.EM_PPC64, "ppc64"},
	{"s390x", "", elf.ELFCLASS64, elf.ELFDATA2MSB, elf.EM_S390, "s390x"},
	{"riscv64", "", elf.ELFCLASS64, elf.ELFDATA2LSB, elf.EM_RISCV, "riscv64"},
	{"mips64le", "", elf.ELFCLASS64, elf.ELFDATA2LSB, elf.EM_MIPS, "mips64le"},
	{"mips64", "", elf.ELFCLASS64, elf.ELFDATA2MSB, elf.EM_MIPS, "mips64"},
	{"mipsle", "", elf.ELFCLASS32, elf.ELFDATA2LSB, elf.EM_MIPS, "mipsle"},
	{"mips", "", elf.ELFCLASS32, elf.ELFDATA2MSB, elf.EM_MIPS, "mips"},
	{"loong64", "", elf.ELFCLASS64, elf.ELFDATA2LSB, elf.EM_LOONGARCH, "loong64"},
}

// normalize returns the canonical form of p: arm64/v8 is arm64, arm is
// arm/v7, aarch64 is arm64.
func normalize(p specs.Platform) specs.Platform {
	n := platforms.Normalize(p)
	if n.Architecture == "amd64" && n.Variant == "v1" {
		n.Variant = ""
	}
	return specs.Platform{OS: n.OS, Architecture: n.Architecture, Variant: n.Variant}
}

// formatPlatform is "linux/arm/v7", "linux/arm64".
func formatPlatform(p specs.Platform) string {
	if p.OS == "" && p.Architecture == "" {
		return "unknown"
	}
	return platforms.Format(specs.Platform{OS: p.OS, Architecture: p.Architecture, Variant: p.Variant})
}

// samePlatform compares platforms after normalization.
func samePlatform(a, b specs.Platform) bool {
	a, b = normalize(a), normalize(b)
	return a.OS == b.OS && a.Architecture == b.Architecture && a.Variant == b.Variant
}

// lookupArch returns what p's ELF files must be; amd64 variants (v2..v4)
// share the amd64 row.
func lookupArch(p specs.Platform) (archSpec, bool) {
	p = normalize(p)
	for _, a := range archTable {
		if a.arch != p.Architecture {
			continue
		}
		if a.arch == "arm" && a.variant != p.Variant {
			continue
		}
		return a, true
	}
	return archSpec{}, false
}

// elfPlatform names the platform an ELF file was built for, as precisely as
// its headers say: "linux/arm64", "linux/arm/v5" (from the ARM attributes),
// or the raw machine when no row matches.
func elfPlatform(f *elfFile) string {
	for _, a := range archTable {
		if a.class == f.Class && a.data == f.Data && a.machine == f.Machine {
			if a.arch == "arm" {
				if v := armELFVariant(f); v > 0 {
					return "linux/arm/v" + strconv.Itoa(v)
				}
				return "linux/arm"
			}
			return "linux/" + a.arch
		}
	}
	return strings.ToLower(strings.TrimPrefix(f.Machine.String(), "EM_")) + " " + classBits(f.Class) + " " + endian(f.Data)
}

// armELFVariant is the ARM architecture version an ARM file needs, from
// its build attributes or its Go build information; 0 when unknown.
func armELFVariant(f *elfFile) int {
	if f.Go != nil && f.Go.GOARM != "" {
		v, _, _ := strings.Cut(f.Go.GOARM, ",")
		if n, err := strconv.Atoi(v); err == nil {
			return n
		}
	}
	if f.ARM != nil && f.ARM.CPUArch >= 0 {
		return armVariant(f.ARM.CPUArch)
	}
	return 0
}

func classBits(c elf.Class) string {
	if c == elf.ELFCLASS32 {
		return "32-bit"
	}
	return "64-bit"
}

func endian(d elf.Data) string {
	if d == elf.ELFDATA2MSB {
		return "big-endian"
	}
	return "little-endian"
}

// deviceMachines are ELF machines whose files are code for a device or the
// kernel's virtual machine, not for the CPU: shipping them is normal.
var deviceMachines = map[elf.Machine]bool{
	elf.EM_BPF:    true,
	elf.EM_CUDA:   true,
	elf.EM_AMDGPU: true,
}
