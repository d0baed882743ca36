package sandbox

import (
	"io"
	"log/slog"
	"net/netip"
	"os"
	"strconv"
	"syscall"
	"time"

	"github.com/manyarch/manyarch/internal/emulation"
	"github.com/manyarch/manyarch/internal/netns"
)

// Spec describes one process to run and the sandbox around it.
type Spec struct {
	// The root filesystem: exactly one of RootDir and Overlay.
	//
	// RootDir is a prepared directory, used as it is: the process writes
	// into it, and mount points missing from it (/etc/hosts, the working
	// directory, targets of Mounts) are created in it.
	RootDir string
	// Overlay is mounted by the init inside the user namespace.
	Overlay *Overlay

	// Args is the command and its arguments. Args[0] without a slash is
	// looked up in the $PATH of Env inside the root filesystem, as runc
	// and Docker do. Required.
	Args []string
	// Env is the environment, "KEY=value" entries. PATH, HOSTNAME and HOME
	// are added when missing, as Docker does.
	Env []string
	// Dir is the working directory inside the container, created (owned by
	// root, mode 0755) when missing. Default "/".
	Dir string
	// User is "", "user", "uid", "user:group" or "uid:gid". Names are looked
	// up in the root filesystem's /etc/passwd and /etc/group; a numeric uid
	// with no passwd entry gets gid 0. Supplementary groups are the user's
	// groups in /etc/group plus Groups. Default: root.
	User   string
	Groups []string // names or numeric gids

	// Hostname is the container's host name. Default "manyarch".
	Hostname string
	// NoHostnameEnv leaves HOSTNAME out of the environment unless Env sets
	// it (BuildKit's RUN); docker run's default adds it.
	NoHostnameEnv bool
	// BuildKitEtc gives the container the /etc of BuildKit's RUN (its
	// executor/oci hosts.go): /etc/hosts names Hostname on the 127.0.0.1
	// line, and /etc/hostname is not bound (the image's own file, which
	// the command may change). By default both are bound as docker run
	// binds them.
	BuildKitEtc bool
	// Network selects the network namespace. Default NetworkHost.
	Network Network
	// Publish, with NetworkPrivate only, is a proxy already listening on
	// the host (netns.Listen) that Run starts forwarding to the
	// container's address once its network is up. The caller closes it
	// after Run returns.
	Publish *netns.Proxy
	// Mounts are bind mounts of host paths into the container.
	Mounts []Mount
	// Binfmt are binfmt_misc handlers registered with emulation.MountPrivate
	// in a private binfmt_misc instance of the sandbox's user namespace
	// (Linux 6.7 or later) before the root changes, so their interpreters
	// are host paths opened with the F flag (emulation.Decision.Handlers of
	// a KindPrivate decision). Nothing is registered on the host, and the
	// sandbox no longer sees the host's handlers.
	Binfmt []emulation.Handler
	// Linux32 runs the process with the PER_LINUX32 personality, so a
	// 32-bit platform the host runs natively (386 on amd64) sees the
	// uname -m it expects (emulation.Decision.Linux32).
	Linux32 bool
	// Cgroup, when set, is a cgroup directory (v1 or v2, see
	// internal/cgroup) that every process of the sandbox runs in: the init
	// is moved into it before the command starts.
	Cgroup string
	// PidsLimit bounds the number of processes and threads of the
	// sandbox through a pids cgroup made for it: 0 is DefaultPidsLimit,
	// negative is unlimited. Without a pids controller the sandbox can
	// use (no root, no delegation) it is skipped with a debug log.
	PidsLimit int64

	// Security is the isolation of the process: by default Docker's
	// (default capabilities, seccomp profile, masked and read-only paths).
	Security Security

	// Stdin, Stdout and Stderr are the process's standard streams. An
	// *os.File is passed as it is; another reader or writer goes through a
	// pipe. Nil means /dev/null.
	Stdin  io.Reader
	Stdout io.Writer
	Stderr io.Writer
	// Tty makes Stdin the process's controlling terminal (docker run -t):
	// the process starts a session of its own with Stdin, which must be
	// the *os.File of a terminal (a pseudo-terminal's peer end), as its
	// terminal, so that it gets job control, window size changes and the
	// terminal's signals (^C) from the terminal's line discipline.
	Tty bool
	// ReadOnlyRoot makes the container's root file system read-only
	// (docker run --read-only) once the working directory exists; /dev,
	// /proc, /etc/hosts, /etc/hostname, /etc/resolv.conf and Mounts keep
	// their own modes.
	ReadOnlyRoot bool

	// Timeout, when positive, bounds the run: after it every process of the
	// sandbox is killed and Result.TimedOut is set.
	Timeout time.Duration
	// Signals, when not nil, are forwarded to the process. After a SIGINT,
	// SIGTERM or SIGHUP, a process still running StopTimeout later is
	// killed, as it is after ctx is done.
	Signals <-chan os.Signal
	// StopSignal is sent to the process when ctx is done. Default SIGTERM.
	StopSignal syscall.Signal
	// StopTimeout is how long a process has to exit after StopSignal (or a
	// forwarded SIGINT, SIGTERM or SIGHUP) before it is killed. Default 10s.
	StopTimeout time.Duration

	// Started, when not nil, is called once the command has started: the
	// root is mounted, the network attached, the isolation in place and
	// the command forked. It is called from Run's goroutine and must not
	// block. Not called when the sandbox fails before that (SetupError,
	// ExecError). Package container's Start waits for it.
	Started func(Started)

	// ExtraHosts are /etc/hosts lines ("10.0.0.5\tregistry.local", from
	// ParseHost) after manyarch's own (docker run --add-host).
	ExtraHosts []string
	// Ulimits are applied to the command (docker run --ulimit); raising a
	// hard limit above manyarch's own needs root on the host.
	Ulimits []Ulimit
	// ShmSize is the size of /dev/shm in bytes; 0 is 64 MiB, as docker's.
	ShmSize int64

	// ExpectPlatform, when set ("linux/arm64"), is the platform the
	// command is meant to run as: the init reads the header of the program
	// it is about to start (after PATH lookup inside the container, and
	// the interpreter of a #! script) and, when that program is an ELF
	// file of another architecture (an amd64 binary in an arm64 image,
	// which the kernel would run natively), calls Warn before starting it.
	ExpectPlatform string
	// Warn receives such warnings. Default: Logger's Warn.
	Warn func(string)

	// Logger receives debug records about the sandbox. Default: discard.
	Logger *slog.Logger
}

// Started describes a sandbox whose command has started (Spec.Started).
type Started struct {
	// Pid is the host process ID of the sandbox's init, PID 1 of the
	// container: /proc/Pid/ns/* are the container's namespaces, its
	// cgroup is Spec.Cgroup's (or the pids cgroup below it), and killing
	// it with SIGKILL kills every process of the container. The command
	// is its only child.
	Pid int
	// Address is the container's address with NetworkPrivate (eth0),
	// else the zero value.
	Address netip.Addr
}

// Security opens up or tightens the default isolation, as Docker's
// --privileged, --cap-add, --cap-drop and --security-opt do. The zero value
// is Docker's default: its capability set, its default seccomp profile for
// the host architecture (and its 32-bit ABIs), /proc and /sys paths masked
// and read-only as runc's default spec lists them, no_new_privs off.
type Security struct {
	// Privileged gives every capability, no seccomp filter and no masked
	// or read-only paths (docker run --privileged, RUN
	// --security=insecure). CapAdd, CapDrop and Seccomp are then ignored.
	Privileged bool
	// CapAdd and CapDrop change the default capability set: Docker's
	// names, with or without the CAP_ prefix, case-insensitive, or ALL.
	// Drops apply after adds, except that adding ALL wins, as in Docker.
	CapAdd  []string
	CapDrop []string
	// Seccomp is "" for Docker's default profile, "unconfined" for no
	// filter (only when SeccompSource is empty), or the JSON text of a
	// profile in Docker's format.
	Seccomp string
	// SeccompSource says where a JSON Seccomp profile came from (a file
	// name), for errors.
	SeccompSource string
	// NoNewPrivileges sets no_new_privs on the process, so setuid and
	// file capabilities no longer raise its privileges.
	NoNewPrivileges bool
}

// Overlay is a root filesystem made of read-only lower directories and a
// writable upper directory. The init mounts it with the userxattr option
// (the sandbox is always in a user namespace), so the upper directory records
// whiteouts and opaque directories in user.overlay.* attributes.
type Overlay struct {
	Lower []string // topmost first, as in the lowerdir option
	Upper string   // empty: a read-only root of the lower directories
	Work  string   // on the same file system as Upper; required with Upper
}

// Mount is a bind mount of a host path into the container.
type Mount struct {
	Source   string // host path; symlinks are resolved on the host
	Target   string // absolute path in the container; not under /proc or /sys
	ReadOnly bool   // recursively read-only

	// Tmpfs mounts a new tmpfs (Source unused): mode 1777, nosuid, as
	// BuildKit's RUN --mount=type=tmpfs. Size limits it in bytes (0: the
	// kernel's default, half of the RAM).
	Tmpfs bool
	Size  int64
}

// Network selects the network namespace of the sandbox.
type Network string

const (
	// NetworkHost shares the host's network namespace.
	NetworkHost Network = "host"
	// NetworkNone is a new network namespace with only a loopback
	// interface, which is up.
	NetworkNone Network = "none"
	// NetworkPrivate is a new network namespace with lo and an eth0 linked
	// to the host by a veth pair in manyarch's own subnet (package
	// netns): the container reaches the host's addresses and the host
	// reaches the container's, nothing further (no NAT, no forwarding).
	// Root only.
	NetworkPrivate Network = "private"
)

// Result is how the process ended.
type Result struct {
	// ExitCode is the exit status, 128+signal when the process was killed
	// by a signal, 126/127 when it could not be started (see ExecError).
	ExitCode int
	// Signal is the signal that killed the process, or 0.
	Signal syscall.Signal
	// TimedOut says the sandbox was killed because Spec.Timeout passed.
	TimedOut bool
	// Stopped says the sandbox was stopped because ctx was done or a stop
	// signal arrived on Spec.Signals.
	Stopped bool
	// PidsLimitHit is the sandbox's pids limit when a fork or clone in
	// it failed because of the limit, else 0. Callers say so in their
	// error (see PidsLimitMessage).
	PidsLimitHit int64
}

// PidsLimitMessage explains a hit pids limit and how to raise it.
func PidsLimitMessage(limit int64) string {
	return "the container reached its limit of " + strconv.FormatInt(limit, 10) +
		" processes and threads (pids limit), so a fork or thread creation failed; " +
		"raise it with --pids-limit N, or --pids-limit -1 for none"
}

const (
	defaultHostname = "manyarch"
	// DefaultPidsLimit is the pids limit of a sandbox when Spec.PidsLimit
	// is 0 (podman's default).
	DefaultPidsLimit = 2048
)
