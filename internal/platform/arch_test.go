package platform

import (
	"bytes"
	"debug/elf"
	"encoding/binary"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// The rows the rest of manyarch relies on, with the values checked against
// real executables (see elf_test.go) and QEMU 7.2.
func TestTable(t *testing.T) {
	type row struct {
		name, goarch, goarm, uname, qemu, cpu string
		class                                 elf.Class
		data                                  elf.Data
		machine                               elf.Machine
		armMax                                ARMCPUArch
		float                                 ARMFloat
	}
	want := []row{
		{"amd64", "amd64", "", "x86_64", "x86_64", "", elf.ELFCLASS64, elf.ELFDATA2LSB, elf.EM_X86_64, 0, ARMFloatNotARM},
		{"arm64", "arm64", "", "aarch64", "aarch64", "", elf.ELFCLASS64, elf.ELFDATA2LSB, elf.EM_AARCH64, 0, ARMFloatNotARM},
		{"arm/v7", "arm", "7", "armv7l", "arm", "", elf.ELFCLASS32, elf.ELFDATA2LSB, elf.EM_ARM, ARMv7, ARMFloatHard},
		{"arm/v6", "arm", "6", "armv6l", "arm", "arm1176", elf.ELFCLASS32, elf.ELFDATA2LSB, elf.EM_ARM, ARMv6K, ARMFloatEither},
		{"arm/v5", "arm", "5", "armv5tel", "arm", "arm926", elf.ELFCLASS32, elf.ELFDATA2LSB, elf.EM_ARM, ARMv5TEJ, ARMFloatSoft},
		{"386", "386", "", "i686", "i386", "", elf.ELFCLASS32, elf.ELFDATA2LSB, elf.EM_386, 0, ARMFloatNotARM},
		{"ppc64le", "ppc64le", "", "ppc64le", "ppc64le", "", elf.ELFCLASS64, elf.ELFDATA2LSB, elf.EM_PPC64, 0, ARMFloatNotARM},
		{"s390x", "s390x", "", "s390x", "s390x", "", elf.ELFCLASS64, elf.ELFDATA2MSB, elf.EM_S390, 0, ARMFloatNotARM},
		{"riscv64", "riscv64", "", "riscv64", "riscv64", "", elf.ELFCLASS64, elf.ELFDATA2LSB, elf.EM_RISCV, 0, ARMFloatNotARM},
		{"mips64le", "mips64le", "", "mips64", "mips64el", "", elf.ELFCLASS64, elf.ELFDATA2LSB, elf.EM_MIPS, 0, ARMFloatNotARM},
		{"loong64", "loong64", "", "loongarch64", "loongarch64", "", elf.ELFCLASS64, elf.ELFDATA2LSB, elf.EM_LOONGARCH, 0, ARMFloatNotARM},
	}
	all := All()
	if len(all) != len(want) {
		t.Fatalf("All() has %d rows, want %d", len(all), len(want))
	}
	for i, a := range all {
		got := row{a.Name, a.GOARCH, a.GOARM, a.UnameMachine, a.QEMU, a.QEMUCPU, a.ELFClass, a.ELFData, a.ELFMachine, a.ARMMaxCPUArch, a.ARMFloat}
		if got != want[i] {
			t.Errorf("All()[%d] = %+v, want %+v", i, got, want[i])
		}
	}
}

func TestTableConsistent(t *testing.T) {
	seen := map[string]bool{}
	for _, a := range All() {
		t.Run(a.Name, func(t *testing.T) {
			if seen[a.Name] {
				t.Errorf("row %s appears twice", a.Name)
			}
			seen[a.Name] = true
			if got := a.String(); got != "linux/"+a.Name {
				t.Errorf("Arch{%s}.String() = %q, want %q", a.Name, got, "linux/"+a.Name)
			}
			if n := Normalize(a.Platform); n.OS != a.Platform.OS || n.Architecture != a.Platform.Architecture || n.Variant != a.Platform.Variant {
				t.Errorf("row %s platform %+v is not normalized (%+v)", a.Name, a.Platform, n)
			}
			p, err := Parse(a.Name)
			if err != nil || !Match(p, a.Platform) {
				t.Errorf("Parse(%q) = %+v, %v, want %+v", a.Name, p, err, a.Platform)
			}
			if got, ok := Lookup(a.Platform); !ok || got.Name != a.Name {
				t.Errorf("Lookup(%+v) = %s, %v, want %s", a.Platform, got.Name, ok, a.Name)
			}
			if (a.GOARCH == "arm") != (a.GOARM != "") || (a.GOARCH == "arm") != (a.ARMFloat != ARMFloatNotARM) {
				t.Errorf("row %s: GOARM %q and ARMFloat %v disagree with GOARCH %q", a.Name, a.GOARM, a.ARMFloat, a.GOARCH)
			}
			if a.GOARM != "" && "v"+a.GOARM != a.Platform.Variant {
				t.Errorf("row %s: GOARM %q, want %q", a.Name, a.GOARM, strings.TrimPrefix(a.Platform.Variant, "v"))
			}
			checkMagic(t, a)
		})
	}
	if !strings.HasPrefix(Known(), "linux/amd64, linux/arm64, ") || strings.Count(Known(), ", ") != len(All())-1 {
		t.Errorf("Known() = %q", Known())
	}
}

// checkMagic checks that a row's binfmt magic and mask are well formed and
// select the row's own ELF class, byte order and machine.
func checkMagic(t *testing.T, a Arch) {
	t.Helper()
	if len(a.BinfmtMagic) != 20 || len(a.BinfmtMask) != 20 {
		t.Fatalf("row %s: magic %d bytes, mask %d bytes, want 20 and 20", a.Name, len(a.BinfmtMagic), len(a.BinfmtMask))
	}
	h := make([]byte, len(a.BinfmtMagic)) // the kernel compares magic&mask
	for i := range h {
		h[i] = a.BinfmtMagic[i] & a.BinfmtMask[i]
	}
	if a.BinfmtMask[elf.EI_CLASS] != 0xff || a.BinfmtMask[elf.EI_DATA]&0x03 == 0 || a.BinfmtMask[18] != 0xff && a.BinfmtMask[19] != 0xff {
		t.Errorf("row %s: mask % x ignores the ELF class, byte order or machine", a.Name, a.BinfmtMask)
	}
	h[elf.EI_DATA] = a.BinfmtMagic[elf.EI_DATA] // x86's mask keeps only bit 1 of it
	if string(h[:4]) != elf.ELFMAG || elf.Class(h[elf.EI_CLASS]) != a.ELFClass || elf.Data(h[elf.EI_DATA]) != a.ELFData {
		t.Errorf("row %s: magic % x does not select %v %v", a.Name, h, a.ELFClass, a.ELFData)
	}
	var order binary.ByteOrder = binary.LittleEndian
	if a.ELFData == elf.ELFDATA2MSB {
		order = binary.BigEndian
	}
	if m := elf.Machine(order.Uint16(h[18:])); m != a.ELFMachine {
		t.Errorf("row %s: magic selects machine %v, want %v", a.Name, m, a.ELFMachine)
	}
	if typ := elf.Type(order.Uint16(h[16:])); typ != elf.ET_EXEC {
		t.Errorf("row %s: magic selects e_type %v, want ET_EXEC (and ET_DYN through the mask)", a.Name, typ)
	}
	if m := order.Uint16(a.BinfmtMask[16:]); m != 0xfffe { // ET_EXEC (2) and ET_DYN (3)
		t.Errorf("row %s: mask % x does not accept both ET_EXEC and ET_DYN", a.Name, a.BinfmtMask)
	}
}

// TestBinfmtMatchesDebian compares the magic and mask with Debian's
// qemu-user-static descriptions, which carry QEMU's upstream values. Debian
// ships none for the host's own architecture family (x86_64, i386 on amd64).
func TestBinfmtMatchesDebian(t *testing.T) {
	const dir = "/usr/share/binfmts"
	checked := 0
	for _, a := range All() {
		data, err := os.ReadFile(filepath.Join(dir, "qemu-"+a.QEMU))
		if os.IsNotExist(err) {
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		checked++
		fields := map[string]string{}
		for _, line := range strings.Split(string(data), "\n") {
			k, v, _ := strings.Cut(line, " ")
			fields[k] = v
		}
		if m := unescape(t, fields["magic"]); !bytes.Equal(m, a.BinfmtMagic) {
			t.Errorf("row %s: BinfmtMagic = % x, %s/qemu-%s has % x", a.Name, a.BinfmtMagic, dir, a.QEMU, m)
		}
		if m := unescape(t, fields["mask"]); !bytes.Equal(m, a.BinfmtMask) {
			t.Errorf("row %s: BinfmtMask = % x, %s/qemu-%s has % x", a.Name, a.BinfmtMask, dir, a.QEMU, m)
		}
		if off := fields["offset"]; off != "0" {
			t.Errorf("%s/qemu-%s: offset %q, want 0", dir, a.QEMU, off)
		}
	}
	if checked == 0 {
		t.Skipf("no QEMU descriptions in %s (apt-get install qemu-user-static)", dir)
	}
}

// unescape decodes update-binfmts' \xNN escapes (other bytes stand for
// themselves).
func unescape(t *testing.T, s string) []byte {
	t.Helper()
	var out []byte
	for len(s) > 0 {
		if strings.HasPrefix(s, `\x`) && len(s) >= 4 {
			b, err := strconv.ParseUint(s[2:4], 16, 8)
			if err != nil {
				t.Fatalf("bad escape in %q: %v", s, err)
			}
			out = append(out, byte(b))
			s = s[4:]
			continue
		}
		out = append(out, s[0])
		s = s[1:]
	}
	return out
}

func TestLookup(t *testing.T) {
	tests := []struct {
		in   string // platform fields: os/arch/variant, not through Parse
		want string // row name, "" for not found
	}{
		{"linux/arm64/", "arm64"},
		{"linux/arm64/v8", "arm64"},
		{"linux/aarch64/", "arm64"},
		{"linux/arm/", "arm/v7"},
		{"linux/arm/7", "arm/v7"},
		{"linux/armhf/", "arm/v7"},
		{"linux/armel/", "arm/v5"},
		{"Linux/AMD64/", "amd64"},
		{"linux/x86_64/", "amd64"},
		{"linux/i386/", "386"},
		{"linux/arm/v8", ""},
		{"linux/arm64/v9", ""},
		{"linux/mips64/", ""},
		{"windows/amd64/", ""},
		{"/amd64/", ""},
		{"//", ""},
	}
	for _, tt := range tests {
		parts := strings.Split(tt.in, "/")
		p := linux(parts[1], parts[2])
		p.OS = parts[0]
		got, ok := Lookup(p)
		if ok != (tt.want != "") || got.Name != tt.want {
			t.Errorf("Lookup(%+v) = %q, %v, want %q", p, got.Name, ok, tt.want)
		}
	}
	withVersion := linux("amd64", "")
	withVersion.OSVersion = "10.0.17763"
	if got, ok := Lookup(withVersion); ok {
		t.Errorf("Lookup(%+v) = %s, want not found", withVersion, got.Name)
	}
}

func TestSameBinfmt(t *testing.T) {
	amd64, _ := Lookup(linux("amd64", ""))
	arm64, _ := Lookup(linux("arm64", ""))
	// As the kernel stores x86_64's entry: magic bits outside the mask cleared.
	stored := append([]byte(nil), amd64.BinfmtMagic...)
	for i := range stored {
		stored[i] &= amd64.BinfmtMask[i]
	}
	if !amd64.SameBinfmt(stored, amd64.BinfmtMask) {
		t.Errorf("amd64.SameBinfmt(kernel's copy of its own entry) = false, want true")
	}
	if arm64.SameBinfmt(amd64.BinfmtMagic, amd64.BinfmtMask) {
		t.Errorf("arm64.SameBinfmt(amd64's entry) = true, want false")
	}
	if amd64.SameBinfmt(amd64.BinfmtMagic, arm64.BinfmtMask) {
		t.Errorf("amd64.SameBinfmt(amd64 magic, another mask) = true, want false")
	}
	if amd64.SameBinfmt(amd64.BinfmtMagic[:4], amd64.BinfmtMask[:4]) {
		t.Errorf("amd64.SameBinfmt(a 4-byte prefix) = true, want false")
	}
}

func TestAllReturnsCopies(t *testing.T) {
	a := All()
	a[0].Name = "changed"
	a[0].BinfmtMagic[0] = 0
	b, _ := Lookup(linux("amd64", ""))
	b.BinfmtMask[0] = 0
	if c := All()[0]; c.Name != "amd64" || c.BinfmtMagic[0] != 0x7f || c.BinfmtMask[0] != 0xff {
		t.Errorf("changing a returned Arch changed the table: %+v", c)
	}
}

func TestNames(t *testing.T) {
	tests := []struct {
		platform string
		binaries []string
		handlers []string
		env      []string
	}{
		{"linux/arm64", []string{"qemu-aarch64-static", "qemu-aarch64"}, []string{"qemu-aarch64", "buildkit-qemu-aarch64"}, []string{"GOOS=linux", "GOARCH=arm64"}},
		{"linux/arm/v6", []string{"qemu-arm-static", "qemu-arm"}, []string{"qemu-arm", "buildkit-qemu-arm"}, []string{"GOOS=linux", "GOARCH=arm", "GOARM=6"}},
		{"linux/386", []string{"qemu-i386-static", "qemu-i386"}, []string{"qemu-i386", "buildkit-qemu-i386", "qemu-i486"}, []string{"GOOS=linux", "GOARCH=386"}},
		{"linux/mips64le", []string{"qemu-mips64el-static", "qemu-mips64el"}, []string{"qemu-mips64el", "buildkit-qemu-mips64el"}, []string{"GOOS=linux", "GOARCH=mips64le"}},
		{"linux/loong64", []string{"qemu-loongarch64-static", "qemu-loongarch64"}, []string{"qemu-loongarch64", "buildkit-qemu-loongarch64"}, []string{"GOOS=linux", "GOARCH=loong64"}},
	}
	for _, tt := range tests {
		p, err := Parse(tt.platform)
		if err != nil {
			t.Fatal(err)
		}
		a, _ := Lookup(p)
		if got := a.QEMUBinaryNames(); strings.Join(got, " ") != strings.Join(tt.binaries, " ") {
			t.Errorf("%s.QEMUBinaryNames() = %q, want %q", tt.platform, got, tt.binaries)
		}
		if got := a.BinfmtHandlerNames(); strings.Join(got, " ") != strings.Join(tt.handlers, " ") {
			t.Errorf("%s.BinfmtHandlerNames() = %q, want %q", tt.platform, got, tt.handlers)
		}
		if got := a.GoEnv(); strings.Join(got, " ") != strings.Join(tt.env, " ") {
			t.Errorf("%s.GoEnv() = %q, want %q", tt.platform, got, tt.env)
		}
	}
}
