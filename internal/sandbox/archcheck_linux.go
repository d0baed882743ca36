package sandbox

import (
	"debug/elf"
	"fmt"
	"slices"
	"strings"

	"github.com/manyarch/manyarch/internal/platform"
	"github.com/manyarch/manyarch/internal/sandbox/sandboxinit"
)

// expectELF is the ELF identification of platform want's programs, for
// the init's check (Spec.ExpectPlatform); ok is false when want is not a
// platform of the architecture table (no check).
func expectELF(want string) (class, data, machine int64, ok bool) {
	p, err := platform.Parse(want)
	if err != nil {
		return 0, 0, 0, false
	}
	arch, found := platform.Lookup(p)
	if !found {
		return 0, 0, 0, false
	}
	return int64(arch.ELFClass), int64(arch.ELFData), int64(arch.ELFMachine), true
}

// archMismatch returns a warning when the program at path is an ELF file
// of another architecture than platform want, or a #! script whose
// interpreter is; "" when it matches, is not ELF, or cannot be read (the
// exec then says why). The init runs the same check inside the container
// and reports what it found (archWarning words it).
func archMismatch(path, want string) string {
	class, data, machine, ok := expectELF(want)
	if !ok {
		return ""
	}
	what, c, d, m, ok := sandboxinit.ProgramELF(path)
	if !ok || (int64(c) == class && int64(d) == data && int64(m) == machine) {
		return ""
	}
	return archWarning(want, sandboxinit.Message{Command: what, ELFClass: int64(c), ELFData: int64(d), ELFMachine: int64(m)})
}

// archWarning words the init's report of a program of another
// architecture than platform want.
func archWarning(want string, m sandboxinit.Message) string {
	p, err := platform.Parse(want)
	if err != nil {
		return ""
	}
	arch, ok := platform.Lookup(p)
	if !ok {
		return ""
	}
	return fmt.Sprintf("%s is %s, not %s: it runs natively or not at all, not as %s (manyarch verify checks every binary of an image)",
		m.Command, describeELF(elf.Class(m.ELFClass), elf.Data(m.ELFData), elf.Machine(m.ELFMachine)), arch.Name, platform.Format(arch.Platform))
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
