package verify

import (
	"debug/elf"
	"strconv"
	"strings"

	specs "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/manyarch/manyarch/internal/platform"
)

// The ELF facts of each platform come from internal/platform's
// architecture table; this file adapts them to verify's questions.

// lookupArch returns the table row whose ELF files p's image must hold.
// Variants the table does not list (amd64/v3, arm64/v8.2) use the row of
// their architecture.
func lookupArch(p specs.Platform) (platform.Arch, bool) {
	p = platform.Normalize(p)
	if a, ok := platform.Lookup(p); ok {
		return a, true
	}
	if p.Architecture != "arm" && p.Variant != "" {
		return platform.Lookup(specs.Platform{OS: p.OS, Architecture: p.Architecture})
	}
	return platform.Arch{}, false
}

// elfPlatform names the platform an ELF file was built for, as precisely as
// its headers say: "linux/arm64", "linux/arm/v5" (from the ARM attributes or
// GOARM), or the raw machine when no row matches.
func elfPlatform(f *elfFile) string {
	rows := platform.LookupELF(f.Class, f.Data, f.Machine)
	switch {
	case len(rows) == 1:
		return rows[0].String()
	case len(rows) > 1 && f.Machine == elf.EM_ARM:
		if v := armELFVariant(f); v > 0 {
			return "linux/arm/v" + strconv.Itoa(v)
		}
		return "linux/arm"
	case len(rows) > 1:
		return rows[0].String()
	}
	return strings.ToLower(strings.TrimPrefix(f.Machine.String(), "EM_")) + " " + classBits(f.Class) + " " + endian(f.Data)
}

// armELFVariant is the oldest ARM variant (5, 6, 7; 8 past the table) that
// runs an ARM file, from its Go build information or its build attributes;
// 0 when the file does not say.
func armELFVariant(f *elfFile) int {
	if f.Go != nil && f.Go.GOARM != "" {
		v, _, _ := strings.Cut(f.Go.GOARM, ",")
		if n, err := strconv.Atoi(v); err == nil {
			return n
		}
	}
	if f.ARM == nil || !f.ARM.HasCPUArch {
		return 0
	}
	for _, v := range []string{"v5", "v6", "v7"} {
		a, ok := platform.Lookup(specs.Platform{OS: "linux", Architecture: "arm", Variant: v})
		if ok && a.ARMAccepts(f.ARM.CPUArch, platform.FloatABIUnknown) {
			n, _ := strconv.Atoi(v[1:])
			return n
		}
	}
	return 8
}

// armArchName names an ARM file's Tag_CPU_arch: "ARMv5TE".
func armArchName(f *elfFile) string {
	if f.ARM == nil || !f.ARM.HasCPUArch {
		return ""
	}
	return "ARM" + f.ARM.CPUArch.String()
}

// floatABI is an ARM file's declared float ABI: e_flags first, then
// Tag_ABI_VFP_args.
func floatABI(f *elfFile) platform.FloatABI {
	if abi := platform.ARMFloatABIFromFlags(f.Flags); abi != platform.FloatABIUnknown {
		return abi
	}
	if f.ARM != nil {
		return f.ARM.FloatABI()
	}
	return platform.FloatABIUnknown
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
