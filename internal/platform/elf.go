package platform

import (
	"debug/elf"
	"encoding/binary"
	"errors"
	"fmt"
	"strconv"
)

// LookupELF returns the rows whose executables have this ELF class, byte
// order and machine, in table order: none for a foreign or unsupported
// machine, one for most, the three arm rows for 32-bit little-endian ARM
// (tell them apart with ReadARMAttributes, ARMFloatABIFromFlags and
// Arch.ARMAccepts). It is cheap enough to call once per file.
func LookupELF(class elf.Class, data elf.Data, machine elf.Machine) []Arch {
	var out []Arch
	for i := range table {
		a := &table[i]
		if a.ELFClass == class && a.ELFData == data && a.ELFMachine == machine {
			out = append(out, a.clone())
		}
	}
	return out
}

// ForELF is LookupELF for a parsed header, as in ForELF(&f.FileHeader).
func ForELF(h *elf.FileHeader) []Arch {
	return LookupELF(h.Class, h.Data, h.Machine)
}

// ARMCPUArch is a value of Tag_CPU_arch, the build attribute in which an ARM
// executable's .ARM.attributes section records the architecture version its
// code needs (ARM IHI 0045, "Addenda to, and Errata in, the ABI for the Arm
// Architecture").
type ARMCPUArch uint8

// Tag_CPU_arch values.
const (
	ARMPreV4       ARMCPUArch = 0
	ARMv4          ARMCPUArch = 1
	ARMv4T         ARMCPUArch = 2
	ARMv5T         ARMCPUArch = 3
	ARMv5TE        ARMCPUArch = 4
	ARMv5TEJ       ARMCPUArch = 5
	ARMv6          ARMCPUArch = 6
	ARMv6KZ        ARMCPUArch = 7
	ARMv6T2        ARMCPUArch = 8
	ARMv6K         ARMCPUArch = 9
	ARMv7          ARMCPUArch = 10
	ARMv6M         ARMCPUArch = 11
	ARMv6SM        ARMCPUArch = 12
	ARMv7EM        ARMCPUArch = 13
	ARMv8A         ARMCPUArch = 14
	ARMv8R         ARMCPUArch = 15
	ARMv8MBaseline ARMCPUArch = 16
	ARMv8MMainline ARMCPUArch = 17
	ARMv81A        ARMCPUArch = 18
	ARMv82A        ARMCPUArch = 19
	ARMv83A        ARMCPUArch = 20
	ARMv81MMain    ARMCPUArch = 21
	ARMv9A         ARMCPUArch = 22
)

var armCPUArchNames = [...]string{
	"Pre-v4", "v4", "v4T", "v5T", "v5TE", "v5TEJ", "v6", "v6KZ", "v6T2", "v6K",
	"v7", "v6-M", "v6S-M", "v7E-M", "v8-A", "v8-R", "v8-M.baseline",
	"v8-M.mainline", "v8.1-A", "v8.2-A", "v8.3-A", "v8.1-M.mainline", "v9-A",
}

// String returns the name readelf -A uses: "v5TE", "v7", "v8-A".
func (a ARMCPUArch) String() string {
	if int(a) < len(armCPUArchNames) {
		return armCPUArchNames[a]
	}
	return "Tag_CPU_arch(" + strconv.Itoa(int(a)) + ")"
}

// ARMFloat says which float ABI an arm row's executables use.
type ARMFloat uint8

const (
	// ARMFloatNotARM is the value on rows that are not 32-bit ARM.
	ARMFloatNotARM ARMFloat = iota
	// ARMFloatSoft: floating point arguments in integer registers (armel).
	ARMFloatSoft
	// ARMFloatHard: floating point arguments in VFP registers (armhf).
	ARMFloatHard
	// ARMFloatEither: both are in use on the platform (arm/v6).
	ARMFloatEither
)

func (f ARMFloat) String() string {
	switch f {
	case ARMFloatNotARM:
		return "not-arm"
	case ARMFloatSoft:
		return "soft"
	case ARMFloatHard:
		return "hard"
	case ARMFloatEither:
		return "soft-or-hard"
	}
	return "ARMFloat(" + strconv.Itoa(int(f)) + ")"
}

// FloatABI is the float ABI one ARM executable declares.
type FloatABI uint8

const (
	// FloatABIUnknown: the executable does not say. Go's linker writes
	// neither e_flags bit nor build attributes, for every GOARM.
	FloatABIUnknown FloatABI = iota
	// FloatABISoft: EF_ARM_ABI_FLOAT_SOFT, or Tag_ABI_VFP_args = 0.
	FloatABISoft
	// FloatABIHard: EF_ARM_ABI_FLOAT_HARD, or Tag_ABI_VFP_args = 1.
	FloatABIHard
)

func (f FloatABI) String() string {
	switch f {
	case FloatABIUnknown:
		return "unknown"
	case FloatABISoft:
		return "soft"
	case FloatABIHard:
		return "hard"
	}
	return "FloatABI(" + strconv.Itoa(int(f)) + ")"
}

// ARM e_flags bits (ARM IHI 0044, "ELF for the Arm Architecture").
const (
	EFARMEABIMask     = 0xff000000
	EFARMEABIVer5     = 0x05000000
	EFARMABIFloatSoft = 0x00000200
	EFARMABIFloatHard = 0x00000400
)

// ARMFloatABIFromFlags returns the float ABI an ARM executable's e_flags
// declare. Only EABI version 5 defines the float bits; for other versions,
// and when neither bit is set (Go executables), it returns FloatABIUnknown.
// GCC's armhf executables carry 0x05000400, armel ones 0x05000200.
func ARMFloatABIFromFlags(flags uint32) FloatABI {
	if flags&EFARMEABIMask != EFARMEABIVer5 {
		return FloatABIUnknown
	}
	switch {
	case flags&EFARMABIFloatHard != 0 && flags&EFARMABIFloatSoft == 0:
		return FloatABIHard
	case flags&EFARMABIFloatSoft != 0 && flags&EFARMABIFloatHard == 0:
		return FloatABISoft
	}
	return FloatABIUnknown
}

// ARMAccepts reports whether an executable that declares cpu (its
// Tag_CPU_arch) and abi runs on every machine of an arm row and follows its
// float ABI: cpu must not be newer than ARMMaxCPUArch, and a declared float
// ABI must be the row's (FloatABIUnknown is accepted: no evidence). A
// soft-float executable is rejected on arm/v7 even though a static one runs
// there: its dynamic ones need armel libraries that arm/v7 images lack.
// ARMAccepts is false on rows that are not arm.
func (a Arch) ARMAccepts(cpu ARMCPUArch, abi FloatABI) bool {
	if a.ARMFloat == ARMFloatNotARM || cpu > a.ARMMaxCPUArch {
		return false
	}
	switch abi {
	case FloatABISoft:
		return a.ARMFloat == ARMFloatSoft || a.ARMFloat == ARMFloatEither
	case FloatABIHard:
		return a.ARMFloat == ARMFloatHard || a.ARMFloat == ARMFloatEither
	}
	return true
}

// ARMAttributes holds the build attributes of an ARM executable that tell
// the arm variants apart (the "aeabi" file-scope attributes of its
// .ARM.attributes section).
type ARMAttributes struct {
	CPUName    string     // Tag_CPU_name, "" when absent
	CPUArch    ARMCPUArch // Tag_CPU_arch
	HasCPUArch bool       // whether Tag_CPU_arch is present
	FPArch     uint8      // Tag_FP_arch: 0 none, 1 VFPv1, 2 VFPv2, 3 VFPv3, ...
	VFPArgs    uint8      // Tag_ABI_VFP_args: 0 base (soft) ABI, 1 VFP registers (hard)
	HasVFPArgs bool       // whether Tag_ABI_VFP_args is present
}

// FloatABI returns the float ABI Tag_ABI_VFP_args declares, or
// FloatABIUnknown when it is absent or says something else (toolchain
// specific, compatible with both).
func (a ARMAttributes) FloatABI() FloatABI {
	if !a.HasVFPArgs {
		return FloatABIUnknown
	}
	switch a.VFPArgs {
	case 0:
		return FloatABISoft
	case 1:
		return FloatABIHard
	}
	return FloatABIUnknown
}

// ErrNoARMAttributes is returned by ReadARMAttributes for an ELF file with no
// .ARM.attributes section, as every Go executable.
var ErrNoARMAttributes = errors.New("no .ARM.attributes section")

// Build attribute tags (ARM IHI 0045).
const (
	tagFile         = 1
	tagCPURawName   = 4
	tagCPUName      = 5
	tagCPUArch      = 6
	tagFPArch       = 10
	tagABIVFPArgs   = 28
	tagCompat       = 32
	maxAttrSections = 64
)

// ReadARMAttributes reads the file-scope "aeabi" build attributes of an ARM
// ELF file. It returns ErrNoARMAttributes when the section is missing and an
// error naming the offset when the section is malformed.
func ReadARMAttributes(f *elf.File) (ARMAttributes, error) {
	sec := f.Section(".ARM.attributes")
	if sec == nil {
		return ARMAttributes{}, ErrNoARMAttributes
	}
	data, err := sec.Data()
	if err != nil {
		return ARMAttributes{}, fmt.Errorf("reading .ARM.attributes: %w", err)
	}
	order := f.ByteOrder
	if order == nil {
		order = binary.LittleEndian
	}
	return ParseARMAttributes(data, order)
}

// ParseARMAttributes parses the contents of an .ARM.attributes section; order
// is the ELF file's byte order.
func ParseARMAttributes(data []byte, order binary.ByteOrder) (ARMAttributes, error) {
	var out ARMAttributes
	if len(data) == 0 || data[0] != 'A' {
		return out, errors.New("parsing .ARM.attributes: not format version 'A'")
	}
	off := 1
	for n := 0; off < len(data); n++ {
		if n == maxAttrSections {
			return out, fmt.Errorf("parsing .ARM.attributes: more than %d subsections", maxAttrSections)
		}
		if len(data)-off < 4 {
			return out, fmt.Errorf("parsing .ARM.attributes: truncated subsection at offset %d", off)
		}
		size := int(order.Uint32(data[off:]))
		if size < 5 || size > len(data)-off {
			return out, fmt.Errorf("parsing .ARM.attributes: bad subsection length %d at offset %d", size, off)
		}
		sub := data[off+4 : off+size]
		off += size
		vendor, rest, ok := cstring(sub)
		if !ok {
			return out, errors.New("parsing .ARM.attributes: unterminated vendor name")
		}
		if vendor != "aeabi" {
			continue // another vendor's attributes
		}
		for len(rest) > 0 {
			if len(rest) < 5 {
				return out, errors.New("parsing .ARM.attributes: truncated attribute block")
			}
			tag := rest[0]
			bsize := int(order.Uint32(rest[1:]))
			if bsize < 5 || bsize > len(rest) {
				return out, fmt.Errorf("parsing .ARM.attributes: bad attribute block length %d", bsize)
			}
			block := rest[5:bsize]
			rest = rest[bsize:]
			if tag != tagFile {
				continue // section- and symbol-scope attributes refine file scope
			}
			if err := parseFileAttributes(block, &out); err != nil {
				return out, fmt.Errorf("parsing .ARM.attributes: %w", err)
			}
		}
	}
	return out, nil
}

func parseFileAttributes(b []byte, out *ARMAttributes) error {
	for len(b) > 0 {
		tag, n := uleb128(b)
		if n == 0 {
			return errors.New("bad attribute tag")
		}
		b = b[n:]
		// Tags 4, 5, 65 and 67 hold strings, 32 a number then a string;
		// others below 32 hold numbers; from 32 on, odd tags hold strings.
		isString := tag == tagCPURawName || tag == tagCPUName || (tag > tagCompat && tag%2 == 1)
		if tag == tagCompat {
			_, n := uleb128(b)
			if n == 0 {
				return errors.New("bad Tag_compatibility value")
			}
			b = b[n:]
			isString = true
		}
		if isString {
			s, rest, ok := cstring(b)
			if !ok {
				return fmt.Errorf("unterminated string for tag %d", tag)
			}
			if tag == tagCPUName {
				out.CPUName = s
			}
			b = rest
			continue
		}
		v, n := uleb128(b)
		if n == 0 {
			return fmt.Errorf("bad value for tag %d", tag)
		}
		b = b[n:]
		switch tag {
		case tagCPUArch:
			if v > 255 {
				return fmt.Errorf("Tag_CPU_arch %d out of range", v)
			}
			out.CPUArch, out.HasCPUArch = ARMCPUArch(v), true
		case tagFPArch:
			if v <= 255 {
				out.FPArch = uint8(v)
			}
		case tagABIVFPArgs:
			if v <= 255 {
				out.VFPArgs, out.HasVFPArgs = uint8(v), true
			}
		}
	}
	return nil
}

// uleb128 decodes an unsigned LEB128 number; n is 0 when b holds none (or
// one that overflows 64 bits).
func uleb128(b []byte) (v uint64, n int) {
	var shift uint
	for i, c := range b {
		if shift >= 64 {
			return 0, 0
		}
		v |= uint64(c&0x7f) << shift
		if c&0x80 == 0 {
			return v, i + 1
		}
		shift += 7
	}
	return 0, 0
}

// cstring splits a NUL-terminated string off b.
func cstring(b []byte) (s string, rest []byte, ok bool) {
	for i, c := range b {
		if c == 0 {
			return string(b[:i]), b[i+1:], true
		}
	}
	return "", nil, false
}
