package sandboxinit

import (
	"errors"
	"fmt"
	"os"
	"path"
	"strings"

	"golang.org/x/sys/unix"
)

// initUserNSInode is the inode number of the initial user namespace
// (PROC_USER_INIT_INO in include/linux/proc_ns.h), fixed since Linux 3.8.
const initUserNSInode = 0xEFFFFFFD

// mountBinfmt mounts a new binfmt_misc instance at dir and writes each
// register line (emulation.PrivateRegisterLine's, with the F flag, so the
// interpreter is opened now, while its host path is visible) to its
// register file. It is emulation.MountPrivate for the init, which has a
// new user namespace and so a new, empty instance, and gets the lines
// ready made. In the initial user namespace it refuses, rather than
// touching the host's handlers.
func mountBinfmt(dir string, lines []string) error {
	var st unix.Stat_t
	if err := unix.Stat("/proc/self/ns/user", &st); err != nil {
		return fmt.Errorf("mounting private binfmt_misc at %s: finding the user namespace: %w", dir, err)
	}
	if st.Ino == initUserNSInode {
		return fmt.Errorf("mounting private binfmt_misc at %s: in the initial user namespace: a binfmt_misc mount here is the host's, not a private one", dir)
	}
	if err := unix.Mount("binfmt_misc", dir, "binfmt_misc", unix.MS_NOSUID|unix.MS_NODEV|unix.MS_NOEXEC, ""); err != nil {
		if errors.Is(err, unix.EPERM) || errors.Is(err, unix.ENODEV) || errors.Is(err, unix.EINVAL) {
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
	name, _, _ := strings.Cut(line[1:], line[:1])
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
