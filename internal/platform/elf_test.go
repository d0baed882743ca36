package platform

import (
	"context"
	"debug/elf"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/manyarch/manyarch/internal/testutil"
)

// probe prints the GOARCH it was built for and what uname(2) says.
const probe = `package main

import (
	"runtime"
	"syscall"
)

// Only runtime and syscall: cross-compiling fmt and os for every platform
// would take far longer on a cold build cache.
func main() {
	var u syscall.Utsname
	if err := syscall.Uname(&u); err != nil {
		panic(err)
	}
	out := []byte(runtime.GOARCH + " ")
	for _, c := range u.Machine {
		if c == 0 {
			break
		}
		out = append(out, byte(c))
	}
	out = append(out, '\n')
	if _, err := syscall.Write(1, out); err != nil {
		panic(err)
	}
}
`

var (
	probeOnce sync.Once
	probeDir  string
	probeBins map[string]string // row name -> executable
	probeErr  error
)

// buildProbes cross-compiles probe for every row, once per test binary.
func buildProbes(t *testing.T) map[string]string {
	t.Helper()
	if testing.Short() {
		t.Skip("slow (cross-compiles a program for every platform); runs without -short")
	}
	goBin, err := exec.LookPath("go")
	if err != nil {
		t.Skip("needs the go command on PATH to cross-compile test programs")
	}
	probeOnce.Do(func() {
		probeDir, probeErr = os.MkdirTemp("", "platform-probe-")
		if probeErr != nil {
			return
		}
		src := filepath.Join(probeDir, "src")
		if probeErr = os.MkdirAll(src, 0o755); probeErr != nil {
			return
		}
		if probeErr = os.WriteFile(filepath.Join(src, "go.mod"), []byte("module probe\n\ngo 1.21\n"), 0o644); probeErr != nil {
			return
		}
		if probeErr = os.WriteFile(filepath.Join(src, "main.go"), []byte(probe), 0o644); probeErr != nil {
			return
		}
		probeBins = map[string]string{}
		var mu sync.Mutex
		var wg sync.WaitGroup
		sem := make(chan struct{}, 2)
		for _, a := range All() {
			wg.Add(1)
			go func() {
				defer wg.Done()
				sem <- struct{}{}
				defer func() { <-sem }()
				out := filepath.Join(probeDir, strings.ReplaceAll(a.Name, "/", "-"))
				ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
				defer cancel()
				cmd := exec.CommandContext(ctx, goBin, "build", "-o", out, ".")
				cmd.Dir = src
				cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOWORK=off", "GOFLAGS=")
				cmd.Env = append(cmd.Env, a.GoEnv()...)
				msg, err := cmd.CombinedOutput()
				mu.Lock()
				defer mu.Unlock()
				if err != nil {
					probeErr = errors.Join(probeErr, errors.New("go build for "+a.String()+": "+err.Error()+"\n"+string(msg)))
					return
				}
				probeBins[a.Name] = out
			}()
		}
		wg.Wait()
	})
	if probeErr != nil {
		t.Fatal(probeErr)
	}
	return probeBins
}

func TestMain(m *testing.M) {
	code := m.Run()
	if probeDir != "" {
		os.RemoveAll(probeDir)
	}
	os.Exit(code)
}

// TestELFOfGoExecutables checks every row's ELF fields against what the Go
// toolchain really emits for it.
func TestELFOfGoExecutables(t *testing.T) {
	bins := buildProbes(t)
	for _, a := range All() {
		t.Run(a.Name, func(t *testing.T) {
			f, err := elf.Open(bins[a.Name])
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			if f.Class != a.ELFClass || f.Data != a.ELFData || f.Machine != a.ELFMachine {
				t.Errorf("go build for %s gives %v %v %v, row says %v %v %v", a, f.Class, f.Data, f.Machine, a.ELFClass, a.ELFData, a.ELFMachine)
			}
			var names []string
			for _, c := range ForELF(&f.FileHeader) {
				names = append(names, c.Name)
			}
			if !contains(names, a.Name) {
				t.Errorf("ForELF(%s executable) = %q, want it to contain %s", a, names, a.Name)
			}
			if a.ELFMachine == elf.EM_ARM {
				if strings.Join(names, " ") != "arm/v7 arm/v6 arm/v5" {
					t.Errorf("ForELF(ARM executable) = %q, want the three arm rows", names)
				}
			} else if len(names) != 1 {
				t.Errorf("ForELF(%s executable) = %q, want one row", a, names)
			}

			header := make([]byte, 64)
			r, err := os.Open(bins[a.Name])
			if err != nil {
				t.Fatal(err)
			}
			_, err = r.Read(header)
			r.Close()
			if err != nil {
				t.Fatal(err)
			}
			for _, b := range All() {
				want := b.QEMU == a.QEMU
				if got := b.BinfmtMatches(header); got != want {
					t.Errorf("%s.BinfmtMatches(%s executable) = %v, want %v", b.Name, a, got, want)
				}
			}
			if a.ELFMachine == elf.EM_ARM {
				checkGoARM(t, a, f, elfFlags(header, f.Class, f.ByteOrder))
			}
		})
	}
}

// checkGoARM checks what Go's ARM executables declare: EABI version 5, no
// float ABI bit and no build attributes, for every GOARM. So a Go executable
// is accepted by every arm row, and only running it tells the variants apart.
func checkGoARM(t *testing.T, a Arch, f *elf.File, flags uint32) {
	t.Helper()
	if sec := f.Section(".ARM.attributes"); sec != nil {
		t.Errorf("Go executable for %s has .ARM.attributes; the row comments assume none", a)
	}
	if _, err := ReadARMAttributes(f); !errors.Is(err, ErrNoARMAttributes) {
		t.Errorf("ReadARMAttributes(Go executable for %s) error = %v, want ErrNoARMAttributes", a, err)
	}
	if flags&EFARMEABIMask != EFARMEABIVer5 {
		t.Errorf("Go executable for %s: e_flags %#x, want EABI version 5", a, flags)
	}
	if got := ARMFloatABIFromFlags(flags); got != FloatABIUnknown {
		t.Errorf("ARMFloatABIFromFlags(%#x) for %s = %v, want unknown", flags, a, got)
	}
	if !a.ARMAccepts(ARMPreV4, ARMFloatABIFromFlags(flags)) {
		t.Errorf("%s.ARMAccepts(Go executable) = false", a.Name)
	}
}

// elfFlags returns e_flags from the first 64 bytes of an ELF file (debug/elf
// does not expose it).
func elfFlags(header []byte, class elf.Class, order binary.ByteOrder) uint32 {
	if class == elf.ELFCLASS64 {
		return order.Uint32(header[48:])
	}
	return order.Uint32(header[36:])
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// qemuFor returns the path of a's QEMU user-mode emulator, skipping t when
// none is installed.
func qemuFor(t *testing.T, a Arch) string {
	t.Helper()
	for _, name := range a.QEMUBinaryNames() {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	t.Skipf("needs %s (QEMU 8 or later; Debian 12: apt-get install -t bookworm-backports qemu-user, as hack/deps.sh does)", strings.Join(a.QEMUBinaryNames(), " or "))
	return ""
}

// runEmulated runs argv under a's emulator with a's QEMUCPU (or cpu, when
// not empty), or natively when native is true.
func runEmulated(t *testing.T, a Arch, cpu string, native bool, argv ...string) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var cmd *exec.Cmd
	if native {
		cmd = exec.CommandContext(ctx, argv[0], argv[1:]...)
	} else {
		if cpu == "" {
			cpu = a.QEMUCPU
		}
		args := []string{}
		if cpu != "" {
			args = append(args, "-cpu", cpu)
		}
		cmd = exec.CommandContext(ctx, qemuFor(t, a), append(args, argv...)...)
	}
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return string(out), fmt.Errorf("%w: %s", err, strings.TrimSpace(stderr.String()))
	}
	return strings.TrimSpace(string(out)), nil
}

// kernelRuns reports whether the kernel runs the executable at path itself:
// the host's own platform always; a compatible one (386 on amd64) unless
// the kernel refuses it with exec format error (IA32 emulation off).
func kernelRuns(t *testing.T, a Arch, path string) bool {
	t.Helper()
	if Match(a.Platform, Host()) {
		return true
	}
	if !MatchCompat(a.Platform, Host()) || runtime.GOOS != "linux" {
		return false
	}
	err := exec.Command(path).Run()
	return !errors.Is(err, syscall.ENOEXEC)
}

// TestRunGoExecutables runs each row's Go executable under the row's QEMU
// emulator and -cpu: it must run, report the row's GOARCH, and see the
// row's UnameMachine. A platform the host runs natively too (386 on amd64,
// when the kernel allows it) runs both ways, so the emulated path is
// tested on every host; the host's own platform runs natively only.
func TestRunGoExecutables(t *testing.T) {
	bins := buildProbes(t)
	host := Host()
	for _, a := range All() {
		t.Run(a.Name, func(t *testing.T) {
			paths := []bool{false} // emulated
			if Match(a.Platform, host) {
				paths = []bool{true}
			} else if kernelRuns(t, a, bins[a.Name]) {
				paths = append(paths, true)
			}
			for _, native := range paths {
				out, err := runEmulated(t, a, "", native, bins[a.Name])
				if err != nil {
					t.Fatalf("running the %s program (native %v): %v", a, native, err)
				}
				wantUname := a.UnameMachine
				if native && !Match(a.Platform, host) && a.Name == "386" {
					wantUname = "x86_64" // a 64-bit kernel without linux32 personality
				}
				if want := a.GOARCH + " " + wantUname; out != want {
					t.Errorf("the %s program (native %v) printed %q, want %q", a, native, out, want)
				}
			}
		})
	}
}

// TestQEMUCPUSetsISA shows that the arm rows' QEMUCPU limits the ISA: a
// GOARM=7 program needs instructions that arm/v5's and arm/v6's CPUs lack.
func TestQEMUCPUSetsISA(t *testing.T) {
	bins := buildProbes(t)
	v7, _ := Lookup(linux("arm", "v7"))
	for _, name := range []string{"arm/v5", "arm/v6"} {
		old, _ := Lookup(linux("arm", name[len("arm/"):]))
		if MatchCompat(old.Platform, Host()) {
			t.Skipf("the host runs %s natively", old)
		}
		out, err := runEmulated(t, old, old.QEMUCPU, false, bins[v7.Name])
		if err == nil || !strings.Contains(err.Error(), "illegal instruction") {
			t.Errorf("the arm/v7 program on %s's CPU %s printed %q, error %v; want an illegal instruction", old, old.QEMUCPU, out, err)
		}
	}
}

// TestBusyboxUname runs Debian's busybox-static for each Debian architecture
// under the matching row and checks `uname -m`, the ELF header and, for
// armel and armhf, the float ABI and Tag_CPU_arch GCC recorded.
func TestBusyboxUname(t *testing.T) {
	if testing.Short() {
		t.Skip("slow (fetches and runs Debian's busybox-static); runs without -short")
	}
	debian := map[string]string{
		"amd64": "amd64", "arm64": "arm64", "armhf": "arm/v7", "armel": "arm/v5",
		"i386": "386", "ppc64el": "ppc64le", "s390x": "s390x", "mips64el": "mips64le",
	}
	for _, debArch := range testutil.BusyboxArches {
		t.Run(debArch, func(t *testing.T) {
			p, err := Parse(debian[debArch])
			if err != nil {
				t.Fatal(err)
			}
			a, _ := Lookup(p)
			// Everything but the host's own platform runs under QEMU (an
			// i386 busybox run natively on amd64 says x86_64).
			cpu := ""
			if a.Name == "386" && !Match(a.Platform, Host()) {
				cpu = "qemu32"
			}
			root := testutil.BusyboxRootfs(t, debArch)
			bin := filepath.Join(root, "bin", "busybox")
			out, err := runEmulated(t, a, cpu, Match(a.Platform, Host()), bin, "uname", "-m")
			if err != nil {
				t.Fatalf("busybox uname -m for %s: %v", debArch, err)
			}
			if out != a.UnameMachine {
				t.Errorf("busybox uname -m for %s (%s) = %q, want %q", debArch, a, out, a.UnameMachine)
			}
			checkDebianELF(t, debArch, a, bin)
		})
	}
}

func checkDebianELF(t *testing.T, debArch string, a Arch, bin string) {
	t.Helper()
	f, err := elf.Open(bin)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var names []string
	for _, c := range ForELF(&f.FileHeader) {
		names = append(names, c.Name)
	}
	if !contains(names, a.Name) {
		t.Errorf("ForELF(busybox %s) = %q, want it to contain %s", debArch, names, a.Name)
	}
	if a.ELFMachine != elf.EM_ARM {
		return
	}
	header, err := os.ReadFile(bin)
	if err != nil {
		t.Fatal(err)
	}
	flags := elfFlags(header[:64], f.Class, f.ByteOrder)
	attrs, err := ReadARMAttributes(f)
	if err != nil {
		t.Fatalf("ReadARMAttributes(busybox %s): %v", debArch, err)
	}
	want := map[string]struct {
		cpu      ARMCPUArch
		abi      FloatABI
		accepted []string
	}{
		"armel": {ARMv5TE, FloatABISoft, []string{"arm/v6", "arm/v5"}},
		"armhf": {ARMv7, FloatABIHard, []string{"arm/v7"}},
	}[debArch]
	if got := ARMFloatABIFromFlags(flags); got != want.abi {
		t.Errorf("ARMFloatABIFromFlags(%#x) for busybox %s = %v, want %v", flags, debArch, got, want.abi)
	}
	if !attrs.HasCPUArch || attrs.CPUArch != want.cpu {
		t.Errorf("Tag_CPU_arch of busybox %s = %v (present %v), want %v", debArch, attrs.CPUArch, attrs.HasCPUArch, want.cpu)
	}
	if want.abi == FloatABIHard && attrs.FloatABI() != FloatABIHard {
		t.Errorf("Tag_ABI_VFP_args of busybox %s says %v, want hard", debArch, attrs.FloatABI())
	}
	var accepted []string
	for _, r := range All() {
		if r.ARMAccepts(attrs.CPUArch, ARMFloatABIFromFlags(flags)) {
			accepted = append(accepted, r.Name)
		}
	}
	if strings.Join(accepted, " ") != strings.Join(want.accepted, " ") {
		t.Errorf("rows accepting busybox %s = %q, want %q", debArch, accepted, want.accepted)
	}
}
