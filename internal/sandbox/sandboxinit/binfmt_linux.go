package sandboxinit

import (
	"errors"
	"fmt"
	"os"
	"path"

	"syscall"
)

// mountBinfmt mounts a new binfmt_misc instance at dir and writes each
// register line (emulation.PrivateRegisterLine's, with the F flag, so the
// interpreter is opened now, while its host path is visible) to its
// register file. It is emulation.MountPrivate for the init, which has a
// new user namespace and so a new, empty instance, and gets the lines
// ready made. In the initial user namespace it refuses, rather than
// touching the host's handlers.
func mountBinfmt(dir string, lines []string) error {
	var st syscall.Stat_t
	if err := syscall.Stat("/proc/self/ns/user", &st); err != nil {
		return fmt.Errorf("mounting private binfmt_misc at %s: finding the user namespace: %w", dir, err)
	}
	if st.Ino == initUserNSInode {
		return fmt.Errorf("mounting private binfmt_misc at %s: in the initial user namespace: a binfmt_misc mount here is the host's, not a private one", dir)
	}
	if err := syscall.Mount("binfmt_misc", dir, "binfmt_misc", syscall.MS_NOSUID|syscall.MS_NODEV|syscall.MS_NOEXEC, ""); err != nil {
		if errors.Is(err, syscall.EPERM) || errors.Is(err, syscall.ENODEV) || errors.Is(err, syscall.EINVAL) {
			return fmt.Errorf("mounting private binfmt_misc: mounting binfmt_misc at %s: %w (binfmt_misc in user namespaces needs Linux 6.7)", dir, err)
		}
		return fmt.Errorf("mounting private binfmt_misc: mounting binfmt_misc at %s: %w", dir, err)
	}
	for _, line := range lines {
		if err := writeFile(path.Join(dir, "register"), line); err != nil {
			return fmt.Errorf("registering binfmt_misc handler %s in private binfmt_misc at %s: %w", handlerName(line), dir, err)
		}
	}
	return nil
}

// handlerName is the name field of a register line (":name:type:...").
func handlerName(line string) string {
	if len(line) < 2 {
		return line
	}
	name, _, _ := cut(line[1:], line[:1])
	return name
}

// writeFile writes s to the existing file p in one write.
func writeFile(p, s string) error {
	f, err := os.OpenFile(p, os.O_WRONLY, 0)
	if err != nil {
		return err
	}
	_, werr := f.WriteString(s)
	if cerr := f.Close(); werr == nil {
		werr = cerr
	}
	return werr
}
