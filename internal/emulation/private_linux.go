package emulation

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// initUserNSInode is the inode number of the initial user namespace
// (PROC_USER_INIT_INO in include/linux/proc_ns.h), fixed since Linux 3.8.
const initUserNSInode = 0xEFFFFFFD

// MountPrivate mounts a new binfmt_misc instance at target (an existing
// directory) and registers hs there, each with the F flag added, so the
// interpreters are opened now, while their host paths are visible, and
// keep working after the caller changes its root. Handlers that are
// already registered identically are left as they are.
//
// The caller must be in a user namespace of its own and hold
// CAP_SYS_ADMIN there (a sandbox's init after unshare(CLONE_NEWUSER |
// CLONE_NEWNS)), on Linux 6.7 or later: the instance then belongs to that
// user namespace and serves every process in it and in its descendants,
// and nothing changes on the host. Called in the initial user namespace it
// fails with ErrInitialUserNamespace instead of touching the host's
// handlers.
//
// A user namespace with an instance of its own no longer sees the host's
// handlers (the kernel uses the nearest instance up the user namespace
// tree, and only that one): register every handler the sandbox needs.
//
// The kernel drops the instance's handlers when its last mount goes, so
// target must stay mounted as long as the sandbox runs: mount it inside
// the new root (ROOT/proc/sys/fs/binfmt_misc once ROOT/proc is mounted)
// before pivot_root.
func MountPrivate(target string, hs []Handler) error {
	var st unix.Stat_t
	if err := unix.Stat("/proc/self/ns/user", &st); err != nil {
		return fmt.Errorf("mounting private binfmt_misc at %s: finding the user namespace: %w", target, err)
	}
	if st.Ino == initUserNSInode {
		return fmt.Errorf("mounting private binfmt_misc at %s: %w", target, ErrInitialUserNamespace)
	}
	if err := mountAt(target); err != nil {
		if errors.Is(err, unix.EPERM) || errors.Is(err, unix.ENODEV) || errors.Is(err, unix.EINVAL) {
			return fmt.Errorf("mounting private binfmt_misc: %w (binfmt_misc in user namespaces needs Linux 6.7)", err)
		}
		return err
	}
	ctx := context.Background()
	existing, err := ReadHandlers(ctx, target)
	if err != nil {
		return err
	}
	for _, h := range hs {
		h = h.Private()
		if i := indexName(existing, h.Name); i >= 0 {
			if existing[i].Equal(h) {
				continue
			}
			return fmt.Errorf("registering %s in private binfmt_misc at %s: a different handler of that name exists", h.Name, target)
		}
		if err := Register(ctx, target, h); err != nil {
			return err
		}
	}
	return nil
}

func indexName(hs []Handler, name string) int {
	for i, h := range hs {
		if h.Name == name {
			return i
		}
	}
	return -1
}

// PrivateSupported reports why private binfmt_misc instances cannot be used
// here, or nil when they can: Linux 6.7 or later, user namespaces enabled,
// and for a non-root caller unprivileged user namespaces allowed.
func PrivateSupported() error {
	var u unix.Utsname
	if err := unix.Uname(&u); err != nil {
		return fmt.Errorf("reading the kernel version: %w", err)
	}
	rel := unix.ByteSliceToString(u.Release[:])
	if !kernelAtLeast(rel, 6, 7) {
		return fmt.Errorf("private emulation needs Linux 6.7 or later (binfmt_misc in user namespaces); this kernel is %s: use host emulation (`manyarch binfmt install`)", rel)
	}
	if readInt("/proc/sys/user/max_user_namespaces", 1) == 0 {
		return errors.New("private emulation needs user namespaces, and user.max_user_namespaces is 0: sysctl -w user.max_user_namespaces=15000, or use host emulation")
	}
	if os.Geteuid() != 0 {
		if readInt("/proc/sys/kernel/unprivileged_userns_clone", 1) == 0 {
			return errors.New("private emulation as a non-root user needs unprivileged user namespaces: sysctl -w kernel.unprivileged_userns_clone=1, run as root, or use host emulation")
		}
		if readInt("/proc/sys/kernel/apparmor_restrict_unprivileged_userns", 0) == 1 {
			return errors.New("private emulation as a non-root user needs unprivileged user namespaces, which AppArmor restricts here (kernel.apparmor_restrict_unprivileged_userns=1): run as root, or use host emulation")
		}
	}
	return nil
}

// kernelAtLeast compares a release string such as "6.18.44-fc-v595".
func kernelAtLeast(release string, major, minor int) bool {
	parts := strings.SplitN(release, ".", 3)
	if len(parts) < 2 {
		return false
	}
	ma, err1 := strconv.Atoi(parts[0])
	minorDigits := parts[1]
	if i := strings.IndexFunc(minorDigits, func(r rune) bool { return r < '0' || r > '9' }); i >= 0 {
		minorDigits = minorDigits[:i]
	}
	mi, err2 := strconv.Atoi(minorDigits)
	if err1 != nil || err2 != nil {
		return false
	}
	return ma > major || (ma == major && mi >= minor)
}

// readInt reads a sysctl file holding one integer; def when it is absent.
func readInt(path string, def int) int {
	b, err := os.ReadFile(path)
	if err != nil {
		return def
	}
	n, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil {
		return def
	}
	return n
}
