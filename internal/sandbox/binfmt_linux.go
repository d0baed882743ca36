package sandbox

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"golang.org/x/sys/unix"
)

// mountPrivateBinfmt mounts a binfmt_misc instance of the current user
// namespace at dir and registers hs there with the F flag, so the
// interpreters (host paths) are opened now and work after the root changes.
// The kernel looks handlers up in the instance of the exec'ing process's
// user namespace, so this affects the sandbox only.
func mountPrivateBinfmt(dir string, hs []BinfmtHandler) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return step("creating binfmt_misc mount point", err)
	}
	if err := unix.Mount("binfmt_misc", dir, "binfmt_misc", unix.MS_NOSUID|unix.MS_NODEV|unix.MS_NOEXEC, ""); err != nil {
		return step("mounting a private binfmt_misc", fmt.Errorf("%w (a binfmt_misc instance per user namespace needs Linux 6.7 or later; or register the emulator on the host: manyarch binfmt install)", err))
	}
	for _, h := range hs {
		if err := registerBinfmt(dir, h); err != nil {
			return step("registering binfmt_misc handler "+h.Name, err)
		}
	}
	return nil
}

func registerBinfmt(dir string, h BinfmtHandler) error {
	if _, err := os.Stat(h.Interpreter); err != nil {
		return fmt.Errorf("interpreter: %w", err)
	}
	flags := h.Flags
	if !strings.Contains(flags, "F") {
		flags += "F"
	}
	line := fmt.Sprintf(":%s:M:%d:%s:%s:%s:%s", h.Name, h.Offset, binfmtEscape(h.Magic), binfmtEscape(h.Mask), h.Interpreter, flags)
	f, err := os.OpenFile(filepath.Join(dir, "register"), os.O_WRONLY, 0)
	if err != nil {
		return err
	}
	if _, err := f.Write([]byte(line)); err != nil {
		f.Close()
		return fmt.Errorf("writing %q: %w", line, err)
	}
	return f.Close()
}

// binfmtEscape writes every byte as \xHH, which the register parser accepts
// for any byte, including ':'.
func binfmtEscape(b []byte) string {
	var sb strings.Builder
	for _, c := range b {
		fmt.Fprintf(&sb, `\x%02x`, c)
	}
	return sb.String()
}
