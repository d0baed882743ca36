package platform

import (
	"encoding/binary"
	"strings"
	"testing"
)

// attrSection builds an .ARM.attributes section holding one "aeabi"
// subsection with one file-scope block of raw attribute bytes.
func attrSection(order binary.ByteOrder, attrs []byte) []byte {
	block := append([]byte{tagFile, 0, 0, 0, 0}, attrs...)
	order.PutUint32(block[1:], uint32(len(block)))
	sub := append([]byte{0, 0, 0, 0}, "aeabi\x00"...)
	sub = append(sub, block...)
	order.PutUint32(sub, uint32(len(sub)))
	return append([]byte{'A'}, sub...)
}

func TestParseARMAttributes(t *testing.T) {
	// What GCC writes for Debian armhf: Tag_CPU_name "7-A", Tag_CPU_arch v7,
	// Tag_CPU_arch_profile 'A', Tag_FP_arch VFPv3-D16 (4), Tag_ABI_VFP_args 1,
	// with a Tag_compatibility and an unknown odd (string) tag in between.
	armhf := []byte{
		tagCPUName, '7', '-', 'A', 0,
		tagCPUArch, 10,
		7, 'A',
		tagFPArch, 4,
		tagCompat, 0, 'g', 'n', 'u', 0,
		69, 'x', 0, // tag 69: odd, so a string
		tagABIVFPArgs, 1,
		0x80, 0x01, 0x85, 0x01, // tag 128 (even, a number) = 133 in ULEB128
	}
	got, err := ParseARMAttributes(attrSection(binary.LittleEndian, armhf), binary.LittleEndian)
	want := ARMAttributes{CPUName: "7-A", CPUArch: ARMv7, HasCPUArch: true, FPArch: 4, VFPArgs: 1, HasVFPArgs: true}
	if err != nil || got != want {
		t.Errorf("ParseARMAttributes(armhf) = %+v, %v, want %+v", got, err, want)
	}
	if got.FloatABI() != FloatABIHard {
		t.Errorf("armhf FloatABI() = %v, want hard", got.FloatABI())
	}

	armel := []byte{tagCPUArch, 4, tagABIVFPArgs, 0}
	got, err = ParseARMAttributes(attrSection(binary.BigEndian, armel), binary.BigEndian)
	want = ARMAttributes{CPUArch: ARMv5TE, HasCPUArch: true, HasVFPArgs: true}
	if err != nil || got != want || got.FloatABI() != FloatABISoft {
		t.Errorf("ParseARMAttributes(armel, big-endian) = %+v (%v), %v, want %+v (soft)", got, got.FloatABI(), err, want)
	}

	// Another vendor's subsection is skipped.
	other := attrSection(binary.LittleEndian, []byte{tagCPUArch, 14})
	other = append(other[:5], strings.Replace(string(other[5:]), "aeabi", "gnuxx", 1)...)
	got, err = ParseARMAttributes(other, binary.LittleEndian)
	if err != nil || got.HasCPUArch {
		t.Errorf("ParseARMAttributes(vendor gnuxx) = %+v, %v, want nothing", got, err)
	}
}

func TestParseARMAttributesErrors(t *testing.T) {
	good := attrSection(binary.LittleEndian, []byte{tagCPUArch, 10})
	tests := []struct {
		name string
		data []byte
		want string
	}{
		{"empty", nil, "not format version 'A'"},
		{"version", append([]byte{'B'}, good[1:]...), "not format version 'A'"},
		{"truncated length", good[:3], "truncated subsection"},
		{"long subsection", good[:len(good)-1], "bad subsection length"},
		{"unterminated string", attrSection(binary.LittleEndian, []byte{tagCPUName, 'x'}), "unterminated string"},
		{"no value", attrSection(binary.LittleEndian, []byte{tagCPUArch}), "bad value for tag 6"},
		{"endless uleb", attrSection(binary.LittleEndian, []byte{tagCPUArch, 0x80, 0x80}), "bad value"},
		{"cpu arch range", attrSection(binary.LittleEndian, []byte{tagCPUArch, 0x80, 0x02}), "out of range"},
	}
	for _, tt := range tests {
		got, err := ParseARMAttributes(tt.data, binary.LittleEndian)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("ParseARMAttributes(%s) = %+v, %v, want error containing %q", tt.name, got, err, tt.want)
		}
	}
}

func TestARMFloatABIFromFlags(t *testing.T) {
	tests := []struct {
		flags uint32
		want  FloatABI
	}{
		{0x05000400, FloatABIHard}, // GCC armhf
		{0x05000200, FloatABISoft}, // GCC armel
		{0x05000002, FloatABIUnknown},
		{0x05000600, FloatABIUnknown},
		{0x04000400, FloatABIUnknown}, // EABI 4 gives the bits other meanings
		{0x00000400, FloatABIUnknown},
	}
	for _, tt := range tests {
		if got := ARMFloatABIFromFlags(tt.flags); got != tt.want {
			t.Errorf("ARMFloatABIFromFlags(%#x) = %v, want %v", tt.flags, got, tt.want)
		}
	}
}

func TestARMAccepts(t *testing.T) {
	rows := map[string]Arch{}
	for _, a := range All() {
		rows[a.Name] = a
	}
	tests := []struct {
		row  string
		cpu  ARMCPUArch
		abi  FloatABI
		want bool
	}{
		{"arm/v5", ARMv5TE, FloatABISoft, true},
		{"arm/v5", ARMv5TE, FloatABIUnknown, true},
		{"arm/v5", ARMv5TE, FloatABIHard, false},
		{"arm/v5", ARMv6, FloatABISoft, false},
		{"arm/v6", ARMv6KZ, FloatABIHard, true}, // Raspbian
		{"arm/v6", ARMv6KZ, FloatABISoft, true},
		{"arm/v6", ARMv5TE, FloatABISoft, true},
		{"arm/v6", ARMv7, FloatABIHard, false},
		{"arm/v6", ARMv6M, FloatABISoft, false},
		{"arm/v7", ARMv7, FloatABIHard, true},
		{"arm/v7", ARMv6, FloatABIHard, true},
		{"arm/v7", ARMv7, FloatABISoft, false},
		{"arm/v7", ARMv8A, FloatABIHard, false},
		{"arm/v7", ARMv7EM, FloatABIHard, false},
		{"arm64", ARMv7, FloatABIHard, false},
		{"amd64", ARMPreV4, FloatABIUnknown, false},
	}
	for _, tt := range tests {
		if got := rows[tt.row].ARMAccepts(tt.cpu, tt.abi); got != tt.want {
			t.Errorf("%s.ARMAccepts(%v, %v) = %v, want %v", tt.row, tt.cpu, tt.abi, got, tt.want)
		}
	}
	if s := ARMv5TE.String() + " " + ARMv9A.String() + " " + ARMCPUArch(99).String(); s != "v5TE v9-A Tag_CPU_arch(99)" {
		t.Errorf("ARMCPUArch names = %q", s)
	}
}

func FuzzParseARMAttributes(f *testing.F) {
	f.Add(attrSection(binary.LittleEndian, []byte{tagCPUName, '7', 0, tagCPUArch, 10, tagABIVFPArgs, 1}))
	f.Add(attrSection(binary.LittleEndian, []byte{tagCompat, 1, 'x', 0, 67, 'y', 0}))
	f.Add([]byte("A"))
	f.Fuzz(func(t *testing.T, data []byte) {
		// Must not panic or loop; any result is fine.
		_, _ = ParseARMAttributes(data, binary.LittleEndian)
		_, _ = ParseARMAttributes(data, binary.BigEndian)
	})
}
