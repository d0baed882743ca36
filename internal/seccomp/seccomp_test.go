//go:build linux

package seccomp

import (
	"encoding/binary"
	"math/rand"
	"strings"
	"testing"

	sarch "github.com/elastic/go-seccomp-bpf/arch"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/net/bpf"
	"golang.org/x/sys/unix"
)

// run evaluates filter on a syscall in x/net/bpf's VM. The VM loads words
// big-endian, so each 32-bit word of seccomp_data is written big-endian at
// the place a little-endian kernel reads it from.
func run(t *testing.T, filter []unix.SockFilter, audit uint32, nr uint32, args ...uint64) uint32 {
	t.Helper()
	raw := make([]bpf.RawInstruction, len(filter))
	for i, f := range filter {
		raw[i] = bpf.RawInstruction{Op: f.Code, Jt: f.Jt, Jf: f.Jf, K: f.K}
	}
	ins, ok := bpf.Disassemble(raw)
	if !ok {
		t.Fatal("filter does not disassemble")
	}
	vm, err := bpf.NewVM(ins)
	if err != nil {
		t.Fatal(err)
	}
	data := make([]byte, 64)
	binary.BigEndian.PutUint32(data[0:], nr)
	binary.BigEndian.PutUint32(data[4:], audit)
	for i, a := range args {
		binary.BigEndian.PutUint32(data[16+8*i:], uint32(a))
		binary.BigEndian.PutUint32(data[20+8*i:], uint32(a>>32))
	}
	out, err := vm.Run(data)
	if err != nil {
		t.Fatal(err)
	}
	return uint32(out)
}

// dockerDefaultCaps is Docker's default capability set.
var dockerDefaultCaps = []string{"CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_FSETID", "CAP_FOWNER", "CAP_MKNOD",
	"CAP_NET_RAW", "CAP_SETGID", "CAP_SETUID", "CAP_SETFCAP", "CAP_SETPCAP", "CAP_NET_BIND_SERVICE",
	"CAP_SYS_CHROOT", "CAP_KILL", "CAP_AUDIT_WRITE"}

func compileDefault(t *testing.T, caps []string) []unix.SockFilter {
	t.Helper()
	p, err := Resolve("", "", caps)
	if err != nil {
		t.Fatal(err)
	}
	f, err := compileFor(p, specs.ArchX86_64, true)
	if err != nil {
		t.Fatal(err)
	}
	return f
}

func TestDefaultProfileX86(t *testing.T) {
	f := compileDefault(t, dockerDefaultCaps)
	t.Logf("%d instructions", len(f))
	x64, i386, x32 := uint32(sarch.X86_64.ID), uint32(sarch.I386.ID), uint32(sarch.X86_64.ID)
	nr := func(info *sarch.Info, name string) uint32 {
		n, ok := info.SyscallNames[name]
		if !ok {
			t.Fatalf("%s has no %s", info.Name, name)
		}
		return uint32(n) | uint32(info.SeccompMask)
	}
	eperm, enosys := RetErrno|uint32(unix.EPERM), RetErrno|uint32(unix.ENOSYS)
	for _, c := range []struct {
		what  string
		audit uint32
		info  *sarch.Info
		name  string
		args  []uint64
		want  uint32
	}{
		{"read", x64, sarch.X86_64, "read", nil, RetAllow},
		{"mount", x64, sarch.X86_64, "mount", nil, eperm},
		{"unshare", x64, sarch.X86_64, "unshare", nil, eperm},
		{"keyctl", x64, sarch.X86_64, "keyctl", nil, eperm},
		{"add_key", x64, sarch.X86_64, "add_key", nil, eperm},
		{"kexec_load", x64, sarch.X86_64, "kexec_load", nil, eperm},
		{"clone thread", x64, sarch.X86_64, "clone", []uint64{unix.CLONE_VM | unix.CLONE_THREAD | unix.CLONE_SIGHAND}, RetAllow},
		{"clone newuser", x64, sarch.X86_64, "clone", []uint64{unix.CLONE_NEWUSER | 17}, eperm},
		{"clone3", x64, sarch.X86_64, "clone3", nil, enosys},
		{"personality query", x64, sarch.X86_64, "personality", []uint64{0xffffffff}, RetAllow},
		{"personality linux32", x64, sarch.X86_64, "personality", []uint64{8}, RetAllow},
		{"personality no-randomize", x64, sarch.X86_64, "personality", []uint64{0x0040000}, eperm},
		{"personality high bits", x64, sarch.X86_64, "personality", []uint64{1<<32 | 8}, eperm},
		{"socket inet", x64, sarch.X86_64, "socket", []uint64{unix.AF_INET}, RetAllow},
		{"socket vsock", x64, sarch.X86_64, "socket", []uint64{unix.AF_VSOCK}, eperm},
		{"i386 read", i386, sarch.I386, "read", nil, RetAllow},
		{"i386 mount", i386, sarch.I386, "mount", nil, eperm},
		{"i386 clone newns", i386, sarch.I386, "clone", []uint64{unix.CLONE_NEWNS}, eperm},
		{"i386 socketcall", i386, sarch.I386, "socketcall", nil, RetAllow},
		{"x32 read", x32, sarch.X32, "read", nil, RetAllow},
		{"x32 mount", x32, sarch.X32, "mount", nil, eperm},
	} {
		if got := run(t, f, c.audit, nr(c.info, c.name), c.args...); got != c.want {
			t.Errorf("%s: filter returns %#x, want %#x", c.what, got, c.want)
		}
	}
	// Every number of a name gets its rules: x32 has two numbers for 36
	// names (execve: 59 and 520), and the tables' name-to-number map keeps
	// one of them, a different one from run to run. Each must give what the
	// same call gives on x86_64.
	for n, name := range sarch.X32.SyscallNumbers {
		if name != "execve" && name != "ptrace" && name != "readv" {
			continue
		}
		got := run(t, f, x32, uint32(n)|uint32(sarch.X32.SeccompMask))
		if want := run(t, f, x64, nr(sarch.X86_64, name)); got != want {
			t.Errorf("x32 %s (%d): filter returns %#x, x86_64 %s %#x; want the same", name, n, got, name, want)
		}
	}
	if got := run(t, f, uint32(sarch.AARCH64.ID), 63); got != RetKillProcess {
		t.Errorf("aarch64 syscall on an x86_64 filter: %#x, want kill", got)
	}
	if got := run(t, f, x64, 1000); got != enosys {
		t.Errorf("syscall 1000: %#x, want ENOSYS", got)
	}
	// Capability-conditional rules follow the container's capabilities.
	admin := compileDefault(t, append([]string{"CAP_SYS_ADMIN"}, dockerDefaultCaps...))
	if got := run(t, admin, x64, nr(sarch.X86_64, "mount")); got != RetAllow {
		t.Errorf("mount with CAP_SYS_ADMIN: %#x, want allow", got)
	}
	if got := run(t, admin, x64, nr(sarch.X86_64, "clone"), unix.CLONE_NEWUSER); got != RetAllow {
		t.Errorf("clone(CLONE_NEWUSER) with CAP_SYS_ADMIN: %#x, want allow", got)
	}
}

// TestOperators checks each comparison on 64-bit values against Go.
func TestOperators(t *testing.T) {
	ops := map[specs.LinuxSeccompOperator]func(a, v, v2 uint64) bool{
		specs.OpEqualTo:      func(a, v, _ uint64) bool { return a == v },
		specs.OpNotEqual:     func(a, v, _ uint64) bool { return a != v },
		specs.OpGreaterThan:  func(a, v, _ uint64) bool { return a > v },
		specs.OpGreaterEqual: func(a, v, _ uint64) bool { return a >= v },
		specs.OpLessThan:     func(a, v, _ uint64) bool { return a < v },
		specs.OpLessEqual:    func(a, v, _ uint64) bool { return a <= v },
		specs.OpMaskedEqual:  func(a, m, v uint64) bool { return a&m == v },
	}
	rng := rand.New(rand.NewSource(1))
	vals := []uint64{0, 1, 2, 0xffffffff, 1 << 32, 1<<32 + 1, 1<<32 - 1, 0xffffffff00000000, ^uint64(0), 5<<32 | 7}
	for range 10 {
		vals = append(vals, rng.Uint64(), uint64(rng.Uint32()))
	}
	for op, want := range ops {
		for _, v := range vals[:8] {
			v2 := v & 0xf0f0f0f0f0f0f0f0
			p := &specs.LinuxSeccomp{
				DefaultAction: specs.ActErrno,
				Architectures: []specs.Arch{specs.ArchX86_64},
				Syscalls: []specs.LinuxSyscall{{Names: []string{"read"}, Action: specs.ActAllow,
					Args: []specs.LinuxSeccompArg{{Index: 2, Value: v, ValueTwo: v2, Op: op}}}},
			}
			f, err := compileFor(p, specs.ArchX86_64, true)
			if err != nil {
				t.Fatal(err)
			}
			for _, a := range vals {
				for _, arg := range []uint64{a, v, v + 1, v - 1, v2} {
					got := run(t, f, uint32(sarch.X86_64.ID), 0, 0, 0, arg) == RetAllow
					if got != want(arg, v, v2) {
						t.Fatalf("%s value %#x valueTwo %#x on %#x: filter says %v", op, v, v2, arg, got)
					}
				}
			}
		}
	}
}

func TestProfileErrors(t *testing.T) {
	for _, c := range []struct{ json, want string }{
		{`{"defaultAction":"SCMP_ACT_NOTIFY","syscalls":[]}`, "SCMP_ACT_NOTIFY"},
		{`{"defaultAction":"SCMP_ACT_ERRNO","architectures":["SCMP_ARCH_S390X"],"syscalls":[{"names":["read"],"action":"SCMP_ACT_ALLOW"}]}`, "not the host's"},
		{`{"defaultAction":`, "my.json"},
		{`{}`, "my.json"},
	} {
		p, err := Resolve(c.json, "my.json", nil)
		if err == nil {
			_, err = compileFor(p, specs.ArchX86_64, true)
		}
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("profile %s: error %v, want one naming %q", c.json, err, c.want)
		}
	}
}

// BenchmarkCompileDefault is the cost of resolving and compiling Docker's
// default profile (the sandbox caches the result per capability set).
func BenchmarkCompileDefault(b *testing.B) {
	for b.Loop() {
		p, err := Resolve("", "", dockerDefaultCaps)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := compileFor(p, specs.ArchX86_64, true); err != nil {
			b.Fatal(err)
		}
	}
}

// TestDefaultProfileAarch64 compiles Docker's rules for an arm64 host
// (aarch64 and its arm compat ABI).
func TestDefaultProfileAarch64(t *testing.T) {
	p, err := Resolve("", "", dockerDefaultCaps)
	if err != nil {
		t.Fatal(err)
	}
	p.Architectures = []specs.Arch{specs.ArchAARCH64, specs.ArchARM}
	f, err := compileFor(p, specs.ArchAARCH64, true)
	if err != nil {
		t.Fatal(err)
	}
	a64, arm := uint32(sarch.AARCH64.ID), uint32(sarch.ARM.ID)
	eperm := RetErrno | uint32(unix.EPERM)
	for _, c := range []struct {
		audit uint32
		info  *sarch.Info
		name  string
		want  uint32
	}{
		{a64, sarch.AARCH64, "read", RetAllow},
		{a64, sarch.AARCH64, "mount", eperm},
		{a64, sarch.AARCH64, "keyctl", eperm},
		{arm, sarch.ARM, "read", RetAllow},
		{arm, sarch.ARM, "mount", eperm},
	} {
		if got := run(t, f, c.audit, uint32(c.info.SyscallNames[c.name])); got != c.want {
			t.Errorf("%s %s: %#x, want %#x", c.info.Name, c.name, got, c.want)
		}
	}
	if got := run(t, f, uint32(sarch.X86_64.ID), 0); got != RetKillProcess {
		t.Errorf("x86_64 syscall on an aarch64 filter: %#x, want kill", got)
	}
}
