package sandbox

import (
	"bytes"
	"debug/elf"
	"encoding/binary"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"syscall"

	"github.com/manyarch/manyarch/internal/platform"
)

// archMismatch returns a warning when the program at path (inside the
// container) is an ELF file of another architecture than platform want,
// or a #! script whose interpreter is; "" when it matches, is not ELF, or
// cannot be read (the exec then says why). It reads two headers at most.
func archMismatch(path, want string) string {
	p, err := platform.Parse(want)
	if err != nil {
		return ""
	}
	arch, ok := platform.Lookup(p)
	if !ok {
		return ""
	}
	head := readHead(path)
	what := path
	if bytes.HasPrefix(head, []byte("#!")) {
		line, _, _ := bytes.Cut(head[2:], []byte("\n"))
		fields := strings.Fields(string(line))
		if len(fields) == 0 || !strings.HasPrefix(fields[0], "/") {
			return ""
		}
		what = fields[0] + " (the interpreter of " + path + ")"
		head = readHead(fields[0])
	}
	class, data, machine, ok := elfIdent(head)
	if !ok || (class == arch.ELFClass && data == arch.ELFData && machine == arch.ELFMachine) {
		return ""
	}
	return fmt.Sprintf("%s is %s, not %s: it runs natively or not at all, not as %s (manyarch verify checks every binary of an image)",
		what, describeELF(class, data, machine), arch.Name, platform.Format(arch.Platform))
}

// readHead reads the first bytes of a file: enough for an ELF header's
// identification and machine, or a #! line.
func readHead(path string) []byte {
	// O_NONBLOCK: an image's "program" may be a FIFO, which a plain open
	// would wait on for ever; only regular files are read.
	f, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		return nil
	}
	defer f.Close()
	if fi, err := f.Stat(); err != nil || !fi.Mode().IsRegular() {
		return nil
	}
	b := make([]byte, 256)
	n, _ := io.ReadFull(f, b)
	return b[:n]
}

// elfIdent decodes the class, data encoding and machine of an ELF header.
func elfIdent(b []byte) (elf.Class, elf.Data, elf.Machine, bool) {
	if len(b) < 20 || !bytes.HasPrefix(b, []byte(elf.ELFMAG)) {
		return 0, 0, 0, false
	}
	class, data := elf.Class(b[elf.EI_CLASS]), elf.Data(b[elf.EI_DATA])
	var order binary.ByteOrder
	switch data {
	case elf.ELFDATA2LSB:
		order = binary.LittleEndian
	case elf.ELFDATA2MSB:
		order = binary.BigEndian
	default:
		return 0, 0, 0, false
	}
	return class, data, elf.Machine(order.Uint16(b[18:20])), true
}

// describeELF names an ELF architecture by the platform it belongs to
// ("an amd64 program"), else by its header fields.
func describeELF(class elf.Class, data elf.Data, machine elf.Machine) string {
	var names []string
	for _, a := range platform.All() {
		if a.ELFClass == class && a.ELFData == data && a.ELFMachine == machine && !slices.Contains(names, a.Platform.Architecture) {
			names = append(names, a.Platform.Architecture)
		}
	}
	if len(names) > 0 {
		name := strings.Join(names, "/")
		if strings.ContainsRune("aeiou", rune(name[0])) {
			return "an " + name + " program"
		}
		return "a " + name + " program"
	}
	return fmt.Sprintf("an ELF program for %v (%v, %v)", machine, class, data)
}
