package verify

import (
	"encoding/binary"
	"fmt"
)

// ARM EABI build attributes ("Addenda to, and Errata in, the ABI for the Arm
// Architecture", section 2): the .ARM.attributes section, type
// SHT_ARM_ATTRIBUTES, written by GNU as/ld and LLVM for every ARM object.
const (
	shtARMAttributes = 0x70000003

	tagFile          = 1
	tagCPURawName    = 4
	tagCPUName       = 5
	tagCPUArch       = 6
	tagCompatibility = 32
	tagAlsoCompat    = 65
	tagConformance   = 67
	tagABIVFPArgs    = 28
)

// e_flags bits of 32-bit ARM ELF files (EABI version 5).
const (
	efARMEABIMask     = 0xff000000
	efARMABIFloatSoft = 0x00000200
	efARMABIFloatHard = 0x00000400
	efARMEABIVersion5 = 0x05000000
)

// armCPUArchNames are the Tag_CPU_arch values.
var armCPUArchNames = []string{
	0: "pre-v4", 1: "v4", 2: "v4T", 3: "v5T", 4: "v5TE", 5: "v5TEJ", 6: "v6",
	7: "v6KZ", 8: "v6T2", 9: "v6K", 10: "v7", 11: "v6-M", 12: "v6S-M",
	13: "v7E-M", 14: "v8-A", 15: "v8-R", 16: "v8-M.baseline", 17: "v8-M.mainline",
	18: "v8.1-A", 19: "v8.2-A", 20: "v8.3-A", 21: "v8.1-M.mainline", 22: "v9-A",
}

// armAttrs is what verify uses of an object's ARM build attributes.
type armAttrs struct {
	CPUArch int    // Tag_CPU_arch; -1 when absent
	CPUName string // Tag_CPU_name, informational
	VFPArgs int    // Tag_ABI_VFP_args; -1 when absent
}

// armArchName names a Tag_CPU_arch value.
func armArchName(v int) string {
	if v >= 0 && v < len(armCPUArchNames) && armCPUArchNames[v] != "" {
		return "ARM" + armCPUArchNames[v]
	}
	return fmt.Sprintf("Tag_CPU_arch %d", v)
}

// armVariant is the OCI variant (5, 6, 7, 8) that first runs Tag_CPU_arch v.
func armVariant(v int) int {
	switch {
	case v <= 5:
		return 5
	case v <= 9 || v == 11 || v == 12:
		return 6
	case v == 10 || v == 13:
		return 7
	default:
		return 8
	}
}

// parseARMAttributes reads the "aeabi" subsection of an .ARM.attributes
// section. Unknown vendors and unknown tags are skipped by their sizes.
func parseARMAttributes(b []byte, order binary.ByteOrder) (armAttrs, error) {
	a := armAttrs{CPUArch: -1, VFPArgs: -1}
	if len(b) == 0 || b[0] != 'A' {
		return a, fmt.Errorf("ARM attributes: unknown format version")
	}
	b = b[1:]
	for len(b) >= 4 {
		n := int(order.Uint32(b))
		if n < 4 || n > len(b) {
			return a, fmt.Errorf("ARM attributes: subsection length %d out of range", n)
		}
		sub := b[4:n]
		b = b[n:]
		i := indexByte(sub, 0)
		if i < 0 {
			return a, fmt.Errorf("ARM attributes: unterminated vendor name")
		}
		if string(sub[:i]) != "aeabi" {
			continue
		}
		sub = sub[i+1:]
		for len(sub) >= 5 {
			tag := sub[0]
			m := int(order.Uint32(sub[1:]))
			if m < 5 || m > len(sub) {
				return a, fmt.Errorf("ARM attributes: attribute block length %d out of range", m)
			}
			body := sub[5:m]
			sub = sub[m:]
			if tag != tagFile {
				continue // section- and symbol-scoped attributes refine the file's
			}
			if err := parseARMFileAttrs(body, &a); err != nil {
				return a, err
			}
		}
	}
	return a, nil
}

func parseARMFileAttrs(b []byte, a *armAttrs) error {
	for len(b) > 0 {
		tag, n := uleb(b)
		if n == 0 {
			return fmt.Errorf("ARM attributes: bad tag encoding")
		}
		b = b[n:]
		isString := tag == tagCPURawName || tag == tagCPUName || tag == tagAlsoCompat ||
			tag == tagConformance || (tag > tagCompatibility && tag%2 == 1)
		if tag == tagCompatibility {
			_, n := uleb(b)
			if n == 0 {
				return fmt.Errorf("ARM attributes: bad Tag_compatibility")
			}
			b = b[n:]
			isString = true
		}
		if isString {
			i := indexByte(b, 0)
			if i < 0 {
				return fmt.Errorf("ARM attributes: unterminated string for tag %d", tag)
			}
			if tag == tagCPUName {
				a.CPUName = string(b[:i])
			}
			b = b[i+1:]
			continue
		}
		v, n := uleb(b)
		if n == 0 {
			return fmt.Errorf("ARM attributes: bad value for tag %d", tag)
		}
		b = b[n:]
		switch tag {
		case tagCPUArch:
			a.CPUArch = int(v)
		case tagABIVFPArgs:
			a.VFPArgs = int(v)
		}
	}
	return nil
}

// uleb decodes an unsigned LEB128 number; n is 0 when b holds none.
func uleb(b []byte) (v uint64, n int) {
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

func indexByte(b []byte, c byte) int {
	for i, x := range b {
		if x == c {
			return i
		}
	}
	return -1
}
