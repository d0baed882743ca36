package sandbox

import (
	"errors"
	"syscall"

	"github.com/manyarch/manyarch/internal/emulation"
)

// The parent and the init talk over two pipes: the parent writes one
// initConfig as JSON on the init's fd 3 (after it has written the ID maps)
// and closes it; the init writes initMessage values as JSON on fd 4.

const (
	configFD = 3
	statusFD = 4
)

// initConfig is everything the init needs; host paths are already resolved.
type initConfig struct {
	Args     []string            `json:"args"`
	Env      []string            `json:"env"`
	Dir      string              `json:"dir"`
	User     string              `json:"user"`
	Groups   []string            `json:"groups,omitempty"`
	Hostname string              `json:"hostname"`
	NewNet   bool                `json:"newNet"`
	RootIDs  bool                `json:"rootIDs"` // the whole ID range is mapped (setgroups allowed)
	StateDir string              `json:"stateDir"`
	RootDir  string              `json:"rootDir,omitempty"`
	Overlay  *Overlay            `json:"overlay,omitempty"`
	Mounts   []Mount             `json:"mounts,omitempty"`
	Binfmt   []emulation.Handler `json:"binfmt,omitempty"`
	Linux32  bool                `json:"linux32,omitempty"`
	// Ulimits and ShmSize: Spec's.
	Ulimits []Ulimit `json:"ulimits,omitempty"`
	ShmSize int64    `json:"shmSize,omitempty"`
	// ExpectPlatform: warn when the command is a program of another
	// architecture (Spec.ExpectPlatform).
	ExpectPlatform string `json:"expectPlatform,omitempty"`
	// Tty: the command gets fd 0 as its controlling terminal (Spec.Tty).
	Tty bool `json:"tty,omitempty"`
	// ReadOnlyRoot: the root mount is made read-only before the command
	// starts (Spec.ReadOnlyRoot).
	ReadOnlyRoot bool `json:"readOnlyRoot,omitempty"`
	// NoHostnameEnv: HOSTNAME is not added to Env (Spec.NoHostnameEnv).
	NoHostnameEnv bool `json:"noHostnameEnv,omitempty"`
	// NoHostnameFile: /etc/hostname is not bound (Spec.BuildKitEtc).
	NoHostnameFile bool `json:"noHostnameFile,omitempty"`
	// Caps are the capabilities kept in the bounding set (numbers).
	Caps []int `json:"caps"`
	// Seccomp is the filter to install before the command starts (struct
	// sock_filter array, native byte order); empty is none.
	Seccomp []byte `json:"seccomp,omitempty"`
	// Privileged leaves /proc and /sys paths unmasked and writable.
	Privileged bool `json:"privileged,omitempty"`
	NoNewPrivs bool `json:"noNewPrivs,omitempty"`
	// PidsMax is the pids.max file of the sandbox's pids cgroup (a host
	// path) and PidsLimit the container's limit (see pidsMax).
	PidsMax   string `json:"pidsMax,omitempty"`
	PidsLimit int64  `json:"pidsLimit,omitempty"`
	// PidsLeave is the cgroup.procs file of the pids cgroup's parent,
	// where the init moves itself once the command runs (cgroup v1), so
	// that only the container's tasks count.
	PidsLeave string `json:"pidsLeave,omitempty"`
}

// initMessage is a report of the init.
type initMessage struct {
	// Type is "started" (the command was forked; more follows),
	// "warning" (Message; more follows), "exec-error", "setup-error" or
	// "exit".
	Type string `json:"type"`

	// exec-error, setup-error
	Step     string `json:"step,omitempty"`
	Command  string `json:"command,omitempty"`
	Message  string `json:"message,omitempty"`
	Errno    int    `json:"errno,omitempty"`
	NotFound bool   `json:"notFound,omitempty"`
	Code     int    `json:"code,omitempty"`
	// Overlay: the setup error is the overlay root's mount (OverlayError).
	Overlay bool `json:"overlay,omitempty"`

	// exit
	ExitCode int `json:"exitCode"`
	Signal   int `json:"signal,omitempty"`
	// SetupMicros and RunMicros are how long the init took to prepare the
	// container and how long the command ran, for debug logs.
	SetupMicros int64 `json:"setupMicros,omitempty"`
	RunMicros   int64 `json:"runMicros,omitempty"`
}

// msgError is an error that crossed the pipe: its text, and its errno so
// that errors.Is(err, fs.ErrPermission) and the like still work.
type msgError struct {
	msg   string
	errno syscall.Errno
}

func (e *msgError) Error() string { return e.msg }

func (e *msgError) Unwrap() error {
	if e.errno == 0 {
		return nil
	}
	return e.errno
}

func newMsgError(m initMessage) error {
	return &msgError{msg: m.Message, errno: syscall.Errno(m.Errno)}
}

func errnoOf(err error) int {
	var en syscall.Errno
	if errors.As(err, &en) {
		return int(en)
	}
	return 0
}
