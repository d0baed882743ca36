package emulation

import (
	"bytes"
	"encoding/hex"
	"fmt"
	"strconv"
	"strings"

	"github.com/manyarch/manyarch/internal/platform"
)

// Handler is one binfmt_misc registration: an entry of the binfmt_misc
// file system, or one to write to its register file.
type Handler struct {
	// Name is the entry's file name ("qemu-aarch64").
	Name string `json:"name"`
	// Enabled is false when the entry exists but is switched off (echo 0).
	Enabled bool `json:"enabled"`
	// Interpreter is the path registered for the entry.
	Interpreter string `json:"interpreter"`
	// Flags are the entry's flag letters in the kernel's order P, O, C, F.
	Flags string `json:"flags"`
	// Offset is where in the file Magic is compared.
	Offset int `json:"offset"`
	// Magic and Mask are the bytes compared; a nil Mask compares all bits.
	// Extension is set instead for extension ('E') entries.
	Magic     []byte `json:"magic,omitempty"`
	Mask      []byte `json:"mask,omitempty"`
	Extension string `json:"extension,omitempty"`
}

// HasFlag reports whether h has flag letter f ('P', 'O', 'C' or 'F').
func (h Handler) HasFlag(f byte) bool { return strings.IndexByte(h.Flags, f) >= 0 }

// Matches reports whether the kernel would route a file starting with
// header to h, ignoring whether h is enabled: the magic compared under the
// mask at the offset, as fs/binfmt_misc.c's check_file does.
func (h Handler) Matches(header []byte) bool {
	if h.Extension != "" || len(h.Magic) == 0 {
		return false
	}
	if h.Offset < 0 || h.Offset+len(h.Magic) > len(header) {
		return false
	}
	for i, m := range h.Magic {
		b := header[h.Offset+i]
		if h.Mask != nil {
			b &= h.Mask[i]
			m &= h.Mask[i]
		}
		if b != m {
			return false
		}
	}
	return true
}

// Serves reports whether h catches the executables of a: whether a's probe,
// a real minimal executable of the platform, matches h.
func (h Handler) Serves(a platform.Arch) bool {
	p, err := probeBinary(a)
	if err != nil {
		// No probe for the machine: fall back to the table's magic, which
		// is the first bytes of an ELF executable of the platform.
		return h.Matches(a.BinfmtMagic)
	}
	return h.Matches(p)
}

// ParseHandler parses the contents of a binfmt_misc entry file, as the
// kernel writes them:
//
//	enabled
//	interpreter /usr/bin/qemu-aarch64-static
//	flags: PF
//	offset 0
//	magic 7f454c460201010000000000000000000200b700
//	mask ffffffffffffff00fffffffffffffffffeffffff
func ParseHandler(name string, data []byte) (Handler, error) {
	h := Handler{Name: name}
	lines := strings.Split(strings.TrimRight(string(data), "\n"), "\n")
	if len(lines) == 0 || (lines[0] != "enabled" && lines[0] != "disabled") {
		return Handler{}, fmt.Errorf("parsing binfmt_misc entry %s: first line %q is not enabled or disabled", name, firstLine(lines))
	}
	h.Enabled = lines[0] == "enabled"
	var sawInterp, sawMagic bool
	for _, l := range lines[1:] {
		key, val, _ := strings.Cut(l, " ")
		var err error
		switch key {
		case "interpreter":
			h.Interpreter, sawInterp = val, true
		case "flags:":
			for i := 0; i < len(val); i++ {
				if !strings.ContainsRune("POCF", rune(val[i])) {
					return Handler{}, fmt.Errorf("parsing binfmt_misc entry %s: unknown flag %q", name, val[i])
				}
			}
			h.Flags = val
		case "offset":
			h.Offset, err = strconv.Atoi(val)
			if err == nil && h.Offset < 0 {
				err = fmt.Errorf("negative")
			}
		case "magic":
			h.Magic, err = hex.DecodeString(val)
			sawMagic = true
		case "mask":
			h.Mask, err = hex.DecodeString(val)
		case "extension":
			h.Extension = strings.TrimPrefix(val, ".")
		default:
			return Handler{}, fmt.Errorf("parsing binfmt_misc entry %s: unknown line %q", name, l)
		}
		if err != nil {
			return Handler{}, fmt.Errorf("parsing binfmt_misc entry %s: bad %s %q: %w", name, key, val, err)
		}
	}
	if !sawInterp {
		return Handler{}, fmt.Errorf("parsing binfmt_misc entry %s: no interpreter line", name)
	}
	if sawMagic && len(h.Magic) == 0 {
		return Handler{}, fmt.Errorf("parsing binfmt_misc entry %s: empty magic", name)
	}
	if h.Mask != nil && len(h.Mask) != len(h.Magic) {
		return Handler{}, fmt.Errorf("parsing binfmt_misc entry %s: mask is %d bytes, magic %d", name, len(h.Mask), len(h.Magic))
	}
	if !sawMagic && h.Extension == "" {
		return Handler{}, fmt.Errorf("parsing binfmt_misc entry %s: neither magic nor extension", name)
	}
	return h, nil
}

func firstLine(lines []string) string {
	if len(lines) == 0 {
		return ""
	}
	return lines[0]
}

// RegisterLine returns the line that registers h when written to a
// binfmt_misc register file: ":name:M:offset:magic:mask:interpreter:flags",
// every magic and mask byte escaped as \xHH. Only magic ('M') handlers
// can be registered this way.
func (h Handler) RegisterLine() (string, error) {
	if err := validName(h.Name); err != nil {
		return "", err
	}
	if h.Extension != "" || len(h.Magic) == 0 {
		return "", fmt.Errorf("binfmt_misc handler %s: only magic handlers can be registered", h.Name)
	}
	if h.Mask != nil && len(h.Mask) != len(h.Magic) {
		return "", fmt.Errorf("binfmt_misc handler %s: mask is %d bytes, magic %d", h.Name, len(h.Mask), len(h.Magic))
	}
	if h.Offset < 0 || h.Offset+len(h.Magic) > 128 {
		// BINPRM_BUF_SIZE: the kernel only sees the first 128 bytes.
		return "", fmt.Errorf("binfmt_misc handler %s: magic at offset %d, %d bytes, reaches past byte 128", h.Name, h.Offset, len(h.Magic))
	}
	if h.Interpreter == "" || !strings.HasPrefix(h.Interpreter, "/") || strings.ContainsAny(h.Interpreter, ":\n") {
		return "", fmt.Errorf("binfmt_misc handler %s: interpreter %q must be an absolute path without ':'", h.Name, h.Interpreter)
	}
	for i := 0; i < len(h.Flags); i++ {
		if !strings.ContainsRune("POCF", rune(h.Flags[i])) {
			return "", fmt.Errorf("binfmt_misc handler %s: unknown flag %q", h.Name, h.Flags[i])
		}
	}
	var b strings.Builder
	fmt.Fprintf(&b, ":%s:M:%d:%s:", h.Name, h.Offset, escape(h.Magic))
	if h.Mask != nil {
		b.WriteString(escape(h.Mask))
	}
	fmt.Fprintf(&b, ":%s:%s", h.Interpreter, h.Flags)
	return b.String(), nil
}

func escape(p []byte) string {
	var b strings.Builder
	for _, c := range p {
		fmt.Fprintf(&b, "\\x%02x", c)
	}
	return b.String()
}

// validName checks an entry name the way the kernel does, and refuses
// the two control files.
func validName(name string) error {
	if name == "" || name == "." || name == ".." || name == "register" || name == "status" ||
		strings.ContainsAny(name, "/:\n") || len(name) > 255 {
		return fmt.Errorf("invalid binfmt_misc handler name %q", name)
	}
	return nil
}

// Equal reports whether h and o register the same thing: name, interpreter,
// flags, offset, magic and mask (the kernel stores the magic masked).
func (h Handler) Equal(o Handler) bool {
	if h.Name != o.Name || h.Interpreter != o.Interpreter || sortFlags(h.Flags) != sortFlags(o.Flags) ||
		h.Offset != o.Offset || h.Extension != o.Extension || len(h.Magic) != len(o.Magic) {
		return false
	}
	mask := func(x Handler, i int) byte {
		if x.Mask == nil {
			return 0xff
		}
		return x.Mask[i]
	}
	for i := range h.Magic {
		if mask(h, i) != mask(o, i) || h.Magic[i]&mask(h, i) != o.Magic[i]&mask(o, i) {
			return false
		}
	}
	return true
}

// Private is h as a private instance registers it (MountPrivate): enabled,
// with the F flag, so the kernel opens the interpreter at registration,
// while its host path is visible, and it keeps working after the
// sandbox's root changes.
func (h Handler) Private() Handler {
	h.Enabled = true
	h.Flags = sortFlags(h.Flags + "F")
	return h
}

// sortFlags puts flag letters in the kernel's order, without repeats.
func sortFlags(f string) string {
	var b bytes.Buffer
	for _, c := range "POCF" {
		if strings.ContainsRune(f, c) {
			b.WriteRune(c)
		}
	}
	return b.String()
}

// OwnedPrefix starts the names of the handlers manyarch registers.
const OwnedPrefix = "manyarch-"

// HandlerName is the name manyarch registers a's handler under:
// "manyarch-qemu-aarch64". The arm rows share one.
func HandlerName(a platform.Arch) string { return OwnedPrefix + "qemu-" + a.QEMU }

// Owned reports whether manyarch registered h.
func (h Handler) Owned() bool { return strings.HasPrefix(h.Name, OwnedPrefix) }

// InstallFlags are the flags of the handlers manyarch registers.
//
// F (fix binary) opens the interpreter at registration, so it runs inside
// any root file system, a container's included, which has no QEMU. P
// (preserve argv[0]) passes the program's real argv[0] to QEMU, which
// tells it apart through AT_FLAGS (Linux 5.12, QEMU 6.1 and later), so
// multi-call binaries and login shells ("-sh") see what they were called
// as. C (credentials from the binary, implying O) is left out on purpose,
// although tonistiigi/binfmt sets it: with C a foreign setuid binary makes
// the emulator run as its owner while honouring the caller's QEMU_*
// environment variables (QEMU_GDB, QEMU_LD_PREFIX, QEMU_STRACE), which hands
// that owner's privileges to whoever runs it; Debian's registrations leave C
// out for the same reason. Setuid foreign binaries therefore run with the
// caller's credentials.
const InstallFlags = "PF"

// NewHandler returns the handler manyarch registers for a with the
// interpreter at path.
func NewHandler(a platform.Arch, path string) Handler {
	return Handler{
		Name:        HandlerName(a),
		Enabled:     true,
		Interpreter: path,
		Flags:       InstallFlags,
		Magic:       append([]byte(nil), a.BinfmtMagic...),
		Mask:        append([]byte(nil), a.BinfmtMask...),
	}
}
