package emulation

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
)

// HostMount is where the host's binfmt_misc file system is mounted.
const HostMount = "/proc/sys/fs/binfmt_misc"

// ReadHandlers returns the entries of the binfmt_misc file system mounted at
// dir (HostMount for the host's), sorted by name. It does not mount it: see
// MountHost.
func ReadHandlers(ctx context.Context, dir string) ([]Handler, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("reading binfmt_misc handlers in %s: %w", dir, err)
	}
	if !hasRegister(ents) {
		return nil, fmt.Errorf("reading binfmt_misc handlers in %s: %w", dir, ErrNotMounted)
	}
	var hs []Handler
	for _, e := range ents {
		if e.Name() == "register" || e.Name() == "status" {
			continue
		}
		data, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if errors.Is(err, os.ErrNotExist) {
			continue // removed meanwhile
		}
		if err != nil {
			return nil, fmt.Errorf("reading binfmt_misc handler %s: %w", filepath.Join(dir, e.Name()), err)
		}
		h, err := ParseHandler(e.Name(), data)
		if err != nil {
			return nil, err
		}
		hs = append(hs, h)
	}
	sort.Slice(hs, func(i, j int) bool { return hs[i].Name < hs[j].Name })
	return hs, nil
}

func hasRegister(ents []os.DirEntry) bool {
	for _, e := range ents {
		if e.Name() == "register" {
			return true
		}
	}
	return false
}

// Register adds h to the binfmt_misc file system mounted at dir. The
// kernel refuses a name that exists (os.ErrExist).
func Register(ctx context.Context, dir string, h Handler) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	line, err := h.RegisterLine()
	if err != nil {
		return err
	}
	if err := writeControl(filepath.Join(dir, "register"), line); err != nil {
		return fmt.Errorf("registering binfmt_misc handler %s (%s) in %s: %w", h.Name, h.Interpreter, dir, err)
	}
	if !h.Enabled && h.Name != "" {
		return SetEnabled(ctx, dir, h.Name, false)
	}
	return nil
}

// Unregister removes the entry name from the binfmt_misc file system
// mounted at dir.
func Unregister(ctx context.Context, dir, name string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := validName(name); err != nil {
		return err
	}
	if err := writeControl(filepath.Join(dir, name), "-1"); err != nil {
		return fmt.Errorf("removing binfmt_misc handler %s: %w", filepath.Join(dir, name), err)
	}
	return nil
}

// SetEnabled switches the entry name on or off.
func SetEnabled(ctx context.Context, dir, name string, on bool) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := validName(name); err != nil {
		return err
	}
	v := "0"
	if on {
		v = "1"
	}
	if err := writeControl(filepath.Join(dir, name), v); err != nil {
		return fmt.Errorf("switching binfmt_misc handler %s to %s: %w", filepath.Join(dir, name), v, err)
	}
	return nil
}

// writeControl writes s to a binfmt_misc control file in one write; the
// file must exist (O_CREATE is never used: on a directory that is not
// binfmt_misc it would create a plain file).
func writeControl(path, s string) error {
	f, err := os.OpenFile(path, os.O_WRONLY, 0)
	if err != nil {
		if errors.Is(err, os.ErrPermission) {
			return fmt.Errorf("%w (%w)", err, ErrNeedsRoot)
		}
		return err
	}
	_, werr := f.Write([]byte(s))
	cerr := f.Close()
	if werr != nil {
		return werr
	}
	return cerr
}

// globallyEnabled reads the status file of the file system at dir.
func globallyEnabled(dir string) (bool, error) {
	b, err := os.ReadFile(filepath.Join(dir, "status"))
	if err != nil {
		return false, fmt.Errorf("reading %s: %w", filepath.Join(dir, "status"), err)
	}
	return string(b) == "enabled\n" || string(b) == "enabled", nil
}
