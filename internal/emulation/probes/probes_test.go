package probes

import (
	"bytes"
	"debug/elf"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"syscall"
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
			qemu := qemuCommand(t, tc.qemu)
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
			// The host's own architecture runs natively; 386 on amd64 may
			// (the kernel refuses it when IA32 emulation is off: exec
			// format error, which only that case may show).
			own := runtime.GOARCH == tc.name
			if compat := runtime.GOARCH == "amd64" && tc.name == "386"; own || compat {
				out, err := exec.Command(p).Output()
				if compat && errors.Is(err, syscall.ENOEXEC) {
					t.Logf("this kernel does not run %s natively (IA32 emulation off)", tc.name)
				} else if err != nil || string(out) != msg {
					t.Errorf("running %s natively = %q, %v; want %q", tc.name, out, err, msg)
				}
			}
		})
	}
}

// qemuCommand finds QEMU's user-mode emulator for target under either
// name (Debian 12's qemu-user-static, or QEMU 10's qemu-user).
func qemuCommand(t *testing.T, target string) string {
	t.Helper()
	if p, err := exec.LookPath("qemu-" + target); err == nil {
		return p
	}
	return testutil.RequireCommand(t, "qemu-"+target+"-static", "qemu-user (hack/deps.sh)")
}

// TestThreadProbes checks every embedded thread probe: a static ELF
// executable of its GOARCH, which prints ThreadMessage under QEMU.
func TestThreadProbes(t *testing.T) {
	for _, tc := range []struct {
		goarch  string
		machine elf.Machine
		qemu    string
	}{
		{"amd64", elf.EM_X86_64, "x86_64"}, {"386", elf.EM_386, "i386"}, {"arm64", elf.EM_AARCH64, "aarch64"},
		{"arm", elf.EM_ARM, "arm"}, {"ppc64le", elf.EM_PPC64, "ppc64le"}, {"s390x", elf.EM_S390, "s390x"},
		{"riscv64", elf.EM_RISCV, "riscv64"}, {"mips64le", elf.EM_MIPS, "mips64el"}, {"loong64", elf.EM_LOONGARCH, "loongarch64"},
	} {
		t.Run(tc.goarch, func(t *testing.T) {
			b, err := Thread(tc.goarch)
			if err != nil {
				t.Fatalf("Thread(%s) = %v", tc.goarch, err)
			}
			f, err := elf.NewFile(bytes.NewReader(b))
			if err != nil {
				t.Fatalf("Thread(%s) is not ELF: %v", tc.goarch, err)
			}
			for _, p := range f.Progs {
				if p.Type == elf.PT_INTERP {
					t.Errorf("Thread(%s) has a program interpreter, want static", tc.goarch)
				}
			}
			if f.Machine != tc.machine {
				t.Errorf("Thread(%s) machine = %v, want %v", tc.goarch, f.Machine, tc.machine)
			}
			if runtime.GOARCH == tc.goarch {
				return
			}
			qemu := qemuCommand(t, tc.qemu)
			p := filepath.Join(t.TempDir(), "probe")
			if err := os.WriteFile(p, b, 0o755); err != nil {
				t.Fatal(err)
			}
			if out, err := exec.Command(qemu, p).CombinedOutput(); err != nil || string(out) != ThreadMessage(tc.goarch) {
				t.Errorf("%s thread probe = %q, %v; want %q", qemu, out, err, ThreadMessage(tc.goarch))
			}
		})
	}
	if _, err := Thread("sparc64"); !errors.Is(err, ErrUnsupported) {
		t.Errorf("Thread(sparc64) = %v, want ErrUnsupported", err)
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
