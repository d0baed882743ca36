package sandbox

import (
	"debug/elf"
	"encoding/binary"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// elfHead is the start of an ELF file of the given identity.
func elfHead(class elf.Class, data elf.Data, m elf.Machine) []byte {
	b := make([]byte, 64)
	copy(b, elf.ELFMAG)
	b[elf.EI_CLASS], b[elf.EI_DATA], b[elf.EI_VERSION] = byte(class), byte(data), 1
	var order binary.ByteOrder = binary.LittleEndian
	if data == elf.ELFDATA2MSB {
		order = binary.BigEndian
	}
	order.PutUint16(b[16:], uint16(elf.ET_EXEC))
	order.PutUint16(b[18:], uint16(m))
	return b
}

func TestArchMismatch(t *testing.T) {
	dir := t.TempDir()
	write := func(name string, b []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, b, 0o755); err != nil {
			t.Fatal(err)
		}
		return p
	}
	amd64 := write("amd64", elfHead(elf.ELFCLASS64, elf.ELFDATA2LSB, elf.EM_X86_64))
	arm64 := write("arm64", elfHead(elf.ELFCLASS64, elf.ELFDATA2LSB, elf.EM_AARCH64))
	armhf := write("arm", elfHead(elf.ELFCLASS32, elf.ELFDATA2LSB, elf.EM_ARM))
	s390x := write("s390x", elfHead(elf.ELFCLASS64, elf.ELFDATA2MSB, elf.EM_S390))
	odd := write("odd", elfHead(elf.ELFCLASS32, elf.ELFDATA2LSB, elf.EM_68K))
	script := write("script", []byte("#!"+amd64+" -e\necho hi\n"))
	plain := write("plain", []byte("echo hi\n"))
	for _, c := range []struct {
		path, want string
		warn       []string // "" means no warning
	}{
		{amd64, "linux/amd64", nil},
		{arm64, "linux/arm64", nil},
		{armhf, "linux/arm/v7", nil},
		{s390x, "linux/s390x", nil},
		{amd64, "linux/arm64", []string{amd64 + " is an amd64 program, not arm64", "as linux/arm64"}},
		{arm64, "linux/arm/v7", []string{"is an arm64 program, not arm/v7"}},
		{armhf, "linux/amd64", []string{"is an arm program"}},
		{s390x, "linux/ppc64le", []string{"is a s390x program"}},
		{odd, "linux/amd64", []string{"an ELF program for EM_68K"}},
		{script, "linux/arm64", []string{"(the interpreter of " + script + ")", "an amd64 program"}},
		{script, "linux/amd64", nil},
		{plain, "linux/arm64", nil},                         // not ELF: nothing to say
		{filepath.Join(dir, "missing"), "linux/arm64", nil}, // the exec says why
		{amd64, "not-a-platform", nil},
	} {
		got := archMismatch(c.path, c.want)
		if (got == "") != (c.warn == nil) {
			t.Errorf("archMismatch(%s, %s) = %q, want a warning: %v", filepath.Base(c.path), c.want, got, c.warn != nil)
			continue
		}
		for _, w := range c.warn {
			if !strings.Contains(got, w) {
				t.Errorf("archMismatch(%s, %s) = %q, want it to say %q", filepath.Base(c.path), c.want, got, w)
			}
		}
	}
}

// TestArchMismatchFIFO: a hostile image whose program is a FIFO does not
// hang the check (the exec then fails on its own).
func TestArchMismatchFIFO(t *testing.T) {
	p := filepath.Join(t.TempDir(), "fifo")
	if err := syscall.Mkfifo(p, 0o755); err != nil {
		t.Skip(err)
	}
	done := make(chan string, 1)
	go func() { done <- archMismatch(p, "linux/arm64") }()
	select {
	case w := <-done:
		if w != "" {
			t.Errorf("archMismatch(fifo) = %q, want nothing", w)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("archMismatch blocked on a FIFO")
	}
}
