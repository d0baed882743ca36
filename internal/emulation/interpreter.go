package emulation

import (
	"debug/elf"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"

	"github.com/manyarch/manyarch/internal/platform"
)

// Interpreter is a QEMU user-mode emulator found on the host.
type Interpreter struct {
	// Path is absolute, with symbolic links in the directory resolved
	// but not the file name's own ("/usr/bin/qemu-aarch64-static").
	Path string
	// Static is true for an executable without a program interpreter
	// (PT_INTERP): one that runs inside any root file system.
	Static bool
}

// interpreterDirs are searched after PATH, in order.
var interpreterDirs = []string{"/usr/bin", "/usr/local/bin"}

// LookupInterpreter finds the QEMU user-mode emulator for a: each of
// a.QEMUBinaryNames() (qemu-TARGET-static, then qemu-TARGET) in PATH, then in
// /usr/bin and /usr/local/bin. The first static one wins; when there is
// none, the first dynamic one is returned with Static false, for callers
// that run it outside containers. Nothing found is an
// *InterpreterNotFoundError naming the package to install.
func LookupInterpreter(a platform.Arch) (Interpreter, error) {
	var searched []string
	var dynamic *Interpreter
	seen := map[string]bool{}
	for _, name := range a.QEMUBinaryNames() {
		candidates := []string{}
		if p, err := exec.LookPath(name); err == nil {
			candidates = append(candidates, p)
		}
		for _, d := range interpreterDirs {
			candidates = append(candidates, filepath.Join(d, name))
		}
		for _, p := range candidates {
			p, err := filepath.Abs(p)
			if err != nil || seen[p] {
				continue
			}
			seen[p] = true
			searched = append(searched, p)
			st, err := os.Stat(p)
			if err != nil || !st.Mode().IsRegular() || st.Mode()&0o111 == 0 {
				continue
			}
			static, err := IsStatic(p)
			if err != nil {
				continue
			}
			if static {
				return Interpreter{Path: p, Static: true}, nil
			}
			if dynamic == nil {
				dynamic = &Interpreter{Path: p}
			}
		}
	}
	if dynamic != nil {
		return *dynamic, nil
	}
	return Interpreter{}, &InterpreterNotFoundError{Arch: a, Searched: searched}
}

// staticInterpreter is LookupInterpreter for uses inside containers: a
// dynamic emulator is a *DynamicInterpreterError.
func staticInterpreter(a platform.Arch) (Interpreter, error) {
	in, err := LookupInterpreter(a)
	if err != nil {
		return Interpreter{}, err
	}
	if !in.Static {
		return Interpreter{}, &DynamicInterpreterError{Arch: a, Path: in.Path}
	}
	return in, nil
}

// IsStatic reports whether the ELF executable at path has no program
// interpreter (PT_INTERP), so it needs no dynamic loader or shared library
// (static and static-pie executables).
func IsStatic(path string) (bool, error) {
	f, err := elf.Open(path)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return false, err
		}
		return false, fmt.Errorf("reading ELF header of %s: %w", path, err)
	}
	defer f.Close()
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			return false, nil
		}
	}
	return true, nil
}
