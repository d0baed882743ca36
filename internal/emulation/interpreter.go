package emulation

import (
	"context"
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
	// Version is what `Path --version` says; zero when it could not be
	// read (not QEMU, or it does not run here).
	Version Version
}

// String is "/usr/bin/qemu-i386 (QEMU 10.0.2)".
func (in Interpreter) String() string {
	if in.Path == "" {
		return ""
	}
	if in.Version == (Version{}) {
		return in.Path + " (version unknown)"
	}
	return in.Path + " (QEMU " + in.Version.String() + ")"
}

// interpreterDirs are searched after PATH, in order.
var interpreterDirs = []string{"/usr/bin", "/usr/local/bin"}

// LookupInterpreter finds the QEMU user-mode emulator for a among each of
// a.QEMUBinaryNames() (qemu-TARGET-static, then qemu-TARGET) in PATH, then
// in /usr/bin and /usr/local/bin, and picks the best: static ones first
// (they run inside containers), then the newest QEMU release (Debian 12's
// QEMU 7.2 qemu-TARGET-static beside QEMU 10's qemu-TARGET: 10 wins), then
// the first found. Names of one file (a -static symbolic link to the
// other) count once, under the name that is not a link. When only dynamic
// ones exist, the best is returned with Static false, for callers that run
// it outside containers. Nothing found is an *InterpreterNotFoundError
// naming the package to install. Versions are read once per file.
func LookupInterpreter(a platform.Arch) (Interpreter, error) {
	var searched []string
	var found []Interpreter
	var infos []os.FileInfo
	seen := map[string]bool{}
	for _, name := range a.QEMUBinaryNames() {
		candidates := []string{}
		if p, err := exec.LookPath(name); err == nil {
			candidates = append(candidates, p)
		}
		for _, d := range interpreterDirs {
			candidates = append(candidates, filepath.Join(d, name))
		}
	next:
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
			for i, fi := range infos {
				if os.SameFile(fi, st) {
					if lst, err := os.Lstat(found[i].Path); err == nil && lst.Mode()&fs.ModeSymlink != 0 {
						if lst, err := os.Lstat(p); err == nil && lst.Mode()&fs.ModeSymlink == 0 {
							found[i].Path = p
						}
					}
					continue next
				}
			}
			static, err := IsStatic(p)
			if err != nil {
				continue
			}
			in := Interpreter{Path: p, Static: static}
			if v, err := EmulatorVersion(context.Background(), p); err == nil {
				in.Version = v
			}
			found = append(found, in)
			infos = append(infos, st)
		}
	}
	if len(found) == 0 {
		return Interpreter{}, &InterpreterNotFoundError{Arch: a, Searched: searched}
	}
	best := found[0]
	for _, in := range found[1:] {
		if betterInterpreter(in, best) {
			best = in
		}
	}
	return best, nil
}

// betterInterpreter reports whether x is preferred to y: static first,
// then the newer release.
func betterInterpreter(x, y Interpreter) bool {
	if x.Static != y.Static {
		return x.Static
	}
	return y.Version.Less(x.Version)
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
