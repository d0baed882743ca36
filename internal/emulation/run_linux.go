package emulation

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/manyarch/manyarch/internal/platform"
)

// probeTimeout bounds one probe run; an emulated start takes ~50 ms.
const probeTimeout = 20 * time.Second

// Probe runs a's probe as mode says and reports what happened. The error
// is for a probe that could not be attempted (ErrNeedsRoot for
// ProbeChroot as non-root, no emulator for ProbePrivate); a probe that ran
// and failed is a ProbeResult with OK false.
func Probe(ctx context.Context, a platform.Arch, mode ProbeMode) (ProbeResult, error) {
	bin, err := probeBinary(a)
	if err != nil {
		return ProbeResult{}, err
	}
	return probeWith(ctx, a, mode, bin, ProbeMessage(a))
}

// probeWith is Probe with the program bin, which must print want.
func probeWith(ctx context.Context, a platform.Arch, mode ProbeMode, bin []byte, want string) (ProbeResult, error) {
	if mode == ProbeChroot && os.Geteuid() != 0 {
		return ProbeResult{}, fmt.Errorf("probing %s in a chroot: %w", a, ErrNeedsRoot)
	}
	var hs []Handler
	if mode == ProbePrivate {
		if err := PrivateSupported(); err != nil {
			return ProbeResult{}, fmt.Errorf("probing %s privately: %w", a, err)
		}
		in, err := staticInterpreter(a)
		if err != nil {
			return ProbeResult{}, fmt.Errorf("probing %s privately: %w", a, err)
		}
		hs = []Handler{NewHandler(a, in.Path)}
	}
	dir, err := os.MkdirTemp("", "manyarch-probe-")
	if err != nil {
		return ProbeResult{}, fmt.Errorf("probing %s: %w", a, err)
	}
	defer os.RemoveAll(dir)
	if err := os.Chmod(dir, 0o755); err != nil {
		return ProbeResult{}, fmt.Errorf("probing %s: %w", a, err)
	}
	if err := writeExecutable(filepath.Join(dir, "probe"), bin); err != nil {
		return ProbeResult{}, fmt.Errorf("probing %s: %w", a, err)
	}
	ctx, cancel := context.WithTimeout(ctx, probeTimeout)
	defer cancel()

	var cmd *exec.Cmd
	switch mode {
	case ProbeDirect:
		cmd = exec.CommandContext(ctx, filepath.Join(dir, "probe"))
	case ProbeChroot:
		cmd = exec.CommandContext(ctx, "/probe")
		cmd.SysProcAttr = &syscall.SysProcAttr{Chroot: dir}
	case ProbePrivate:
		if err := os.Mkdir(filepath.Join(dir, "binfmt_misc"), 0o755); err != nil {
			return ProbeResult{}, fmt.Errorf("probing %s: %w", a, err)
		}
		cmd, err = helperCommand(ctx, helperProbe, dir, hs, nil)
		if err != nil {
			return ProbeResult{}, fmt.Errorf("probing %s privately: %w", a, err)
		}
	default:
		return ProbeResult{}, fmt.Errorf("probing %s: unknown mode %v", a, mode)
	}
	cmd.Dir = "/"
	if cmd.Env == nil {
		cmd.Env = []string{} // the probe needs nothing; QEMU reads QEMU_* variables
	}
	var out bytes.Buffer
	cmd.Stdout = &out
	cmd.Stderr = &out
	runErr := cmd.Run()
	res := ProbeResult{Output: firstLines(out.String(), 3)}
	switch {
	case runErr != nil:
		if ctx.Err() != nil && errors.Is(ctx.Err(), context.DeadlineExceeded) {
			runErr = fmt.Errorf("timed out after %v", probeTimeout)
		}
		res.Err = runErr
	case out.String() != want:
		res.Err = fmt.Errorf("printed %q, want %q", firstLines(out.String(), 3), want)
	default:
		res.OK = true
	}
	return res, nil
}

// Helper processes: a re-exec of the running binary, selected by the
// environment, that Init runs.
const (
	helperEnv         = "_MANYARCH_EMULATION_HELPER"
	helperHandlersEnv = "_MANYARCH_EMULATION_HANDLERS"
	helperChildEnv    = "_MANYARCH_EMULATION_ENV"
	helperProbe       = "probe"
	helperExitCode    = 125
)

// helperCommand returns the command that runs the helper kind in a new
// user and mount namespace, mapping the caller's uid and gid to root there.
// The helper executes DIR/probe with the environment env.
func helperCommand(ctx context.Context, kind, dir string, hs []Handler, env []string) (*exec.Cmd, error) {
	if os.Getenv(helperEnv) != "" {
		return nil, errors.New("this program does not call emulation.Init first thing in main, so it cannot run the emulation helper")
	}
	exe, err := os.Executable()
	if err != nil {
		return nil, fmt.Errorf("finding the running binary to re-execute: %w", err)
	}
	js, err := json.Marshal(hs)
	if err != nil {
		return nil, err
	}
	if env == nil {
		env = []string{}
	}
	jenv, err := json.Marshal(env)
	if err != nil {
		return nil, err
	}
	cmd := exec.CommandContext(ctx, exe)
	cmd.Args = []string{"manyarch-emulation-helper", dir}
	cmd.Env = []string{helperEnv + "=" + kind, helperHandlersEnv + "=" + string(js), helperChildEnv + "=" + string(jenv)}
	cmd.SysProcAttr = &syscall.SysProcAttr{
		Cloneflags:  unix.CLONE_NEWUSER | unix.CLONE_NEWNS,
		UidMappings: []syscall.SysProcIDMap{{ContainerID: 0, HostID: os.Geteuid(), Size: 1}},
		GidMappings: []syscall.SysProcIDMap{{ContainerID: 0, HostID: os.Getegid(), Size: 1}},
		// Unprivileged users may only map their own gid with setgroups denied.
		GidMappingsEnableSetgroups: false,
	}
	return cmd, nil
}

// Init runs the emulation helper and exits when the process was started as
// one (see ProbePrivate); otherwise it returns at once. Programs using
// ProbePrivate call it first thing in main, and tests in TestMain.
func Init() {
	kind := os.Getenv(helperEnv)
	if kind == "" {
		return
	}
	err := runHelper(kind)
	fmt.Fprintf(os.Stderr, "manyarch emulation helper: %v\n", err)
	os.Exit(helperExitCode)
}

// runHelper mounts a private binfmt_misc instance at DIR/binfmt_misc,
// registers the handlers, and executes DIR/probe in a chroot of DIR. It
// only returns on failure.
func runHelper(kind string) error {
	if kind != helperProbe || len(os.Args) != 2 {
		return fmt.Errorf("unknown helper %q %q", kind, os.Args)
	}
	dir := os.Args[1]
	var hs []Handler
	if err := json.Unmarshal([]byte(os.Getenv(helperHandlersEnv)), &hs); err != nil {
		return fmt.Errorf("decoding handlers: %w", err)
	}
	var env []string
	if err := json.Unmarshal([]byte(os.Getenv(helperChildEnv)), &env); err != nil {
		return fmt.Errorf("decoding the environment: %w", err)
	}
	// Nothing mounted here may reach the parent namespace.
	if err := unix.Mount("", "/", "", unix.MS_REC|unix.MS_PRIVATE, ""); err != nil {
		return fmt.Errorf("making mounts private: %w", err)
	}
	if err := MountPrivate(filepath.Join(dir, "binfmt_misc"), hs); err != nil {
		return err
	}
	if err := unix.Chroot(dir); err != nil {
		return fmt.Errorf("chroot %s: %w", dir, err)
	}
	if err := unix.Chdir("/"); err != nil {
		return err
	}
	return fmt.Errorf("executing the probe: %w", unix.Exec("/probe", []string{"/probe"}, env))
}

// writeExecutable writes an executable file while holding syscall.ForkLock
// for reading, so no process is forked while the file is open for writing:
// a child forked then would hold the descriptor until it executes, and
// executing the file meanwhile fails with "text file busy" (ETXTBSY; Go
// issue 22315). Status runs probes concurrently, so this happens.
func writeExecutable(path string, data []byte) error {
	syscall.ForkLock.RLock()
	defer syscall.ForkLock.RUnlock()
	return os.WriteFile(path, data, 0o755)
}
