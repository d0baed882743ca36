package sandboxinit

import (
	"syscall"
	"unsafe"
)

// The system calls and constants the init needs that package syscall
// lacks (it stopped growing before Linux 5.2's mount API). They are here,
// not taken from golang.org/x/sys/unix, to keep the init's import closure
// small: unix imports strings, and Go initializes a package that waits
// for strings after most of manyarch's other packages (see the package
// doc and TestImportClosure). Values from <linux/mount.h>, <linux/fcntl.h>,
// <linux/prctl.h>, <linux/seccomp.h>, <linux/close_range.h>.
const (
	atFDCWD       = -100
	atEmptyPath   = 0x1000
	atRecursive   = 0x8000
	openTreeClone = 1

	moveMountFEmptyPath = 0x4

	fsopenCloexec      = 0x1
	fsmountCloexec     = 0x1
	fsconfigSetFlag    = 0
	fsconfigSetString  = 1
	fsconfigCmdCreate  = 6
	mountAttrRdonly    = 0x1
	mountAttrNosuid    = 0x2
	mountAttrNodev     = 0x4
	mountAttrNoexec    = 0x8
	closeRangeCloexec  = 0x4
	prSetDumpable      = 4
	prCapbsetRead      = 23
	prCapbsetDrop      = 24
	prSetSeccomp       = 22
	prSetNoNewPrivs    = 38
	seccompModeFilter  = 2
	initUserNSInode    = 0xEFFFFFFD // PROC_USER_INIT_INO, fixed since Linux 3.8
	ifNameSize         = 16
	ifreqSize          = 40 // struct ifreq: the name and a 24-byte union
	sysOpenTree        = sysBase + 428
	sysMoveMount       = sysBase + 429
	sysFsopen          = sysBase + 430
	sysFsconfig        = sysBase + 431
	sysFsmount         = sysBase + 432
	sysCloseRange      = sysBase + 436
	sysMountSetattr    = sysBase + 442
	mountAttrSizeVer0  = 32 // sizeof(struct mount_attr)
	rlimInfinity       = ^uint64(0)
	personalityLinux32 = 0x0008 // PER_LINUX32 of <linux/personality.h>
)

// mountAttr is struct mount_attr.
type mountAttr struct {
	attrSet, attrClr, propagation, usernsFD uint64
}

func errnoErr(e syscall.Errno) error {
	if e == 0 {
		return nil
	}
	return e
}

func bytePtr(s string) (*byte, error) { return syscall.BytePtrFromString(s) }

func openTree(dirfd int, path string, flags uint) (int, error) {
	p, err := bytePtr(path)
	if err != nil {
		return -1, err
	}
	fd, _, e := syscall.Syscall(sysOpenTree, uintptr(dirfd), uintptr(unsafe.Pointer(p)), uintptr(flags))
	if e != 0 {
		return -1, e
	}
	return int(fd), nil
}

func moveMount(fromFD int, fromPath string, toFD int, toPath string, flags uint) error {
	fp, err := bytePtr(fromPath)
	if err != nil {
		return err
	}
	tp, err := bytePtr(toPath)
	if err != nil {
		return err
	}
	_, _, e := syscall.Syscall6(sysMoveMount, uintptr(fromFD), uintptr(unsafe.Pointer(fp)), uintptr(toFD), uintptr(unsafe.Pointer(tp)), uintptr(flags), 0)
	return errnoErr(e)
}

func fsopen(fstype string, flags uint) (int, error) {
	p, err := bytePtr(fstype)
	if err != nil {
		return -1, err
	}
	fd, _, e := syscall.Syscall(sysFsopen, uintptr(unsafe.Pointer(p)), uintptr(flags), 0)
	if e != 0 {
		return -1, e
	}
	return int(fd), nil
}

func fsconfig(fd int, cmd uint, key, value string) error {
	var kp, vp *byte
	var err error
	if key != "" {
		if kp, err = bytePtr(key); err != nil {
			return err
		}
	}
	if cmd == fsconfigSetString {
		if vp, err = bytePtr(value); err != nil {
			return err
		}
	}
	_, _, e := syscall.Syscall6(sysFsconfig, uintptr(fd), uintptr(cmd), uintptr(unsafe.Pointer(kp)), uintptr(unsafe.Pointer(vp)), 0, 0)
	return errnoErr(e)
}

func fsmount(fd int, flags, attrs uint) (int, error) {
	r, _, e := syscall.Syscall(sysFsmount, uintptr(fd), uintptr(flags), uintptr(attrs))
	if e != 0 {
		return -1, e
	}
	return int(r), nil
}

func mountSetattr(dirfd int, path string, flags uint, attr *mountAttr) error {
	p, err := bytePtr(path)
	if err != nil {
		return err
	}
	_, _, e := syscall.Syscall6(sysMountSetattr, uintptr(dirfd), uintptr(unsafe.Pointer(p)), uintptr(flags), uintptr(unsafe.Pointer(attr)), mountAttrSizeVer0, 0)
	return errnoErr(e)
}

func closeRange(first, last uint, flags uint) error {
	_, _, e := syscall.Syscall(sysCloseRange, uintptr(first), uintptr(last), uintptr(flags))
	return errnoErr(e)
}

func prctl(option int, arg2, arg3, arg4, arg5 uintptr) (int, error) {
	r, _, e := syscall.Syscall6(syscall.SYS_PRCTL, uintptr(option), arg2, arg3, arg4, arg5, 0)
	if e != 0 {
		return int(r), e
	}
	return int(r), nil
}

// prctlErr is prctl for options whose result is only success or failure.
func prctlErr(option int, arg2 uintptr) error {
	_, err := prctl(option, arg2, 0, 0, 0)
	return err
}

// ifreqFlags reads (get) or writes the interface flags of name with the
// SIOCGIFFLAGS/SIOCSIFFLAGS ioctl on fd.
func ifreqFlags(fd int, name string, req uint, flags *uint16) error {
	var ifr [ifreqSize]byte
	if len(name) >= ifNameSize {
		return syscall.EINVAL
	}
	copy(ifr[:], name)
	*(*uint16)(unsafe.Pointer(&ifr[ifNameSize])) = *flags
	_, _, e := syscall.Syscall(syscall.SYS_IOCTL, uintptr(fd), uintptr(req), uintptr(unsafe.Pointer(&ifr[0])))
	if e != 0 {
		return e
	}
	*flags = *(*uint16)(unsafe.Pointer(&ifr[ifNameSize]))
	return nil
}
