// Package sandbox runs one process in a root filesystem, isolated by Linux
// namespaces, with no daemon and no setuid helper.
//
// Run is the only entry point:
//
//	res, err := sandbox.Run(ctx, sandbox.Spec{
//		Overlay: &sandbox.Overlay{Lower: layerDirs, Upper: upper, Work: work},
//		Args:    []string{"uname", "-m"},
//		Stdout:  os.Stdout, Stderr: os.Stderr,
//	})
//
// Run starts an init process that is a re-exec of the running binary
// (/proc/self/exe) in new user, mount, PID, UTS and IPC namespaces (and a new
// network namespace holding only a loopback interface when Spec.Network is
// NetworkNone, or lo and an eth0 linked to the host by a veth pair of
// package netns when it is NetworkPrivate, which Spec.Publish's ports are
// forwarded to). The init mounts the root filesystem (an overlay of read-only
// lower directories with a writable upper directory, or a prepared
// directory), registers the private binfmt_misc handlers of Spec.Binfmt,
// builds a minimal /dev, a new /proc, a read-only /sys and the generated
// /etc/resolv.conf, /etc/hosts and /etc/hostname, switches root with
// pivot_root, resolves the user and the command inside the new root, and
// starts the command as its only child. It reaps every zombie of the PID
// namespace, forwards signals, and reports the exit status, or an error such
// as `exec: "foo": executable file not found in $PATH`, to Run over a pipe.
// When the command exits, the init exits and the kernel kills whatever is
// left in the PID namespace; every mount vanishes with the mount namespace.
//
// A program that calls Run must call Init first thing in main, before any
// other work, so the re-exec becomes the init:
//
//	func main() {
//		if sandbox.IsInit() {
//			os.Exit(sandbox.Init())
//		}
//		...
//	}
//
// Test binaries do the same in TestMain.
//
// As root, the user namespace maps every ID to itself, so files keep their
// owners and the process has root's access to the files of the root
// filesystem, but its capabilities are cut to Docker's default set (no
// CAP_SYS_ADMIN: it cannot remount read-only mounts or undo the others). As
// another user, container root is that user, and the subordinate IDs of
// /etc/subuid and /etc/subgid are mapped with newuidmap and newgidmap when
// both are available.
//
// Every sandbox is isolated as Docker isolates a container by default, and
// the init does it, so run, build RUN steps and test commands all get it:
// Docker's capability set in the bounding set; MaskedPaths hidden (/dev/null
// over files, an empty read-only tmpfs over directories) and ReadonlyPaths
// read-only, as runc's default spec lists them, so /proc/sys/kernel/
// core_pattern and the like cannot be written; Docker's default seccomp
// profile for the host's architecture and its 32-bit ABIs (package seccomp),
// installed on the init's forking thread right before the command starts,
// after the private binfmt_misc handlers are registered, so an emulator's
// calls are filtered as a native program's; every descriptor but the
// standard streams closed on exec (a descriptor the caller left open never
// reaches the container); and a pids cgroup of Spec.PidsLimit tasks
// (DefaultPidsLimit), whose refused forks Result.PidsLimitHit reports.
// Spec.Security opens this up: Privileged (all capabilities, no filter,
// nothing masked), CapAdd/CapDrop, Seccomp ("unconfined" or a JSON profile)
// and NoNewPrivileges.
//
// Linux only; elsewhere Run returns ErrUnsupported.
package sandbox
