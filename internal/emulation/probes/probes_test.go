package probes

import (
	"bytes"
	"debug/elf"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"testing"

	"github.com/manyarch/manyarch/internal/testutil"
)

var targets = []struct {
	name string
	t    Target
	qemu string // QEMU user-mode target that runs it
}{
	{"amd64", Target{elf.ELFCLASS64, elf.ELFDATA2LSB, elf.EM_X86_64, 0}, "x86_64"},
	{"386", Target{elf.ELFCLASS32, elf.ELFDATA2LSB, elf.EM_386, 0}, "i386"},
	{"arm64", Target{elf.ELFCLASS64, elf.ELFDATA2LSB, elf.EM_AARCH64, 0}, "aarch64"},
	{"armhf", Target{elf.ELFCLASS32, elf.ELFDATA2LSB, elf.EM_ARM, FlagARMEABI5 | FlagARMHardFloat}, "arm"},
	{"armel", Target{elf.ELFCLASS32, elf.ELFDATA2LSB, elf.EM_ARM, FlagARMEABI5 | FlagARMSoftFloat}, "arm"},
	{"riscv64", Target{elf.ELFCLASS64, elf.ELFDATA2LSB, elf.EM_RISCV, 0}, "riscv64"},
	{"ppc64le", Target{elf.ELFCLASS64, elf.ELFDATA2LSB, elf.EM_PPC64, 0}, "ppc64le"},
	{"ppc64", Target{elf.ELFCLASS64, elf.ELFDATA2MSB, elf.EM_PPC64, 0}, "ppc64"},
	{"s390x", Target{elf.ELFCLASS64, elf.ELFDATA2MSB, elf.EM_S390, 0}, "s390x"},
	{"mips64le", Target{elf.ELFCLASS64, elf.ELFDATA2LSB, elf.EM_MIPS, 0}, "mips64el"},
	{"mips64", Target{elf.ELFCLASS64, elf.ELFDATA2MSB, elf.EM_MIPS, 0}, "mips64"},
	{"mipsle", Target{elf.ELFCLASS32, elf.ELFDATA2LSB, elf.EM_MIPS, 0}, "mipsel"},
	{"mips", Target{elf.ELFCLASS32, elf.ELFDATA2MSB, elf.EM_MIPS, 0}, "mips"},
	{"loong64", Target{elf.ELFCLASS64, elf.ELFDATA2LSB, elf.EM_LOONGARCH, 0}, "loongarch64"},
}

func TestBuildIsMinimalStaticELF(t *testing.T) {
	for _, tc := range targets {
		t.Run(tc.name, func(t *testing.T) {
			b, err := Build(tc.t, "ok "+tc.name+"\n")
			if err != nil {
				t.Fatalf("Build(%v) = %v", tc.t, err)
			}
			if len(b) > 512 {
				t.Errorf("Build(%v) is %d bytes, want at most 512", tc.t, len(b))
			}
			f, err := elf.NewFile(bytes.NewReader(b))
			if err != nil {
				t.Fatalf("elf.NewFile(Build(%v)) = %v", tc.t, err)
			}
			if f.Class != tc.t.Class || f.Data != tc.t.Data || f.Machine != tc.t.Machine || f.Type != elf.ET_EXEC {
				t.Errorf("header = %v %v %v %v, want %v ET_EXEC", f.Class, f.Data, f.Machine, f.Type, tc.t)
			}
			wantFlags := tc.t.Flags
			if wantFlags == 0 {
				wantFlags = DefaultFlags(tc.t)
			}
			var flags uint32
			if f.Class == elf.ELFCLASS64 {
				flags = f.ByteOrder.Uint32(b[48:])
			} else {
				flags = f.ByteOrder.Uint32(b[36:])
			}
			if flags != wantFlags {
				t.Errorf("e_flags = %#x, want %#x", flags, wantFlags)
			}
			if len(f.Progs) != 1 || f.Progs[0].Type != elf.PT_LOAD {
				t.Fatalf("program headers = %v, want one PT_LOAD", f.Progs)
			}
			if f.Entry < Base || f.Entry >= Base+uint64(len(b)) {
				t.Errorf("entry %#x outside the loaded file [%#x, %#x)", f.Entry, Base, Base+len(b))
			}
			if !Supported(tc.t) {
				t.Errorf("Supported(%v) = false, want true", tc.t)
			}
		})
	}
}

// TestProbesRunUnderQEMU runs every probe through the matching QEMU
// user-mode emulator (and natively where the host runs it) and checks the
// output and the exit status.
func TestProbesRunUnderQEMU(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range targets {
		t.Run(tc.name, func(t *testing.T) {
			qemu := testutil.RequireCommand(t, "qemu-"+tc.qemu+"-static", "qemu-user-static")
			msg := "ok " + tc.name + "\n"
			b, err := Build(tc.t, msg)
			if err != nil {
				t.Fatalf("Build(%v) = %v", tc.t, err)
			}
			p := filepath.Join(dir, tc.name)
			if err := os.WriteFile(p, b, 0o755); err != nil {
				t.Fatal(err)
			}
			out, err := exec.Command(qemu, p).Output()
			if err != nil || string(out) != msg {
				t.Errorf("%s %s = %q, %v; want %q, exit 0", qemu, tc.name, out, err, msg)
			}
			if native := (runtime.GOARCH == "amd64" && (tc.name == "amd64" || tc.name == "386")) ||
				runtime.GOARCH == tc.name; native {
				out, err := exec.Command(p).Output()
				if err != nil || string(out) != msg {
					t.Errorf("running %s natively = %q, %v; want %q", tc.name, out, err, msg)
				}
			}
		})
	}
}

func TestBuildErrors(t *testing.T) {
	for _, tc := range []struct {
		name string
		t    Target
		msg  string
		want error
	}{
		{"sparc64", Target{elf.ELFCLASS64, elf.ELFDATA2MSB, elf.EM_SPARCV9, 0}, "ok\n", ErrUnsupported},
		{"s390 little endian", Target{elf.ELFCLASS64, elf.ELFDATA2LSB, elf.EM_S390, 0}, "ok\n", ErrUnsupported},
		{"empty message", targets[0].t, "", nil},
		{"long message", targets[0].t, string(make([]byte, 256)), nil},
		{"bad class", Target{elf.ELFCLASSNONE, elf.ELFDATA2LSB, elf.EM_X86_64, 0}, "ok\n", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Build(tc.t, tc.msg)
			if err == nil {
				t.Fatalf("Build(%v, %q) = nil error, want an error", tc.t, tc.msg)
			}
			if tc.want != nil && !errors.Is(err, tc.want) {
				t.Errorf("Build(%v) = %v, want %v", tc.t, err, tc.want)
			}
		})
	}
}
