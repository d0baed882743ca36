package sandboxinit

import (
	"bytes"
	"io"
	"os"
	"syscall"
)

// ProgramELF reads the ELF identification of the program at path, or of
// the interpreter of a #! script at path: what names the file read ("path",
// or "INTERPRETER (the interpreter of path)"), and class, data and
// machine are the header's EI_CLASS, EI_DATA and e_machine. ok is false
// when the file is not ELF or cannot be read (an exec then says why). It
// reads two headers at most and never waits on a FIFO.
func ProgramELF(path string) (what string, class, data, machine int, ok bool) {
	head := readHead(path)
	what = path
	if bytes.HasPrefix(head, []byte("#!")) {
		line, _, _ := bytes.Cut(head[2:], []byte("\n"))
		fs := fields(string(line))
		if len(fs) == 0 || !hasPrefix(fs[0], "/") {
			return "", 0, 0, 0, false
		}
		what = fs[0] + " (the interpreter of " + path + ")"
		head = readHead(fs[0])
	}
	class, data, machine, ok = elfIdent(head)
	return what, class, data, machine, ok
}

// checkELF reports (a Message of type MsgArch) when the program argv0 is
// ELF of another architecture than the config's.
func checkELF(argv0 string, cfg *Config) (Message, bool) {
	what, class, data, machine, ok := ProgramELF(argv0)
	if !ok || (int64(class) == cfg.ELFClass && int64(data) == cfg.ELFData && int64(machine) == cfg.ELFMachine) {
		return Message{}, false
	}
	return Message{Type: MsgArch, Command: what, ELFClass: int64(class), ELFData: int64(data), ELFMachine: int64(machine)}, true
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

// ELF identification (debug/elf's names, whose package the init does not
// need).
const (
	elfMag       = "\x7fELF"
	eiClass      = 4
	eiData       = 5
	elfData2LSB  = 1
	elfData2MSB  = 2
	eMachineOffs = 18
)

// elfIdent decodes the class, data encoding and machine of an ELF header.
func elfIdent(b []byte) (class, data, machine int, ok bool) {
	if len(b) < eMachineOffs+2 || !bytes.HasPrefix(b, []byte(elfMag)) {
		return 0, 0, 0, false
	}
	class, data = int(b[eiClass]), int(b[eiData])
	switch data {
	case elfData2LSB:
		machine = int(b[eMachineOffs]) | int(b[eMachineOffs+1])<<8
	case elfData2MSB:
		machine = int(b[eMachineOffs])<<8 | int(b[eMachineOffs+1])
	default:
		return 0, 0, 0, false
	}
	return class, data, machine, true
}
