package sandboxinit

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/signal"
	"path"
	"runtime"
	"slices"
	"strconv"
	"syscall"
	"time"
)

// stepError is a setup failure and the step it happened in.
type stepError struct {
	step string
	err  error
	// overlay: mounting Spec.Overlay failed (Run reports an *OverlayError).
	overlay bool
}

func (e *stepError) Error() string { return e.step + ": " + e.err.Error() }
func (e *stepError) Unwrap() error { return e.err }

func step(s string, err error) error {
	if err == nil {
		return nil
	}
	return &stepError{step: s, err: err}
}

// Main is the sandbox init: it sets up the container from the config
// sandbox.Run sends, starts the command, reaps zombies, forwards signals
// and returns the exit status to pass to os.Exit. Call it only when IsInit
// reports true.
func Main() int {
	// Bounding-set changes are per thread and the command is forked from
	// this thread, so it must not change.
	runtime.LockOSThread()
	began := time.Now()
	// Nothing the caller left open reaches the container, nor a re-exec
	// of the init: only stdio and the two pipes stay open across exec.
	if err := closeExtraFDs(StatusFD + 1); err != nil {
		return 125
	}
	// Catch signals from the start: they are queued and forwarded once the
	// command runs (the Go runtime would otherwise exit on SIGTERM).
	sigs := make(chan os.Signal, 32)
	signal.Notify(sigs, forwardedSignals...)
	// Wait for the ID maps (and re-exec when asked to).
	if os.Getenv(ReexecEnv) == "" && !awaitIDMaps() {
		return 125
	}
	os.Unsetenv(ReexecEnv)
	syscall.CloseOnExec(ConfigFD)
	syscall.CloseOnExec(StatusFD)
	status := os.NewFile(StatusFD, "sandbox-status")
	report := func(m Message) {
		// One write per message; nothing else can be done if the
		// parent is gone.
		_, _ = status.Write(AppendMessage(nil, &m))
	}
	setupFailed := func(err error) int {
		m := Message{Type: MsgSetupError, Message: err.Error(), Errno: errnoOf(err)}
		var se *stepError
		if errors.As(err, &se) {
			m.Step, m.Message, m.Overlay = se.step, se.err.Error(), se.overlay
		}
		report(m)
		return 125
	}

	cf := os.NewFile(ConfigFD, "sandbox-config")
	cfg, err := ReadConfig(cf)
	if err != nil {
		return setupFailed(step("reading config from parent", err))
	}
	cf.Close()
	os.Unsetenv(InitEnv)

	var pidsMax *pidsMax
	if cfg.PidsMax != "" {
		// Opened now: after the root changes the host's cgroup file
		// system is out of reach.
		p, err := openPidsMax(cfg.PidsMax, cfg.PidsLeave, cfg.PidsLimit)
		if err != nil {
			return setupFailed(step("opening the pids limit", err))
		}
		pidsMax = p
	}
	if err := setupContainer(cfg); err != nil {
		return setupFailed(err)
	}
	u, env, err := commandUser(cfg)
	if err != nil {
		return setupFailed(err)
	}
	if err := makeWorkdir(cfg.Dir); err != nil {
		return setupFailed(step("creating working directory "+cfg.Dir, err))
	}
	if cfg.ReadOnlyRoot {
		// The root mount only: /dev, /proc, the /etc files and volumes
		// are mounts of their own and keep their modes.
		if err := mountSetattr(-1, "/", 0, &mountAttr{attrSet: uint64(mountAttrRdonly)}); err != nil {
			return setupFailed(step("making the root file system read-only", err))
		}
	}
	argv0, err := lookCommand(cfg.Args[0], env)
	if err != nil {
		m := lookError(cfg.Args[0], err)
		report(m)
		return int(m.Code)
	}
	if err := setUlimits(cfg.Ulimits); err != nil {
		return setupFailed(step("setting resource limits", err))
	}
	if cfg.CheckELF {
		if m, ok := checkELF(argv0, cfg); ok {
			report(m)
		}
	}
	if err := restrictInit(cfg, pidsMax); err != nil {
		return setupFailed(err)
	}
	forked := time.Now()
	pid, err := syscall.ForkExec(argv0, cfg.Args, commandAttr(cfg, u, env))
	if err != nil {
		m := execFailure(cfg.Args[0], err)
		report(m)
		return int(m.Code)
	}
	if pidsMax != nil {
		// Best effort: otherwise the limit stays the container's plus
		// the init's threads.
		_ = pidsMax.leave()
	}
	report(Message{Type: MsgStarted})
	go func() {
		for s := range sigs {
			_ = syscall.Kill(pid, s.(syscall.Signal))
		}
	}()

	ws := reapAll(pid, sigs)
	m := exitMessage(ws, began, forked)
	// Close the streams first: with everything else dead, that is the end
	// of the container's output, and Run need not wait for this process
	// to finish exiting.
	for fd := 0; fd <= 2; fd++ {
		syscall.Close(fd)
	}
	report(m)
	status.Close()
	return int(m.ExitCode & 0xff)
}

// lookCommand finds the command name in the container, along PATH of env.
func lookCommand(name string, env []string) (string, error) {
	pathEnv, _ := envGet(env, "PATH")
	return lookPath(name, pathEnv)
}

// lookError is the report of a command lookCommand did not find (127) or
// cannot run (126).
func lookError(name string, err error) Message {
	m := Message{Type: MsgExecError, Command: name, Message: err.Error(), Errno: errnoOf(err), Code: 126}
	if errors.Is(err, errNotFound) || errors.Is(err, fs.ErrNotExist) {
		m.NotFound, m.Code = errors.Is(err, errNotFound), 127
	}
	return m
}

// commandAttr is how the command is started: as user u with env, stdio
// only, killed when the init dies, and with a terminal the leader of a
// session of its own whose controlling terminal is fd 0.
func commandAttr(cfg *Config, u execUser, env []string) *syscall.ProcAttr {
	return &syscall.ProcAttr{
		Dir:   cfg.Dir,
		Env:   env,
		Files: []uintptr{0, 1, 2},
		Sys: &syscall.SysProcAttr{
			Credential: &syscall.Credential{Uid: u.UID, Gid: u.GID, Groups: u.Groups, NoSetGroups: !cfg.RootIDs},
			Pdeathsig:  syscall.SIGKILL,
			Setsid:     cfg.Tty,
			Setctty:    cfg.Tty,
			Ctty:       0,
		},
	}
}

// exitMessage reports how the command ended (128+signal when killed) and
// how long setup and run took.
func exitMessage(ws syscall.WaitStatus, began, forked time.Time) Message {
	m := Message{Type: MsgExit, ExitCode: int64(ws.ExitStatus()),
		SetupMicros: forked.Sub(began).Microseconds(), RunMicros: time.Since(forked).Microseconds()}
	if ws.Signaled() {
		m.Signal = int64(ws.Signal())
		m.ExitCode = 128 + m.Signal
	}
	return m
}

// awaitIDMaps waits for the first byte on the config pipe, which comes
// once the parent has written the ID maps. 'R' asks for a re-exec: the
// maps were written by newuidmap after this process had already exec'd as
// an unmapped user, which cost it its capabilities; exec'ing again as the
// now mapped root restores them. It returns false when the init must end
// (status 125): the parent is gone or failed, or the re-exec failed
// (reported).
func awaitIDMaps() bool {
	var b [1]byte
	for {
		n, err := syscall.Read(ConfigFD, b[:])
		if err == syscall.EINTR {
			continue
		}
		if err != nil || n != 1 {
			return false // nothing to report to
		}
		break
	}
	if b[0] == 'R' {
		err := syscall.Exec("/proc/self/exe", os.Args, append(os.Environ(), ReexecEnv+"=1"))
		_, _ = os.NewFile(StatusFD, "sandbox-status").Write(AppendMessage(nil, &Message{
			Type: MsgSetupError, Step: "re-executing init with the mapped IDs", Message: err.Error(), Errno: errnoOf(err)}))
		return false
	}
	return true
}

// commandUser resolves the command's user in the new root and returns it
// with the command's environment (HOSTNAME, PATH and HOME added as Docker
// adds them).
func commandUser(cfg *Config) (execUser, []string, error) {
	hostnameEnv := cfg.Hostname
	if cfg.NoHostnameEnv {
		hostnameEnv = ""
	}
	env := containerEnv(cfg.Env, hostnameEnv)
	u, err := resolveUser(os.DirFS("/"), cfg.User, cfg.Groups)
	if err != nil {
		return execUser{}, nil, step("resolving user "+strconv.Quote(cfg.User), err)
	}
	if !cfg.RootIDs && u.otherIDs() {
		return execUser{}, nil, step("resolving user "+strconv.Quote(cfg.User), fmt.Errorf(
			"only root (0:0) exists in this sandbox: uid %d/gid %d need subordinate IDs (add the user to /etc/subuid and /etc/subgid and install newuidmap, package uidmap), or run as root", u.UID, u.GID))
	}
	if _, ok := envGet(env, "HOME"); !ok {
		env = append(env, "HOME="+u.Home)
	}
	return u, env, nil
}

// restrictInit takes from the init what the command must not have, in
// the order that works: the capabilities, dumpability, the personality,
// no_new_privs, the pids limit, inherited descriptors and, last, the
// seccomp filter of this thread, from which the command is forked.
func restrictInit(cfg *Config, pidsMax *pidsMax) error {
	if err := dropCapabilities(cfg.Caps); err != nil {
		return step("dropping capabilities", err)
	}
	// Not dumpable: the command cannot ptrace the init or open its
	// /proc/1 files (/proc/1/exe is the host binary).
	if err := prctlErr(prSetDumpable, 0); err != nil {
		return step("making init non-dumpable", err)
	}
	if cfg.Linux32 {
		// Inherited by the child and kept across exec.
		if _, _, e := syscall.RawSyscall(syscall.SYS_PERSONALITY, personalityLinux32, 0, 0); e != 0 {
			return step("setting the linux32 personality", e)
		}
	}
	if cfg.NoNewPrivs {
		if err := prctlErr(prSetNoNewPrivs, 1); err != nil {
			return step("setting no_new_privs", err)
		}
	}
	if pidsMax != nil {
		if err := pidsMax.allowInit(); err != nil {
			return step("setting the pids limit", err)
		}
	}
	// Descriptors this process opened since (all close-on-exec in Go) and
	// any it inherited: none reaches the command but stdio.
	if err := closeExtraFDs(3); err != nil {
		return step("closing inherited descriptors", err)
	}
	if len(cfg.Seccomp) > 0 {
		// Last: this thread is filtered from now on, and the command,
		// forked from it, inherits the filter. The init is root in its
		// user namespace, so no_new_privs is not needed.
		if err := installSeccomp(cfg.Seccomp); err != nil {
			return step("installing the seccomp filter", err)
		}
	}
	return nil
}

// reapAll reaps every process until the command pid has exited, then
// kills and reaps what it left, so that when Run has the status nothing of
// the container runs or writes any more; it returns the command's status.
func reapAll(pid int, sigs chan os.Signal) syscall.WaitStatus {
	// Reap everything until the command itself has exited.
	var ws syscall.WaitStatus
	for {
		wpid, err := syscall.Wait4(-1, &ws, 0, nil)
		if err == syscall.EINTR {
			continue
		}
		if err != nil || wpid == pid {
			break
		}
	}
	// Then kill what it left behind and reap that too, so when Run has
	// the status nothing of the container runs or writes any more (the
	// kernel would kill them as the init exits, but only after tearing
	// down the mount namespace, which takes a while).
	signal.Stop(sigs)
	_ = syscall.Kill(-1, syscall.SIGKILL)
	for {
		var rest syscall.WaitStatus
		if _, err := syscall.Wait4(-1, &rest, 0, nil); err != nil && err != syscall.EINTR {
			break
		}
	}
	return ws
}

// forwardedSignals are passed on to the command. SIGCHLD, SIGURG (used by
// the Go runtime), SIGPIPE and the synchronous signals are not.
var forwardedSignals = []os.Signal{
	syscall.SIGHUP, syscall.SIGINT, syscall.SIGQUIT, syscall.SIGTERM, syscall.SIGUSR1,
	syscall.SIGUSR2, syscall.SIGWINCH, syscall.SIGALRM, syscall.SIGCONT, syscall.SIGTSTP,
	syscall.SIGTTIN, syscall.SIGTTOU, syscall.SIGPWR, syscall.SIGVTALRM, syscall.SIGPROF,
	syscall.SIGXCPU, syscall.SIGXFSZ,
}

func execFailure(command string, err error) Message {
	m := Message{Type: MsgExecError, Command: command, Message: err.Error(), Errno: errnoOf(err), Code: 126}
	switch {
	case errors.Is(err, syscall.ENOENT):
		m.Code = 127
		m.Message = "no such file or directory (a dynamically linked program whose ELF interpreter is missing from the image?)"
	case errors.Is(err, syscall.ENOEXEC):
		m.Message = "exec format error (a program for another architecture with no emulator, or not a program)"
	}
	return m
}

// containerEnv adds PATH, HOSTNAME (unless hostname is "") as Docker does.
func containerEnv(env []string, hostname string) []string {
	out := append([]string(nil), env...)
	if _, ok := envGet(out, "PATH"); !ok {
		out = append(out, "PATH="+DefaultPath)
	}
	if _, ok := envGet(out, "HOSTNAME"); !ok && hostname != "" {
		out = append(out, "HOSTNAME="+hostname)
	}
	return out
}

func makeWorkdir(dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	fi, err := os.Stat(dir)
	if err != nil {
		return err
	}
	if !fi.IsDir() {
		return fmt.Errorf("%s is not a directory", dir)
	}
	return nil
}

// dropCapabilities removes every capability outside keep from this
// thread's bounding set, so the command, forked from it, never has them.
//
// The kernel itself says where the capabilities end (PR_CAPBSET_READ fails
// with EINVAL past the last one): the root has changed by now, and the
// image's /proc or /sys could hide /proc/sys/kernel/cap_last_cap, which
// would leave a newer kernel's capabilities in the set.
func dropCapabilities(keep []int64) error {
	for c := 0; ; c++ {
		if _, err := prctl(prCapbsetRead, uintptr(c), 0, 0, 0); err == syscall.EINVAL {
			return nil
		} else if err != nil {
			return fmt.Errorf("reading capability %d: %w", c, err)
		}
		if slices.Contains(keep, int64(c)) {
			continue
		}
		if err := prctlErr(prCapbsetDrop, uintptr(c)); err != nil {
			return fmt.Errorf("capability %d: %w", c, err)
		}
	}
}

// detached is a mount object made before the root changes, attached after.
type detached struct {
	fd     int
	target string
	file   bool // the target is a file, not a directory
}

// setupContainer builds the container's mount namespace and switches root.
// detachMounts makes the detached mounts of Spec.Mounts (binds and
// tmpfs), appending each to out as it is made, so the caller closes them
// whatever happens.
func detachMounts(ms []Mount, out *[]detached) error {
	for _, m := range ms {
		if m.Tmpfs {
			params := map[string][]string{"mode": {"1777"}}
			if m.Size > 0 {
				params["size"] = []string{strconv.FormatInt(m.Size, 10)}
			}
			attrs := mountAttrNosuid
			if m.ReadOnly {
				attrs |= mountAttrRdonly
			}
			fd, err := newMount("tmpfs", params, attrs)
			if err != nil {
				return step("mounting a tmpfs on "+m.Target, err)
			}
			*out = append(*out, detached{fd: fd, target: m.Target})
			continue
		}
		fi, err := os.Stat(m.Source)
		if err != nil {
			return step("binding "+m.Source, err)
		}
		fd, err := cloneTree(m.Source, true, bindAttrs(m.ReadOnly))
		if err != nil {
			return step("binding "+m.Source+" to "+m.Target, err)
		}
		*out = append(*out, detached{fd: fd, target: m.Target, file: !fi.IsDir()})
	}
	return nil
}

func setupContainer(cfg *Config) error {
	if err := syscall.Mount("", "/", "", syscall.MS_REC|syscall.MS_PRIVATE, ""); err != nil {
		return step("making mounts private", err)
	}
	if err := syscall.Sethostname([]byte(cfg.Hostname)); err != nil {
		return step("setting hostname", err)
	}
	if cfg.NewNet {
		if err := loopbackUp(); err != nil {
			return step("bringing up loopback", err)
		}
	}
	rootfs := path.Join(cfg.StateDir, "rootfs")
	if err := mountRoot(cfg, rootfs); err != nil {
		return err
	}

	// Mount objects that need host paths, or a visible host /proc and
	// /sys (the kernel refuses a new procfs or sysfs in a user namespace
	// otherwise), are made now and attached after pivot_root, where every
	// target path resolves inside the new root: a symlink in the image
	// cannot point a mount at the host.
	var early, late []detached
	binfmtFD := -1
	defer func() {
		for _, d := range append(early, late...) {
			syscall.Close(d.fd)
		}
	}()
	for _, dev := range []string{"null", "zero", "full", "random", "urandom", "tty"} {
		fd, err := cloneTree("/dev/"+dev, false, 0)
		if err != nil {
			return step("binding /dev/"+dev, err)
		}
		early = append(early, detached{fd: fd, target: "/dev/" + dev, file: true})
	}
	for _, name := range []string{"resolv.conf", "hosts", "hostname"} {
		if name == "hostname" && cfg.NoHostnameFile {
			continue
		}
		fd, err := cloneTree(path.Join(cfg.StateDir, name), false, bindAttrs(false))
		if err != nil {
			return step("binding /etc/"+name, err)
		}
		early = append(early, detached{fd: fd, target: "/etc/" + name, file: true})
	}
	if err := detachMounts(cfg.Mounts, &early); err != nil {
		return err
	}
	procFD, err := newMount("proc", nil, mountAttrNosuid|mountAttrNodev|mountAttrNoexec)
	if err != nil {
		return step("mounting /proc", err)
	}
	late = append(late, detached{fd: procFD, target: "/proc"})
	var sysFD int
	if cfg.NewNet {
		sysFD, err = newMount("sysfs", nil, mountAttrRdonly|mountAttrNosuid|mountAttrNodev|mountAttrNoexec)
	} else {
		// sysfs belongs to the network namespace; with the host's, bind it.
		sysFD, err = cloneTree("/sys", true, bindAttrs(true))
	}
	if err != nil {
		return step("mounting /sys", err)
	}
	late = append(late, detached{fd: sysFD, target: "/sys"})
	if len(cfg.Binfmt) > 0 {
		// The handlers live as long as the binfmt_misc superblock: a
		// read-only clone of the mount keeps it after the old root goes,
		// and shows the handlers at the usual place.
		dir := path.Join(cfg.StateDir, "binfmt")
		if err := os.Mkdir(dir, 0o700); err != nil {
			return step("creating binfmt_misc mount point", err)
		}
		if err := mountBinfmt(dir, cfg.Binfmt); err != nil {
			return step("registering private emulators", fmt.Errorf("%w (or register them on the host: manyarch binfmt install)", err))
		}
		fd, err := cloneTree(dir, false, bindAttrs(true))
		if err != nil {
			return step("keeping the private binfmt_misc", err)
		}
		binfmtFD = fd
	}

	if err := pivot(rootfs); err != nil {
		return err
	}

	if err := makeDev(cfg.ShmSize); err != nil {
		return err
	}
	for _, d := range append(early, late...) {
		if err := attach(d); err != nil {
			return step("mounting "+d.target, err)
		}
	}
	if binfmtFD >= 0 {
		const target = "/proc/sys/fs/binfmt_misc"
		if err := moveMount(binfmtFD, "", atFDCWD, target, moveMountFEmptyPath); err == nil {
			syscall.Close(binfmtFD)
		}
		// Otherwise the open descriptor keeps the instance alive until the
		// init exits, which is as long as it is needed.
	}
	if !cfg.Privileged {
		return protectPaths()
	}
	return nil
}

// mountRoot mounts the container's root filesystem at target.
func mountRoot(cfg *Config, target string) error {
	// A bound root is nodev, as an overlay mounted in the user namespace
	// is by itself (see cloneTree).
	if cfg.RootDir != "" {
		if err := syscall.Mount(cfg.RootDir, target, "", syscall.MS_BIND|syscall.MS_REC, ""); err != nil {
			return step("binding root directory "+cfg.RootDir, err)
		}
		return step("making root nodev", mountSetattr(-1, target, atRecursive, &mountAttr{attrSet: uint64(bindAttrs(false))}))
	}
	o := cfg.Overlay
	if o.Upper == "" && len(o.Lower) == 1 {
		// overlayfs wants two layers without an upper; a read-only bind
		// is the same thing.
		if err := syscall.Mount(o.Lower[0], target, "", syscall.MS_BIND, ""); err != nil {
			return step("binding root directory "+o.Lower[0], err)
		}
		return step("making root read-only", mountSetattr(-1, target, 0, &mountAttr{attrSet: uint64(bindAttrs(true))}))
	}
	if err := mountOverlay(target, o); err != nil {
		return &stepError{step: "mounting overlay root", err: err, overlay: true}
	}
	return nil
}

// mountOverlay mounts an overlay with userxattr (needed in a user
// namespace). A long layer list goes through fsconfig one layer at a time
// ("lowerdir+", Linux 6.8), past mount(2)'s one-page option limit.
func mountOverlay(target string, o *Overlay) error {
	opts := "lowerdir=" + join(o.Lower, ":")
	if o.Upper != "" {
		opts += ",upperdir=" + o.Upper + ",workdir=" + o.Work
	}
	opts += ",userxattr"
	if len(opts) < 4000 {
		if err := syscall.Mount("overlay", target, "overlay", 0, opts); err != nil {
			return fmt.Errorf("mount -t overlay -o %s: %w", opts, err)
		}
		return nil
	}
	params := map[string][]string{"upperdir": {o.Upper}, "workdir": {o.Work}}
	if o.Upper == "" {
		params = map[string][]string{}
	}
	params["lowerdir+"] = o.Lower
	fd, err := newMountOpts("overlay", params, []string{"userxattr"}, 0)
	if err != nil {
		return fmt.Errorf("overlayfs of %d layers: %w", len(o.Lower), err)
	}
	defer syscall.Close(fd)
	return moveMount(fd, "", atFDCWD, target, moveMountFEmptyPath)
}

// newMount makes a detached mount of a new file system of type fstype.
func newMount(fstype string, params map[string][]string, attrs int) (int, error) {
	return newMountOpts(fstype, params, nil, attrs)
}

func newMountOpts(fstype string, params map[string][]string, flags []string, attrs int) (int, error) {
	fsfd, err := fsopen(fstype, fsopenCloexec)
	if err != nil {
		return -1, fmt.Errorf("fsopen %s: %w", fstype, err)
	}
	defer syscall.Close(fsfd)
	for k, vs := range params {
		for _, v := range vs {
			if err := fsconfig(fsfd, fsconfigSetString, k, v); err != nil {
				return -1, fmt.Errorf("%s option %s=%s: %w", fstype, k, v, err)
			}
		}
	}
	for _, f := range flags {
		if err := fsconfig(fsfd, fsconfigSetFlag, f, ""); err != nil {
			return -1, fmt.Errorf("%s option %s: %w", fstype, f, err)
		}
	}
	if err := fsconfig(fsfd, fsconfigCmdCreate, "", ""); err != nil {
		return -1, fmt.Errorf("creating %s: %w", fstype, err)
	}
	fd, err := fsmount(fsfd, fsmountCloexec, uint(attrs))
	if err != nil {
		return -1, fmt.Errorf("fsmount %s: %w", fstype, err)
	}
	return fd, nil
}

// cloneTree makes a detached bind mount of src, recursive when rec.
// attrs are MOUNT_ATTR_* flags set on the clone (and, with rec, on every
// mount below it). Every clone but the /dev nodes' takes
// MOUNT_ATTR_NODEV: a bind of a host directory is not nodev by itself
// (unlike a mount made inside the user namespace), and container root is
// host uid 0 for file permissions, so a device node in a bound tree (an
// image's layers copied by root, a RUN --mount from an image) would open
// the host's disks.
func cloneTree(src string, rec bool, attrs uint64) (int, error) {
	flags := uint(openTreeClone | syscall.O_CLOEXEC)
	if rec {
		flags |= atRecursive
	}
	fd, err := openTree(atFDCWD, src, flags)
	if err != nil {
		return -1, fmt.Errorf("open_tree %s: %w", src, err)
	}
	if attrs != 0 {
		setFlags := uint(atEmptyPath)
		if rec {
			setFlags |= atRecursive
		}
		if err := mountSetattr(fd, "", setFlags, &mountAttr{attrSet: uint64(attrs)}); err != nil {
			syscall.Close(fd)
			return -1, fmt.Errorf("setting the mount attributes of %s: %w", src, err)
		}
	}
	return fd, nil
}

// bindAttrs are the attributes of a bind of a host path: nodev always
// (see cloneTree), read-only when asked.
func bindAttrs(readOnly bool) uint64 {
	if readOnly {
		return mountAttrNodev | mountAttrRdonly
	}
	return mountAttrNodev
}

// attach creates d's mount point in the new root and moves d onto it.
func attach(d detached) error {
	if err := makeMountpoint(d.target, d.file); err != nil {
		return err
	}
	return moveMount(d.fd, "", atFDCWD, d.target, moveMountFEmptyPath)
}

// makeMountpoint creates target (a directory, or an empty file) when it is
// missing. It runs after pivot_root, so symlinks resolve inside the root.
func makeMountpoint(target string, file bool) error {
	if !file {
		return os.MkdirAll(target, 0o755)
	}
	if err := os.MkdirAll(path.Dir(target), 0o755); err != nil {
		return err
	}
	f, err := os.OpenFile(target, os.O_CREATE|os.O_RDONLY, 0o644)
	if err != nil {
		return err
	}
	return f.Close()
}

// pivot makes rootfs the root: pivot_root, or where that is impossible
// (an initramfs root), moving rootfs over / and chroot.
func pivot(rootfs string) error {
	if err := syscall.Chdir(rootfs); err != nil {
		return step("entering root", err)
	}
	if err := syscall.PivotRoot(".", "."); err == nil {
		// The old root is now stacked on the new one: detach it.
		if err := syscall.Mount("", ".", "", syscall.MS_SLAVE|syscall.MS_REC, ""); err != nil {
			return step("pivot_root", err)
		}
		if err := syscall.Unmount(".", syscall.MNT_DETACH); err != nil {
			return step("detaching old root", err)
		}
	} else {
		if err := syscall.Mount(rootfs, "/", "", syscall.MS_MOVE, ""); err != nil {
			return step("moving root (pivot_root: "+err.Error()+")", err)
		}
		if err := syscall.Chroot("."); err != nil {
			return step("chroot", err)
		}
	}
	return step("entering root", syscall.Chdir("/"))
}

// makeDev mounts a tmpfs on /dev with pts, shm (shmSize bytes) and the usual links; the
// device nodes are bind mounts from the host, attached later.
func makeDev(shmSize int64) error {
	if err := os.MkdirAll("/dev", 0o755); err != nil {
		return step("creating /dev", err)
	}
	if err := syscall.Mount("tmpfs", "/dev", "tmpfs", syscall.MS_NOSUID|syscall.MS_STRICTATIME, "mode=755,size=65536k"); err != nil {
		return step("mounting /dev", err)
	}
	for _, d := range []string{"/dev/pts", "/dev/shm"} {
		if err := os.Mkdir(d, 0o755); err != nil {
			return step("creating "+d, err)
		}
	}
	if err := syscall.Mount("devpts", "/dev/pts", "devpts", syscall.MS_NOSUID|syscall.MS_NOEXEC, "newinstance,ptmxmode=0666,mode=0620"); err != nil {
		return step("mounting /dev/pts", err)
	}
	if shmSize <= 0 {
		shmSize = 64 << 20 // docker's default
	}
	if err := syscall.Mount("shm", "/dev/shm", "tmpfs", syscall.MS_NOSUID|syscall.MS_NODEV|syscall.MS_NOEXEC, fmt.Sprintf("mode=1777,size=%d", shmSize)); err != nil {
		return step("mounting /dev/shm", err)
	}
	for name, target := range map[string]string{
		"/dev/ptmx":   "pts/ptmx",
		"/dev/fd":     "/proc/self/fd",
		"/dev/stdin":  "/proc/self/fd/0",
		"/dev/stdout": "/proc/self/fd/1",
		"/dev/stderr": "/proc/self/fd/2",
		"/dev/core":   "/proc/kcore",
	} {
		if err := os.Symlink(target, name); err != nil {
			return step("creating "+name, err)
		}
	}
	return nil
}

// loopbackUp sets the IFF_UP flag of lo in the new network namespace.
func loopbackUp() error {
	fd, err := syscall.Socket(syscall.AF_INET, syscall.SOCK_DGRAM|syscall.SOCK_CLOEXEC, 0)
	if err != nil {
		return err
	}
	defer syscall.Close(fd)
	var flags uint16
	if err := ifreqFlags(fd, "lo", syscall.SIOCGIFFLAGS, &flags); err != nil {
		return err
	}
	flags |= syscall.IFF_UP
	return ifreqFlags(fd, "lo", syscall.SIOCSIFFLAGS, &flags)
}
